package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.testkit.LogCapture;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code /health} fails while the database is down and passes again once it is back, one log line each way and no
 * stack trace (read from logback's own appender). */
class HealthReportsDatabaseTest {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    void healthFailsWhileTheDatabaseIsDown() throws Exception {
        try (DedicatedPostgres pg = TestDatabase.dedicated(dir.resolve("data"), TestDatabase.freePort())) {
            pg.createDatabase("health");
            final var config = ((CollectorOptions.Run) CollectorOptions.parse(new String[] {"--jdbc-url",
                pg.jdbcUrl("health"), "--db-user", pg.user(), "--db-password", "", "--http", "127.0.0.1:0",
                "--spool-dir", dir.resolve("spool").toString()},
                Map.of(), new PrintStream(OutputStream.nullOutputStream()))).config();
            try (AutoCloseable production = LogCapture.productionConfiguration();
                 Collector c = Collector.start(config);
                 LogCapture log = LogCapture.of(org.slf4j.Logger.ROOT_LOGGER_NAME);
                 // The readiness probe's own lines: other duties (the monitor lease round) may name the outage too.
                 LogCapture probe = LogCapture.of("dev.spillway.ingest.ReadinessProbe")) {
                final HttpClient http = HttpClient.newHttpClient();
                final URI health = URI.create("http://127.0.0.1:" + c.httpAddress().getPort() + "/health");
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 200, "health passes");
                assertEquals(204, write(http, c, "outage v=0"), "the series exists before the outage");
                pg.stop();
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 503, "health fails");
                // A write to a known series during the outage: its batch fails in the sink and goes to the spool.
                assertEquals(204, write(http, c, "outage v=1"));
                final HttpResponse<String> down = get(http, health);
                assertTrue(down.body().contains("\"status\":\"fail\"") && down.body().contains("database unreachable"),
                    down.body());
                pg.startServer();
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 200, "health passes again");
                assertEquals(200, get(http, health).statusCode());
                // An expected outage: one line each way, no stack trace anywhere.
                assertEquals(1, probe.count("database unreachable"), log.messages().toString());
                // "database reachable again", or, when the probe's connection attempt hung past the freshness
                // window and then succeeded, one warning "database unreachable for N ms ...; reachable again".
                assertEquals(1, probe.count("reachable again"), log.messages().toString());
                assertEquals(List.of(), log.withStackTraces());
            }
        }
    }

    private static int write(HttpClient http, Collector c, String line) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + c.httpAddress().getPort()
            + "/api/v2/write")).POST(HttpRequest.BodyPublishers.ofString(line)).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode();
    }

    private static HttpResponse<String> get(HttpClient http, URI uri) throws Exception {
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
    }
}
