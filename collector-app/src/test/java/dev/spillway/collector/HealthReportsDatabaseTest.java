package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
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
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code /health} fails while the database is down and passes again once it is back, one log line each way. */
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
            try (Collector c = Collector.start(config)) {
                final HttpClient http = HttpClient.newHttpClient();
                final URI health = URI.create("http://127.0.0.1:" + c.httpAddress().getPort() + "/health");
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 200, "health passes");
                pg.stop();
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 503, "health fails");
                final HttpResponse<String> down = get(http, health);
                assertTrue(down.body().contains("\"status\":\"fail\"") && down.body().contains("database unreachable"),
                    down.body());
                pg.startServer();
                Await.untilNoThrow(WAIT, () -> get(http, health).statusCode() == 200, "health passes again");
                assertEquals(200, get(http, health).statusCode());
            }
        }
    }

    private static HttpResponse<String> get(HttpClient http, URI uri) throws Exception {
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
    }
}
