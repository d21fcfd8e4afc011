package dev.spillway.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiResponse;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.LogCapture;
import dev.spillway.testkit.MutableClock;
import dev.spillway.testkit.TargetServer;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The email channel's SMTP client against a third-party SMTP server with STARTTLS: aiosmtpd (Debian package
 * {@code python3-aiosmtpd}, 1.4.3 in Debian 12), started by the test as a real process running
 * {@code src/test/resources/smtp/aiosmtpd_server.py}. It covers what GreenMail ({@link EmailGreenMailTest}) cannot
 * produce: STARTTLS with {@code require_starttls}, AUTH PLAIN and AUTH LOGIN offered only after TLS
 * ({@code auth_require_tls}), and recipients refused with 550 and 451. The assertions mirror the ones
 * {@link ChannelKindsTest} makes against collector-testkit's home-grown server, so the same behaviour is shown
 * against a server whose SMTP is not ours. Channels are put through the API and delivered by the relay from
 * outbox rows, as in production.
 *
 * <p>The server reports each SMTP connection when it closes (the verbs in order, whether each came over TLS, the
 * AUTH attempts without the password, the mails accepted with their raw content), so a test waits for the
 * connections it caused and then asserts on complete transcripts. Without python3 or the aiosmtpd module the tests
 * are skipped, saying so on the console ({@code .ci/run} installs the package).
 */
class EmailAiosmtpdTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PASSWORD = "s3cret-pass-9";
    private static final Duration STARTUP = Duration.ofSeconds(30);
    private static final String SKIP = "python3-aiosmtpd is not installed; CI installs it (apt-get install "
        + "python3-aiosmtpd): skipping the email tests against aiosmtpd (tried python3 on the PATH and /usr/bin/python3)";
    private static TestDatabase db;
    private static String python;
    private static String pem;
    private static Path certFile;
    private static Path keyFile;

    @TempDir
    static Path certs;

    private final List<AutoCloseable> closeMe = new ArrayList<>();
    private MutableClock clock;
    private ApiRouter router;

    @BeforeAll
    static void start() throws Exception {
        python = pythonWithAiosmtpd();
        if (python == null) {
            System.out.println("SKIPPED: " + SKIP); // each test is skipped (and counted so) by fresh()
            return;
        }
        db = TestDatabase.create("email_aiosmtpd");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
        // The testkit's certificate for CN=localhost, IP 127.0.0.1 (trusted by the channels through ca_cert), and
        // its key as PEM files for Python's ssl module.
        pem = TargetServer.selfSignedCertificatePem(certs, 30);
        final KeyStore store = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(certs.resolve("target-30d.p12"))) {
            store.load(in, "changeit".toCharArray());
        }
        certFile = Files.writeString(certs.resolve("aiosmtpd-cert.pem"), pem);
        keyFile = Files.writeString(certs.resolve("aiosmtpd-key.pem"), "-----BEGIN PRIVATE KEY-----\n"
            + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(
                store.getKey("target", "changeit".toCharArray()).getEncoded())
            + "\n-----END PRIVATE KEY-----\n");
    }

    @AfterAll
    static void stop() {
        if (db != null) {
            db.close();
        }
    }

    @BeforeEach
    void fresh() throws Exception {
        Assumptions.assumeTrue(python != null, SKIP);
        db.execute("TRUNCATE notification_outbox");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        clock = new MutableClock(T0);
        router = new ApiRouter(1 << 20, 2, 16);
        closeMe.add(router::close);
        new NotifyApi(db.dataSource(), () -> { }, clock).register(router);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeMe.size() - 1; i >= 0; i--) {
            closeMe.get(i).close();
        }
        closeMe.clear();
    }

    // ---- the server ----------------------------------------------------------------------------------------------

    /** The first of python3 (PATH) and /usr/bin/python3 that imports aiosmtpd, or null. */
    private static String pythonWithAiosmtpd() throws InterruptedException {
        for (String candidate : List.of("python3", "/usr/bin/python3")) {
            try {
                final Process p = new ProcessBuilder(candidate, "-c", "import aiosmtpd").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    continue;
                }
                if (p.exitValue() == 0) {
                    return candidate;
                }
            } catch (IOException notThere) {
                // next candidate
            }
        }
        return null;
    }

    /** One SMTP connection as aiosmtpd saw it. */
    record Session(List<String> verbs, List<Boolean> overTls, List<String> authMechanisms, List<JsonNode> auth,
                   List<Mail> mails) {
        static Session of(JsonNode j) {
            final List<String> verbs = new ArrayList<>();
            final List<Boolean> tls = new ArrayList<>();
            final List<String> mechanisms = new ArrayList<>();
            for (JsonNode c : j.get("commands")) {
                verbs.add(c.get("verb").asText());
                tls.add(c.get("tls").asBoolean());
                if (c.has("mechanism")) {
                    mechanisms.add(c.get("mechanism").asText());
                }
            }
            final List<JsonNode> auth = new ArrayList<>();
            j.get("auth").forEach(auth::add);
            final List<Mail> mails = new ArrayList<>();
            j.get("messages").forEach(m -> mails.add(Mail.of(m)));
            return new Session(verbs, tls, mechanisms, auth, mails);
        }

        /** Every command after the STARTTLS came over TLS, and none before it. */
        boolean tlsFromStartTls() {
            final int start = verbs.indexOf("STARTTLS");
            for (int i = 0; i < verbs.size(); i++) {
                if (overTls.get(i) != (start >= 0 && i > start)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** A mail aiosmtpd accepted: its envelope and its content as received (CRLF, dots unstuffed). */
    record Mail(String from, List<String> to, boolean tls, String login, String content) {
        static Mail of(JsonNode m) {
            final List<String> to = new ArrayList<>();
            m.get("rcpt_tos").forEach(t -> to.add(t.asText()));
            return new Mail(m.get("mail_from").asText(), to, m.get("tls").asBoolean(),
                m.get("login").isNull() ? null : m.get("login").asText(),
                new String(Base64.getDecoder().decode(m.get("content_b64").asText()), StandardCharsets.UTF_8));
        }

        String header(String name) {
            for (String line : content.substring(0, content.indexOf("\r\n\r\n")).split("\r\n")) {
                if (line.regionMatches(true, 0, name + ":", 0, name.length() + 1)) {
                    return line.substring(name.length() + 1).trim();
                }
            }
            return null;
        }

        String body() {
            return content.substring(content.indexOf("\r\n\r\n") + 4).replace("\r\n", "\n");
        }
    }

    /** aiosmtpd_server.py as a process on a free loopback port; its sessions as they are reported. */
    static final class Aiosmtpd implements AutoCloseable {
        private final Process process;
        private final int port;
        private final List<Session> sessions = Collections.synchronizedList(new ArrayList<>());
        private final List<String> output = Collections.synchronizedList(new ArrayList<>());
        private final CountDownLatch readyOrGone = new CountDownLatch(1);
        private volatile boolean ready;

        private Aiosmtpd(List<String> command, int port) throws IOException {
            this.port = port;
            this.process = new ProcessBuilder(command).redirectErrorStream(true).start();
            final Thread reader = new Thread(this::read, "aiosmtpd-" + port);
            reader.setDaemon(true);
            reader.start();
        }

        /** Starts the server with these arguments (after --port and --password); a port taken meanwhile is retried. */
        static Aiosmtpd start(String... args) throws Exception {
            final Path script = Path.of(EmailAiosmtpdTest.class.getResource("/smtp/aiosmtpd_server.py").toURI());
            String failure = null;
            for (int attempt = 0; attempt < 3; attempt++) {
                final int port = TestDatabase.freePort();
                final List<String> command = new ArrayList<>(List.of(python, "-u", script.toString(), "--port",
                    Integer.toString(port), "--password", PASSWORD));
                command.addAll(List.of(args));
                final Aiosmtpd server = new Aiosmtpd(command, port);
                try {
                    if (!server.readyOrGone.await(STARTUP.toSeconds(), TimeUnit.SECONDS)) {
                        throw new AssertionError("aiosmtpd did not say it was listening within " + STARTUP + ": "
                            + server.output);
                    }
                    if (server.ready) {
                        return server;
                    }
                    failure = "aiosmtpd exited before listening on port " + port + ": " + server.output;
                } catch (Throwable t) {
                    server.close();
                    throw t;
                }
                server.close();
                if (!String.join("\n", server.output).contains("Address already in use")) {
                    break;
                }
            }
            throw new AssertionError(failure);
        }

        private void read() {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith("{")) {
                        final JsonNode j = JSON.readTree(line);
                        switch (j.get("event").asText()) {
                            case "ready" -> {
                                ready = true;
                                readyOrGone.countDown();
                            }
                            case "session" -> sessions.add(Session.of(j));
                            default -> output.add(line);
                        }
                    } else {
                        output.add(line);
                    }
                }
            } catch (IOException | RuntimeException e) {
                output.add("reading aiosmtpd's output failed: " + e);
            } finally {
                readyOrGone.countDown();
            }
        }

        int port() {
            return port;
        }

        /** Waits until aiosmtpd has reported {@code n} closed connections (the relay closes its own at the end). */
        List<Session> sessions(int n) {
            Await.until(Duration.ofSeconds(30), () -> sessions.size() >= n,
                "aiosmtpd reports " + n + " SMTP connections; output: " + output);
            synchronized (sessions) {
                assertEquals(n, sessions.size(), "connections: " + sessions);
                return List.copyOf(sessions);
            }
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private Aiosmtpd aiosmtpd(String... args) throws Exception {
        final Aiosmtpd s = Aiosmtpd.start(args);
        closeMe.add(s);
        return s;
    }

    /** STARTTLS (required) with the testkit's certificate, AUTH required after it. */
    private Aiosmtpd withStartTls(String... more) throws Exception {
        final List<String> args = new ArrayList<>(List.of("--cert", certFile.toString(), "--key", keyFile.toString(),
            "--auth-required"));
        args.addAll(List.of(more));
        return aiosmtpd(args.toArray(String[]::new));
    }

    // ---- helpers (as in ChannelKindsTest) ---------------------------------------------------------------------------

    private OutboxRelay relay() {
        final OutboxRelay r = new OutboxRelay(db.dataSource(), new Messages(null), new NotifySettings(
            Duration.ofHours(1), 10_000, 10_000, Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(20),
            Duration.ofMillis(50)), clock, () -> 0.0, new SimpleMeterRegistry());
        closeMe.add(r);
        return r;
    }

    private static Notification down(String subject) {
        return new Notification("monitor.down", "monitor", subject, "up", "down", T0, Map.of("reason", "HTTP 500"));
    }

    private void enqueue(Notification n) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            Outbox.enqueue(c, n, clock.instant());
            c.commit();
        }
    }

    private void put(String id, ObjectNode body) throws Exception {
        final ApiResponse r = router.dispatch("PUT", "/api/v1/channels/" + id, Map.of(),
            Map.of("content-type", "application/json"), JSON.writeValueAsBytes(body), true).get(10, TimeUnit.SECONDS);
        assertEquals(200, r.status(), new String(r.body(), StandardCharsets.UTF_8));
    }

    private static ObjectNode email(int port, String caCert, String... to) {
        final ObjectNode c = JSON.createObjectNode().put("kind", "email").put("group_window", "0s")
            .put("host", "127.0.0.1").put("port", port).put("username", "alerts").put("password", PASSWORD)
            .put("from", "spillway@example.org");
        final var list = c.putArray("to");
        for (String t : to.length == 0 ? new String[] {"ops@example.org", "oncall@example.org"} : to) {
            list.add(t);
        }
        if (caCert != null) {
            c.put("ca_cert", caCert);
        }
        return c;
    }

    private static long rowId(String channel) {
        return db.queryLong("SELECT max(id) FROM notification_outbox WHERE channel_id = '" + channel + "'");
    }

    private static String row(String column, long id) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT " + column + " FROM notification_outbox WHERE id = " + id)) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static Instant instant(String sql) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getTimestamp(1).toInstant();
        }
    }

    private static Channel channel(String id) throws Exception {
        return new ChannelStore(db.dataSource()).get(id).orElseThrow();
    }

    /** The session of these, by the recipients its RCPTs were for (the relay's lanes may run in any order). */
    private static Map<String, Session> byFirstMail(List<Session> sessions) {
        final Map<String, Session> m = new LinkedHashMap<>();
        for (Session s : sessions) {
            m.put(s.mails().isEmpty() ? "none-" + m.size() : String.join(",", s.mails().get(0).to()), s);
        }
        return m;
    }

    // ---- tests -----------------------------------------------------------------------------------------------------

    @Test
    void emailArrivesAtAiosmtpdAfterStartTlsAndAuthWithAMessageIdFromTheOutboxRow() throws Exception {
        final Aiosmtpd both = withStartTls(); // offers AUTH LOGIN PLAIN after STARTTLS: the client takes PLAIN
        final Aiosmtpd loginOnly = withStartTls("--auth", "LOGIN");
        put("mail", email(both.port(), pem));
        put("mail-login", email(loginOnly.port(), pem));
        final OutboxRelay relay = relay();
        enqueue(down("shop"));
        relay.drainOnce();

        final Session s = both.sessions(1).get(0);
        assertEquals(List.of("EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"), s.verbs());
        assertTrue(s.tlsFromStartTls(), "every command after STARTTLS over TLS: " + s);
        assertEquals(List.of("PLAIN"), s.authMechanisms());
        assertEquals("alerts", s.auth().get(0).get("login").asText());
        assertTrue(s.auth().get(0).get("accepted").asBoolean());
        assertEquals(1, s.mails().size());
        final Mail m = s.mails().get(0);
        assertTrue(m.tls(), "sent after STARTTLS");
        assertEquals("alerts", m.login());
        assertEquals("spillway@example.org", m.from());
        assertEquals(List.of("ops@example.org", "oncall@example.org"), m.to());
        assertEquals("[spillway] Monitor shop is down (was up): HTTP 500", m.header("Subject"));
        assertEquals("<spillway-notification-" + rowId("mail") + "@example.org>", m.header("Message-ID"));
        assertEquals("spillway@example.org", m.header("From"));
        assertEquals("ops@example.org, oncall@example.org", m.header("To"));
        assertEquals("auto-generated", m.header("Auto-Submitted"));
        assertEquals(Long.toString(rowId("mail")), m.header("X-Spillway-Notification-Id"));
        assertTrue(m.body().startsWith("Monitor shop is down (was up): HTTP 500\n\nMonitor: shop\nState: up -> down\n"),
            m.body());
        assertEquals("sent", row("state", rowId("mail")));
        assertEquals("250", row("last_status", rowId("mail")));

        final Session viaLogin = loginOnly.sessions(1).get(0);
        assertEquals(List.of("LOGIN"), viaLogin.authMechanisms(), "LOGIN when that is all the server offers");
        assertTrue(viaLogin.auth().get(0).get("accepted").asBoolean());
        assertTrue(viaLogin.tlsFromStartTls(), viaLogin.toString());
        assertEquals(1, viaLogin.mails().size());
        assertTrue(viaLogin.mails().get(0).tls());
        assertEquals("<spillway-notification-" + rowId("mail-login") + "@example.org>",
            viaLogin.mails().get(0).header("Message-ID"));
        assertEquals("sent", row("state", rowId("mail-login")));
    }

    @Test
    void aWrongPasswordAtAiosmtpdIsA535AndDisablesTheChannel() throws Exception {
        final Aiosmtpd server = withStartTls();
        put("mail", email(server.port(), pem).put("password", "not-the-password"));
        enqueue(down("shop"));
        relay().drainOnce();

        final Session s = server.sessions(1).get(0);
        assertEquals(List.of("EHLO", "STARTTLS", "EHLO", "AUTH"), s.verbs(), "nothing after the refused AUTH");
        assertFalse(s.auth().get(0).get("accepted").asBoolean());
        assertTrue(s.mails().isEmpty());
        final Channel ch = channel("mail");
        assertFalse(ch.enabled(), "refused credentials disable the channel");
        assertTrue(ch.disabledReason().startsWith("SMTP 535"), ch.disabledReason());
        assertFalse(ch.disabledReason().contains("not-the-password"));
    }

    @Test
    void aRecipientRefusedWith550FailsTheMessageAnd451IsRetriedWithTheSameMessageId() throws Exception {
        final Aiosmtpd server = withStartTls("--refuse", "nobody@example.org=550 5.1.1 no such user",
            "--refuse-once", "busy@example.org=451 4.2.1 mailbox busy, try again later");
        put("refused", email(server.port(), pem, "nobody@example.org"));
        put("later", email(server.port(), pem, "busy@example.org"));
        final OutboxRelay relay = relay();
        enqueue(down("shop"));
        relay.drainOnce();

        final List<Session> first = server.sessions(2);
        for (Session s : first) {
            assertTrue(s.mails().isEmpty(), s.toString());
            assertFalse(s.verbs().contains("DATA"), "no DATA without a recipient: " + s);
            assertEquals("RCPT", s.verbs().get(s.verbs().indexOf("MAIL") + 1), s.toString());
        }
        final long refusedId = rowId("refused");
        assertEquals("failed", row("state", refusedId), "5xx is permanent");
        assertEquals("1", row("attempts", refusedId));
        assertEquals("550", row("last_status", refusedId));
        assertTrue(row("last_error", refusedId).contains("SMTP 550"), row("last_error", refusedId));
        assertTrue(row("last_error", refusedId).contains("no such user"), "aiosmtpd's text kept: "
            + row("last_error", refusedId));
        final long laterId = rowId("later");
        assertEquals("pending", row("state", laterId), "4xx is retried");
        assertEquals("451", row("last_status", laterId));
        assertEquals(T0.plusMillis(2500), instant("SELECT next_attempt_at FROM notification_outbox WHERE id = "
            + laterId));
        assertTrue(channel("refused").enabled());
        assertTrue(channel("later").enabled());

        // aiosmtpd refuses busy@ once (greylisting): the retry is accepted.
        clock.advance(Duration.ofSeconds(3));
        relay.drainOnce();
        final Session retry = server.sessions(3).get(2);
        assertEquals(1, retry.mails().size(), retry.toString());
        assertEquals(List.of("busy@example.org"), retry.mails().get(0).to());
        assertEquals("<spillway-notification-" + laterId + "@example.org>", retry.mails().get(0).header("Message-ID"));
        assertEquals("sent", row("state", laterId));
        assertEquals("2", row("attempts", laterId));
        assertEquals("failed", row("state", refusedId), "not tried again");
    }

    @Test
    void aMailWithOneRefusedRecipientAmongSeveralGoesToTheOthersAndTheRefusalIsLoggedOnce() throws Exception {
        final Aiosmtpd server = withStartTls("--refuse", "nobody@example.org=550 5.1.1 no such user");
        put("mixed", email(server.port(), pem, "ops@example.org", "nobody@example.org", "oncall@example.org"));
        final OutboxRelay relay = relay();
        try (LogCapture log = LogCapture.of("dev.spillway.alerting")) {
            enqueue(down("shop"));
            relay.drainOnce();
            final Session s = server.sessions(1).get(0);
            assertEquals(List.of("EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "QUIT"),
                s.verbs());
            assertEquals(1, s.mails().size());
            final Mail m = s.mails().get(0);
            assertEquals(List.of("ops@example.org", "oncall@example.org"), m.to(), "the others get it");
            assertEquals("ops@example.org, nobody@example.org, oncall@example.org", m.header("To"));
            assertEquals("<spillway-notification-" + rowId("mixed") + "@example.org>", m.header("Message-ID"));
            assertEquals("sent", row("state", rowId("mixed")));
            assertEquals(1, log.count("refused recipients nobody@example.org (550)"), log.messages().toString());
        }
    }

    @Test
    void noPasswordGoesToAnAiosmtpdWithoutStartTlsAndAnUntrustedCertificateIsRetried() throws Exception {
        final Aiosmtpd noTls = aiosmtpd(); // no STARTTLS; AUTH only after TLS, so never offered here
        final Aiosmtpd tls = withStartTls();
        put("no-tls", email(noTls.port(), null, "no-tls@example.org"));
        put("optional", email(noTls.port(), null, "optional@example.org").put("starttls", "optional"));
        final ObjectNode anonymous = email(noTls.port(), null, "anonymous@example.org").put("starttls", "optional");
        anonymous.remove("username");
        anonymous.remove("password");
        put("anonymous", anonymous);
        put("untrusted", email(tls.port(), null)); // the system's trust store does not know the test certificate
        final OutboxRelay relay = relay();
        enqueue(down("shop"));
        relay.drainOnce();

        assertFalse(channel("no-tls").enabled(), "starttls required, the server offers none");
        assertTrue(channel("no-tls").disabledReason().startsWith("SMTP 530"), channel("no-tls").disabledReason());
        assertFalse(channel("optional").enabled(), "no password in clear");
        assertTrue(channel("optional").disabledReason().startsWith("SMTP 538"), channel("optional").disabledReason());
        final List<Session> plain = noTls.sessions(3);
        for (Session s : plain) {
            assertFalse(s.verbs().contains("AUTH"), "no AUTH, so no password, without TLS: " + s);
            assertTrue(s.auth().isEmpty(), s.toString());
        }
        final Map<String, Session> byMail = byFirstMail(plain);
        final Session delivered = byMail.get("anonymous@example.org");
        assertNotNull(delivered, "optional without a password sends in clear: " + plain);
        assertFalse(delivered.mails().get(0).tls());
        assertEquals(1, plain.stream().mapToInt(s -> s.mails().size()).sum(), "only the channel without a password");
        assertEquals("sent", row("state", rowId("anonymous")));

        assertEquals("pending", row("state", rowId("untrusted")));
        assertTrue(row("last_error", rowId("untrusted")).startsWith("TLS failed"), row("last_error", rowId("untrusted")));
        assertTrue(channel("untrusted").enabled());
        final Session refusedTls = tls.sessions(1).get(0);
        assertEquals(List.of("EHLO", "STARTTLS"), refusedTls.verbs(), "the handshake failed: nothing more");
        assertTrue(refusedTls.auth().isEmpty());
    }
}
