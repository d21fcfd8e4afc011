package dev.spillway.collector.tcp;

import dev.spillway.collector.ingest.BadLineLog;
import dev.spillway.collector.ingest.CollectorMetrics;
import dev.spillway.collector.ingest.LineIngestor;
import dev.spillway.collector.ingest.RejectReason;
import dev.spillway.collector.lineprotocol.Precision;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.timeout.IdleStateEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/** One TCP connection: each frame is one line, ingested with nanosecond precision. */
final class TcpLineHandler extends SimpleChannelInboundHandler<ByteBuf> {

    private static final Logger LOG = LoggerFactory.getLogger(TcpLineHandler.class);

    private final LineIngestor ingestor;
    private final CollectorMetrics metrics;
    private final BadLineLog badLines;
    private byte[] scratch = new byte[1024];
    private int lineNumber;
    private String peer = "?";

    TcpLineHandler(LineIngestor ingestor, CollectorMetrics metrics, BadLineLog badLines) {
        this.ingestor = ingestor;
        this.metrics = metrics;
        this.badLines = badLines;
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
        if (len == 0) {
            return;
        }
        if (scratch.length < len) {
            scratch = new byte[Math.max(len, scratch.length * 2)];
        }
        line.getBytes(line.readerIndex(), scratch, 0, len);
        // No acknowledgement exists on this protocol, so the result only feeds the counters and the log.
        ingestor.ingest(scratch, 0, len, Precision.NANOSECONDS, peer, lineNumber);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
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
