package dev.spillway.alerting;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What each channel kind takes besides its URL, and the checks at creation: every message starts with the field's
 * name, and none repeats a secret.
 */
final class ChannelOptions {

    /** Telegram's bot tokens: the bot's number, a colon, a secret of letters, digits, '_' and '-'. */
    private static final Pattern BOT_TOKEN = Pattern.compile("[0-9]{1,20}:[A-Za-z0-9_-]{20,100}");
    /** A chat's number (negative for groups and channels) or a public channel's {@code @name}. */
    private static final Pattern CHAT_ID = Pattern.compile("-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,64}");
    /** PagerDuty integration (routing) keys are 32 letters and digits. */
    private static final Pattern ROUTING_KEY = Pattern.compile("[A-Za-z0-9]{32}");
    /** An ntfy access token or any bearer token: visible ASCII, no spaces. */
    private static final Pattern TOKEN = Pattern.compile("[\\x21-\\x7e]{1,512}");
    /** A host name or an IPv4/IPv6 address. */
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.-]{1,253}|\\[?[0-9A-Fa-f:.]{2,45}]?");
    /** A plain mail address (no display name, no quotes, no comments, no spaces). */
    private static final Pattern ADDRESS = Pattern.compile("[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}");
    /** The most recipients of one email channel. */
    static final int MAX_RECIPIENTS = 50;

    /** Per kind: the options it takes (a PUT with another is a 400 naming it). */
    static final Map<ChannelKind, Set<String>> ALLOWED = Map.of(
        ChannelKind.SLACK, Set.of(),
        ChannelKind.WEBHOOK, Set.of(),
        ChannelKind.LOG, Set.of(),
        ChannelKind.DISCORD, Set.of(),
        ChannelKind.TEAMS, Set.of(),
        ChannelKind.TELEGRAM, Set.of("bot_token", "chat_id"),
        ChannelKind.PAGERDUTY, Set.of("routing_key"),
        ChannelKind.NTFY, Set.of("token"),
        ChannelKind.EMAIL, Set.of("host", "port", "tls", "starttls", "username", "password", "from", "to", "ca_cert"));

    /** Every option of every kind. */
    static final Set<String> ALL = Set.of("bot_token", "chat_id", "routing_key", "token", "host", "port", "tls", "starttls",
        "username", "password", "from", "to", "ca_cert");

    /** The Telegram Bot API's address when {@code url} is not given. */
    static final String TELEGRAM_API = "https://api.telegram.org";
    /** PagerDuty's Events API address when {@code url} is not given (EU accounts: https://events.eu.pagerduty.com). */
    static final String PAGERDUTY_API = "https://events.pagerduty.com";
    /** The submission port when {@code port} is not given. */
    static final int SMTP_PORT = 587;
    /** The submission port with implicit TLS ({@code tls: implicit}, "smtps") when {@code port} is not given. */
    static final int SMTPS_PORT = 465;

    private ChannelOptions() {
    }

    /** Whether the kind needs a {@code url} (the others have a default, or none). */
    static boolean urlRequired(ChannelKind kind) {
        return switch (kind) {
            case SLACK, WEBHOOK, DISCORD, TEAMS, NTFY -> true;
            default -> false;
        };
    }

    /**
     * Checks a kind's options.
     *
     * @throws IllegalArgumentException starting with the field's name
     */
    static void validate(ChannelKind kind, String url, Map<String, String> options) {
        final Set<String> allowed = ALLOWED.getOrDefault(kind, Set.of());
        for (String key : options.keySet()) {
            if (!allowed.contains(key)) {
                throw new IllegalArgumentException(key + " is not a setting of a " + kind.id() + " channel"
                    + (allowed.isEmpty() ? "" : " (it takes " + String.join(", ", new java.util.TreeSet<>(allowed))
                    + ")"));
            }
            final String v = options.get(key);
            if (v == null) {
                throw new IllegalArgumentException(key + " must not be null");
            }
            for (int i = 0; i < v.length(); i++) {
                final char ch = v.charAt(i);
                if (ch < 0x20 && !("ca_cert".equals(key) && (ch == '\n' || ch == '\r')) || ch == 0x7f) {
                    throw new IllegalArgumentException(key + " must not hold control characters");
                }
            }
        }
        switch (kind) {
            case TELEGRAM -> {
                if (blank(options.get("bot_token"))) {
                    throw new IllegalArgumentException("bot_token is required for a telegram channel (from @BotFather)");
                }
                if (!BOT_TOKEN.matcher(options.get("bot_token")).matches()) {
                    throw new IllegalArgumentException("bot_token must look like 123456789:AAE... (the bot's number, "
                        + "a colon, 20-100 letters, digits, '_' or '-'); the value is not shown");
                }
                if (blank(options.get("chat_id"))) {
                    throw new IllegalArgumentException("chat_id is required for a telegram channel (a chat's number, "
                        + "or @channelname)");
                }
                if (!CHAT_ID.matcher(options.get("chat_id")).matches()) {
                    throw new IllegalArgumentException("chat_id must be a chat's number (e.g. -1001234567890) or "
                        + "@channelname, was '" + options.get("chat_id") + "'");
                }
            }
            case PAGERDUTY -> {
                if (blank(options.get("routing_key"))) {
                    throw new IllegalArgumentException("routing_key is required for a pagerduty channel (the "
                        + "integration key of an Events API v2 integration)");
                }
                if (!ROUTING_KEY.matcher(options.get("routing_key")).matches()) {
                    throw new IllegalArgumentException("routing_key must be 32 letters and digits (an Events API v2 "
                        + "integration key); the value is not shown");
                }
            }
            case NTFY -> {
                if (options.containsKey("token") && !TOKEN.matcher(options.get("token")).matches()) {
                    throw new IllegalArgumentException("token must be 1-512 visible ASCII characters; the value is "
                        + "not shown");
                }
            }
            case EMAIL -> validateEmail(url, options);
            default -> {
            }
        }
    }

    private static void validateEmail(String url, Map<String, String> o) {
        if (url != null) {
            throw new IllegalArgumentException("url is not a setting of an email channel (host and port are)");
        }
        final String host = o.get("host");
        if (blank(host)) {
            throw new IllegalArgumentException("host is required for an email channel (the SMTP server)");
        }
        if (!HOST.matcher(host).matches()) {
            throw new IllegalArgumentException("host must be a host name or an IP address, was '" + host + "'");
        }
        if (o.containsKey("port")) {
            port(o.get("port"));
        }
        final String tls = o.get("tls");
        if (tls != null && !"starttls".equals(tls) && !"implicit".equals(tls)) {
            throw new IllegalArgumentException("tls must be starttls (the default: plain connection, then STARTTLS; "
                + "port 587) or implicit (TLS from the first byte, \"smtps\"; port 465), was '" + tls + "'");
        }
        final String starttls = o.get("starttls");
        if (starttls != null && !"required".equals(starttls) && !"optional".equals(starttls)) {
            throw new IllegalArgumentException("starttls must be required or optional, was '" + starttls + "'");
        }
        if (starttls != null && implicitTls(o)) {
            throw new IllegalArgumentException("starttls is not a setting with tls: implicit (the connection is TLS "
                + "from its first byte)");
        }
        if (blank(o.get("username")) != blank(o.get("password"))) {
            throw new IllegalArgumentException((blank(o.get("username")) ? "username" : "password")
                + " is required with " + (blank(o.get("username")) ? "password" : "username") + " (AUTH needs both)");
        }
        if (o.containsKey("username") && o.get("username").length() > 256) {
            throw new IllegalArgumentException("username must be at most 256 characters");
        }
        if (o.containsKey("password") && o.get("password").length() > 256) {
            throw new IllegalArgumentException("password must be at most 256 characters; the value is not shown");
        }
        final String from = o.get("from");
        if (blank(from)) {
            throw new IllegalArgumentException("from is required for an email channel (the sender's address)");
        }
        address("from", from);
        final List<String> to = recipients(o.get("to"));
        if (to.isEmpty()) {
            throw new IllegalArgumentException("to is required for an email channel (one or more addresses)");
        }
        if (to.size() > MAX_RECIPIENTS) {
            throw new IllegalArgumentException("to has " + to.size() + " addresses; at most " + MAX_RECIPIENTS);
        }
        for (String a : to) {
            address("to", a);
        }
        if (o.containsKey("ca_cert")) {
            certificates(o.get("ca_cert"));
        }
    }

    /** Whether an email channel's options ask for implicit TLS ({@code tls: implicit}, "smtps"). */
    static boolean implicitTls(Map<String, String> options) {
        return "implicit".equals(options.get("tls"));
    }

    /** The port: 1..65535 ({@value #SMTP_PORT} when absent). */
    static int port(String value) {
        return port(value, SMTP_PORT);
    }

    /** The port: 1..65535 ({@code absent} when absent). */
    static int port(String value, int absent) {
        if (value == null) {
            return absent;
        }
        final int p;
        try {
            p = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("port must be a number 1..65535, was '" + value + "'");
        }
        if (p < 1 || p > 65535) {
            throw new IllegalArgumentException("port must be a number 1..65535, was " + p);
        }
        return p;
    }

    /** The recipients of an email channel: the stored {@code to}, comma-separated. */
    static List<String> recipients(String to) {
        final Set<String> out = new LinkedHashSet<>();
        if (to != null) {
            for (String a : to.split(",")) {
                if (!a.isBlank()) {
                    out.add(a.trim());
                }
            }
        }
        return new ArrayList<>(out);
    }

    private static void address(String field, String a) {
        if (a.length() > 254 || !ADDRESS.matcher(a).matches() || a.contains("..") || a.endsWith(".")) {
            throw new IllegalArgumentException(field + " must be plain addresses such as ops@example.org (no name, "
                + "no <>), was '" + a + "'");
        }
    }

    /** The certificates of a PEM text (the email channel's {@code ca_cert}: whom STARTTLS trusts). */
    static List<X509Certificate> certificates(String pem) {
        try {
            final List<X509Certificate> out = new ArrayList<>();
            for (java.security.cert.Certificate c : CertificateFactory.getInstance("X.509")
                .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("ca_cert holds no certificate; give PEM text (-----BEGIN "
                    + "CERTIFICATE-----...)");
            }
            return out;
        } catch (CertificateException | ClassCastException e) {
            throw new IllegalArgumentException("ca_cert is not PEM X.509 certificates: " + e.getMessage());
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
