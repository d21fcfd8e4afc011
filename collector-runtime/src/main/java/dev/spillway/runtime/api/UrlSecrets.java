package dev.spillway.runtime.api;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;

/**
 * Masks the secrets a URL may carry before it is shown in an answer or a log: the password of its
 * {@code user:password@}, and the values of query (and fragment) parameters whose names look secret: {@code token},
 * {@code key}, {@code apikey}, {@code api_key}, {@code access_token}, {@code secret}, {@code password},
 * {@code passwd}, {@code pwd}, {@code sig}, {@code signature}, {@code auth}, {@code code}, and any name containing
 * {@code token}, {@code secret}, {@code key}, {@code password}, {@code passwd}, {@code signature} or
 * {@code credential}; case-insensitive, the name percent-decoded. Everything else is kept as written, so the
 * masked text still says which URL it is.
 */
public final class UrlSecrets {

    /** What a masked value reads as. */
    public static final String MASK = "***";

    private static final Set<String> NAMES = Set.of("token", "key", "apikey", "api_key", "access_token", "secret",
        "password", "passwd", "pwd", "sig", "signature", "auth", "code");
    private static final String[] WORDS = {"token", "secret", "key", "password", "passwd", "signature", "credential"};

    private UrlSecrets() {
    }

    /** Whether a query parameter of this name carries a secret. */
    public static boolean secretName(String name) {
        String n;
        try {
            n = URLDecoder.decode(name, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            n = name;
        }
        n = n.toLowerCase(Locale.ROOT).trim();
        if (NAMES.contains(n)) {
            return true;
        }
        for (String w : WORDS) {
            if (n.contains(w)) {
                return true;
            }
        }
        return false;
    }

    /** The URL as text with its secrets masked, e.g. {@code https://u:***@host/p?token=***&page=2}. */
    public static String mask(URI url) {
        if (url.isOpaque()) {
            return url.getScheme() + ":" + MASK;
        }
        final StringBuilder sb = new StringBuilder();
        if (url.getScheme() != null) {
            sb.append(url.getScheme()).append(':');
        }
        final String authority = url.getRawAuthority();
        if (authority != null) {
            sb.append("//");
            final String user = url.getRawUserInfo();
            if (user != null && authority.startsWith(user + "@")) {
                final int colon = user.indexOf(':');
                sb.append(colon < 0 ? MASK : user.substring(0, colon) + ":" + MASK)
                    .append(authority, user.length(), authority.length());
            } else {
                sb.append(authority);
            }
        }
        if (url.getRawPath() != null) {
            sb.append(url.getRawPath());
        }
        if (url.getRawQuery() != null) {
            sb.append('?').append(maskParameters(url.getRawQuery()));
        }
        if (url.getRawFragment() != null) {
            sb.append('#').append(maskParameters(url.getRawFragment()));
        }
        return sb.toString();
    }

    /** {@link #mask(URI)} of a URL given as text; {@link #MASK} when it is not a URL at all. */
    public static String mask(String url) {
        if (url == null) {
            return null;
        }
        try {
            return mask(new URI(url));
        } catch (java.net.URISyntaxException e) {
            return MASK;
        }
    }

    /** {@code a=1&token=x} as {@code a=1&token=***}: each {@code name=value} with a secret name masked. */
    private static String maskParameters(String raw) {
        final StringBuilder sb = new StringBuilder(raw.length());
        int from = 0;
        while (from <= raw.length()) {
            int end = raw.indexOf('&', from);
            if (end < 0) {
                end = raw.length();
            }
            final String part = raw.substring(from, end);
            final int eq = part.indexOf('=');
            if (eq >= 0 && secretName(part.substring(0, eq))) {
                sb.append(part, 0, eq + 1).append(MASK);
            } else {
                sb.append(part);
            }
            if (end < raw.length()) {
                sb.append('&');
            }
            from = end + 1;
        }
        return sb.toString();
    }
}
