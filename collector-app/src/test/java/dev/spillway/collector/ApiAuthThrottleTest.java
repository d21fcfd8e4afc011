package dev.spillway.collector;

import dev.spillway.runtime.api.AuthThrottle;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failed authentication on the HTTP API is throttled per client address, over real HTTP: wrong credentials on the
 * JSON API, {@code /write}, {@code /metrics}, {@code /ready} and ping URLs all count; after
 * {@link AuthThrottle#API_BURST} of them the answer is 429 with {@code Retry-After}; a client that already works
 * on a connection goes on, another address is not held up, and the window moves with the collector's clock.
 */
class ApiAuthThrottleTest {

    private static final String TOKEN = "throttle-s3cret";
    /** Each wrong credential goes to another authenticated endpoint, the way a scanner would. */
    private static final List<String[]> GUESSES = List.of(
        new String[] {"GET", "/api/v1/monitors", "Authorization", "Bearer wrong"},
        new String[] {"POST", "/write?db=x", "Authorization", "Token wrong"},
        new String[] {"GET", "/metrics", "Authorization", "Bearer wrong"},
        new String[] {"GET", "/ready?p=wrong", null, null},
        new String[] {"GET", "/api/v1/services/backup/ping?key=wrong", null, null});

    private static TestDatabase db;
    private static MutableClock proxiedClock;
    private static MutableClock plainClock;
    /** Behind a trusted proxy (127.0.0.1): each client is who X-Forwarded-For says. */
    private static CollectorHarness proxied;
    /** No trusted proxy: the client is the peer address; X-Forwarded-For is ignored. */
    private static CollectorHarness plain;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("auth_throttle");
        proxiedClock = new MutableClock(Instant.now());
        plainClock = new MutableClock(Instant.now());
        proxied = CollectorHarness.start(db, proxiedClock, "--token", TOKEN, "--trusted-proxies", "127.0.0.1,::1");
        plain = CollectorHarness.start(db, plainClock, "--token", TOKEN);
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {proxied, plain, db}) {
            if (c != null) {
                c.close();
            }
        }
    }

    private static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    private static HttpResponse<String> send(HttpClient http, CollectorHarness c, String method, String path,
                                             String... headers) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(c.uri(path)).method(method,
            method.equals("POST") ? HttpRequest.BodyPublishers.ofString("m v=1") : HttpRequest.BodyPublishers.noBody());
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Guess number {@code i} from {@code forwardedFor} (null: no such header). */
    private static HttpResponse<String> guess(HttpClient http, CollectorHarness c, int i, String forwardedFor)
        throws Exception {
        final String[] g = GUESSES.get(i % GUESSES.size());
        final List<String> headers = new java.util.ArrayList<>();
        if (g[2] != null) {
            headers.addAll(List.of(g[2], g[3] + i));
        }
        if (forwardedFor != null) {
            headers.addAll(List.of("X-Forwarded-For", forwardedFor));
        }
        return send(http, c, g[0], g[1], headers.toArray(String[]::new));
    }

    private static void assertThrottled(HttpResponse<String> r, long retryAfter, String what) {
        assertEquals(429, r.statusCode(), what + ": " + r.body());
        assertEquals(String.valueOf(retryAfter), r.headers().firstValue("Retry-After").orElse(null), what);
        assertTrue(r.body().contains("too many failed authentications from this address"), r.body());
    }

    private static int ok(HttpClient http, CollectorHarness c, String forwardedFor) throws Exception {
        return send(http, c, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN, "X-Forwarded-For",
            forwardedFor).statusCode();
    }

    @Test
    void sixtyWrongTokensFromOneAddress() throws Exception {
        final HttpClient legit = client();
        assertEquals(200, send(legit, plain, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN)
            .statusCode(), "a client at work on 127.0.0.1 before the guessing starts");

        final HttpClient guesser = client();
        for (int i = 0; i < 60; i++) {
            // X-Forwarded-For from a client of a collector without trusted proxies picks nothing.
            final HttpResponse<String> r = guess(guesser, plain, i, "192.0.2." + i);
            if (i < AuthThrottle.API_BURST) {
                assertEquals(401, r.statusCode(), "try " + (i + 1) + " " + r.body());
            } else {
                // 20 failures at one instant: the bucket is full again in 20 * 3 s; one try is back in 3 s.
                assertThrottled(r, 3, "try " + (i + 1));
            }
        }
        assertThrottled(send(guesser, plain, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN), 3,
            "a guess cannot be confirmed while the address waits, even the right one");
        assertThrottled(send(client(), plain, "GET", "/metrics", "Authorization", "Token " + TOKEN), 3,
            "a new connection from that address waits too");
        assertEquals(401, send(guesser, plain, "GET", "/api/v1/monitors").statusCode(),
            "no credential: nothing to guess, the usual 401");
        assertEquals(204, send(guesser, plain, "GET", "/ping", "Authorization", "Token wrong").statusCode(),
            "/ping looks at no credential");
        assertEquals(200, send(guesser, plain, "GET", "/health", "Authorization", "Token wrong").statusCode(),
            "/health neither");

        // The client that was already working on this address goes on, reads and writes alike.
        for (int i = 0; i < 5; i++) {
            assertEquals(200, send(legit, plain, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN)
                .statusCode());
        }
        assertEquals(204, send(legit, plain, "POST", "/write?db=x", "Authorization", "Token " + TOKEN).statusCode());

        // A client on another address (127.0.0.2 on loopback) with the right token is not held up.
        assertEquals(200, rawGet(plain, "127.0.0.2", "/api/v1/monitors", TOKEN));
        assertEquals(401, rawGet(plain, "127.0.0.2", "/api/v1/monitors", "wrong"), "its own tries are all there");

        // The window moves with the collector's clock: one try every 3 s, all 20 after 60 s.
        plainClock.advance(Duration.ofSeconds(3));
        assertEquals(401, guess(guesser, plain, 0, null).statusCode(), "one try is back after 3 s");
        assertThrottled(guess(guesser, plain, 1, null), 3, "and only one");
        plainClock.advance(Duration.ofSeconds(2));
        assertThrottled(guess(guesser, plain, 2, null), 1, "1 s to go");
        plainClock.advance(Duration.ofSeconds(61));
        assertEquals(200, send(client(), plain, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN)
            .statusCode(), "the address is free again");
        for (int i = 0; i < AuthThrottle.API_BURST; i++) {
            assertEquals(401, guess(guesser, plain, i, null).statusCode(), "try " + (i + 1) + " after the window");
        }
        assertThrottled(guess(guesser, plain, 0, null), 3, "and then 429 again");
        plainClock.advance(Duration.ofMinutes(2));
    }

    @Test
    void behindATrustedProxyEachForwardedClientHasItsOwnTries() throws Exception {
        final String guesser = "203.0.113.7";
        final HttpClient http = client();
        for (int i = 0; i < 60; i++) {
            final HttpResponse<String> r = guess(http, proxied, i, guesser);
            assertEquals(i < AuthThrottle.API_BURST ? 401 : 429, r.statusCode(), "try " + (i + 1));
        }
        assertThrottled(send(http, proxied, "GET", "/api/v1/monitors", "Authorization", "Token " + TOKEN,
            "X-Forwarded-For", guesser), 3, "the guesser's address waits");
        // Another client, through the same proxy and on the same connection: not held up, right or wrong.
        assertEquals(200, ok(http, proxied, "203.0.113.8"));
        assertEquals(401, guess(http, proxied, 0, "203.0.113.8").statusCode());
        assertEquals(200, ok(http, proxied, "203.0.113.9"));
        // A success elsewhere resets nothing of the guesser's.
        assertThrottled(guess(http, proxied, 1, guesser), 3, "still waiting");
        proxiedClock.advance(Duration.ofMinutes(2));
    }

    /** A GET with a token over a socket bound to {@code from} (a second loopback address): its status code. */
    private static int rawGet(CollectorHarness c, String from, String path, String token) throws Exception {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), c.collector.httpAddress().getPort()),
                5_000);
            s.setSoTimeout(10_000);
            final OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + c.collector.httpAddress().getPort()
                + "\r\nAuthorization: Token " + token + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            final InputStream in = s.getInputStream();
            final String head = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue(head.startsWith("HTTP/1.1 "), head);
            return Integer.parseInt(head.substring(9, 12));
        }
    }
}
