package dev.spillway.telemetry.timescale;

import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Round-trips known rows through a real binary COPY and reads them back with SQL. */
class BinaryCopyEncoderTest {

    private static TestDatabase db;

    @BeforeAll
    static void createDatabase() {
        db = TestDatabase.create("encoder");
    }

    @AfterAll
    static void dropDatabase() {
        db.close();
    }

    @Test
    void timestampsAreFlooredToMicrosecondsSincePostgresEpoch() {
        assertEquals(0, BinaryCopyEncoder.toPgMicros(946_684_800_000_000_000L), "2000-01-01 is PostgreSQL's zero");
        assertEquals(-BinaryCopyEncoder.PG_EPOCH_OFFSET_MICROS, BinaryCopyEncoder.toPgMicros(0));
        // Sub-microsecond parts are dropped toward negative infinity, not toward zero.
        assertEquals(-BinaryCopyEncoder.PG_EPOCH_OFFSET_MICROS, BinaryCopyEncoder.toPgMicros(999));
        assertEquals(-BinaryCopyEncoder.PG_EPOCH_OFFSET_MICROS - 1, BinaryCopyEncoder.toPgMicros(-1));
        assertEquals(-BinaryCopyEncoder.PG_EPOCH_OFFSET_MICROS - 1, BinaryCopyEncoder.toPgMicros(-1000));
        assertEquals(-BinaryCopyEncoder.PG_EPOCH_OFFSET_MICROS - 2, BinaryCopyEncoder.toPgMicros(-1001));
    }

    @Test
    void streamHasHeaderRowsAndTrailerAcrossSmallBuffers() throws Exception {
        final TestBatch batch = new TestBatch(1);
        for (int i = 0; i < 10; i++) {
            batch.add(i * 1_000L, i, (short) i, i, i);
        }
        final ByteArrayOutputStream whole = new ByteArrayOutputStream();
        new BinaryCopyEncoder().encode(batch, 0, 10, whole::write);
        final ByteArrayOutputStream chunked = new ByteArrayOutputStream();
        final List<Integer> chunkSizes = new ArrayList<>();
        new BinaryCopyEncoder(19 + BinaryCopyEncoder.ROW_BYTES + 2).encode(batch, 0, 10, (b, off, len) -> {
            chunkSizes.add(len);
            chunked.write(b, off, len);
        });
        assertEquals(19 + 10 * BinaryCopyEncoder.ROW_BYTES + 2, whole.size());
        assertArrayEquals(whole.toByteArray(), chunked.toByteArray(), "chunking must not change the stream");
        assertEquals(true, chunkSizes.size() > 1, "a small buffer is flushed several times");
        final byte[] b = whole.toByteArray();
        assertArrayEquals(new byte[] {'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xFF, '\r', '\n', 0},
            java.util.Arrays.copyOf(b, 11));
        assertEquals(-1, (short) (((b[b.length - 2] & 0xFF) << 8) | (b[b.length - 1] & 0xFF)), "trailer");
    }

    @Test
    void extremeValuesRoundTripThroughRealCopy() throws Exception {
        final long[] nanos = {
            0L,                                   // Unix epoch
            -1L,                                  // 1 ns before 1970: floors to the previous microsecond
            946_684_799_999_999_999L,             // 1 ns before PostgreSQL's epoch (pre-2000)
            946_684_800_000_000_000L,             // PostgreSQL's epoch
            1_700_000_000_123_456_789L,           // a normal time with sub-microsecond digits (789 dropped)
            -86_400_000_000_000L * 365 * 50,      // about 1920
            Long.MIN_VALUE,                       // 1677-09-21
            Long.MAX_VALUE,                       // 2262-04-11
        };
        final double[] values = {
            Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, Double.MIN_VALUE, Double.MAX_VALUE,
            -Double.MAX_VALUE, 21.5,
        };
        final int[] sources = {Integer.MIN_VALUE, Integer.MAX_VALUE, 0, -1, 1, 7, 42, 1 << 20};
        final short[] kinds = {Short.MIN_VALUE, Short.MAX_VALUE, 0, -1, 1, 2, 3, 4};
        final long[] seqs = {Long.MIN_VALUE, Long.MAX_VALUE, 0, -1, 1, 2, 3, 4};
        final TestBatch batch = new TestBatch(7);
        for (int i = 0; i < nanos.length; i++) {
            batch.add(nanos[i], sources[i], kinds[i], values[i], seqs[i]);
        }
        try (TimescaleSink sink = TimescaleSink.builder().jdbcUrl(db.jdbcUrl()).username(db.user())
                .password(db.password()).table("encoded").indexMode(IndexMode.NONE).build()) {
            assertEquals(nanos.length, sink.write(batch));
        }
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select time, source_id, kind, value, seq from encoded")) {
            final List<Object[]> found = new ArrayList<>();
            while (rs.next()) {
                found.add(new Object[] {rs.getObject(1, OffsetDateTime.class).toInstant(), rs.getInt(2),
                    rs.getShort(3), rs.getDouble(4), rs.getLong(5)});
            }
            assertEquals(nanos.length, found.size());
            for (int i = 0; i < nanos.length; i++) {
                final Object[] row = find(found, seqs[i]);
                final Instant expected = Instant.ofEpochSecond(Math.floorDiv(nanos[i], 1_000_000_000L),
                    Math.floorMod(nanos[i], 1_000_000_000L) / 1_000 * 1_000); // microseconds, floored
                assertEquals(expected, row[0], "time of row " + i + " (" + nanos[i] + " ns)");
                assertEquals(sources[i], row[1], "source_id of row " + i);
                assertEquals(kinds[i], row[2], "kind of row " + i);
                assertEquals(0, Double.compare(values[i], (Double) row[3]), "value of row " + i + ": " + row[3]);
            }
        }
        // The truncation, spelled out: -1 ns is stored as 1969-12-31T23:59:59.999999Z, not as the epoch.
        assertEquals(1, db.queryLong("select count(*) from encoded where time = '1969-12-31 23:59:59.999999+00'"));
        assertEquals(1, db.queryLong(
            "select count(*) from encoded where time = '2023-11-14 22:13:20.123456+00'"), "789 ns dropped");
    }

    private static Object[] find(List<Object[]> rows, long seq) {
        return rows.stream().filter(r -> (Long) r[4] == seq).findFirst().orElseThrow();
    }
}
