package dev.spillway.ingest.internal.http;

import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.runtime.api.ApiAccess;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;

/**
 * Finds what a request's credential allows. Credentials are sent the way InfluxDB clients send a token:
 * {@code Authorization: Token T} (v2 clients, also {@code Bearer T}), and for v1 clients the password of
 * {@code Authorization: Basic} or the {@code p} query parameter (the user name is ignored, as InfluxDB 2's v1
 * compatibility API does); a ping key may also come as {@code ?key=} (a ping URL). The collector's {@code --token}
 * is admin; read-only tokens and ping keys are looked up in {@link ApiTokens} (in memory); without {@code --token}
 * everyone is admin.
 */
final class TokenAuth {

    private final byte[] token;
    private final ApiTokens tokens;

    /**
     * @param token the admin token, or null to allow everything
     * @param tokens read-only tokens and ping keys, or null for none
     */
    TokenAuth(String token, ApiTokens tokens) {
        this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        this.tokens = tokens;
    }

    ApiAccess access(HttpHeaders headers, QueryStringDecoder query) {
        if (token == null) {
            return ApiAccess.ADMIN;
        }
        final String presented = presented(headers, query);
        if (matches(presented)) {
            return ApiAccess.ADMIN;
        }
        if (tokens == null) {
            return ApiAccess.NONE;
        }
        final ApiAccess scoped = tokens.lookup(presented);
        if (scoped.level() != ApiAccess.Level.NONE) {
            return scoped;
        }
        final List<String> key = query.parameters().get("key");
        return key == null || key.isEmpty() ? ApiAccess.NONE : tokens.lookup(key.get(0));
    }

    /**
     * Every credential the request presents, as one text ({@code Authorization}, {@code ?p=}, {@code ?key=}), or null
     * when it presents none. What the failed-authentication throttle compares: a request without any credential
     * guesses nothing.
     */
    static String credential(HttpHeaders headers, QueryStringDecoder query) {
        final String auth = headers.get(HttpHeaderNames.AUTHORIZATION);
        final String p = first(query, "p");
        final String key = first(query, "key");
        if (auth == null && p == null && key == null) {
            return null;
        }
        return (auth == null ? "" : auth) + "\n" + (p == null ? "" : p) + "\n" + (key == null ? "" : key);
    }

    private static String first(QueryStringDecoder query, String name) {
        final List<String> v = query.parameters().get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    private static String presented(HttpHeaders headers, QueryStringDecoder query) {
        final String auth = headers.get(HttpHeaderNames.AUTHORIZATION);
        if (auth != null) {
            final int space = auth.indexOf(' ');
            if (space > 0) {
                final String scheme = auth.substring(0, space);
                final String value = auth.substring(space + 1).trim();
                if (scheme.equalsIgnoreCase("Token") || scheme.equalsIgnoreCase("Bearer")) {
                    return value;
                }
                if (scheme.equalsIgnoreCase("Basic")) {
                    try {
                        final String decoded = new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
                        final int colon = decoded.indexOf(':');
                        return colon >= 0 ? decoded.substring(colon + 1) : null;
                    } catch (IllegalArgumentException e) {
                        return null;
                    }
                }
            }
            return null;
        }
        final List<String> p = query.parameters().get("p");
        return p == null || p.isEmpty() ? null : p.get(0);
    }

    private boolean matches(String presented) {
        // Constant-time, so response timing does not reveal how much of a guess was right.
        return presented != null && MessageDigest.isEqual(token, presented.getBytes(StandardCharsets.UTF_8));
    }
}
