package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpResponse;

import static dev.spillway.collector.MonitorsEndToEndTest.WAIT;
import static dev.spillway.collector.MonitorsEndToEndTest.json;
import static dev.spillway.collector.MonitorsEndToEndTest.send;
import static dev.spillway.collector.MonitorsEndToEndTest.state;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tcp monitor through the collector: the API takes it (and names a bad type-specific field), its results are
 * telemetry like an HTTP monitor's, it goes UP and DOWN through the same state machine, and its definition
 * survives a restart (stored in the {@code probe} column, migration 120).
 */
class CheckTypesEndToEndTest {

    private TestDatabase db;
    private ServerSocket echo;

    @BeforeEach
    void start() throws Exception {
        db = TestDatabase.create("collector_check_types");
        echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        final Thread t = new Thread(() -> {
            while (!echo.isClosed()) {
                try {
                    final Socket s = echo.accept();
                    final Thread c = new Thread(() -> {
                        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                            in.transferTo(out);
                        } catch (Exception e) {
                            // the probe closed its side
                        }
                    });
                    c.setDaemon(true);
                    c.start();
                } catch (Exception e) {
                    // closed at the end
                }
            }
        }, "echo");
        t.setDaemon(true);
        t.start();
    }

    @AfterEach
    void stop() throws Exception {
        echo.close();
        db.close();
    }

    @Test
    void aTcpMonitorIsCheckedStoredAndReportedLikeAnHttpOne() throws Exception {
        final String body = "{\"name\":\"echo\",\"url\":\"tcp://127.0.0.1:" + echo.getLocalPort() + "\","
            + "\"interval\":\"1s\",\"failure_threshold\":1,\"tcp\":{\"send\":\"hello\\n\",\"expect\":\"hello\"}}";
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            final HttpResponse<String> bad = send(h, "POST", "/api/v1/monitors",
                "{\"name\":\"echo\",\"url\":\"tcp://127.0.0.1:1\",\"tcp\":{\"expect\":7}}");
            assertEquals(400, bad.statusCode());
            assertEquals("tcp.expect", json(bad).get("field").asText());

            final HttpResponse<String> created = send(h, "POST", "/api/v1/monitors", body);
            assertEquals(201, created.statusCode(), created.body());
            assertEquals("tcp", json(created).get("type").asText());
            Await.untilNoThrow(WAIT, () -> state(h, "echo").equals("UP"), "echo is UP");
            Await.until(WAIT, () -> h.count("measurement = 'monitor' AND tags->>'monitor' = 'echo' AND field = "
                + "'reply_ms'") >= 1, "reply_ms in telemetry");
            assertTrue(h.count("measurement = 'monitor' AND tags->>'monitor' = 'echo' AND field = 'connect_ms'") >= 1);
            assertEquals(0, h.count("measurement = 'monitor' AND tags->>'monitor' = 'echo' AND field = 'status_code'"));

            final HttpResponse<String> put = send(h, "PUT", "/api/v1/monitors/echo", body.replace(
                "\"expect\":\"hello\"", "\"expect\":\"goodbye\"").replace("\"interval\":\"1s\"",
                "\"interval\":\"1s\",\"timeout\":\"300ms\""));
            assertEquals(200, put.statusCode(), put.body());
            Await.untilNoThrow(WAIT, () -> state(h, "echo").equals("DOWN"), "echo is DOWN");
            final JsonNode down = json(send(h, "GET", "/api/v1/monitors/echo", null));
            assertTrue(down.get("status").get("last_error").asText().startsWith("expect: 'goodbye' not received"),
                down.toString());
        }
        try (CollectorHarness h = CollectorHarness.start(db, "--token", "t0k3n")) {
            final JsonNode m = json(send(h, "GET", "/api/v1/monitors/echo", null));
            assertEquals("tcp", m.get("type").asText());
            assertEquals("goodbye", m.get("tcp").get("expect").asText(), m.toString());
            assertEquals("hello\n", m.get("tcp").get("send").asText());
            assertEquals(null, m.get("method"), "no HTTP fields on a tcp monitor");
        }
    }
}
