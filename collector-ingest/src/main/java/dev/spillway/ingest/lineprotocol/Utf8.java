package dev.spillway.ingest.lineprotocol;

/** Strict UTF-8 checks; {@code new String(bytes, UTF_8)} silently replaces bad input, which we must reject. */
final class Utf8 {

    private Utf8() {
    }

    /**
     * @return the index of the first byte of an invalid sequence in {@code b[start, end)}, or -1 if the
     *     range is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF)
     */
    static int firstInvalid(byte[] b, int start, int end) {
        int i = start;
        while (i < end) {
            int c = b[i] & 0xff;
            if (c < 0x80) {
                i++;
                continue;
            }
            int need;
            int lo = 0x80;
            int hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0) {
                    lo = 0xa0;
                } else if (c == 0xed) {
                    hi = 0x9f;
                }
            } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0) {
                    lo = 0x90;
                } else if (c == 0xf4) {
                    hi = 0x8f;
                }
            } else {
                return i;
            }
            if (i + need >= end) {
                return i;
            }
            int c1 = b[i + 1] & 0xff;
            if (c1 < lo || c1 > hi) {
                return i;
            }
            for (int k = 2; k <= need; k++) {
                int ck = b[i + k] & 0xff;
                if (ck < 0x80 || ck > 0xbf) {
                    return i;
                }
            }
            i += need + 1;
        }
        return -1;
    }

    /**
     * Compares two strings in the byte order of their UTF-8 encodings (which is code point order), the
     * order InfluxDB sorts tag keys in; {@link String#compareTo} differs for characters above U+FFFF.
     */
    static int compareAsUtf8(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            char x = a.charAt(i);
            char y = b.charAt(i);
            if (x != y) {
                boolean xs = Character.isSurrogate(x);
                boolean ys = Character.isSurrogate(y);
                if (xs == ys) {
                    return x - y;
                }
                // A surrogate encodes a code point above U+FFFF, so it sorts after any BMP character.
                return xs ? 1 : -1;
            }
        }
        return a.length() - b.length();
    }
}
