package dev.spillway.ingest.internal.http;

import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.log.RateLimitedLog;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;

import java.util.Arrays;

/**
 * Turns the codec's request parts into one {@link Inbound} item per request, copying the body into a heap array
 * whose bytes are reserved in the shared {@link BufferBudget} first. Replaces Netty's aggregator so that every
 * refusal (413, 503 for no buffer room, 400 for a malformed request) becomes an item in the same ordered queue as
 * the requests before it, instead of being written out of turn, and so that bodies are bounded in total, not
 * only per request.
 *
 * <p>A body refused by its Content-Length is never buffered: its bytes are discarded as they arrive. One
 * instance per connection, used on its event loop only.
 */
final class RequestAssembler extends ChannelInboundHandlerAdapter {

    private static final int FIRST_CAPACITY = 64 * 1024;
    private static final int FIRST_CHUNKED_CAPACITY = 8 * 1024;

    private final int maxBodySize;
    private final BufferBudget budget;
    private final RateLimitedLog aborted;

    private HttpRequest head;
    private byte[] body;
    private int length;
    private long reserved;
    private boolean discarding; // the current request is already answered (refused); drop its body
    private boolean broken; // the input cannot be parsed any more; everything after is ignored

    RequestAssembler(int maxBodySize, BufferBudget budget, RateLimitedLog aborted) {
        this.maxBodySize = maxBodySize;
        this.budget = budget;
        this.aborted = aborted;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (broken) {
                return;
            }
            if (msg instanceof HttpRequest req) {
                onHead(ctx, req);
                if (broken) {
                    return;
                }
            }
            if (msg instanceof HttpContent content && head != null) {
                onContent(ctx, content);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onHead(ChannelHandlerContext ctx, HttpRequest req) {
        if (req.decoderResult().isFailure()) {
            broken = true;
            ctx.fireChannelRead(new Inbound.Refusal(req.method(), req.uri(), HttpResponseStatus.BAD_REQUEST,
                "invalid", "malformed HTTP request: " + reason(req.decoderResult().cause()), true));
            return;
        }
        head = req;
        length = 0;
        reserved = 0;
        discarding = false;
        final String expect = req.headers().get(HttpHeaderNames.EXPECT);
        if (expect != null && !HttpUtil.is100ContinueExpected(req)) {
            refuse(ctx, HttpResponseStatus.EXPECTATION_FAILED, "invalid",
                "unsupported Expect: " + expect);
            return;
        }
        final long declared = HttpUtil.getContentLength(req, -1L);
        if (declared > maxBodySize) {
            refuse(ctx, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "request too large", "body of " + declared
                + " bytes exceeds --max-body-size (" + Units.formatSize(maxBodySize) + ")");
            return;
        }
        if (declared > 0) {
            if (!budget.tryReserve(declared, declared)) {
                refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "unavailable", noRoom());
                return;
            }
            reserved = declared;
            // Reserved in full (the bound); the first 64 KiB allocated now, the rest once the client has sent them:
            // an upload stalled at its start holds little memory.
            body = new byte[(int) Math.min(declared, FIRST_CAPACITY)];
        } else {
            body = null;
        }
        if (HttpUtil.is100ContinueExpected(req)) {
            ctx.fireChannelRead(new Inbound.Continue(req.method()));
        }
    }

    private void onContent(ChannelHandlerContext ctx, HttpContent content) {
        if (content.decoderResult().isFailure()) {
            if (content.decoderResult().cause() instanceof PrematureChannelClosureException) {
                abandon(ctx); // the client closed (or half-closed) before its body was complete
                broken = true;
                return;
            }
            if (!discarding) {
                budget.release(reserved);
                ctx.fireChannelRead(new Inbound.Refusal(head.method(), head.uri(), HttpResponseStatus.BAD_REQUEST,
                    "invalid", "malformed HTTP request body: " + reason(content.decoderResult().cause()), true));
            }
            broken = true;
            head = null;
            body = null;
            return;
        }
        if (!discarding) {
            append(ctx, content.content());
        }
        if (content instanceof LastHttpContent && head != null) {
            if (!discarding) {
                ctx.fireChannelRead(new Inbound.Request(head.method(), head.uri(), head.headers(), body == null
                    ? new byte[0] : body, length, HttpUtil.isKeepAlive(head), reserved));
            }
            head = null;
            body = null;
            reserved = 0;
            discarding = false;
        }
    }

    private void append(ChannelHandlerContext ctx, ByteBuf in) {
        final int n = in.readableBytes();
        if (n == 0) {
            return;
        }
        if ((long) length + n > maxBodySize) {
            refuse(ctx, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "request too large",
                "body exceeds --max-body-size (" + Units.formatSize(maxBodySize) + ")");
            return;
        }
        if (body == null || length + n > body.length) {
            final long need = (long) length + n;
            if (need > reserved) {
                // Chunked: reserve the growth (doubling) before buffering it.
                final long want = Math.min(maxBodySize, Math.max(need, Math.max(FIRST_CHUNKED_CAPACITY, reserved * 2)));
                if (!budget.tryReserve(want - reserved, want)) {
                    refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "unavailable", noRoom());
                    return;
                }
                reserved = want;
            }
            // Grow the array to the whole reservation: with a Content-Length, past the first 64 KiB straight to the
            // declared size (one copy of those 64 KiB instead of copies at every doubling: a 320 KiB body was
            // allocated 4 times and copied 3 times); chunked, the reservation itself doubles.
            final int size = (int) reserved;
            body = body == null ? new byte[size] : Arrays.copyOf(body, size);
        }
        in.getBytes(in.readerIndex(), body, length, n);
        length += n;
    }

    /**
     * Answers the current request now (in order, through the queue) and drops its body. The connection closes
     * after the answer: the client may be sending a large body we will not read.
     */
    private void refuse(ChannelHandlerContext ctx, HttpResponseStatus status, String code, String message) {
        budget.release(reserved);
        reserved = 0;
        body = null;
        discarding = true;
        ctx.fireChannelRead(new Inbound.Refusal(head.method(), head.uri(), status, code, message, true));
    }

    private String noRoom() {
        return "the collector holds " + Units.formatSize(budget.limit())
            + " of request bodies already (--http-max-buffered); retry later";
    }

    private static String reason(Throwable cause) {
        return cause == null ? "unknown" : cause.getMessage() == null ? cause.getClass().getSimpleName()
            : cause.getMessage();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        abandon(ctx);
        super.channelInactive(ctx);
    }

    /** The client went away (or stopped sending) in the middle of a request. */
    void abandon(ChannelHandlerContext ctx) {
        if (head != null) {
            if (!discarding) {
                aborted.warn("upload aborted by " + ctx.channel().remoteAddress() + ": " + head.method() + " "
                    + HttpApiHandler.loggable(head.uri()) + " ended after " + length + " body bytes" + declared());
            }
            budget.release(reserved);
            reserved = 0;
            head = null;
            body = null;
        }
    }

    private String declared() {
        final long d = HttpUtil.getContentLength(head, -1L);
        return d >= 0 ? " of " + d : " (chunked)";
    }

    /** Whether a request is partly received. */
    boolean midRequest() {
        return head != null;
    }
}
