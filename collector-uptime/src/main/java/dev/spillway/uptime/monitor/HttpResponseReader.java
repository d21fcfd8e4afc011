package dev.spillway.uptime.monitor;

import java.io.EOFException;
import java.io.IOException;
import java.net.ProtocolException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import java.util.zip.ZipException;

/**
 * Reads one HTTP/1.1 response from bytes as they arrive (no I/O of its own, for {@link HttpAsyncProbe}): the status
 * line and headers (informational 1xx responses skipped), then a body framed by {@code Content-Length}, chunked, or
 * the end of the connection, gunzipped incrementally ({@link Inflater}) when the client asked for gzip and the server
 * sent it, as OkHttp does transparently (then {@code Content-Encoding} and {@code Content-Length} are hidden, as
 * OkHttp hides them). At most {@code maxBody} body bytes are kept: a body that goes on past them is cut there
 * ({@link #capped}), and reading stops. Errors are the {@link IOException}s OkHttp throws for the same faults, so
 * failure reasons read the same.
 *
 * <p>Not thread-safe: one check's, on its selector thread.
 */
final class HttpResponseReader {

    /** Most bytes of a response head (status line and headers), as OkHttp's limit. */
    static final int MAX_HEAD = 256 * 1024;
    private static final int MAX_LINE = 8 * 1024;

    private enum Framing { NONE, LENGTH, CHUNKED, CLOSE }

    private enum Chunk { SIZE, DATA, DATA_END, TRAILER, END }

    private enum Gzip { HEADER, INFLATE, TRAILER, END }

    private final boolean headRequest;
    private final boolean askedGzip;
    private final int maxBody;

    // The head.
    private byte[] head = new byte[512];
    private int headLength;
    private boolean headRead;
    private int status = -1;
    private final List<String[]> headers = new ArrayList<>();
    private boolean hideEncoding;

    // The body's framing.
    private Framing framing;
    private long remaining;
    private Chunk chunk = Chunk.SIZE;
    private final StringBuilder line = new StringBuilder();

    // gzip.
    private Gzip gzip;
    private byte[] gzipHead;
    private int gzipHeadLength;
    private Inflater inflater;
    private final CRC32 crc = new CRC32();
    private final byte[] trailer = new byte[8];
    private int trailerLength;

    // What was kept of the body.
    private byte[] body = new byte[0];
    private int bodyLength;
    private boolean capped;
    private boolean done;

    /**
     * @param headRequest whether the request was a HEAD (its response has no body)
     * @param askedGzip whether the request asked for gzip itself (then a gzip body is decoded)
     * @param maxBody most body bytes kept
     */
    HttpResponseReader(boolean headRequest, boolean askedGzip, int maxBody) {
        this.headRequest = headRequest;
        this.askedGzip = askedGzip;
        this.maxBody = maxBody;
    }

    /**
     * Consumes bytes: up to the end of the head (then returns, so the caller can look at it before any body byte is
     * read), or body bytes until the body is complete or cut.
     */
    void feed(ByteBuffer in) throws IOException {
        while (in.hasRemaining() && !done) {
            if (!headRead) {
                if (readHead(in)) {
                    return;
                }
            } else {
                readBody(in);
            }
        }
    }

    /** The connection ended: a body delimited by it is complete; anything else is cut short. */
    void end(String where) throws IOException {
        if (done) {
            return;
        }
        if (!headRead) {
            throw new IOException("unexpected end of stream on " + where);
        }
        if (framing != Framing.CLOSE) {
            throw new ProtocolException("unexpected end of stream");
        }
        if (gzip != null && gzip != Gzip.END) {
            throw new EOFException("gzip: the body ended before its end");
        }
        finish();
    }

    boolean headRead() {
        return headRead;
    }

    /** Whether the body is complete or cut (nothing more to read). */
    boolean done() {
        return done;
    }

    int status() {
        return status;
    }

    /** The last value of a header, case-insensitive, or null (the gzip headers hidden once decoded). */
    String header(String name) {
        if (hideEncoding && (name.equalsIgnoreCase("Content-Encoding") || name.equalsIgnoreCase("Content-Length"))) {
            return null;
        }
        for (int i = headers.size() - 1; i >= 0; i--) {
            if (headers.get(i)[0].equalsIgnoreCase(name)) {
                return headers.get(i)[1];
            }
        }
        return null;
    }

    /** Whether the body went on past {@code maxBody} bytes and was cut there. */
    boolean capped() {
        return capped;
    }

    /** Body bytes kept. */
    int bodyLength() {
        return bodyLength;
    }

    /** The body kept, as UTF-8. */
    String text() {
        return new String(body, 0, bodyLength, StandardCharsets.UTF_8);
    }

    // ---- the head ------------------------------------------------------------------------------------------

    /** True when the head is complete. */
    private boolean readHead(ByteBuffer in) throws IOException {
        while (in.hasRemaining()) {
            if (headLength == head.length) {
                if (head.length >= MAX_HEAD) {
                    throw new ProtocolException("response headers larger than " + MAX_HEAD + " bytes");
                }
                head = Arrays.copyOf(head, Math.min(MAX_HEAD, head.length * 2));
            }
            final byte b = in.get();
            head[headLength++] = b;
            if (b == '\n' && endsHead()) {
                parseHead();
                if (status >= 100 && status < 200 && status != 101) {
                    // Informational (100 Continue, 103 Early Hints): the real response follows.
                    headLength = 0;
                    headers.clear();
                    status = -1;
                    continue;
                }
                headRead = true;
                startBody();
                return true;
            }
        }
        return false;
    }

    private boolean endsHead() {
        final int n = headLength;
        return (n >= 2 && head[n - 2] == '\n') || (n >= 3 && head[n - 2] == '\r' && head[n - 3] == '\n');
    }

    private void parseHead() throws ProtocolException {
        final String[] lines = new String(head, 0, headLength, StandardCharsets.UTF_8).split("\n", -1);
        status = statusCode(strip(lines[0]));
        headers.clear();
        for (int i = 1; i < lines.length; i++) {
            final String l = strip(lines[i]);
            final int colon = l.indexOf(':', 1);
            if (colon > 0) {
                headers.add(new String[] {l.substring(0, colon).trim(), l.substring(colon + 1).trim()});
            }
        }
    }

    private static String strip(String l) {
        return l.endsWith("\r") ? l.substring(0, l.length() - 1) : l;
    }

    /** The code of {@code HTTP/1.x CODE reason} (or {@code ICY CODE}), as OkHttp's {@code StatusLine} reads it. */
    private static int statusCode(String statusLine) throws ProtocolException {
        final int codeStart;
        if (statusLine.startsWith("HTTP/1.")) {
            if (statusLine.length() < 9 || statusLine.charAt(8) != ' '
                || (statusLine.charAt(7) != '0' && statusLine.charAt(7) != '1')) {
                throw new ProtocolException("Unexpected status line: " + statusLine);
            }
            codeStart = 9;
        } else if (statusLine.startsWith("ICY ")) {
            codeStart = 4;
        } else {
            throw new ProtocolException("Unexpected status line: " + statusLine);
        }
        if (statusLine.length() < codeStart + 3
            || (statusLine.length() > codeStart + 3 && statusLine.charAt(codeStart + 3) != ' ')) {
            throw new ProtocolException("Unexpected status line: " + statusLine);
        }
        final String code = statusLine.substring(codeStart, codeStart + 3);
        if (!code.chars().allMatch(Character::isDigit)) {
            throw new ProtocolException("Unexpected status line: " + statusLine);
        }
        return Integer.parseInt(code);
    }

    // ---- the body ------------------------------------------------------------------------------------------

    private void startBody() throws ProtocolException {
        final String te = header("Transfer-Encoding");
        final long length = contentLength();
        final boolean promised = !headRequest && (((status < 100 || status >= 200) && status != 204 && status != 304)
            || length != -1 || "chunked".equalsIgnoreCase(te));
        if (!promised) {
            framing = Framing.NONE;
            finish();
            return;
        }
        if ("chunked".equalsIgnoreCase(te)) {
            framing = Framing.CHUNKED;
        } else if (length >= 0) {
            framing = Framing.LENGTH;
            remaining = length;
        } else {
            framing = Framing.CLOSE;
        }
        if (askedGzip && "gzip".equalsIgnoreCase(header("Content-Encoding"))) {
            hideEncoding = true;
            gzip = Gzip.HEADER;
            gzipHead = new byte[10];
            inflater = new Inflater(true);
        }
        if (framing == Framing.LENGTH && remaining == 0) {
            finish();
        }
    }

    private long contentLength() {
        final String v = header("Content-Length");
        if (v == null) {
            return -1;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private void readBody(ByteBuffer in) throws IOException {
        switch (framing) {
            case LENGTH -> {
                final int n = (int) Math.min(in.remaining(), remaining);
                remaining -= n;
                decoded(slice(in, n), remaining == 0);
            }
            case CLOSE -> decoded(slice(in, in.remaining()), false);
            case CHUNKED -> readChunked(in);
            default -> in.position(in.limit());
        }
        if (!done && framing == Framing.LENGTH && remaining == 0) {
            finish();
        }
    }

    private static ByteBuffer slice(ByteBuffer in, int n) {
        final ByteBuffer s = in.slice(in.position(), n);
        in.position(in.position() + n);
        return s;
    }

    private void readChunked(ByteBuffer in) throws IOException {
        while (in.hasRemaining() && !done) {
            switch (chunk) {
                case SIZE, DATA_END, TRAILER -> {
                    final String l = line(in);
                    if (l == null) {
                        return;
                    }
                    if (chunk == Chunk.SIZE) {
                        remaining = chunkSize(l);
                        chunk = remaining == 0 ? Chunk.TRAILER : Chunk.DATA;
                    } else if (chunk == Chunk.DATA_END) {
                        if (!l.isEmpty()) {
                            throw new ProtocolException("expected a CRLF after a chunk but was \"" + l + "\"");
                        }
                        chunk = Chunk.SIZE;
                    } else if (l.isEmpty()) {
                        chunk = Chunk.END;
                        decoded(ByteBuffer.allocate(0), true);
                        if (!done) {
                            finish();
                        }
                    }
                }
                case DATA -> {
                    final int n = (int) Math.min(in.remaining(), remaining);
                    remaining -= n;
                    if (remaining == 0) {
                        chunk = Chunk.DATA_END;
                    }
                    decoded(slice(in, n), false);
                }
                default -> in.position(in.limit());
            }
        }
    }

    /** A whole line (without its CRLF), or null when its end has not arrived yet. */
    private String line(ByteBuffer in) throws ProtocolException {
        while (in.hasRemaining()) {
            final char c = (char) (in.get() & 0xff);
            if (c == '\n') {
                final String l = strip(line.toString());
                line.setLength(0);
                return l;
            }
            if (line.length() == MAX_LINE) {
                throw new ProtocolException("a chunk line longer than " + MAX_LINE + " bytes");
            }
            line.append(c);
        }
        return null;
    }

    private static long chunkSize(String l) throws ProtocolException {
        final int semi = l.indexOf(';');
        final String hex = (semi >= 0 ? l.substring(0, semi) : l).trim();
        try {
            final long n = Long.parseLong(hex, 16);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new ProtocolException("expected chunk size and optional extensions but was \"" + l + "\"");
    }

    /** Body bytes after the framing; {@code last}: the framing says the body ends with them. */
    private void decoded(ByteBuffer b, boolean last) throws IOException {
        if (gzip == null) {
            final int room = maxBody - bodyLength;
            final int n = Math.min(room, b.remaining());
            keep(b, n);
            if (b.hasRemaining() || (bodyLength == maxBody && !last)) {
                cut(); // more than the cap, or exactly the cap with the end not known: as HttpProbe counts it
            } else if (last) {
                finish();
            }
            return;
        }
        gunzip(b);
        if (!done && last) {
            if (gzip != Gzip.END) {
                throw new EOFException("gzip: the body ended before its end");
            }
            finish();
        }
    }

    private void keep(ByteBuffer b, int n) {
        if (n == 0) {
            return;
        }
        ensure(bodyLength + n);
        b.get(body, bodyLength, n);
        bodyLength += n;
    }

    private void ensure(int size) {
        if (size > body.length) {
            body = Arrays.copyOf(body, Math.min(maxBody, Math.max(size, Math.max(8192, body.length * 2))));
        }
    }

    private void gunzip(ByteBuffer b) throws IOException {
        while (b.hasRemaining() && !done) {
            switch (gzip) {
                case HEADER -> gzipHeader(b);
                case INFLATE -> inflate(b);
                case TRAILER -> {
                    final int n = Math.min(8 - trailerLength, b.remaining());
                    b.get(trailer, trailerLength, n);
                    trailerLength += n;
                    if (trailerLength == 8) {
                        checkTrailer();
                        gzip = Gzip.END;
                    }
                }
                default -> b.position(b.limit()); // after the member: ignored
            }
        }
    }

    /** Collects the gzip header (RFC 1952: fixed 10 bytes, then the optional fields its flags announce). */
    private void gzipHeader(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (gzipHeadLength == gzipHead.length) {
                if (gzipHead.length >= 64 * 1024) {
                    throw new ZipException("gzip: a header longer than 64 KiB");
                }
                gzipHead = Arrays.copyOf(gzipHead, gzipHead.length * 2);
            }
            gzipHead[gzipHeadLength++] = b.get();
            final int end = gzipHeaderEnd();
            if (end > 0) {
                gzip = Gzip.INFLATE;
                gzipHead = null;
                return;
            }
        }
    }

    /** The header's length when it is complete, else 0. */
    private int gzipHeaderEnd() throws ZipException {
        final byte[] h = gzipHead;
        final int n = gzipHeadLength;
        if (n < 10) {
            return 0;
        }
        if ((h[0] & 0xff) != 0x1f || (h[1] & 0xff) != 0x8b || h[2] != 8) {
            throw new ZipException("Not in GZIP format");
        }
        final int flags = h[3] & 0xff;
        int at = 10;
        if ((flags & 4) != 0) { // FEXTRA
            if (n < at + 2) {
                return 0;
            }
            at += 2 + ((h[at] & 0xff) | (h[at + 1] & 0xff) << 8);
        }
        for (int flag : new int[] {8, 16}) { // FNAME, FCOMMENT: zero-terminated
            if ((flags & flag) != 0) {
                while (at < n && h[at] != 0) {
                    at++;
                }
                if (at >= n) {
                    return 0;
                }
                at++;
            }
        }
        if ((flags & 2) != 0) { // FHCRC
            at += 2;
        }
        return n >= at ? at : 0;
    }

    private void inflate(ByteBuffer b) throws IOException {
        final int start = b.position();
        final int length = b.remaining();
        if (b.hasArray()) {
            inflater.setInput(b.array(), b.arrayOffset() + start, length);
        } else {
            final byte[] copy = new byte[length];
            b.get(start, copy);
            inflater.setInput(copy);
        }
        try {
            while (!inflater.finished() && !inflater.needsInput() && bodyLength < maxBody) {
                ensure(Math.min(maxBody, bodyLength + 16 * 1024));
                final int n = inflater.inflate(body, bodyLength, body.length - bodyLength);
                crc.update(body, bodyLength, n);
                bodyLength += n;
                if (n == 0 && inflater.needsDictionary()) {
                    throw new ZipException("gzip: a preset dictionary is not supported");
                }
            }
        } catch (DataFormatException e) {
            throw new ZipException(e.getMessage());
        }
        final boolean finished = inflater.finished();
        b.position(start + length - inflater.getRemaining());
        inflater.setInput(new byte[0]); // no reference to the caller's buffer beyond this call
        if (finished) {
            gzip = Gzip.TRAILER;
        } else if (bodyLength == maxBody) {
            cut(); // more output past the cap, or its end not known: as HttpProbe counts it
        }
    }

    private void checkTrailer() throws ZipException {
        final long expectedCrc = le32(0);
        final long size = le32(4);
        if (expectedCrc != crc.getValue()) {
            throw new ZipException(String.format("CRC: actual 0x%08x != expected 0x%08x", crc.getValue(),
                expectedCrc));
        }
        if (size != (inflater.getBytesWritten() & 0xffffffffL)) {
            throw new ZipException("ISIZE: actual " + (inflater.getBytesWritten() & 0xffffffffL) + " != expected "
                + size);
        }
    }

    private long le32(int at) {
        return (trailer[at] & 0xffL) | (trailer[at + 1] & 0xffL) << 8 | (trailer[at + 2] & 0xffL) << 16
            | (trailer[at + 3] & 0xffL) << 24;
    }

    private void cut() {
        capped = true;
        finish();
    }

    private void finish() {
        done = true;
        if (inflater != null) {
            inflater.end(); // its native memory now, not when the collector finds it
        }
    }

    @Override
    public String toString() {
        return "HttpResponseReader[status=" + status + ", body=" + bodyLength + (capped ? ", capped" : "")
            + (done ? ", done" : "") + "]" + (framing == null ? "" : " " + framing.name().toLowerCase(Locale.ROOT));
    }
}
