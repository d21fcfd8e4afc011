package dev.spillway.uptime.monitor;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLHandshakeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.LongAdder;

/**
 * An {@link SSLEngine} over one non-blocking channel, driven by a selector thread ({@link TlsProbe},
 * {@link HttpAsyncProbe}): the handshake, then application bytes both ways. Each step goes as far as the bytes at
 * hand allow and otherwise sets the key's interest and returns, so nothing waits. The network and application
 * buffers are the selector thread's ({@link Scratch}, one set per thread); a connection keeps only the bytes left
 * over between steps (a partial record in, a record not yet written out). Delegated tasks (certificate and key
 * exchange work) run on the calling thread: CPU, never a wait.
 *
 * <p>Not thread-safe: selector thread only.
 */
final class EngineIo {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** A selector thread's buffers: network bytes in and out, application bytes out of a handshake. */
    static final class Scratch {
        /** Large enough for any TLS record (16 KiB plus overhead) and what was left of the previous read. */
        static final int SIZE = 64 * 1024;
        final ByteBuffer netIn = ByteBuffer.allocate(SIZE);
        final ByteBuffer netOut = ByteBuffer.allocate(SIZE);
        final ByteBuffer app = ByteBuffer.allocate(SIZE);
    }

    final SSLEngine engine;
    private final SocketChannel channel;
    private final LongAdder received;
    private final Scratch scratch;
    /** Network bytes received and not yet unwrapped: a view of the scratch during a step, else a copy or null. */
    private ByteBuffer in;
    /** Network bytes wrapped and not yet written, or null. */
    private ByteBuffer out;

    EngineIo(SSLEngine engine, SocketChannel channel, LongAdder received, Scratch scratch) {
        this.engine = engine;
        this.channel = channel;
        this.received = received;
        this.scratch = scratch;
    }

    /**
     * Reads what the channel has into the pending network bytes (the channel was readable); every byte is counted.
     * Call {@link #keep} before the step returns to the selector.
     *
     * @return bytes read, -1 when the peer closed the connection
     */
    int fill() throws IOException {
        final ByteBuffer netIn = scratch.netIn;
        netIn.clear();
        if (in != null) {
            netIn.put(in);
        }
        final int got = channel.read(netIn);
        if (got > 0) {
            received.add(got);
        }
        in = netIn.flip();
        return got;
    }

    /** Keeps only what is left of the shared buffer (end of a step: the next connection's step reuses it). */
    void keep() {
        if (in == scratch.netIn) {
            in = in.hasRemaining() ? ByteBuffer.allocate(in.remaining()).put(in).flip() : null;
        }
    }

    /**
     * Runs the handshake as far as the bytes at hand allow.
     *
     * @return true when it finished; false when it waits for the channel (the key's interest is set)
     */
    boolean handshake(SelectionKey k) throws IOException {
        for (int steps = 0; ; steps++) {
            if (steps == 1_000) {
                throw new SSLHandshakeException("the handshake made no progress in " + steps + " steps");
            }
            if (!flush(k)) {
                return false;
            }
            switch (engine.getHandshakeStatus()) {
                case NEED_TASK -> runTasks();
                case NEED_WRAP -> {
                    final SSLEngineResult r = wrap(EMPTY);
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED && out == null) {
                        throw new SSLHandshakeException("the handshake was closed");
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    final ByteBuffer app = scratch.app.clear();
                    final SSLEngineResult r = engine.unwrap(in == null ? EMPTY : in, app);
                    if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                        k.interestOps(SelectionKey.OP_READ);
                        return false;
                    }
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                        throw new SSLHandshakeException("Remote host terminated the handshake");
                    }
                }
                default -> {
                    return true;
                }
            }
        }
    }

    /**
     * Wraps and writes application bytes.
     *
     * @return true when all of {@code src} is on the wire; false when the socket is full (OP_WRITE is set: call
     *     again with the same buffer when writable)
     */
    boolean write(ByteBuffer src, SelectionKey k) throws IOException {
        while (true) {
            if (!flush(k)) {
                return false;
            }
            if (!src.hasRemaining()) {
                return true;
            }
            final SSLEngineResult r = wrap(src);
            if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                throw new IOException("tls: the connection was closed while writing");
            }
        }
    }

    /**
     * Unwraps the pending network bytes into {@code dst}, which must have room for a whole record
     * ({@link javax.net.ssl.SSLSession#getApplicationBufferSize}).
     *
     * @return application bytes produced; 0 when more network bytes are needed; -1 when the peer closed the TLS
     *     session (close_notify) and nothing was produced
     */
    int read(ByteBuffer dst) throws IOException {
        int produced = 0;
        final int room = engine.getSession().getApplicationBufferSize();
        while (in != null && in.hasRemaining() && dst.remaining() >= room) {
            final SSLEngineResult r = engine.unwrap(in, dst);
            produced += r.bytesProduced();
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                runTasks();
            }
            if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                return produced == 0 ? -1 : produced;
            }
            if (r.getStatus() != SSLEngineResult.Status.OK) {
                break; // underflow: a partial record waits for more bytes
            }
        }
        return produced;
    }

    /** Sends close_notify as far as the socket takes it at once (the connection is closed right after). */
    void closeNotify() {
        try {
            engine.closeOutbound();
            final ByteBuffer netOut = scratch.netOut.clear();
            engine.wrap(EMPTY, netOut);
            channel.write(netOut.flip());
        } catch (IOException e) {
            // the connection closes anyway
        }
    }

    private void runTasks() {
        for (Runnable t; (t = engine.getDelegatedTask()) != null; ) {
            t.run();
        }
    }

    private SSLEngineResult wrap(ByteBuffer src) throws IOException {
        final ByteBuffer netOut = scratch.netOut.clear();
        final SSLEngineResult r = engine.wrap(src, netOut);
        netOut.flip();
        if (netOut.hasRemaining()) {
            out = ByteBuffer.allocate(netOut.remaining()).put(netOut).flip();
        }
        return r;
    }

    /** Writes what was wrapped before: false when the socket is full (OP_WRITE set). */
    private boolean flush(SelectionKey k) throws IOException {
        if (out != null) {
            channel.write(out);
            if (out.hasRemaining()) {
                k.interestOps(SelectionKey.OP_WRITE);
                return false;
            }
            out = null;
        }
        return true;
    }
}
