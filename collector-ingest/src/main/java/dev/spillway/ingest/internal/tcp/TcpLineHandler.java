package dev.spillway.ingest.internal.tcp;

import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.RejectReason;
import dev.spillway.ingest.lineprotocol.Precision;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.timeout.IdleStateEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * One TCP connection. Lines are collected on the event loop and parsed and ingested on an ingest thread, one
 * batch per connection at a time (so a connection's lines keep their order). The event loop never waits on the
 * pipeline: while a batch is being ingested and the next one has grown to {@link #PAUSE_BYTES}, the connection
 * is not read ({@code autoRead} off), so a full ring slows the sender through TCP flow control instead of parking
 * an event loop that HTTP shares.
 */
final class TcpLineHandler extends SimpleChannelInboundHandler<ByteBuf> {

    private static final Logger LOG = LoggerFactory.getLogger(TcpLineHandler.class);
    /** Bytes collected behind a running batch before reading pauses. */
    static final int PAUSE_BYTES = 1 << 20;

    private final LineIngestor ingestor;
    private final CollectorMetrics metrics;
    private final BadLineLog badLines;
    private final Executor executor;
    // Event-loop confined: the lines collected since the last batch was handed over.
    private byte[] pending = new byte[4096];
    private int pendingLength;
    private int pendingFirstLine = 1;
    private int lineNumber;
    private boolean inFlight;
    private String peer = "?";

    TcpLineHandler(LineIngestor ingestor, CollectorMetrics metrics, BadLineLog badLines, Executor executor) {
        this.ingestor = ingestor;
        this.metrics = metrics;
        this.badLines = badLines;
        this.executor = executor;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        peer = "tcp " + ctx.channel().remoteAddress();
        LOG.debug("{} connected", peer);
        super.channelActive(ctx);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) {
        lineNumber++;
        final int len = line.readableBytes();
        // Every line, empty ones too, keeps its place so rejected lines are reported with their number.
        if (pendingLength + len + 1 > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pendingLength + len + 1, pending.length * 2));
        }
        line.getBytes(line.readerIndex(), pending, pendingLength, len);
        pendingLength += len;
        pending[pendingLength++] = '\n';
        if (inFlight && pendingLength >= PAUSE_BYTES) {
            ctx.channel().config().setAutoRead(false);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        dispatch(ctx);
        super.channelReadComplete(ctx);
    }

    /** Hands the collected lines to an ingest thread unless a batch of this connection is still running. */
    private void dispatch(ChannelHandlerContext ctx) {
        if (inFlight || pendingLength == 0) {
            return;
        }
        final byte[] batch = pending;
        final int length = pendingLength;
        final int firstLine = pendingFirstLine;
        pending = new byte[Math.min(Math.max(4096, length), PAUSE_BYTES)];
        pendingLength = 0;
        pendingFirstLine = lineNumber + 1;
        inFlight = true;
        try {
            executor.execute(() -> {
                try {
                    // No acknowledgement exists on this protocol, so the result only feeds the counters and the log.
                    ingestor.ingest(batch, 0, length, Precision.NANOSECONDS, peer, firstLine).join();
                } catch (RuntimeException e) {
                    LOG.error("{}: ingest failed", peer, e);
                } finally {
                    ctx.executor().execute(() -> {
                        inFlight = false;
                        ctx.channel().config().setAutoRead(true);
                        dispatch(ctx);
                    });
                }
            });
        } catch (RejectedExecutionException e) {
            // Only while shutting down: the lines are not ingested, and say so.
            inFlight = false;
            metrics.rejected(RejectReason.REFUSED, countLines(batch, length));
            badLines.report(peer, firstLine, RejectReason.REFUSED, "collector is shutting down");
        }
    }

    private static int countLines(byte[] b, int len) {
        int n = 0;
        for (int i = 0; i < len; i++) {
            if (b[i] == '\n') {
                n++;
            }
        }
        return n;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        // The decoder has handed over the last line (with or without a newline) by now.
        dispatch(ctx);
        super.channelInactive(ctx);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            if (inFlight) {
                // Not idle: paused (autoRead off) while its previous batch waits on a full pipeline.
                return;
            }
            LOG.debug("{} idle, closing", peer);
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof TooLongFrameException) {
            lineNumber++;
            // The skipped line stays in the batch as an empty line, so later lines keep their numbers.
            if (pendingLength + 1 > pending.length) {
                pending = Arrays.copyOf(pending, pending.length * 2);
            }
            pending[pendingLength++] = '\n';
            metrics.rejected(RejectReason.TOO_LONG, 1);
            badLines.report(peer, lineNumber, RejectReason.TOO_LONG, cause.getMessage()
                + " (raise --max-line-length)");
            return;
        }
        if (!(cause instanceof IOException)) {
            LOG.warn("{} failed: {}", peer, cause.toString());
        }
        ctx.close();
    }
}
