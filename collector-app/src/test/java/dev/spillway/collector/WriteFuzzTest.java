package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad data is never answered as retryable: mutated valid lines, random bytes, random escapes and unicode
 * (including NUL, lone surrogates' encodings and over-long tags) get 204 or 400, never 503 or 500, with the
 * collector neither saturated nor short of a database. Seeded, so a failure reproduces; the seed and the
 * statuses seen are printed.
 */
class WriteFuzzTest {

    private static final long SEED = Long.getLong("spillway.fuzz.seed", 20_261_201L);
    private static final int REQUESTS = Integer.getInteger("spillway.fuzz.requests", 300);
    private static final String[] VALID = {
        "cpu,host=a,region=eu usage=12.5,count=7i,big=42u,up=true 1700000000000000000",
        "mem,host=b free=1.5e9",
        "disk,path=/var,dev=sda1 used=0.75,inodes=12i 1700000000000000001",
        "esc\\ aped,ta\\=g=va\\,l\\ ue fi\\=eld=1",
        "str,host=c msg=\"quoted \\\"string\\\" with, commas\",v=3",
        "unicodé,hôst=ñ ünits=1",
        "neg v=-1.5e-3,w=-7i",
    };
    private static final String[] SPICE = {"\\", ",", " ", "=", "\"", "\n", "\r\n", "#", "\\ ", "\\,", "\\=",
        "\u0000", "\u0001", "\u007f", "é", "\u200b", "😀", "\uFFFD", "\t", "i", "u", "e", ".", "-", "t", "f", "true",
        "1e400", "NaN", "9223372036854775808i", "18446744073709551616u"};

    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_fuzz");
        h = CollectorHarness.start(db);
    }

    @AfterAll
    static void stop() {
        if (h != null) {
            h.close();
        }
        if (db != null) {
            db.close();
        }
    }

    @Test
    void badDataIsNeverAnsweredAsRetryable() throws Exception {
        final Random rnd = new Random(SEED);
        final Map<Integer, Integer> statuses = new TreeMap<>();
        final Map<String, Integer> kinds = new TreeMap<>();
        for (int i = 0; i < REQUESTS; i++) {
            final int lines = 1 + rnd.nextInt(5);
            final ByteArrayOutputStream body = new ByteArrayOutputStream();
            String kind = null;
            for (int l = 0; l < lines; l++) {
                final int k = rnd.nextInt(6);
                kind = switch (k) {
                    case 0 -> "valid";
                    case 1 -> "spiced";
                    case 2 -> "bitflip";
                    case 3 -> "random-bytes";
                    case 4 -> "many-tags";
                    default -> "long-values";
                };
                body.writeBytes(line(rnd, k));
                body.write('\n');
            }
            kinds.merge(kind, 1, Integer::sum);
            final HttpResponse<String> r = h.postBytes("/api/v2/write?precision=ns", body.toByteArray());
            statuses.merge(r.statusCode(), 1, Integer::sum);
            assertTrue(r.statusCode() == 204 || r.statusCode() == 400,
                "seed " + SEED + " request " + i + " got " + r.statusCode() + " " + r.body() + " for body:\n"
                    + body.toString(StandardCharsets.UTF_8));
        }
        System.out.println("write fuzz: seed=" + SEED + " requests=" + REQUESTS + " statuses=" + statuses
            + " last-line kinds=" + kinds);
        assertTrue(statuses.getOrDefault(204, 0) > 0 && statuses.getOrDefault(400, 0) > 0,
            "the fuzz reaches both outcomes: " + statuses);
        Await.until(Duration.ofSeconds(30), () -> h.collector.stats().isBalanced()
            && h.collector.stats().ringOccupancy() == 0, "pipeline drained and balanced");
    }

    private static byte[] line(Random rnd, int kind) {
        final String base = VALID[rnd.nextInt(VALID.length)];
        return switch (kind) {
            case 0 -> base.getBytes(StandardCharsets.UTF_8);
            case 1 -> {
                final StringBuilder sb = new StringBuilder(base);
                for (int m = 1 + rnd.nextInt(4); m > 0; m--) {
                    final int at = rnd.nextInt(sb.length() + 1);
                    if (rnd.nextBoolean() && sb.length() > 1) {
                        sb.deleteCharAt(Math.min(at, sb.length() - 1));
                    }
                    sb.insert(Math.min(at, sb.length()), SPICE[rnd.nextInt(SPICE.length)]);
                }
                yield sb.toString().getBytes(StandardCharsets.UTF_8);
            }
            case 2 -> {
                final byte[] b = base.getBytes(StandardCharsets.UTF_8);
                for (int m = 1 + rnd.nextInt(3); m > 0; m--) {
                    b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                }
                yield b;
            }
            case 3 -> {
                final byte[] b = new byte[1 + rnd.nextInt(200)];
                rnd.nextBytes(b);
                yield b;
            }
            case 4 -> {
                final StringBuilder sb = new StringBuilder("fz").append(rnd.nextInt(50));
                for (int t = 40 + rnd.nextInt(400); t > 0; t--) {
                    sb.append(",t").append(t).append('=').append(rnd.nextInt(1000));
                }
                yield sb.append(" v=1").toString().getBytes(StandardCharsets.UTF_8);
            }
            default -> {
                final StringBuilder sb = new StringBuilder("fl").append(rnd.nextInt(50)).append(",t=");
                final int n = 200 + rnd.nextInt(4000);
                for (int c = 0; c < n; c++) {
                    sb.appendCodePoint(rnd.nextInt(4) == 0 ? 0x80 + rnd.nextInt(0x2000) : 'a' + rnd.nextInt(26));
                }
                yield sb.append(" v=1").toString().getBytes(StandardCharsets.UTF_8);
            }
        };
    }
}
