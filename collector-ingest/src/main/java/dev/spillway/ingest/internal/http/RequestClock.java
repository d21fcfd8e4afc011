package dev.spillway.ingest.internal.http;

import dev.spillway.runtime.log.RateLimitedLog;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Deadlines for receiving one request: its head within {@code --http-header-timeout} and all of it within
 * {@code --http-read-timeout}, both counted from its first byte. A client that trickles bytes (slowloris) or
 * stalls halfway through a body is disconnected, so it cannot hold a connection slot and buffered bytes forever.
 * Idle keep-alive connections are closed separately, by {@link HttpApiHandler} on an idle event.
 *
 * <p>Two handlers share the state: {@link #bytes()} sits before the HTTP codec and sees the first byte of a
 * request; {@link #parts()} sits after it and sees the head and the end. Both run on the connection's event loop.
 */
final class RequestClock {

    private final long headerNanos;
    private final long readNanos;
    private final RateLimitedLog timeouts;
    private boolean receiving;
    private ScheduledFuture<?> headerDeadline;
    private ScheduledFuture<?> readDeadline;

    RequestClock(Duration headerTimeout, Duration readTimeout, RateLimitedLog timeouts) {
        this.headerNanos = headerTimeout.toNanos();
        this.readNanos = readTimeout.toNanos();
        this.timeouts = timeouts;
    }

    /** The handler before the codec. */
    ChannelInboundHandlerAdapter bytes() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (!receiving && msg instanceof ByteBuf b && b.isReadable()) {
                    receiving = true;
                    headerDeadline = ctx.executor().schedule(() -> expire(ctx, "head", "--http-header-timeout",
                        headerNanos), headerNanos, TimeUnit.NANOSECONDS);
                    readDeadline = ctx.executor().schedule(() -> expire(ctx, "request", "--http-read-timeout",
                        readNanos), readNanos, TimeUnit.NANOSECONDS);
                }
                ctx.fireChannelRead(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                cancel();
                super.channelInactive(ctx);
            }
        };
    }

    /** The handler after the codec. */
    ChannelInboundHandlerAdapter parts() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof HttpRequest && headerDeadline != null) {
                    headerDeadline.cancel(false);
                    headerDeadline = null;
                }
                if (msg instanceof LastHttpContent) {
                    // Bytes of a pipelined next request may already be read; its clock starts with its next read,
                    // and a client that sends nothing more is closed by the idle timeout.
                    cancel();
                }
                ctx.fireChannelRead(msg);
            }
        };
    }

    private void cancel() {
        receiving = false;
        if (headerDeadline != null) {
            headerDeadline.cancel(false);
            headerDeadline = null;
        }
        if (readDeadline != null) {
            readDeadline.cancel(false);
            readDeadline = null;
        }
    }

    private void expire(ChannelHandlerContext ctx, String what, String option, long nanos) {
        timeouts.warn("closed HTTP connection from " + ctx.channel().remoteAddress() + ": " + what
            + " not received within " + TimeUnit.NANOSECONDS.toMillis(nanos) + " ms (" + option + ")");
        cancel();
        ctx.close();
    }
}
