package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiRequest;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

/**
 * Who may see the status page. Without {@code --token} everyone may. With it, a reader shows the token once
 * (the login form, or {@code ?token=} on a page URL) and gets a session cookie; API clients may send
 * {@code Authorization: Token T} instead. {@code --public-status-page} opens the read-only page and its data to
 * everyone; the write and admin APIs keep requiring the token either way.
 *
 * <p>The cookie does not hold the token itself but a hash derived from it, so a cookie read off a browser grants
 * reading the page and nothing else (the write and admin APIs do not accept it). It is {@code HttpOnly} (no script
 * reads it) and {@code SameSite=Strict} (no other site's page sends it). The token itself, sent as the HTTP layer
 * accepts it for writes ({@code Authorization: Token}, Basic, {@code ?p=}), also opens the page.
 */
final class PageAuth {

    static final String COOKIE = "spillway_session";
    private static final int COOKIE_DAYS = 30;

    private final byte[] token;
    private final byte[] session;
    private final boolean publicPage;

    /**
     * @param token the collector's token, or null when there is none
     * @param publicPage whether the read-only page is public
     */
    PageAuth(String token, boolean publicPage) {
        this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        this.session = token == null ? null : sessionValue(token).getBytes(StandardCharsets.UTF_8);
        this.publicPage = publicPage;
    }

    /** Whether a token exists at all (then the page shows a sign-out button to signed-in readers). */
    boolean tokenSet() {
        return token != null;
    }

    /** Whether the request may read the page and its data. */
    boolean canRead(ApiRequest r) {
        return publicPage || r.authorized() || hasSession(r);
    }

    /** Whether the request carries the session cookie (so the page offers to sign out). */
    boolean hasSession(ApiRequest r) {
        if (token == null) {
            return false;
        }
        final String cookie = cookie(r.headers().get("cookie"), COOKIE);
        return cookie != null && MessageDigest.isEqual(session, cookie.getBytes(StandardCharsets.UTF_8));
    }

    /** Constant-time comparison with the token, so timing does not tell how much of a guess was right. */
    boolean matches(String presented) {
        return token != null && presented != null
            && MessageDigest.isEqual(token, presented.getBytes(StandardCharsets.UTF_8));
    }

    /** The Set-Cookie value that signs a reader in. */
    String signInCookie() {
        return COOKIE + "=" + new String(session, StandardCharsets.UTF_8) + "; Path=/; HttpOnly; SameSite=Strict; Max-Age="
            + COOKIE_DAYS * 86_400;
    }

    /** The Set-Cookie value that signs a reader out. */
    static String signOutCookie() {
        return COOKIE + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
    }

    private static String sessionValue(String token) {
        try {
            final byte[] digest = MessageDigest.getInstance("SHA-256")
                .digest(("spillway-status-page\0" + token).getBytes(StandardCharsets.UTF_8));
            return Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    /** One cookie's value from a Cookie header, or null. */
    static String cookie(String header, String name) {
        if (header == null) {
            return null;
        }
        for (String part : header.split(";")) {
            final int eq = part.indexOf('=');
            if (eq > 0 && part.substring(0, eq).trim().equals(name)) {
                return part.substring(eq + 1).trim();
            }
        }
        return null;
    }

    /** One field of an {@code application/x-www-form-urlencoded} body, or null. */
    static String formField(String body, String name) {
        for (String pair : body.split("&")) {
            final int eq = pair.indexOf('=');
            final String key = eq < 0 ? pair : pair.substring(0, eq);
            if (URLDecoder.decode(key, StandardCharsets.UTF_8).equals(name)) {
                return eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /** A redirect target from a form or query: a local absolute path, else the page's root. */
    static String localPath(String next) {
        if (next == null || !next.startsWith("/") || next.startsWith("//") || next.contains("\\")
            || next.chars().anyMatch(c -> c < 0x20)) {
            return "/";
        }
        return next;
    }
}
