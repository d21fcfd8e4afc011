package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiText;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Who may see the status page. Without {@code --token} everyone may. With it, a reader shows the token once
 * (the sign-in form, or {@code ?token=} on a page URL) and gets a server-side session ({@link SessionStore}); API
 * clients may send {@code Authorization: Token T} instead. {@code --public-status-page} opens the read-only page
 * and its data to everyone; the write and admin APIs keep requiring the token either way.
 *
 * <p>The session cookie holds a random id, nothing derived from the token: it opens the page and nothing else (the
 * write and admin APIs do not accept it), signing out revokes it on the server, and it ends after
 * {@code --session-max-age}. It is {@code HttpOnly} (no script reads it), {@code SameSite=Strict} (no other site's
 * page sends it) and {@code Secure} when the reader came over HTTPS (a trusted proxy said so). The forms carry a
 * CSRF token: the sign-in form one bound to a short-lived cookie of its own (double submit), the sign-out form the
 * session's.
 */
final class PageAuth {

    static final String COOKIE = "spillway_session";
    /** The sign-in form's CSRF cookie, sent back only to {@code /login}. */
    static final String LOGIN_COOKIE = "spillway_login";
    private static final int LOGIN_FORM_SECONDS = 3_600;

    private final byte[] token;
    private final boolean publicPage;
    private final SessionStore sessions;

    /**
     * @param token the collector's token, or null when there is none
     * @param publicPage whether the read-only page is public
     * @param sessions where sign-ins live
     */
    PageAuth(String token, boolean publicPage, SessionStore sessions) {
        this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        this.publicPage = publicPage;
        this.sessions = sessions;
    }

    /** Whether a token exists at all (then the page shows a sign-out button to signed-in readers). */
    boolean tokenSet() {
        return token != null;
    }

    /** Whether the request may read the page and its data. */
    boolean canRead(ApiRequest r) {
        return publicPage || r.authorized() || session(r) != null;
    }

    /** The request's live session, or null. */
    SessionStore.Session session(ApiRequest r) {
        if (token == null) {
            return null;
        }
        return sessions.find(cookie(r.headers().get("cookie"), COOKIE));
    }

    /** Constant-time comparison with the token, so timing does not tell how much of a guess was right. */
    boolean matches(String presented) {
        return token != null && presented != null
            && MessageDigest.isEqual(token, presented.getBytes(StandardCharsets.UTF_8));
    }

    /** Starts a session; the Set-Cookie value that carries it. */
    String signIn(ApiRequest r) {
        final SessionStore.Session s = sessions.create();
        return COOKIE + "=" + s.id() + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + sessions.maxAge().toSeconds()
            + (r.secure() ? "; Secure" : "");
    }

    /** Ends the request's session, if any; the Set-Cookie value that clears the cookie. */
    String signOut(ApiRequest r) {
        sessions.revoke(cookie(r.headers().get("cookie"), COOKIE));
        return COOKIE + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + (r.secure() ? "; Secure" : "");
    }

    /** A fresh CSRF token for a sign-in form, and the Set-Cookie value that binds it to this browser. */
    static String[] loginForm(ApiRequest r) {
        final String csrf = SessionStore.random();
        return new String[] {csrf, LOGIN_COOKIE + "=" + csrf + "; Path=/login; HttpOnly; SameSite=Strict; Max-Age="
            + LOGIN_FORM_SECONDS + (r.secure() ? "; Secure" : "")};
    }

    /** Whether a posted sign-in form carries the CSRF token its cookie holds. */
    static boolean loginFormGenuine(ApiRequest r, String posted) {
        final String expected = cookie(r.headers().get("cookie"), LOGIN_COOKIE);
        return expected != null && posted != null && !expected.isEmpty()
            && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), posted.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether a posted form carries the session's CSRF token. */
    static boolean sessionFormGenuine(SessionStore.Session s, String posted) {
        return s != null && posted != null
            && MessageDigest.isEqual(s.csrf().getBytes(StandardCharsets.UTF_8), posted.getBytes(StandardCharsets.UTF_8));
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

    /**
     * One field of an {@code application/x-www-form-urlencoded} body, or null; 400 naming the field when its
     * encoding is broken ({@code %zz}) or it holds a control character.
     */
    static String formField(String body, String name) throws ApiException {
        for (String pair : body.split("&")) {
            final int eq = pair.indexOf('=');
            final String key;
            try {
                key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                continue; // a broken field that is not the one asked for
            }
            if (key.equals(name)) {
                if (eq < 0) {
                    return "";
                }
                final String value;
                try {
                    value = URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    throw ApiException.invalid(name, "is not valid form encoding (a % must start two hex digits)");
                }
                ApiText.requireNoControl(name, value);
                return value;
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
