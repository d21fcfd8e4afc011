package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.DedicatedPostgres;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.LogCapture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The goal of issue 20: 10,000 random and malformed requests over every endpoint, half to a collector without a
 * token and half to one with {@code --token} (two thirds of those presenting it), from real sockets: not one answer
 * 5xx, not one hang or connection closed without an answer, no error logged, and the collectors healthy after (they
 * take writes, create and delete a monitor, register and ping a service, serve the page). Then the same 10,000 with
 * the database stopped: only 503 with {@code Retry-After} or 4xx among the errors, still no hang; and healthy again
 * once the database is back. 2xx answers while it is down are the ones that need no database (writes go to the ring
 * and the spool, known services' pings are answered from memory, monitors are listed from memory, static assets).
 */
class ApiFuzzTest {

    private static final int REQUESTS = 10_000;
    private static final int THREADS = 4;
    private static final int ANSWER_TIMEOUT_MILLIS = 30_000;
    private static final String TOKEN = "fuzz-s3cret";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    void tenThousandRandomRequestsWithTheDatabaseUpThenDown() throws Exception {
        try (DedicatedPostgres pg = TestDatabase.dedicated(dir.resolve("data"), TestDatabase.freePort())) {
            pg.createDatabase("fuzz");
            // The jar's logging configuration: what an operator would see (the pool's own chatter about broken
            // connections is muted there, the collector reports an outage itself).
            try (AutoCloseable production = LogCapture.productionConfiguration();
                 Collector open = start(pg, "open"); Collector guarded = start(pg, "guarded", "--token", TOKEN);
                 LogCapture log = LogCapture.of(org.slf4j.Logger.ROOT_LOGGER_NAME)) {
                final HttpClient http = HttpClient.newHttpClient();
                final List<InetSocketAddress> addresses = List.of(address(open), address(guarded));
                final long seed = seed();
                System.out.println("fuzz seed " + seed + " (set SPILLWAY_FUZZ_SEED to repeat or vary it)");
                final List<HttpFuzz> fuzzes = List.of(new HttpFuzz(seed, self(open), null),
                    new HttpFuzz(seed, self(guarded), TOKEN));
                seed(http, open);

                final List<HttpFuzz.Answer> up = HttpFuzz.run(fuzzes, addresses, REQUESTS, THREADS, ANSWER_TIMEOUT_MILLIS);
                report("database up", up);
                assertEquals(REQUESTS, up.size());
                final Map<String, Integer> perRoute = HttpFuzz.count(up, a -> a.request().template());
                for (String route : HttpFuzz.routes()) {
                    assertTrue(perRoute.getOrDefault(route, 0) >= 100, "every endpoint is fuzzed: " + perRoute);
                }
                assertEquals(List.of(), problems(up, false), "database up: no 5xx, no hang, no missing answer");
                final Map<String, Integer> ok = HttpFuzz.count(up.stream().filter(a -> a.status() / 100 == 2).toList(),
                    a -> a.request().template());
                for (String route : List.of("PUT /api/v1/monitors/{m}", "PUT /api/v1/services/{s}",
                    "PUT /api/v1/channels/{c}", "POST /api/v2/write", "DELETE /api/v1/monitors/{m}",
                    "POST /api/v1/services/{s}/ping", "GET /api/v1/monitors/{m}/checks")) {
                    assertTrue(ok.getOrDefault(route, 0) >= 10, "the fuzz reaches the handlers and the database: " + ok);
                }
                assertTrue(up.stream().anyMatch(a -> a.status() == 401) && up.stream().anyMatch(a -> a.status() == 403)
                    && up.stream().anyMatch(a -> a.status() == 415) && up.stream().anyMatch(a -> a.status() == 409),
                    "and the refusals: " + HttpFuzz.count(up, a -> Integer.toString(a.status())));
                assertEquals(List.of(), log.withStackTraces(), "nothing unexpected was logged");
                healthy(http, open, null);
                healthy(http, guarded, TOKEN);

                pg.stop();
                for (Collector c : List.of(open, guarded)) {
                    Await.untilNoThrow(WAIT, () -> get(http, c, "/health", null).statusCode() == 503,
                        "the collector sees the database down");
                }
                final List<HttpFuzz.Answer> down = HttpFuzz.run(fuzzes, addresses, REQUESTS, THREADS,
                    ANSWER_TIMEOUT_MILLIS);
                report("database down", down);
                assertEquals(List.of(), problems(down, true),
                    "database down: 503 + Retry-After or 4xx, no other 5xx, no hang, no missing answer");
                assertTrue(down.stream().filter(a -> a.request().template().startsWith("PUT /api/v1/"))
                    .anyMatch(a -> a.status() == 503), "writes to the database were answered 503");

                pg.startServer();
                for (Collector c : List.of(open, guarded)) {
                    Await.untilNoThrow(WAIT, () -> get(http, c, "/health", null).statusCode() == 200,
                        "the database is back");
                }
                healthy(http, open, null);
                healthy(http, guarded, TOKEN);
                assertTrue(log.withStackTraces().isEmpty(), "no stack trace in the log: " + log.withStackTraces());
            }
        }
    }

    /** The run's seed: 20, or {@code SPILLWAY_FUZZ_SEED}. */
    private static long seed() {
        final String env = System.getenv("SPILLWAY_FUZZ_SEED");
        return env == null || env.isBlank() ? 20 : Long.parseLong(env.trim());
    }

    private Collector start(DedicatedPostgres pg, String name, String... extra) throws Exception {
        final List<String> args = new ArrayList<>(List.of("--jdbc-url", pg.jdbcUrl("fuzz"), "--db-user", pg.user(),
            "--db-password", "", "--http", "127.0.0.1:0", "--flush-interval", "10ms", "--ack-timeout", "5s",
            "--spool-dir", dir.resolve("spool-" + name).toString()));
        args.addAll(List.of(extra));
        return Collector.start(((CollectorOptions.Run) CollectorOptions.parse(args.toArray(String[]::new), Map.of(),
            new PrintStream(OutputStream.nullOutputStream()))).config());
    }

    private static InetSocketAddress address(Collector c) {
        return new InetSocketAddress("127.0.0.1", c.httpAddress().getPort());
    }

    private static String self(Collector c) {
        return "127.0.0.1:" + c.httpAddress().getPort();
    }

    /** Something for the fuzz to find: a service that was pinged, a monitor, a channel. */
    private static void seed(HttpClient http, Collector c) throws Exception {
        assertEquals(200, send(http, c, "PUT", "/api/v1/services/svc-0", "{\"timeout\":\"1h\"}", null).statusCode());
        assertEquals(204, send(http, c, "POST", "/api/v1/services/svc-0/ping", null, null).statusCode());
        assertEquals(201, send(http, c, "POST", "/api/v1/monitors",
            "{\"name\":\"mon-0\",\"url\":\"http://127.0.0.1:1/\",\"interval\":\"1h\"}", null).statusCode());
        assertEquals(200, send(http, c, "PUT", "/api/v1/channels/ch-0",
            "{\"kind\":\"webhook\",\"url\":\"http://127.0.0.1:1/hook\"}", null).statusCode());
    }

    /** Answers that break the rules: 5xx (other than 503 + Retry-After when {@code down}), hangs, no answer. */
    private static List<String> problems(List<HttpFuzz.Answer> answers, boolean down) {
        final List<String> out = new ArrayList<>();
        for (HttpFuzz.Answer a : answers) {
            final boolean bad = a.status() < 100
                || (a.status() >= 500 && !(down && a.status() == 503 && a.retryAfter() != null));
            if (bad && out.size() < 20) {
                out.add(a.status() + " " + a.request().template() + " #" + a.request().index() + ": "
                    + head(a.request().bytes()) + " -> " + a.body());
            }
        }
        return out;
    }

    private static String head(byte[] bytes) {
        final String s = new String(bytes, 0, Math.min(bytes.length, 300), java.nio.charset.StandardCharsets.ISO_8859_1);
        return dev.spillway.runtime.log.LogText.escape(s);
    }

    private static void report(String phase, List<HttpFuzz.Answer> answers) {
        final long slowest = answers.stream().mapToLong(HttpFuzz.Answer::millis).max().orElse(0);
        System.out.println("fuzz, " + phase + ": " + answers.size() + " requests, answers by status "
            + HttpFuzz.count(answers, a -> Integer.toString(a.status())) + ", slowest " + slowest + " ms");
        System.out.println("fuzz, " + phase + ": 2xx by route " + answers.stream().filter(a -> a.status() / 100 == 2)
            .collect(Collectors.groupingBy(a -> a.request().template(), java.util.TreeMap::new, Collectors.counting())));
    }

    /** Takes a write, a monitor, a service and its ping, and serves the page. */
    private static void healthy(HttpClient http, Collector c, String token) throws Exception {
        assertEquals(200, get(http, c, "/health", null).statusCode());
        final long written = c.stats().written();
        assertEquals(204, send(http, c, "POST", "/api/v2/write", "after_fuzz v=1", token).statusCode());
        Await.until(WAIT, () -> c.stats().written() > written, "the write reaches the database");
        assertEquals(201, send(http, c, "POST", "/api/v1/monitors",
            "{\"name\":\"after-fuzz\",\"url\":\"http://127.0.0.1:1/\",\"interval\":\"1h\"}", token).statusCode());
        assertEquals(204, send(http, c, "DELETE", "/api/v1/monitors/after-fuzz", null, token).statusCode());
        assertEquals(200, send(http, c, "PUT", "/api/v1/services/after-fuzz", "{\"timeout\":\"1h\"}", token)
            .statusCode());
        assertEquals(204, send(http, c, "POST", "/api/v1/services/after-fuzz/ping", null, token).statusCode());
        assertEquals(204, send(http, c, "DELETE", "/api/v1/services/after-fuzz", null, token).statusCode());
        assertEquals(200, get(http, c, "/api/v1/page/overview", token).statusCode());
        Await.until(WAIT, () -> c.listeners().httpConnections() <= 1, "the fuzz's connections are all closed");
        assertEquals(0, c.router().queued(), "no API request left waiting");
    }

    private static HttpResponse<String> get(HttpClient http, Collector c, String path, String token) throws Exception {
        return send(http, c, "GET", path, null, token);
    }

    private static HttpResponse<String> send(HttpClient http, Collector c, String method, String path, String body,
                                             String token) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + self(c) + path))
            .timeout(Duration.ofSeconds(30))
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null && path.startsWith("/api/v1/")) {
            b.header("Content-Type", "application/json");
        }
        if (token != null) {
            b.header("Authorization", "Token " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
