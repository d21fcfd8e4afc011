package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The collector in-process against real PostgreSQL: every input, the API's status codes, and what lands in SQL. */
class CollectorEndToEndTest {

    private static final String TOKEN = "s3cret";
    private static final String AUTH = "Token " + TOKEN;
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TestDatabase db;
    private static CollectorHarness h;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("collector_e2e");
        h = CollectorHarness.start(db, "--token", TOKEN, "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0",
            "--max-body-size", "1MiB", "--max-decompressed-size", "4MiB");
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
    void v2WriteLandsInTelemetryViewWithTagsFieldsAndPrecision() throws Exception {
        final HttpResponse<String> r = h.post("/api/v2/write?org=o&bucket=b&precision=ms",
            "cpu,region=eu,host=h1 usage=12.5,count=7i,big=42u,up=true 1700000000123\n"
                + "cpu,host=h2,region=eu usage=0.25 1700000000124\n", "Authorization", AUTH);
        assertEquals(204, r.statusCode(), r.body());
        Await.until(WAIT, () -> h.count("measurement = 'cpu'") == 5, "5 cpu rows");
        assertEquals(List.of(
                "cpu|{\"host\": \"h1\", \"region\": \"eu\"}|big|42.0|1700000000123000000",
                "cpu|{\"host\": \"h1\", \"region\": \"eu\"}|count|7.0|1700000000123000000",
                "cpu|{\"host\": \"h1\", \"region\": \"eu\"}|up|1.0|1700000000123000000",
                "cpu|{\"host\": \"h1\", \"region\": \"eu\"}|usage|12.5|1700000000123000000",
                "cpu|{\"host\": \"h2\", \"region\": \"eu\"}|usage|0.25|1700000000124000000"),
            h.rows("measurement = 'cpu'"));
        assertEquals(1, db.queryLong("SELECT count(*) FROM telemetry WHERE measurement = 'cpu' AND tags->>'host' = 'h2'"));
        // kind records the field type: 1 float, 2 integer, 3 unsigned, 4 boolean
        assertEquals(3 + 2 + 4 + 1 + 1, db.queryLong("SELECT sum(kind) FROM telemetry_events e JOIN telemetry_sources s "
            + "ON s.id = e.source_id WHERE s.measurement = 'cpu'"));
    }

    @Test
    void v1WriteWithQueryCredentialsBasicAuthAndSecondsPrecision() throws Exception {
        assertEquals(204, h.post("/write?db=x&u=any&p=" + TOKEN + "&precision=s", "v1q v=1 1700000000").statusCode());
        final String basic = "Basic " + Base64.getEncoder().encodeToString(("user:" + TOKEN).getBytes(StandardCharsets.UTF_8));
        assertEquals(204, h.post("/write?db=x&precision=s", "v1b v=2 1700000001", "Authorization", basic).statusCode());
        Await.until(WAIT, () -> h.count("measurement IN ('v1q', 'v1b')") == 2, "v1 rows");
        assertEquals(List.of("v1q|{}|v|1.0|1700000000000000000"), h.rows("measurement = 'v1q'"));
    }

    @Test
    void authIsRequiredForWritesReadyAndMetricsButNotPingAndHealth() throws Exception {
        final HttpResponse<String> none = h.post("/api/v2/write", "a v=1");
        assertEquals(401, none.statusCode());
        final JsonNode body = JSON.readTree(none.body());
        assertEquals("unauthorized", body.get("code").asText());
        assertEquals("unauthorized access", body.get("message").asText());
        assertEquals(401, h.post("/api/v2/write", "a v=1", "Authorization", "Token wrong").statusCode());
        assertEquals(401, h.post("/write?u=x&p=wrong", "a v=1").statusCode());
        assertEquals(401, h.get("/ready").statusCode());
        assertEquals(401, h.get("/metrics").statusCode());
        assertEquals(204, h.get("/ping").statusCode());
        assertEquals(200, h.get("/health").statusCode());
        Await.until(WAIT, () -> {
            try {
                return h.get("/ready", "Authorization", AUTH).statusCode() == 200;
            } catch (Exception e) {
                return false;
            }
        }, "/ready 200");
    }

    @Test
    void badLineGets400NamingItAndGoodLinesAreKept() throws Exception {
        final HttpResponse<String> r = h.post("/api/v2/write",
            "partial v=1 1\npartial v=2 2\npartial v= 3\npartial v=4 4\nalso bad\n", "Authorization", AUTH);
        assertEquals(400, r.statusCode());
        final JsonNode body = JSON.readTree(r.body());
        assertEquals("invalid", body.get("code").asText());
        assertEquals(3, body.get("line").asInt(), r.body());
        assertTrue(body.get("message").asText().contains("2 of 5 lines rejected"), r.body());
        Await.until(WAIT, () -> h.count("measurement = 'partial'") == 3, "the 3 good lines");
    }

    @Test
    void stringFieldsAreSkippedAndCountedWithoutFailingTheLine() throws Exception {
        final double before = metric("spillway_collector_string_fields_skipped_total");
        assertEquals(204, h.post("/api/v2/write", "strs msg=\"hello\",v=3 5\nstronly msg=\"x\" 6", "Authorization", AUTH)
            .statusCode());
        Await.until(WAIT, () -> h.count("measurement = 'strs'") == 1, "numeric field of the mixed line");
        assertEquals(before + 2, metric("spillway_collector_string_fields_skipped_total"));
        assertEquals(0, h.count("measurement = 'stronly'"));
    }

    @Test
    void gzipBodyIsDecompressed() throws Exception {
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 1000; i++) {
            sb.append("gz,host=h").append(i % 10).append(" v=").append(i).append(' ').append(1_000_000 + i).append('\n');
        }
        final HttpResponse<String> r = h.postBytes("/api/v2/write", gzip(sb.toString().getBytes(StandardCharsets.UTF_8)),
            "Authorization", AUTH, "Content-Encoding", "gzip");
        assertEquals(204, r.statusCode(), r.body());
        Await.until(WAIT, () -> h.count("measurement = 'gz'") == 1000, "1000 gzip rows");
        assertEquals(499_500, db.queryLong("SELECT sum(value)::bigint FROM telemetry WHERE measurement = 'gz'"));
    }

    @Test
    void gzipBombAndOversizedBodiesGet413() throws Exception {
        // 200 MB of zeros, compressed as a stream (never materialised): about 200 KB on the wire.
        final ByteArrayOutputStream compressed = new ByteArrayOutputStream();
        try (OutputStream z = new GZIPOutputStream(compressed, 64 * 1024)) {
            final byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 200; i++) {
                z.write(zeros);
            }
        }
        assertTrue(compressed.size() < 1 << 20, "bomb fits under the body limit: " + compressed.size());
        final HttpResponse<String> bomb = h.postBytes("/api/v2/write", compressed.toByteArray(),
            "Authorization", AUTH, "Content-Encoding", "gzip");
        assertEquals(413, bomb.statusCode(), bomb.body());

        final byte[] big = new byte[2 << 20];
        java.util.Arrays.fill(big, (byte) '#'); // comment lines: would be valid if it were allowed in
        final HttpResponse<String> tooBig = h.postBytes("/api/v2/write", big, "Authorization", AUTH);
        assertEquals(413, tooBig.statusCode());
        // The collector is still healthy afterwards.
        assertEquals(204, h.get("/ping").statusCode());
    }

    @Test
    void tcpLinesAndUdpDatagramsAreIngested() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), h.collector.tcpAddress().getPort())) {
            s.getOutputStream().write("tcp,conn=1 v=1 1000\ntcp,conn=1 v=2 2000\ntcp garbage\ntcp,conn=1 v=3 3000\n"
                .getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            Await.until(WAIT, () -> h.count("measurement = 'tcp'") == 3, "3 tcp rows");
        }
        try (DatagramSocket udp = new DatagramSocket()) {
            final byte[] d = "udp,src=a v=1.5 10\nudp,src=a v=2.5 20".getBytes(StandardCharsets.UTF_8);
            udp.send(new DatagramPacket(d, d.length, InetAddress.getLoopbackAddress(), h.collector.udpAddress().getPort()));
        }
        Await.until(WAIT, () -> h.count("measurement = 'udp'") == 2, "2 udp rows");
        assertEquals(List.of("udp|{\"src\": \"a\"}|v|1.5|0", "udp|{\"src\": \"a\"}|v|2.5|0"),
            h.rows("measurement = 'udp'")); // 10 ns and 20 ns round to 0 at the database's microsecond precision
    }

    @Test
    void metricsExposePipelineAndCollectorSeries() throws Exception {
        assertEquals(204, h.post("/api/v2/write", "m v=1", "Authorization", AUTH).statusCode());
        Await.until(WAIT, () -> {
            try {
                return metric("spillway_events_written_total") >= 1;
            } catch (Exception e) {
                return false;
            }
        }, "written counter");
        final String text = h.get("/metrics", "Authorization", AUTH).body();
        for (String series : new String[] {"spillway_events_ingested_total", "spillway_events_dropped_total",
            "spillway_collector_lines_accepted_total", "spillway_collector_lines_rejected_total",
            "spillway_collector_new_series_total", "spillway_collector_http_requests_total"}) {
            assertTrue(text.contains(series), series + " missing from /metrics");
        }
    }

    private static double metric(String name) throws Exception {
        double sum = 0;
        for (String line : h.get("/metrics", "Authorization", AUTH).body().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    private static byte[] gzip(byte[] plain) throws Exception {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream z = new GZIPOutputStream(out)) {
            z.write(plain);
        }
        return out.toByteArray();
    }
}
