package dev.spillway.collector.http;

import dev.spillway.collector.ingest.IngestResult;
import dev.spillway.collector.ingest.RejectReason;
import dev.spillway.collector.lineprotocol.Precision;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.RejectedExecutionException;

/**
 * The InfluxDB-compatible HTTP API on one connection. Requests are answered strictly in arrival order (HTTP/1.1
 * pipelining) even though write bodies are processed off the event loop: the next request starts only after
 * the previous response was written.
 */
final class HttpApiHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(HttpApiHandler.class);

    /** Bodies up to this size are copied into a per-thread buffer that is kept; larger ones get their own array. */
    private static final int MAX_RETAINED_BODY_COPY = 4 * 1024 * 1024;
    private static final ThreadLocal<byte[]> BODY_COPY = ThreadLocal.withInitial(() -> new byte[64 * 1024]);

    private final HttpApi api;
    private final TokenAuth auth;
    private final ArrayDeque<Request> queue = new ArrayDeque<>();
    private boolean busy;
    private String peer = "?";

    /**
     * A request that can wait in the queue or move to another thread. The body stays in Netty's buffer (retained,
     * not copied on the event loop); it is released exactly once, when the response is sent or the connection
     * closes, so nothing pins it longer than the request lives.
     */
    private static final class Request {
        final HttpMethod method;
        final String uri;
        final HttpHeaders headers;
        final boolean keepAlive;
        private ByteBuf body;

        Request(HttpMethod method, String uri, HttpHeaders headers, ByteBuf body, boolean keepAlive) {
            this.method = method;
            this.uri = uri;
            this.headers = headers;
            this.body = body;
            this.keepAlive = keepAlive;
        }

        ByteBuf body() {
            return body;
        }

        void releaseBody() {
            final ByteBuf b = body;
            if (b != null) {
                body = null;
                b.release();
            }
        }
    }

    HttpApiHandler(HttpApi api) {
        this.api = api;
        this.auth = new TokenAuth(api.token());
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        peer = String.valueOf(ctx.channel().remoteAddress());
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest req)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        try {
            if (req.decoderResult().isFailure()) {
                respond(ctx, new Request(req.method(), req.uri(), req.headers(), null, false),
                    HttpResponseStatus.BAD_REQUEST, Json.error("invalid", "malformed HTTP request"));
                return;
            }
            queue.add(new Request(req.method(), req.uri(), req.headers().copy(), req.content().retain(),
                HttpUtil.isKeepAlive(req)));
        } finally {
            req.release();
        }
        if (!busy) {
            next(ctx);
        }
    }

    private void next(ChannelHandlerContext ctx) {
        final Request r = queue.poll();
        if (r == null) {
            busy = false;
            return;
        }
        busy = true;
        try {
            dispatch(ctx, r);
        } catch (RuntimeException e) {
            LOG.error("unexpected error handling {} {} from {}", r.method, r.uri, peer, e);
            respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error", e.toString()));
        }
    }

    private void dispatch(ChannelHandlerContext ctx, Request r) {
        final QueryStringDecoder query = new QueryStringDecoder(r.uri);
        final String path = query.path();
        switch (path) {
            case "/ping" -> {
                if (r.method.equals(HttpMethod.GET) || r.method.equals(HttpMethod.HEAD)) {
                    respond(ctx, r, HttpResponseStatus.NO_CONTENT, null);
                } else {
                    methodNotAllowed(ctx, r);
                }
            }
            case "/health" -> {
                if (r.method.equals(HttpMethod.GET) || r.method.equals(HttpMethod.HEAD)) {
                    respond(ctx, r, HttpResponseStatus.OK,
                        "{\"name\":\"spillway-collector\",\"status\":\"pass\",\"message\":\"ready for writes\"}");
                } else {
                    methodNotAllowed(ctx, r);
                }
            }
            case "/ready" -> {
                if (authorized(ctx, r, query)) {
                    if (api.readiness().ready()) {
                        respond(ctx, r, HttpResponseStatus.OK, "{\"status\":\"ready\"}");
                    } else {
                        respond(ctx, r, HttpResponseStatus.SERVICE_UNAVAILABLE, "{\"status\":\"not ready\"}");
                    }
                }
            }
            case "/metrics" -> {
                if (authorized(ctx, r, query)) {
                    respondText(ctx, r, api.registry().scrape());
                }
            }
            case "/api/v2/write", "/write" -> {
                if (authorized(ctx, r, query)) {
                    write(ctx, r, query);
                }
            }
            default -> respond(ctx, r, HttpResponseStatus.NOT_FOUND, Json.error("not found", "no endpoint " + path));
        }
    }

    private boolean authorized(ChannelHandlerContext ctx, Request r, QueryStringDecoder query) {
        if (auth.allows(r.headers, query)) {
            return true;
        }
        respond(ctx, r, HttpResponseStatus.UNAUTHORIZED, Json.error("unauthorized", "unauthorized access"));
        return false;
    }

    private void methodNotAllowed(ChannelHandlerContext ctx, Request r) {
        respond(ctx, r, HttpResponseStatus.METHOD_NOT_ALLOWED,
            Json.error("method not allowed", r.method + " is not allowed here"));
    }

    private void write(ChannelHandlerContext ctx, Request r, QueryStringDecoder query) {
        if (!r.method.equals(HttpMethod.POST)) {
            methodNotAllowed(ctx, r);
            return;
        }
        final Precision precision;
        try {
            precision = Precision.parse(first(query, "precision"));
        } catch (IllegalArgumentException e) {
            respond(ctx, r, HttpResponseStatus.BAD_REQUEST, Json.error("invalid", e.getMessage()));
            return;
        }
        final String encoding = r.headers.get(HttpHeaderNames.CONTENT_ENCODING);
        final boolean gzip = encoding != null && (encoding.equalsIgnoreCase("gzip") || encoding.equalsIgnoreCase("x-gzip"));
        if (encoding != null && !gzip && !encoding.equalsIgnoreCase("identity")) {
            respond(ctx, r, HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE,
                Json.error("invalid", "unsupported Content-Encoding '" + encoding + "'; use gzip or none"));
            return;
        }
        if (api.saturation().saturated()) {
            unavailable(ctx, r, "collector is saturated (buffer above high-water mark or shutting down); retry later");
            return;
        }
        try {
            api.ingestExecutor().execute(() -> {
                try {
                    ingest(ctx, r, precision, gzip);
                } catch (RuntimeException e) {
                    // Answer (and so release the body) rather than leave the client and the buffer hanging.
                    LOG.error("ingest failed for request from {}", peer, e);
                    respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error", e.toString()));
                }
            });
        } catch (RejectedExecutionException e) {
            unavailable(ctx, r, "collector is overloaded; retry later");
        }
    }

    private void ingest(ChannelHandlerContext ctx, Request r, Precision precision, boolean gzip) {
        final ByteBuf content = r.body();
        byte[] body;
        int offset = 0;
        int length = content.readableBytes();
        if (gzip) {
            try {
                final BoundedGunzip.Bytes plain = BoundedGunzip.gunzip(new ByteBufInputStream(content.duplicate()),
                    length, api.maxDecompressedSize());
                body = plain.buf();
                length = plain.length();
            } catch (BoundedGunzip.TooLarge e) {
                respond(ctx, r, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, Json.error("request too large",
                    e.getMessage()));
                return;
            } catch (IOException e) {
                respond(ctx, r, HttpResponseStatus.BAD_REQUEST, Json.error("invalid", "body is not valid gzip: "
                    + e.getMessage()));
                return;
            }
        } else if (content.hasArray()) {
            body = content.array(); // a heap buffer: parse in place
            offset = content.arrayOffset() + content.readerIndex();
        } else {
            // Direct or composite (the aggregator's usual output): one copy into this thread's reused array.
            body = BODY_COPY.get();
            if (body.length < length) {
                body = new byte[Math.max(length, Math.min(2 * body.length, MAX_RETAINED_BODY_COPY))];
                if (body.length <= MAX_RETAINED_BODY_COPY) {
                    BODY_COPY.set(body);
                }
            }
            content.getBytes(content.readerIndex(), body, 0, length);
        }
        // The parser is done with the bytes when ingest() returns (lines waiting for new series are copied).
        api.ingestor().ingest(body, offset, length, precision, "http " + peer, 1).whenComplete((result, err) -> {
            if (err != null) {
                LOG.error("ingest failed for request from {}", peer, err);
                respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error", err.toString()));
            } else {
                answer(ctx, r, result);
            }
        });
    }

    private void answer(ChannelHandlerContext ctx, Request r, IngestResult result) {
        if (result.allAccepted()) {
            respond(ctx, r, HttpResponseStatus.NO_CONTENT, null);
        } else if (result.refused() || result.seriesError()) {
            // Not all good lines are in: a 2xx or 400 would tell the client not to retry data we did not take.
            unavailable(ctx, r, result.refused() ? "collector is not accepting data right now; retry later"
                : "could not create series in the database; retry later");
        } else {
            final int lines = result.accepted() + result.rejected();
            final String message = result.firstBadMessage() + " (" + result.rejected() + " of " + lines
                + " lines rejected" + (result.firstBadReason() == RejectReason.SERIES_LIMIT ? "" : "; the others were written")
                + ")";
            respond(ctx, r, HttpResponseStatus.BAD_REQUEST, Json.invalidLine(message, result.firstBadLine()));
        }
    }

    private void unavailable(ChannelHandlerContext ctx, Request r, String message) {
        final FullHttpResponse resp = response(HttpResponseStatus.SERVICE_UNAVAILABLE, Json.error("unavailable", message),
            "application/json; charset=utf-8");
        resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
        send(ctx, r, resp);
    }

    private static String first(QueryStringDecoder q, String name) {
        final List<String> v = q.parameters().get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    private void respondText(ChannelHandlerContext ctx, Request r, String text) {
        send(ctx, r, response(HttpResponseStatus.OK, text, "text/plain; version=0.0.4; charset=utf-8"));
    }

    private void respond(ChannelHandlerContext ctx, Request r, HttpResponseStatus status, String json) {
        send(ctx, r, response(status, json, "application/json; charset=utf-8"));
    }

    private static FullHttpResponse response(HttpResponseStatus status, String body, String contentType) {
        final FullHttpResponse resp = body == null
            ? new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.EMPTY_BUFFER)
            : new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(body.getBytes(StandardCharsets.UTF_8)));
        if (body != null) {
            resp.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        }
        if (status.code() != 204) {
            resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, resp.content().readableBytes());
        }
        resp.headers().set("X-Influxdb-Version", "spillway");
        return resp;
    }

    /** Writes the response (from any thread), then starts the next queued request on the event loop. */
    private void send(ChannelHandlerContext ctx, Request r, FullHttpResponse resp) {
        r.releaseBody();
        api.metrics().httpResponse(resp.status().code());
        if (r.method.equals(HttpMethod.HEAD)) {
            resp.content().clear();
        }
        if (r.keepAlive) {
            resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(resp).addListener(f -> ctx.executor().execute(() -> next(ctx)));
        } else {
            resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) {
            LOG.warn("HTTP connection from {} failed: {}", peer, cause.toString());
        }
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        Request r;
        while ((r = queue.poll()) != null) {
            r.releaseBody();
        }
        super.channelInactive(ctx);
    }

    /** JSON bodies in InfluxDB's error shape. */
    static final class Json {
        private Json() {
        }

        static String error(String code, String message) {
            return "{\"code\":" + quote(code) + ",\"message\":" + quote(message) + "}";
        }

        static String invalidLine(String message, int line) {
            return "{\"code\":\"invalid\",\"message\":" + quote(message) + ",\"line\":" + line + "}";
        }

        static String quote(String s) {
            final StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
            for (int i = 0; i < s.length(); i++) {
                final char c = s.charAt(i);
                if (c == '"' || c == '\\') {
                    sb.append('\\').append(c);
                } else if (c < 0x20) {
                    sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                } else {
                    sb.append(c);
                }
            }
            return sb.append('"').toString();
        }
    }
}
