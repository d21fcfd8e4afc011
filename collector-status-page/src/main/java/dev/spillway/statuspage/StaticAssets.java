package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The page's files, read from the jar once at start (a fixed list, so no path from a request ever reaches the
 * class loader). Each is served under {@code /assets/NAME?v=HASH}: with the current hash the answer may be cached
 * for a year (a new jar changes the hash, hence the URL); without it, browsers revalidate with the ETag.
 */
final class StaticAssets {

    static final String PREFIX = "/assets/";
    private static final String BASE = "/dev/spillway/statuspage/assets/";
    private static final String[][] FILES = {
        {"status.css", "text/css; charset=utf-8"},
        {"status.js", "text/javascript; charset=utf-8"},
        {"uplot/uPlot.min.css", "text/css; charset=utf-8"},
        {"uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
        {"uplot/LICENSE", "text/plain; charset=utf-8"},
    };

    private record Asset(byte[] bytes, String contentType, String hash) {
    }

    private final Map<String, Asset> assets = new LinkedHashMap<>();

    StaticAssets() {
        for (String[] f : FILES) {
            final byte[] bytes = read(BASE + f[0]);
            assets.put(f[0], new Asset(bytes, f[1], hash(bytes)));
        }
    }

    /** The versioned URL of an asset, for the page's markup. */
    String url(String name) {
        final Asset a = assets.get(name);
        if (a == null) {
            throw new IllegalArgumentException("no asset " + name);
        }
        return PREFIX + name + "?v=" + a.hash;
    }

    /** Answers {@code GET /assets/NAME}, or 404. */
    ApiResponse serve(ApiRequest r) {
        final Asset a = r.path().startsWith(PREFIX) ? assets.get(r.path().substring(PREFIX.length())) : null;
        if (a == null) {
            return PageResponses.error(404, "not found", "no asset " + r.path());
        }
        final String etag = '"' + a.hash + '"';
        final Map<String, String> h = new LinkedHashMap<>();
        h.put("ETag", etag);
        h.put("Cache-Control", a.hash.equals(r.queryParam("v")) ? "public, max-age=31536000, immutable" : "no-cache");
        h.put("X-Content-Type-Options", "nosniff");
        if (etag.equals(r.headers().get("if-none-match"))) {
            return new ApiResponse(304, null, new byte[0], Map.copyOf(h));
        }
        return new ApiResponse(200, a.contentType, a.bytes, Map.copyOf(h));
    }

    private static byte[] read(String resource) {
        try (InputStream in = StaticAssets.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("status page asset missing from the jar: " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }

    private static String hash(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }
}
