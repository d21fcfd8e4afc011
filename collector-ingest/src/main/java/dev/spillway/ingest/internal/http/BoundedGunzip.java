package dev.spillway.ingest.internal.http;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Gunzips a body into memory with a hard cap on the output, so a small compressed body cannot expand into an
 * out-of-memory error (a "gzip bomb"). Memory grows with what was actually inflated, never beyond the cap.
 */
final class BoundedGunzip {

    /** The decompressed body would exceed the cap. */
    static final class TooLarge extends Exception {
        private static final long serialVersionUID = 1L;

        TooLarge(int max) {
            super("decompressed body exceeds --max-decompressed-size (" + max + " bytes)");
        }
    }

    /** Decompressed bytes: {@code buf[0, length)}. */
    record Bytes(byte[] buf, int length) {
    }

    private BoundedGunzip() {
    }

    /**
     * @throws TooLarge when more than {@code max} bytes come out
     * @throws IOException when the input is not valid gzip
     */
    static Bytes gunzip(byte[] in, int len, int max) throws IOException, TooLarge {
        try (GZIPInputStream z = new GZIPInputStream(new ByteArrayInputStream(in, 0, len), 16 * 1024)) {
            byte[] out = new byte[(int) Math.min(max, Math.max(16 * 1024L, len * 4L))];
            int n = 0;
            while (true) {
                if (n == out.length) {
                    if (out.length >= max) {
                        if (z.read() >= 0) {
                            throw new TooLarge(max);
                        }
                        break;
                    }
                    out = Arrays.copyOf(out, (int) Math.min(max, out.length * 2L));
                }
                final int r = z.read(out, n, out.length - n);
                if (r < 0) {
                    break;
                }
                n += r;
            }
            return new Bytes(out, n);
        }
    }
}
