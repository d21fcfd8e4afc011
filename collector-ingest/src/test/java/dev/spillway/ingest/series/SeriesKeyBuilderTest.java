package dev.spillway.ingest.series;

import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Series keys built from a parsed line's bytes are the keys built from Strings, and the index finds them. */
class SeriesKeyBuilderTest {

    /** The keys of every field of every line, built the way the ingestor builds them. */
    private static List<SeriesKey> keysOf(String body) {
        final List<SeriesKey> keys = new ArrayList<>();
        final SeriesKeyBuilder b = new SeriesKeyBuilder();
        final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        new LineProtocolParser().parse(bytes, 0, bytes.length, Precision.NANOSECONDS, 0, new LineHandler() {
            @Override
            public void onPoint(ParsedPoint p) {
                b.prefix(p);
                for (int i = 0; i < p.fieldCount(); i++) {
                    b.field(p, i);
                    keys.add(b.toKey());
                }
            }

            @Override
            public void onError(int lineNumber, String message) {
                throw new AssertionError(message);
            }
        });
        return keys;
    }

    @Test
    void bytesOfAParsedLineGiveTheKeyOfItsStrings() {
        final List<SeriesKey> keys = keysOf("we\\ ird\\,m,z\\=k=v\\ 1,a=\u00e9t\u00e9,\ud83d\ude00=x f\\ 1=1,f2=2i\n");
        assertEquals(List.of(
            SeriesKey.of("we ird,m", List.of("a", "\u00e9t\u00e9", "z=k", "v 1", "\ud83d\ude00", "x"), "f 1"),
            SeriesKey.of("we ird,m", List.of("a", "\u00e9t\u00e9", "z=k", "v 1", "\ud83d\ude00", "x"), "f2")), keys);
    }

    @Test
    void tagOrderAndEscapingDoNotMakeANewSeries() {
        final List<SeriesKey> keys = keysOf("cpu,host=a,region=eu v=1\ncpu,region=eu,host=a v=2\n"
            + "c\\pu,host=a,region=eu v=3\n");
        assertEquals(keys.get(0), keys.get(1));
        assertNotEquals(keys.get(0), keys.get(2)); // "c\pu": a backslash before 'p' is literal, another name
        assertEquals(SeriesKey.of("c\\pu", List.of("host", "a", "region", "eu"), "v"), keys.get(2));
    }

    @Test
    void componentBoundariesCannotBeForged() {
        // The same characters split differently between measurement, tags and field are different series.
        final Set<SeriesKey> keys = new HashSet<>(keysOf("ab,c=d e=1\na,bc=d e=1\na,b=cd e=1\nab,c=de f=1\n"
            + "ab c=1\nab,c=d,e=f g=1\nab,c=d\\,e\\=f g=1\n"));
        assertEquals(7, keys.size());
    }

    @Test
    void indexFindsEveryKeyAndNothingElseWhileGrowingUnderConcurrentReaders() throws Exception {
        final SeriesIndex index = new SeriesIndex();
        final int n = 20_000;
        final SeriesKeyBuilder[] builders = new SeriesKeyBuilder[n];
        final Series[] series = new Series[n];
        for (int i = 0; i < n; i++) {
            builders[i] = new SeriesKeyBuilder();
            builders[i].prefix("m" + (i % 7), List.of("host", "h" + i));
            builders[i].field("f");
            series[i] = new Series(i, 0);
        }
        final CountDownLatch start = new CountDownLatch(1);
        final AtomicReference<Throwable> readerFailure = new AtomicReference<>();
        final Thread reader = new Thread(() -> {
            try {
                start.await();
                for (int round = 0; round < 20; round++) {
                    for (int i = 0; i < n; i++) {
                        final Series s = index.get(builders[i].bytes(), builders[i].length(), builders[i].hash());
                        if (s != null && s != series[i]) {
                            throw new AssertionError("key " + i + " found series " + s.id());
                        }
                    }
                }
            } catch (Throwable t) {
                readerFailure.set(t);
            }
        });
        reader.start();
        start.countDown();
        for (int i = 0; i < n; i++) {
            assertSame(series[i], index.putIfAbsent(builders[i].toKey(), series[i]));
        }
        reader.join();
        assertNull(readerFailure.get());
        assertEquals(n, index.size());
        for (int i = 0; i < n; i++) {
            assertSame(series[i], index.get(builders[i].bytes(), builders[i].length(), builders[i].hash()));
            assertSame(series[i], index.putIfAbsent(builders[i].toKey(), new Series(-1, 0)), "first one wins");
        }
        final SeriesKeyBuilder absent = new SeriesKeyBuilder();
        absent.prefix("m1", List.of("host", "h0"));
        absent.field("f");
        assertNull(index.get(absent.bytes(), absent.length(), absent.hash()));
        assertTrue(absent.length() % 8 == 0);
    }
}
