package dev.spillway.collector;

import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status page's sign-in over real HTTP: server-side sessions with random ids that signing out revokes, cookie
 * flags ({@code Secure} only when a trusted proxy says HTTPS), sessions bounded in age and number, CSRF tokens on
 * both forms, the sign-in throttle per client address (429 + {@code Retry-After}), and broken form encoding as 400.
 */
class PageSessionTest {

    private static final String TOKEN = "session-s3cret";
    private static final String FORM = "application/x-www-form-urlencoded";
    private static final Pattern CSRF = Pattern.compile("name=\"csrf\" value=\"([^\"]+)\"");

    private static TestDatabase db;
    private static MutableClock clock;
    /** Behind a trusted proxy (127.0.0.1): each test is its own client by X-Forwarded-For. */
    private static CollectorHarness h;
    /** No trusted proxy: forwarding headers are ignored. */
    private static CollectorHarness plain;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("page_session");
        clock = new MutableClock(Instant.now());
        h = CollectorHarness.start(db, clock, "--token", TOKEN, "--trusted-proxies", "127.0.0.1,::1",
            "--session-max-age", "1h");
        plain = CollectorHarness.start(db, "--token", TOKEN);
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {h, plain, db}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        }
    }

    /** The sign-in form's CSRF token and the {@code name=value} of the cookie it came with. */
    static String[] form(HttpResponse<String> page) {
        final Matcher m = CSRF.matcher(page.body());
        assertTrue(m.find(), page.body());
        final String cookie = page.headers().allValues("Set-Cookie").stream().filter(c -> c.startsWith("spillway_login="))
            .findFirst().orElseThrow(() -> new AssertionError("no form cookie: " + page.headers().map()));
        return new String[] {m.group(1), cookie.substring(0, cookie.indexOf(';'))};
    }

    private static HttpResponse<String> loginForm(CollectorHarness c, String client) throws Exception {
        return c.get("/login", "X-Forwarded-For", client);
    }

    private static HttpResponse<String> postLogin(CollectorHarness c, String client, String token, String[] form)
        throws Exception {
        return c.post("/login", "token=" + URLEncoder.encode(token, StandardCharsets.UTF_8) + "&next=%2F&csrf="
            + form[0], "Content-Type", FORM, "Cookie", form[1], "X-Forwarded-For", client);
    }

    /** Signs in as {@code client}; the session cookie's {@code name=value}. */
    private static String signIn(String client) throws Exception {
        final HttpResponse<String> r = postLogin(h, client, TOKEN, form(loginForm(h, client)));
        assertEquals(303, r.statusCode(), r.body());
        return sessionCookie(r);
    }

    private static String sessionCookie(HttpResponse<String> r) {
        final String c = r.headers().allValues("Set-Cookie").stream().filter(v -> v.startsWith("spillway_session="))
            .findFirst().orElseThrow(() -> new AssertionError("no session cookie: " + r.headers().map()));
        return c.substring(0, c.indexOf(';'));
    }

    private static boolean opens(String cookie) throws Exception {
        final int status = h.get("/", "Cookie", cookie).statusCode();
        assertTrue(status == 200 || status == 303, "status " + status);
        return status == 200;
    }

    @Test
    void sessionsAreRandomAndSigningOutRevokesThemOnTheServer() throws Exception {
        final String a = signIn("198.51.100.1");
        final String b = signIn("198.51.100.1");
        assertNotEquals(a, b, "every sign-in is a session of its own");
        final String id = a.substring(a.indexOf('=') + 1);
        assertEquals(43, id.length(), "256 random bits");
        final String oldScheme = Base64.getUrlEncoder().withoutPadding().encodeToString(MessageDigest
            .getInstance("SHA-256").digest(("spillway-status-page\0" + TOKEN).getBytes(StandardCharsets.UTF_8)));
        assertFalse(a.contains(oldScheme) || a.contains(TOKEN), "nothing derived from the token");
        assertFalse(opens("spillway_session=" + oldScheme), "the old fixed cookie opens nothing");
        assertTrue(opens(a) && opens(b));

        final Matcher csrf = CSRF.matcher(h.get("/", "Cookie", a).body());
        assertTrue(csrf.find(), "the sign-out form carries the session's CSRF token");
        assertEquals(403, h.post("/logout", "", "Cookie", a).statusCode(), "no CSRF token: refused");
        assertEquals(403, h.post("/logout", "csrf=" + SessionCsrf.wrong(csrf.group(1)), "Content-Type", FORM,
            "Cookie", a).statusCode(), "someone else's CSRF token: refused");
        assertTrue(opens(a), "a refused sign-out changes nothing");

        final HttpResponse<String> out = h.post("/logout", "csrf=" + csrf.group(1), "Content-Type", FORM, "Cookie", a);
        assertEquals(303, out.statusCode(), out.body());
        assertEquals("/login", out.headers().firstValue("Location").orElseThrow());
        assertTrue(out.headers().firstValue("Set-Cookie").orElseThrow().contains("Max-Age=0"));
        assertFalse(opens(a), "the cookie, kept or copied, opens nothing after sign-out");
        assertEquals(401, h.get("/api/v1/page/overview", "Cookie", a).statusCode());
        assertTrue(opens(b), "other sessions stay");
    }

    @Test
    void cookieFlagsAndSecureOnlyWhenATrustedProxySaysHttps() throws Exception {
        final String client = "198.51.100.2";
        final HttpResponse<String> http = postLogin(h, client, TOKEN, form(loginForm(h, client)));
        final String flags = http.headers().firstValue("Set-Cookie").orElseThrow();
        assertTrue(flags.contains("; Path=/") && flags.contains("; HttpOnly") && flags.contains("; SameSite=Strict")
            && flags.contains("; Max-Age=3600"), flags);
        assertFalse(flags.contains("Secure"), "plain HTTP: " + flags);

        final HttpResponse<String> formOverTls = h.get("/login", "X-Forwarded-For", client, "X-Forwarded-Proto", "https");
        assertTrue(formOverTls.headers().firstValue("Set-Cookie").orElseThrow().contains("; Secure"),
            "the form's cookie too");
        final String[] f = form(formOverTls);
        final HttpResponse<String> tls = h.post("/login", "token=" + TOKEN + "&csrf=" + f[0], "Content-Type", FORM,
            "Cookie", f[1], "X-Forwarded-For", client, "X-Forwarded-Proto", "https");
        assertEquals(303, tls.statusCode());
        assertTrue(tls.headers().firstValue("Set-Cookie").orElseThrow().endsWith("; Secure"),
            tls.headers().firstValue("Set-Cookie").orElseThrow());

        // The same header from a peer that is not a trusted proxy is not believed.
        final HttpResponse<String> spoofed = plain.get("/login", "X-Forwarded-Proto", "https");
        assertFalse(spoofed.headers().firstValue("Set-Cookie").orElseThrow().contains("Secure"));
    }

    @Test
    void sessionsEndAtTheirMaximumAgeAndTheOldestGoesBeyondTheLimit() throws Exception {
        final String client = "198.51.100.3";
        final String first = signIn(client);
        clock.advance(Duration.ofMinutes(59));
        assertTrue(opens(first));
        final String[] f = form(loginForm(h, client));
        final List<String> later = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            final HttpResponse<String> r = postLogin(h, client, TOKEN, f);
            assertEquals(303, r.statusCode());
            later.add(sessionCookie(r));
        }
        assertFalse(opens(first), "1,000 newer sessions: the oldest ended");
        assertTrue(opens(later.get(999)) && opens(later.get(0)));
        clock.advance(Duration.ofMinutes(61));
        assertFalse(opens(later.get(999)), "older than --session-max-age");
    }

    @Test
    void signInIsThrottledPerClientWith429AndRetryAfter() throws Exception {
        final String guesser = "203.0.113.7";
        final String[] f = form(loginForm(h, guesser));
        for (int i = 0; i < 5; i++) {
            assertEquals(401, postLogin(h, guesser, "guess-" + i, f).statusCode(), "try " + (i + 1));
        }
        for (int i = 0; i < 45; i++) {
            final HttpResponse<String> r = postLogin(h, guesser, "guess-" + i, f);
            assertEquals(429, r.statusCode(), "50 wrong tokens in a row: all after the 5th are refused");
            final long wait = Long.parseLong(r.headers().firstValue("Retry-After").orElseThrow());
            assertTrue(wait >= 1 && wait <= 12, "Retry-After " + wait);
        }
        assertEquals(429, postLogin(h, guesser, TOKEN, f).statusCode(), "even the right token waits");
        assertEquals(429, h.get("/?token=" + TOKEN, "X-Forwarded-For", guesser).statusCode(), "the link form too");
        assertEquals(303, postLogin(h, "203.0.113.8", TOKEN, form(loginForm(h, "203.0.113.8"))).statusCode(),
            "another client is not held up");

        // Without a trusted proxy, X-Forwarded-For is the client's own claim and does not pick the bucket.
        final String[] p = form(plain.get("/login"));
        for (int i = 0; i < 5; i++) {
            assertEquals(401, postLogin(plain, "192.0.2." + i, "guess", p).statusCode());
        }
        assertEquals(429, postLogin(plain, "192.0.2.99", TOKEN, p).statusCode());
    }

    @Test
    void theSignInFormNeedsItsCsrfTokenAndItsCookie() throws Exception {
        final String client = "198.51.100.4";
        final String[] one = form(loginForm(h, client));
        final String[] two = form(loginForm(h, client));
        final String token = "token=" + TOKEN + "&next=%2F";
        for (HttpResponse<String> r : List.of(
            h.post("/login", token, "Content-Type", FORM, "X-Forwarded-For", client),
            h.post("/login", token + "&csrf=" + one[0], "Content-Type", FORM, "X-Forwarded-For", client),
            h.post("/login", token + "&csrf=" + one[0], "Content-Type", FORM, "Cookie", two[1], "X-Forwarded-For",
                client))) {
            assertEquals(403, r.statusCode(), r.body());
            assertTrue(r.headers().allValues("Set-Cookie").stream().noneMatch(c -> c.startsWith("spillway_session=")));
        }
        assertEquals(415, h.post("/login", "{\"token\":\"" + TOKEN + "\"}", "Content-Type", "application/json",
            "Cookie", one[1], "X-Forwarded-For", client).statusCode());
        assertEquals(303, postLogin(h, client, TOKEN, two).statusCode());
    }

    @Test
    void brokenFormEncodingIs400NamingTheField() throws Exception {
        final String client = "198.51.100.5";
        final String[] f = form(loginForm(h, client));
        for (String[] c : new String[][] {{"token=%zz&csrf=" + f[0], "token"}, {"token=x&next=%zz&csrf=" + f[0], "next"},
            {"token=x&csrf=%g0", "csrf"}, {"token=a%00b&csrf=" + f[0], "token"}}) {
            final HttpResponse<String> r = h.post("/login", c[0], "Content-Type", FORM, "Cookie", f[1],
                "X-Forwarded-For", client);
            assertEquals(400, r.statusCode(), c[0] + ": " + r.body());
            assertTrue(r.body().contains("\"field\":\"" + c[1] + "\""), r.body());
        }
    }

    /** A CSRF token that is well-formed but not the session's. */
    private static final class SessionCsrf {
        static String wrong(String right) {
            return (right.charAt(0) == 'A' ? 'B' : 'A') + right.substring(1);
        }
    }
}
