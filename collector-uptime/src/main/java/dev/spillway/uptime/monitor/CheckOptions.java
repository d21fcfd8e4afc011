package dev.spillway.uptime.monitor;

import java.util.List;

/**
 * The type-specific part of a monitor (see {@link CheckOptionsParser} for the JSON shape and the rules). Fields of
 * other types than {@link #type} are at their defaults.
 *
 * @param type what is checked, from the URL's scheme
 * @param tcpSend text sent after a TCP connect, or null
 * @param tcpExpect text the first reply bytes must contain, or null (then a connect is enough)
 * @param dnsQueryName the name asked for
 * @param dnsRecordType {@code A}, {@code AAAA}, {@code CNAME}, {@code MX}, {@code NS}, {@code TXT}, {@code SOA}
 * @param dnsExpected answers that must all be present (as text: an address, a name, {@code 10 mx.example.org.}),
 *     empty = at least one answer
 * @param tlsMinDays fewer days than this to the leaf certificate's expiry is DOWN
 * @param tlsServerName the name sent as SNI and matched against the certificate, or null for the URL's host
 * @param icmpCount echo requests per check
 * @param icmpMaxLossPercent more loss than this is DOWN (100: only when every request is lost)
 * @param assertions HTTP rules that must all hold (beside {@code expected_status} and {@code keyword})
 */
public record CheckOptions(CheckType type, String tcpSend, String tcpExpect, String dnsQueryName,
                           String dnsRecordType, List<String> dnsExpected, int tlsMinDays, String tlsServerName,
                           int icmpCount, int icmpMaxLossPercent, List<Assertion> assertions) {

    /** Default {@code tls.min_days}. */
    public static final int DEFAULT_TLS_MIN_DAYS = 7;
    /** Default {@code icmp.count}. */
    public static final int DEFAULT_ICMP_COUNT = 3;

    /** An HTTP monitor without assertions. */
    public static final CheckOptions HTTP = of(CheckType.HTTP);

    /** A type with every option at its default. */
    public static CheckOptions of(CheckType type) {
        return new CheckOptions(type, null, null, null, "A", List.of(), DEFAULT_TLS_MIN_DAYS, null,
            DEFAULT_ICMP_COUNT, 100, List.of());
    }

    /**
     * One HTTP assertion.
     *
     * @param source {@code status}, {@code header}, {@code body} or {@code json}
     * @param name the header's name (source {@code header}), the JSON path (source {@code json}), else null
     * @param op {@code ==}, {@code !=}, {@code <}, {@code <=}, {@code >}, {@code >=}, {@code contains},
     *     {@code matches}, {@code exists}, {@code in}
     * @param value what is compared with: text, a number ({@link Double}), a boolean, or null (JSON null, or none
     *     for {@code exists})
     */
    public record Assertion(String source, String name, String op, Object value) {
    }
}
