package dev.spillway.alerting;

import dev.spillway.runtime.log.LogText;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

/**
 * A small SMTP client on the JDK for the email channel: EHLO, STARTTLS ({@code required} by default, or
 * {@code optional}) or implicit TLS from the first byte ({@code tls: implicit}, "smtps", port 465), AUTH PLAIN or LOGIN, MAIL, RCPT, DATA, QUIT. One connection per message; the whole exchange is
 * bounded by the request timeout (every read waits at most for what is left of it), and every reply is read with
 * a bounded line length and line count, so a server that never answers, trickles or floods delays only its own
 * lane. The answer is the server's reply code ({@link Answer#smtp}): 4xx is retried, 5xx fails the message, and
 * refused credentials or a missing STARTTLS disable the channel.
 *
 * <p>The {@code Message-ID} is derived from the outbox row's id ({@code <spillway-notification-<id>@<from's
 * domain>>}), so a message sent again after a crash or a retry is recognisable as the same message. Passwords are
 * never logged, never part of an answer.
 */
final class SmtpClient {

    private static final Logger LOG = LoggerFactory.getLogger(SmtpClient.class);
    private static final int MAX_LINE = 2048;
    private static final int MAX_REPLY_LINES = 100;
    private static final DateTimeFormatter DATE = DateTimeFormatter.RFC_1123_DATE_TIME.withZone(ZoneOffset.UTC);

    private final Duration timeout;
    private final Clock clock;

    /** @param timeout bound of one whole delivery (connect to QUIT) */
    SmtpClient(Duration timeout, Clock clock) {
        this.timeout = timeout;
        this.clock = clock;
    }

    /** Thrown by the exchange when the deadline passed. */
    private static final class Expired extends IOException {
        Expired() {
            super("no answer within the request timeout");
        }
    }

    /** A server reply: the code of its last line and its text. */
    private record Reply(int code, String text) {
        boolean positive() {
            return code >= 200 && code < 400;
        }

        Answer answer(String when) {
            return Answer.smtp(code, when + ": " + text);
        }
    }

    /** One connection's state. */
    private final class Session {
        private final long deadline = System.nanoTime() + timeout.toNanos();
        private Socket socket;
        private InputStream in;
        private OutputStream out;

        private int remainingMillis() throws Expired {
            final long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                throw new Expired();
            }
            return (int) Math.min(Integer.MAX_VALUE, left);
        }

        void connect(String host, int port) throws IOException {
            // A channel's socket: reads still honour SO_TIMEOUT, and an interrupt (a relay that stops and cannot
            // wait any longer) closes it instead of leaving the thread blocked until the timeout.
            socket = java.nio.channels.SocketChannel.open().socket();
            socket.connect(new InetSocketAddress(host, port), remainingMillis());
            use(socket);
        }

        void use(Socket s) throws IOException {
            socket = s;
            in = new BufferedInputStream(s.getInputStream());
            out = s.getOutputStream();
        }

        void write(String line) throws IOException {
            socket.setSoTimeout(remainingMillis());
            out.write((line + "\r\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        Reply command(String line) throws IOException {
            write(line);
            return read();
        }

        /** A reply: lines {@code 250-...} up to the last {@code 250 ...}; bounded in length and count. */
        Reply read() throws IOException {
            final StringBuilder text = new StringBuilder();
            for (int lines = 0; lines < MAX_REPLY_LINES; lines++) {
                final String line = readLine();
                if (line.length() < 3 || !Character.isDigit(line.charAt(0)) || !Character.isDigit(line.charAt(1))
                    || !Character.isDigit(line.charAt(2))) {
                    throw new IOException("not an SMTP reply: '" + LogText.escape(cap(line)) + "'");
                }
                final int code = Integer.parseInt(line.substring(0, 3));
                if (text.length() > 0) {
                    text.append('\n');
                }
                text.append(line.length() > 4 ? line.substring(4) : "");
                if (line.length() == 3 || line.charAt(3) != '-') {
                    return new Reply(code, text.toString());
                }
            }
            throw new IOException("an SMTP reply of more than " + MAX_REPLY_LINES + " lines");
        }

        private String readLine() throws IOException {
            final ByteArrayOutputStream line = new ByteArrayOutputStream(128);
            while (true) {
                socket.setSoTimeout(remainingMillis());
                final int b;
                try {
                    b = in.read();
                } catch (SocketTimeoutException e) {
                    throw new Expired();
                }
                if (b < 0) {
                    throw new IOException("the server closed the connection");
                }
                if (b == '\n') {
                    final String s = line.toString(StandardCharsets.UTF_8);
                    return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
                }
                if (line.size() >= MAX_LINE) {
                    throw new IOException("an SMTP reply line longer than " + MAX_LINE + " bytes");
                }
                line.write(b);
            }
        }

        void close() {
            if (socket != null) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
    }

    /** Sends one mail; never throws for what the network or the server does. */
    Answer send(Channel ch, Messages.Mail mail, long notificationId) throws InterruptedException {
        final String host = ch.option("host").replace("[", "").replace("]", ""); // [::1] is ::1
        final boolean implicit = "implicit".equals(ch.option("tls"));
        final int port = ChannelOptions.port(ch.option("port"), implicit ? ChannelOptions.SMTPS_PORT
            : ChannelOptions.SMTP_PORT);
        final boolean tlsRequired = !"optional".equals(ch.option("starttls"));
        final String username = ch.option("username");
        final String from = ch.option("from");
        final List<String> to = ChannelOptions.recipients(ch.option("to"));
        final Session s = new Session();
        try {
            s.connect(host, port);
            if (implicit) {
                // SMTPS (RFC 8314): TLS from the first byte, the greeting comes encrypted.
                s.use(upgrade(s.socket, host, port, ch.option("ca_cert"), s.remainingMillis()));
            }
            Reply r = s.read();
            if (r.code != 220) {
                return r.answer("greeting");
            }
            final String ehlo = "EHLO " + addressLiteral(s.socket);
            r = s.command(ehlo);
            if (!r.positive()) {
                return r.answer("EHLO");
            }
            boolean tls = implicit;
            if (implicit) {
                // already encrypted: no STARTTLS
            } else if (extension(r, "STARTTLS") != null) {
                final Reply start = s.command("STARTTLS");
                if (start.code != 220) {
                    if (tlsRequired) {
                        return start.answer("STARTTLS");
                    }
                } else {
                    s.use(upgrade(s.socket, host, port, ch.option("ca_cert"), s.remainingMillis()));
                    tls = true;
                    r = s.command(ehlo);
                    if (!r.positive()) {
                        return r.answer("EHLO after STARTTLS");
                    }
                }
            } else if (tlsRequired) {
                return Answer.smtp(530, "the server offers no STARTTLS, and the channel's starttls is required");
            }
            if (username != null) {
                if (!tls) {
                    return Answer.smtp(538, "the server offers no STARTTLS: the password is not sent in clear");
                }
                final Answer auth = authenticate(s, r, username, ch.option("password"));
                if (auth != null) {
                    return auth;
                }
            }
            r = s.command("MAIL FROM:<" + from + ">");
            if (!r.positive()) {
                return r.answer("MAIL FROM");
            }
            final List<String> accepted = new ArrayList<>();
            final List<String> refused = new ArrayList<>();
            Reply firstRefusal = null;
            for (String rcpt : to) {
                final Reply rr = s.command("RCPT TO:<" + rcpt + ">");
                if (rr.positive()) {
                    accepted.add(rcpt);
                } else if (rr.code < 500) {
                    // Transient for one recipient: the whole message is tried again later (same Message-ID).
                    quietly(s, "RSET");
                    quit(s);
                    return rr.answer("RCPT TO:<" + rcpt + ">");
                } else {
                    refused.add(rcpt + " (" + rr.code + ")");
                    firstRefusal = firstRefusal == null ? rr : firstRefusal;
                }
            }
            if (accepted.isEmpty()) {
                quit(s);
                return firstRefusal.answer("RCPT TO (every recipient refused: " + String.join(", ", refused) + ")");
            }
            r = s.command("DATA");
            if (r.code != 354) {
                return r.answer("DATA");
            }
            s.socket.setSoTimeout(s.remainingMillis());
            s.out.write(message(mail, from, to, notificationId).getBytes(StandardCharsets.UTF_8));
            r = s.command(".");
            if (!r.positive()) {
                return r.answer("end of DATA");
            }
            quit(s);
            if (!refused.isEmpty()) {
                LOG.warn("notification {} to channel '{}': sent, but the server refused recipients {}", notificationId,
                    ch.id(), LogText.escape(String.join(", ", refused)));
                return Answer.smtp(r.code, "sent; refused recipients: " + String.join(", ", refused));
            }
            return Answer.smtp(r.code, r.text);
        } catch (Expired e) {
            return Answer.noAnswer("no answer within " + timeout.toMillis() + " ms");
        } catch (javax.net.ssl.SSLException e) {
            interrupted();
            return Answer.noAnswer("TLS failed: " + e.getMessage());
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            interrupted();
            return Answer.noAnswer("SMTP exchange failed: " + e);
        } finally {
            s.close();
        }
    }

    /**
     * An exchange that failed because the thread was interrupted (the relay stopping; the interrupt closed the
     * channel) is not an answer: nothing is recorded, the row stays leased and is sent again with the same
     * Message-ID once the lease ends.
     */
    private static void interrupted() throws InterruptedException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedException("the relay is stopping");
        }
    }

    /** AUTH PLAIN if offered, else LOGIN; null when authenticated, else the answer. */
    private static Answer authenticate(Session s, Reply ehlo, String username, String password) throws IOException {
        final String mechanisms = extension(ehlo, "AUTH");
        final List<String> offered = mechanisms == null ? List.of()
            : List.of(mechanisms.toUpperCase(Locale.ROOT).trim().split("[ =]+"));
        final Base64.Encoder b64 = Base64.getEncoder();
        final Reply r;
        if (offered.contains("PLAIN")) {
            r = s.command("AUTH PLAIN " + b64.encodeToString(("\0" + username + "\0" + password)
                .getBytes(StandardCharsets.UTF_8)));
        } else if (offered.contains("LOGIN")) {
            Reply step = s.command("AUTH LOGIN");
            if (step.code != 334) {
                return step.answer("AUTH LOGIN");
            }
            step = s.command(b64.encodeToString(username.getBytes(StandardCharsets.UTF_8)));
            if (step.code != 334) {
                return step.answer("AUTH LOGIN (username)");
            }
            r = s.command(b64.encodeToString(password.getBytes(StandardCharsets.UTF_8)));
        } else {
            return Answer.smtp(534, "the server offers neither AUTH PLAIN nor AUTH LOGIN (offers: "
                + (mechanisms == null ? "none" : mechanisms) + ")");
        }
        return r.code == 235 ? null : r.answer("AUTH");
    }

    /** The parameters of an EHLO extension (e.g. {@code PLAIN LOGIN} of {@code AUTH}), "" without, or null. */
    private static String extension(Reply ehlo, String name) {
        for (String line : ehlo.text.split("\n")) {
            final String l = line.trim();
            if (l.equalsIgnoreCase(name)) {
                return "";
            }
            if (l.regionMatches(true, 0, name + " ", 0, name.length() + 1)
                || l.regionMatches(true, 0, name + "=", 0, name.length() + 1)) {
                return l.substring(name.length() + 1);
            }
        }
        return null;
    }

    private static Socket upgrade(Socket plain, String host, int port, String caCert, int handshakeMillis)
        throws IOException, GeneralSecurityException {
        final SSLContext ctx;
        if (caCert == null) {
            ctx = SSLContext.getDefault();
        } else {
            final KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
            trust.load(null, null);
            int i = 0;
            for (X509Certificate c : ChannelOptions.certificates(caCert)) {
                trust.setCertificateEntry("ca-" + i++, c);
            }
            final TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
        }
        final SSLSocket tls = (SSLSocket) ctx.getSocketFactory().createSocket(plain, host, port, true);
        final SSLParameters params = tls.getSSLParameters();
        // The server's certificate must name the host (as HTTPS checks it).
        params.setEndpointIdentificationAlgorithm("HTTPS");
        tls.setSSLParameters(params);
        tls.setUseClientMode(true);
        tls.setSoTimeout(handshakeMillis);
        tls.startHandshake();
        return tls;
    }

    private static void quit(Session s) {
        quietly(s, "QUIT");
    }

    private static void quietly(Session s, String command) {
        try {
            s.command(command);
        } catch (IOException | RuntimeException ignored) {
            // the message's outcome is decided already
        }
    }

    /** The EHLO argument: this end's address as an address literal ({@code [192.0.2.1]}, {@code [IPv6:...]}). */
    private static String addressLiteral(Socket s) {
        final java.net.InetAddress a = s.getLocalAddress();
        return a instanceof Inet6Address ? "[IPv6:" + a.getHostAddress().replaceAll("%.*$", "") + "]"
            : "[" + a.getHostAddress() + "]";
    }

    /** The Message-ID of an outbox row's mail: the same for every attempt. */
    static String messageId(long notificationId, String from) {
        return "<spillway-notification-" + notificationId + "@" + from.substring(from.indexOf('@') + 1) + ">";
    }

    /** The message as sent after DATA: headers, the body, dot-stuffed, CRLF, and the final dot's line start. */
    String message(Messages.Mail mail, String from, List<String> to, long notificationId) {
        final boolean ascii = mail.body().chars().allMatch(c -> c < 0x80);
        final StringBuilder m = new StringBuilder(mail.body().length() + 512);
        m.append("Date: ").append(DATE.format(clock.instant())).append("\r\n");
        m.append("From: ").append(from).append("\r\n");
        m.append("To: ").append(String.join(", ", to)).append("\r\n");
        m.append("Subject: ").append(encodeHeader(mail.subject())).append("\r\n");
        m.append("Message-ID: ").append(messageId(notificationId, from)).append("\r\n");
        m.append("MIME-Version: 1.0\r\n");
        m.append("Content-Type: text/plain; charset=utf-8\r\n");
        m.append("Content-Transfer-Encoding: ").append(ascii ? "7bit" : "base64").append("\r\n");
        m.append("Auto-Submitted: auto-generated\r\n");
        m.append("X-Spillway-Notification-Id: ").append(notificationId).append("\r\n");
        m.append("\r\n");
        if (ascii) {
            for (String line : mail.body().split("\n", -1)) {
                m.append(line.startsWith(".") ? "." : "").append(line).append("\r\n");
            }
        } else {
            final String b64 = Base64.getMimeEncoder(76, "\r\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(mail.body().getBytes(StandardCharsets.UTF_8));
            m.append(b64).append("\r\n");
        }
        return m.toString();
    }

    /** A header value: as is when ASCII, else RFC 2047 encoded words (UTF-8, base64), folded. */
    static String encodeHeader(String value) {
        return encodeHeader(value, "\r\n ");
    }

    /**
     * A header value: as is when printable ASCII, else RFC 2047 encoded words joined by {@code separator} (a mail
     * header folds with CRLF and a space; an HTTP header, e.g. ntfy's {@code Title}, takes a space).
     */
    static String encodeHeader(String value, String separator) {
        if (value.chars().allMatch(c -> c >= 0x20 && c < 0x7f)) {
            return value;
        }
        final StringBuilder out = new StringBuilder();
        final StringBuilder chunk = new StringBuilder();
        int bytes = 0;
        for (int i = 0; i < value.length(); ) {
            final int cp = value.codePointAt(i);
            final String c = cp < 0x20 || cp == 0x7f ? " " : new String(Character.toChars(cp));
            final int n = c.getBytes(StandardCharsets.UTF_8).length;
            if (bytes + n > 45) {
                word(out, chunk, separator);
                chunk.setLength(0);
                bytes = 0;
            }
            chunk.append(c);
            bytes += n;
            i += Character.charCount(cp);
        }
        word(out, chunk, separator);
        return out.toString();
    }

    private static void word(StringBuilder out, CharSequence chunk, String separator) {
        if (chunk.length() == 0) {
            return;
        }
        if (out.length() > 0) {
            out.append(separator);
        }
        out.append("=?UTF-8?B?").append(Base64.getEncoder().encodeToString(chunk.toString()
            .getBytes(StandardCharsets.UTF_8))).append("?=");
    }

    private static String cap(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "…" : s;
    }
}
