package dev.spillway.alerting;

import com.icegreen.greenmail.configuration.GreenMailConfiguration;
import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import dev.spillway.runtime.db.SchemaMigrations;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.MutableClock;
import dev.spillway.testkit.TargetServer;
import dev.spillway.uptime.schema.UptimeSchema;
import dev.spillway.uptime.transitions.Notification;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import jakarta.mail.Message;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The email channel's SMTP client against a third-party SMTP server, GreenMail (SMTP and SMTPS with AUTH PLAIN and
 * LOGIN), so the client is not only tested against the home-grown server of collector-testkit, which could share
 * a misreading of SMTP with it. GreenMail parses what arrives with Jakarta Mail, so headers, RFC 2047 subjects and
 * base64 bodies are read back by an independent MIME parser.
 *
 * <p>What GreenMail 2.1.2 cannot do, and stays with collector-testkit's server in {@link ChannelKindsTest}: its SMTP
 * service offers no STARTTLS (its EHLO lists only AUTH), and its RCPT always answers 250, so neither a 5xx nor a 4xx
 * recipient refusal can be produced with it. Its SMTP service is used here for what a server without STARTTLS
 * means to the channel.
 */
class EmailGreenMailTest {

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final String PASSWORD = "s3cret-pass-9";
    private static TestDatabase db;
    private static String pem;
    private static GreenMail greenMail;

    @TempDir
    static Path certs;

    private MutableClock clock;
    private OutboxRelay relay;

    @BeforeAll
    static void start() throws Exception {
        db = TestDatabase.create("email_greenmail");
        SchemaMigrations.apply(db.dataSource(), Stream.concat(UptimeSchema.migrations().stream(),
            AlertingSchema.migrations().stream()).toList());
        // GreenMail's SMTPS presents the key store named by these properties (read once per JVM, when its first TLS
        // service starts): the test certificate for CN=localhost, IP 127.0.0.1, which the channel trusts by ca_cert.
        pem = TargetServer.selfSignedCertificatePem(certs, 30);
        System.setProperty("greenmail.tls.keystore.file", certs.resolve("target-30d.p12").toString());
        System.setProperty("greenmail.tls.keystore.password", "changeit");
        System.setProperty("greenmail.tls.key.password", "changeit");
        greenMail = new GreenMail(new ServerSetup[] {
            new ServerSetup(0, "127.0.0.1", ServerSetup.PROTOCOL_SMTP),
            new ServerSetup(0, "127.0.0.1", ServerSetup.PROTOCOL_SMTPS)})
            .withConfiguration(GreenMailConfiguration.aConfig().withUser("alerts@example.org", "alerts", PASSWORD));
        greenMail.start();
    }

    @AfterAll
    static void stop() {
        if (greenMail != null) {
            greenMail.stop();
        }
        db.close();
    }

    @BeforeEach
    void fresh() throws Exception {
        greenMail.purgeEmailFromAllMailboxes();
        db.execute("TRUNCATE notification_outbox");
        db.execute("DELETE FROM notification_channels WHERE id <> 'log'");
        clock = new MutableClock(T0);
        relay = new OutboxRelay(db.dataSource(), new Messages(null), new NotifySettings(Duration.ofHours(1), 10_000,
            10_000, Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(20), Duration.ofMillis(50)),
            clock, () -> 0.0, new SimpleMeterRegistry());
    }

    @AfterEach
    void close() {
        relay.close();
    }

    private static Map<String, String> email(int port, String password) {
        final Map<String, String> o = new HashMap<>(Map.of("host", "127.0.0.1", "port", Integer.toString(port),
            "from", "spillway@example.org", "to", "ops@example.org,oncall@example.org"));
        if (password != null) {
            o.put("username", "alerts");
            o.put("password", password);
        }
        return o;
    }

    private static Map<String, String> smtps(String password) {
        final Map<String, String> o = email(greenMail.getSmtps().getPort(), password);
        o.put("tls", "implicit");
        o.put("ca_cert", pem);
        return o;
    }

    private static void put(String id, Map<String, String> options) throws Exception {
        new ChannelStore(db.dataSource()).put(id, ChannelKind.EMAIL, null, Duration.ZERO, null, options);
    }

    private void enqueue(Notification n) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            Outbox.enqueue(c, n, clock.instant());
            c.commit();
        }
    }

    private static long rowId(String channel) {
        return db.queryLong("SELECT max(id) FROM notification_outbox WHERE channel_id = '" + channel + "'");
    }

    private static String row(String column, String channel) throws Exception {
        try (Connection c = db.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT " + column + " FROM notification_outbox WHERE id = "
                 + rowId(channel))) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static Channel channel(String id) throws Exception {
        return new ChannelStore(db.dataSource()).get(id).orElseThrow();
    }

    private static Notification down(String subject, String reason) {
        return new Notification("monitor.down", "monitor", subject, "up", "down", T0, Map.of("reason", reason));
    }

    @Test
    void implicitTlsAndAuthAtGreenMailsSmtpsDeliverOneMailPerRecipientWithTheOutboxRowsMessageId() throws Exception {
        put("mail", smtps(PASSWORD));
        // Not ASCII: the subject goes out as RFC 2047 encoded words and the body base64, both read back by
        // Jakarta Mail on GreenMail's side.
        enqueue(down("café", "Zeitüberschreitung\n.hidden? no"));
        relay.drainOnce();

        final MimeMessage[] received = greenMail.getReceivedMessages();
        assertEquals(2, received.length, "one copy per recipient mailbox");
        for (String mailbox : List.of("ops@example.org", "oncall@example.org")) {
            final com.icegreen.greenmail.user.GreenMailUser user = greenMail.getUserManager().getUserByEmail(mailbox);
            assertTrue(user != null, mailbox + " got mail");
            assertEquals(1, greenMail.getManagers().getImapHostManager().getInbox(user).getMessageCount(), mailbox);
        }
        final MimeMessage m = received[0];
        assertEquals("<spillway-notification-" + rowId("mail") + "@example.org>", m.getMessageID());
        assertEquals("[spillway] Monitor café is down (was up): Zeitüberschreitung .hidden? no", m.getSubject());
        assertEquals("spillway@example.org", ((InternetAddress) m.getFrom()[0]).getAddress());
        assertEquals(2, m.getRecipients(Message.RecipientType.TO).length);
        assertEquals("auto-generated", m.getHeader("Auto-Submitted")[0]);
        assertEquals(Long.toString(rowId("mail")), m.getHeader("X-Spillway-Notification-Id")[0]);
        final String body = ((String) m.getContent()).replace("\r\n", "\n");
        assertTrue(body.startsWith("Monitor café is down (was up): Zeitüberschreitung"), body);
        assertTrue(body.contains("\n.hidden? no"), "the second line of the reason arrives as written: " + body);
        assertEquals("sent", row("state", "mail"));
        assertEquals("250", row("last_status", "mail"));
    }

    @Test
    void aWrongPasswordAtGreenMailIsA535AndDisablesTheChannel() throws Exception {
        put("mail", smtps("not-the-password"));
        enqueue(down("shop", "HTTP 500"));
        relay.drainOnce();
        assertEquals(0, greenMail.getReceivedMessages().length);
        final Channel ch = channel("mail");
        assertFalse(ch.enabled(), "refused credentials disable the channel");
        assertTrue(ch.disabledReason().startsWith("SMTP 535"), ch.disabledReason());
        assertFalse(ch.disabledReason().contains("not-the-password"));
    }

    @Test
    void smtpsWithACertificateNotTrustedIsRetriedAndSendsNoPassword() throws Exception {
        final Map<String, String> o = smtps(PASSWORD);
        o.remove("ca_cert"); // the system's trust store does not know the test certificate
        put("mail", o);
        enqueue(down("shop", "HTTP 500"));
        relay.drainOnce();
        assertEquals(0, greenMail.getReceivedMessages().length);
        assertEquals("pending", row("state", "mail"));
        assertTrue(row("last_error", "mail").startsWith("TLS failed"), row("last_error", "mail"));
        assertTrue(channel("mail").enabled());
    }

    @Test
    void greenMailsPlainSmtpOffersNoStartTlsSoNoPasswordGoesOutAndRequiredTlsDisablesTheChannel() throws Exception {
        final int port = greenMail.getSmtp().getPort();
        put("required", email(port, PASSWORD));
        final Map<String, String> optional = email(port, PASSWORD);
        optional.put("starttls", "optional");
        put("optional", optional);
        final Map<String, String> anonymous = email(port, null);
        anonymous.put("starttls", "optional");
        put("anonymous", anonymous);
        // ASCII: the body goes out 7bit, so the reason's second line, starting with a dot, is dot-stuffed on the
        // wire and must arrive with one dot.
        enqueue(down("shop", "HTTP 500\n.\n..two dots"));
        relay.drainOnce();

        assertTrue(channel("required").disabledReason().startsWith("SMTP 530"), channel("required").disabledReason());
        assertTrue(channel("optional").disabledReason().startsWith("SMTP 538"), channel("optional").disabledReason());
        final MimeMessage[] received = greenMail.getReceivedMessages();
        assertEquals(2, received.length, "only the channel without a password sent, to both recipients");
        assertEquals("<spillway-notification-" + rowId("anonymous") + "@example.org>", received[0].getMessageID());
        final String body = ((String) received[0].getContent()).replace("\r\n", "\n");
        assertTrue(body.contains("Reason: HTTP 500\n.\n..two dots\n"), body);
        assertEquals("sent", row("state", "anonymous"));
    }
}
