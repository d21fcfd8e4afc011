package dev.spillway.ingest.lineprotocol;

/**
 * Timestamp precision of a line-protocol write. The numeric timestamp at the end of a line is counted
 * in this unit; the parser converts it to nanoseconds since the Unix epoch.
 */
public enum Precision {
    NANOSECONDS(1L),
    MICROSECONDS(1_000L),
    MILLISECONDS(1_000_000L),
    SECONDS(1_000_000_000L),
    MINUTES(60_000_000_000L),
    HOURS(3_600_000_000_000L);

    private final long nanosPerUnit;
    // Bounds precomputed so the parser can range-check without paying for an exception per line.
    private final long maxValue;
    private final long minValue;

    Precision(long nanosPerUnit) {
        this.nanosPerUnit = nanosPerUnit;
        this.maxValue = Long.MAX_VALUE / nanosPerUnit;
        this.minValue = Long.MIN_VALUE / nanosPerUnit;
    }

    /**
     * Accepts the union of the InfluxDB v1 and v2 spellings: {@code ns, n, us, u, µs, ms, s, m, h}.
     *
     * @param spelling the {@code precision} query parameter; {@code null} or empty means nanoseconds
     * @return the precision
     * @throws IllegalArgumentException if the spelling is not one of the accepted ones
     */
    public static Precision parse(String spelling) {
        if (spelling == null || spelling.isEmpty()) {
            return NANOSECONDS;
        }
        switch (spelling) {
            case "ns":
            case "n":
                return NANOSECONDS;
            case "us":
            case "u":
            case "\u00b5s": // MICRO SIGN, the spelling InfluxDB documents
            case "\u03bcs": // GREEK SMALL LETTER MU, what many keyboards and clients actually produce
                return MICROSECONDS;
            case "ms":
                return MILLISECONDS;
            case "s":
                return SECONDS;
            case "m":
                return MINUTES;
            case "h":
                return HOURS;
            default:
                throw new IllegalArgumentException("unsupported precision '" + spelling
                        + "'; expected one of ns, n, us, u, \u00b5s, ms, s, m, h");
        }
    }

    /**
     * Converts a value counted in this precision to nanoseconds.
     *
     * @param value a timestamp or duration in this precision
     * @return the same instant or duration in nanoseconds
     * @throws ArithmeticException if the result does not fit in a {@code long}
     */
    public long toNanos(long value) {
        return Math.multiplyExact(value, nanosPerUnit);
    }

    /** @return how many nanoseconds one unit of this precision is */
    public long nanosPerUnit() {
        return nanosPerUnit;
    }

    /** @return whether {@link #toNanos(long)} would succeed for {@code value} */
    boolean fitsInNanos(long value) {
        return value <= maxValue && value >= minValue;
    }

    /**
     * Rounds a nanosecond time down to a multiple of this precision, as InfluxDB does with the server
     * time it assigns to points that carry no timestamp.
     */
    long truncate(long nanos) {
        long rem = Math.floorMod(nanos, nanosPerUnit);
        long floored = nanos - rem;
        // Flooring can only overflow right next to Long.MIN_VALUE; truncating towards zero is the best we can do there.
        return floored > nanos ? nanos - (nanos % nanosPerUnit) : floored;
    }
}
