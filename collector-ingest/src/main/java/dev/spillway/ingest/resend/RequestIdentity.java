package dev.spillway.ingest.resend;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Who a write request is, so that a resend of it is recognised: the client's {@code Idempotency-Key} header when it
 * sends one (scoped by its credentials and the request URI), otherwise a digest of credentials, URI and body. Both
 * are the first 128 bits of a SHA-256. A keyed request also keeps a digest of its body, so that a key reused for a
 * different body is refused instead of matched line by line against the wrong lines.
 *
 * @param hi first half of the identity
 * @param lo second half
 * @param bodyHi first half of the body's digest (the identity itself for a digest identity)
 * @param bodyLo second half
 * @param keyed whether the client named the request with an {@code Idempotency-Key}
 */
public record RequestIdentity(long hi, long lo, long bodyHi, long bodyLo, boolean keyed) {

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    });

    /** Longest {@code Idempotency-Key} taken; a longer one is still used, by its digest. */
    public static final int MAX_KEY_LENGTH = 255;

    /**
     * The identity of one request.
     *
     * @param key the {@code Idempotency-Key} header, or null (or blank) for a digest identity
     * @param credentials the {@code Authorization} header, or null
     * @param uri path and query as sent
     * @param body the body as parsed (after gunzip)
     */
    public static RequestIdentity of(String key, String credentials, String uri, byte[] body, int off, int len) {
        final MessageDigest md = SHA256.get();
        md.reset();
        final boolean keyed = key != null && !key.isBlank();
        md.update((byte) (keyed ? 'K' : 'D'));
        field(md, credentials == null ? "" : credentials);
        field(md, uri == null ? "" : uri);
        if (keyed) {
            field(md, key.trim());
            final byte[] id = md.digest();
            md.reset();
            md.update(body, off, len);
            final byte[] b = md.digest();
            return new RequestIdentity(word(id, 0), word(id, 8), word(b, 0), word(b, 8), true);
        }
        md.update(body, off, len);
        final byte[] id = md.digest();
        return new RequestIdentity(word(id, 0), word(id, 8), word(id, 0), word(id, 8), false);
    }

    private static void field(MessageDigest md, String s) {
        final byte[] b = s.getBytes(StandardCharsets.UTF_8);
        md.update((byte) (b.length >>> 24));
        md.update((byte) (b.length >>> 16));
        md.update((byte) (b.length >>> 8));
        md.update((byte) b.length);
        md.update(b);
    }

    private static long word(byte[] b, int at) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (b[at + i] & 0xFF);
        }
        return v;
    }

    /** Whether {@code other} names the same request with the same body. */
    boolean sameBody(RequestIdentity other) {
        return bodyHi == other.bodyHi && bodyLo == other.bodyLo;
    }

    @Override
    public String toString() {
        return (keyed ? "key:" : "digest:") + Long.toHexString(hi) + Long.toHexString(lo);
    }
}
