package dev.spillway.ingest.internal.http;

import dev.spillway.ingest.AckMode;
import dev.spillway.ingest.IngestResult;
import dev.spillway.ingest.RejectReason;
import dev.spillway.ingest.RequestScope;
import dev.spillway.ingest.lineprotocol.Precision;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import dev.spillway.runtime.api.ApiAccess;
import dev.spillway.runtime.log.LogText;
import dev.spillway.runtime.log.RateLimitedLog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;

/**
 * The InfluxDB-compatible HTTP API on one connection. Requests are answered strictly in arrival order (HTTP/1.1
 * pipelining), refusals included, even though write bodies are processed off the event loop: the next item of
 * the queue starts only after the previous answer was written. A client that half-closes after sending still
 * gets every answer; the connection closes once they are written.
 */
final class HttpApiHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(HttpApiHandler.class);
    private static final String JSON = "application/json; charset=utf-8";
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    private static final String OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    // One line per 10 s while writes are being refused, however many refusals there are.
    private static final RateLimitedLog REFUSALS = new RateLimitedLog(LOG, 10_000);
    /** How often a waiting write looks for room again. */
    private static final long ROOM_CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    /** Logs the 503 answers not mentioned yet (at shutdown). */
    static void flushRefusals() {
        REFUSALS.flush();
        FOREIGN.flush();
        THROTTLED.flush();
    }

    private final HttpApi api;
    private final TokenAuth auth;
    private final BufferBudget budget;
    private final int maxPipelined;
    private final ArrayDeque<Inbound> queue = new ArrayDeque<>();
    private boolean busy;
    private boolean inputClosed;
    private boolean closing;
    private String peer = "?";
    private java.net.InetSocketAddress peerAddress;
    // One line per 10 s for requests refused by the Host/Origin/Sec-Fetch-Site checks.
    private static final RateLimitedLog FOREIGN = new RateLimitedLog(LOG, 10_000);
    // One line per 10 s for requests answered 429 by the failed-authentication throttle.
    private static final RateLimitedLog THROTTLED = new RateLimitedLog(LOG, 10_000);

    /**
     * The credential that last authenticated on this connection (see {@link TokenAuth#credential}), or null: while
     * this connection's client address is throttled, requests on it with exactly this credential go on (a client
     * that was already working is not locked out by a guesser behind the same address); any other credential waits.
     */
    private String proven;

    /**
     * A request after routing: the item plus its decoded URI; {@code client} and {@code credential} (null when none
     * was presented) once known, for the failed-authentication throttle.
     */
    private record Request(Inbound.Request in, HttpMethod method, String uri, HttpHeaders headers, String endpoint,
                           String client, String credential) {
        Request(Inbound.Request in, HttpMethod method, String uri, HttpHeaders headers, String endpoint) {
            this(in, method, uri, headers, endpoint, null, null);
        }
    }

    HttpApiHandler(HttpApi api, BufferBudget budget, int maxPipelined) {
        this.api = api;
        this.auth = new TokenAuth(api.token(), api.tokens());
        this.budget = budget;
        this.maxPipelined = maxPipelined;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        peer = String.valueOf(ctx.channel().remoteAddress());
        if (ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a) {
            peerAddress = a;
        }
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof Inbound item)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (closing) {
            budget.release(item.reserved());
            return;
        }
        queue.add(item);
        if (queue.size() >= maxPipelined) {
            // Read ahead no further until answers catch up; TCP flow control then slows the client.
            ctx.channel().config().setAutoRead(false);
        }
        if (!busy) {
            next(ctx);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof ChannelInputShutdownEvent) {
            // The client sent all it will send; answer what was received, then close.
            inputClosed = true;
            // Also while lingering after a final answer: the client has read it and closed, the wait is over.
            if (!busy || closing) {
                ctx.close();
            }
            return;
        }
        if (evt instanceof IdleStateEvent) {
            if (!busy && queue.isEmpty()) {
                LOG.debug("closing idle HTTP connection from {}", peer);
                ctx.close();
            }
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    private void next(ChannelHandlerContext ctx) {
        final Inbound item = queue.poll();
        if (item == null) {
            busy = false;
            if (inputClosed) {
                ctx.close();
            } else if (!closing) {
                ctx.channel().config().setAutoRead(true);
            }
            return;
        }
        busy = true;
        if (queue.size() < maxPipelined && !inputClosed && !closing) {
            ctx.channel().config().setAutoRead(true);
        }
        if (item instanceof Inbound.Continue) {
            ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                Unpooled.EMPTY_BUFFER)).addListener(f -> ctx.executor().execute(() -> next(ctx)));
            return;
        }
        if (item instanceof Inbound.Refusal refusal) {
            final Request r = new Request(null, refusal.method(), refusal.uri(), null, endpoint(refusal.uri()));
            final FullHttpResponse resp = response(refusal.status(), Json.error(refusal.code(), refusal.message()),
                JSON);
            if (refusal.status().code() == 503) {
                resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
                REFUSALS.warn("answered 503 to " + refusal.method() + " " + loggable(refusal.uri()) + " from " + peer
                    + ": " + refusal.message());
            }
            send(ctx, r, resp, refusal.close());
            return;
        }
        final Inbound.Request in = (Inbound.Request) item;
        final Request r;
        try {
            final QueryStringDecoder decoded = new QueryStringDecoder(in.uri());
            final String path = decoded.path();
            decoded.parameters(); // decoded lazily: a bad %xx in the query must fail here, as a 400
            r = new Request(in, in.method(), in.uri(), in.headers(), endpoint(path));
        } catch (RuntimeException e) {
            final Request bad = new Request(in, in.method(), in.uri(), in.headers(), "other");
            // Not the decoder's message: it repeats the URI, which may carry a token (?p=).
            respond(ctx, bad, HttpResponseStatus.BAD_REQUEST, Json.error("invalid",
                "malformed URI: bad percent-encoding or characters in the path or query"));
            return;
        }
        try {
            final Request checked = throttled(ctx, r);
            if (checked != null) {
                dispatch(ctx, checked);
            }
        } catch (RuntimeException e) {
            LOG.error("unexpected error handling {} {} from {}", r.method, loggable(r.uri), peer, e);
            respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error",
                e.getClass().getName()));
        }
    }

    /** The {@code endpoint} label of the request counter: a fixed set, so a scanner cannot grow the metrics. */
    private static String endpoint(String path) {
        return switch (path) {
            case "/ping", "/health", "/ready", "/metrics", "/api/v2/write", "/write" -> path;
            default -> path.startsWith("/api/v1/") ? "/api/v1" : "other";
        };
    }

    /**
     * The failed-authentication throttle, before anything else looks at the request: a client address that has used
     * up its tries ({@link dev.spillway.runtime.api.AuthThrottle}) is answered 429 with {@code Retry-After} for every
     * request presenting a credential, right or wrong, so a guess cannot be confirmed while it waits; except a
     * request on a connection where the same credential already authenticated. Requests without a credential pass
     * (they guess nothing), and so do {@code /ping} and {@code /health}, which look at no credential. The request,
     * with its client and credential, when it may go on; null when answered.
     */
    private Request throttled(ChannelHandlerContext ctx, Request r) {
        if (r.endpoint.equals("/ping") || r.endpoint.equals("/health")) {
            return r; // open to everyone: a credential sent along (client libraries do) is not looked at
        }
        final QueryStringDecoder query = new QueryStringDecoder(r.uri);
        final String credential = TokenAuth.credential(r.headers, query);
        final String client = api.guard().client(peerAddress, r.headers);
        final Request out = new Request(r.in, r.method, r.uri, r.headers, r.endpoint, client, credential);
        if (credential == null || (proven != null && java.security.MessageDigest.isEqual(
            proven.getBytes(StandardCharsets.UTF_8), credential.getBytes(StandardCharsets.UTF_8)))) {
            return out;
        }
        final long wait = api.throttle().retryAfterSeconds(client);
        if (wait > 0) {
            THROTTLED.warn("answered 429 to " + r.method + " " + r.endpoint + " from " + LogText.escape(client)
                + ": too many failed authentications from this address");
            final FullHttpResponse resp = response(HttpResponseStatus.TOO_MANY_REQUESTS, Json.error(
                "too many requests", "too many failed authentications from this address; retry in " + wait + " s"),
                JSON);
            resp.headers().set(HttpHeaderNames.RETRY_AFTER, Long.toString(wait));
            send(ctx, out, resp, false);
            return null;
        }
        if (auth.access(r.headers, query).level() != ApiAccess.Level.NONE) {
            proven = credential;
        }
        return out;
    }

    private void dispatch(ChannelHandlerContext ctx, Request r) {
        final QueryStringDecoder query = new QueryStringDecoder(r.uri);
        final String path = query.path();
        final WebGuard.Refusal refused = api.guard().check(r.method, path, r.headers);
        if (refused != null) {
            FOREIGN.warn("refused " + r.method + " " + LogText.escape(path) + " from " + peer + ": "
                + refused.message());
            respond(ctx, r, HttpResponseStatus.FORBIDDEN, Json.forbidden(refused.header(), refused.message()));
            return;
        }
        if (api.router() != null && api.router().handles(path)) {
            routed(ctx, r, query);
            return;
        }
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
                    final String problem = api.readiness().problem();
                    if (problem == null) {
                        respond(ctx, r, HttpResponseStatus.OK, "{\"name\":\"spillway-collector\",\"status\":\"pass\","
                            + "\"message\":\"ready for writes\"}");
                    } else {
                        respond(ctx, r, HttpResponseStatus.SERVICE_UNAVAILABLE, "{\"name\":\"spillway-collector\","
                            + "\"status\":\"fail\",\"message\":" + Json.quote(problem) + "}");
                    }
                } else {
                    methodNotAllowed(ctx, r);
                }
            }
            case "/ready" -> {
                if (authorized(ctx, r, query, false)) {
                    if (api.readiness().ready()) {
                        respond(ctx, r, HttpResponseStatus.OK, "{\"status\":\"ready\"}");
                    } else {
                        respond(ctx, r, HttpResponseStatus.SERVICE_UNAVAILABLE, "{\"status\":\"not ready\"}");
                    }
                }
            }
            case "/metrics" -> {
                if (authorized(ctx, r, query, false)) {
                    metrics(ctx, r);
                }
            }
            case "/api/v2/write", "/write" -> {
                if (authorized(ctx, r, query, true)) {
                    write(ctx, r, query);
                }
            }
            default -> respond(ctx, r, HttpResponseStatus.NOT_FOUND, Json.error("not found", "no endpoint " + path));
        }
    }

    /** JSON APIs and pages: the router runs the handler off the event loop; same token check as writes. */
    private void routed(ChannelHandlerContext ctx, Request r, QueryStringDecoder query) {
        final java.util.Map<String, String> headers = new java.util.HashMap<>();
        r.headers.forEach(h -> headers.putIfAbsent(h.getKey().toLowerCase(Locale.ROOT), h.getValue()));
        api.router().dispatch(r.method.name(), query.path(), query.parameters(), headers,
            java.util.Arrays.copyOf(r.in.body(), r.in.length()),
            auth.access(r.headers, query), api.guard().client(peerAddress, r.headers),
            api.guard().secure(peerAddress, r.headers)).whenComplete((resp, err) -> {
                if (err != null) {
                    LOG.error("API request {} {} from {} failed", r.method, loggable(r.uri), peer, err);
                    respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error",
                        err.getClass().getName()));
                    return;
                }
                final FullHttpResponse out = resp.contentType() == null
                    ? new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(resp.status()),
                        Unpooled.EMPTY_BUFFER)
                    : new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(resp.status()),
                        Unpooled.wrappedBuffer(resp.body()));
                if (resp.contentType() != null) {
                    out.headers().set(HttpHeaderNames.CONTENT_TYPE, resp.contentType());
                }
                if (resp.status() != 204) {
                    out.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, out.content().readableBytes());
                }
                resp.headers().forEach((k, v) -> out.headers().set(k, v));
                send(ctx, r, out, false);
            });
    }

    /** Whether the request's credential reaches far enough (admin for writes, a read-only token for reads). */
    private boolean authorized(ChannelHandlerContext ctx, Request r, QueryStringDecoder query, boolean admin) {
        final ApiAccess access = auth.access(r.headers, query);
        if (admin ? access.isAdmin() : access.canRead()) {
            return true;
        }
        if (access.level() == ApiAccess.Level.NONE) {
            respond(ctx, r, HttpResponseStatus.UNAUTHORIZED, Json.error("unauthorized", "unauthorized access"));
        } else {
            respond(ctx, r, HttpResponseStatus.FORBIDDEN, Json.error("forbidden", r.method + " " + r.endpoint
                + " is not allowed with " + access.describe()));
        }
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
        final AckMode ack;
        try {
            ack = ackMode(r, query);
        } catch (IllegalArgumentException e) {
            respond(ctx, r, HttpResponseStatus.BAD_REQUEST, Json.error("invalid", e.getMessage()));
            return;
        }
        admit(ctx, r, precision, gzip, ack, System.nanoTime() + api.roomWait().toNanos(), false);
    }

    /**
     * Hands a write to the ingest threads, or answers 503. A ring above its high-water mark is usually a moment:
     * the pump hands the workers batches of up to 16,384 events, and room comes back when one finishes. A 503 would
     * make the client wait its {@code Retry-After} (1 s; Telegraf and the official clients honour it) for that
     * moment, so the request first waits for room up to {@code --room-wait} (100 ms), on an event-loop timer (no
     * thread and no new memory held: the body is read already, and the connection's next requests wait behind it,
     * as they do for any request). A refusal for another reason (closing, spool full) is answered at once.
     */
    private void admit(ChannelHandlerContext ctx, Request r, Precision precision, boolean gzip, AckMode ack,
                       long deadline, boolean waited) {
        final String refusal = api.saturation().refusal();
        if (refusal != null) {
            if (System.nanoTime() - deadline < 0 && ctx.channel().isActive() && !closing
                && api.saturation().onlyRingAboveMark()) {
                if (!waited) {
                    api.metrics().roomWaitStarted();
                }
                try {
                    ctx.executor().schedule(() -> admit(ctx, r, precision, gzip, ack, deadline, true),
                        ROOM_CHECK_NANOS, TimeUnit.NANOSECONDS);
                    return;
                } catch (RejectedExecutionException loopClosing) {
                    waited = true; // the event loop is shutting down: answer now
                }
            }
            if (waited) {
                api.metrics().roomWaitEnded(false);
            }
            unavailable(ctx, r, refusal);
            return;
        }
        if (waited) {
            api.metrics().roomWaitEnded(true);
        }
        try {
            api.ingestExecutor().execute(() -> ingest(ctx, r, precision, gzip, ack));
        } catch (RejectedExecutionException e) {
            unavailable(ctx, r, "collector is overloaded; retry later");
        }
    }

    /** The request's acknowledgement mode: {@code ?ack=} or {@code X-Spillway-Ack}, else null (the default). */
    private static AckMode ackMode(Request r, QueryStringDecoder query) {
        final String q = first(query, "ack");
        final String h = r.headers.get("X-Spillway-Ack");
        final String v = q != null ? q : h;
        return v == null ? null : AckMode.parse(v);
    }

    private void ingest(ChannelHandlerContext ctx, Request r, Precision precision, boolean gzip, AckMode ack) {
        byte[] body = r.in.body();
        int length = r.in.length();
        if (gzip) {
            try {
                final BoundedGunzip.Bytes plain = BoundedGunzip.gunzip(body, length, api.maxDecompressedSize());
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
        }
        // Resends are recognised by Idempotency-Key, or by a digest of credentials, URI and body (ResendWindow).
        final RequestScope scope = new RequestScope(r.headers.get("Idempotency-Key"),
            r.headers.get(HttpHeaderNames.AUTHORIZATION), r.uri);
        api.ingestor().ingest(body, 0, length, precision, "http " + peer, 1, ack, scope).whenComplete((result, err) -> {
            if (err != null) {
                LOG.error("ingest failed for request from {}", peer, err);
                respond(ctx, r, HttpResponseStatus.INTERNAL_SERVER_ERROR, Json.error("internal error",
                    err.getClass().getName()));
            } else {
                answer(ctx, r, result);
            }
        });
    }

    private void answer(ChannelHandlerContext ctx, Request r, IngestResult result) {
        if (result.allAccepted()) {
            respond(ctx, r, HttpResponseStatus.NO_CONTENT, null);
        } else if (result.refusal() != null) {
            if (result.refusal().status() == 503) {
                unavailable(ctx, r, result.refusal().message());
            } else {
                respond(ctx, r, HttpResponseStatus.valueOf(result.refusal().status()),
                    Json.error("conflict", result.refusal().message()));
            }
        } else if (result.uncommitted() && !result.refused() && !result.seriesError() && result.rejected() == 0) {
            unavailable(ctx, r, "ack=commit: not every event of this request was confirmed committed (some were lost "
                + "or the confirmation timed out; see spillway_events_failed_total); retry");
        } else if (result.refused() || result.seriesError()) {
            // Not all good lines are in: a 2xx or 400 would tell the client not to retry data we did not take.
            // Lines before the refusal were taken (events cannot be taken back out of the ring): the answer says
            // how many; a resend of the whole body takes only the others (ResendWindow).
            final String kept = result.accepted() == 0 ? "" : " (" + result.accepted() + " of "
                + (result.accepted() + result.rejected()) + " lines were taken before the refusal; resend the whole "
                + "body: the lines already taken are not stored again)";
            unavailable(ctx, r, (result.refused() ? "collector is not accepting data right now; retry later"
                : "could not create series now (the database, or NATS at an edge without one, is unreachable); "
                    + "retry later") + kept);
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
            JSON);
        resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1");
        REFUSALS.warn("answered 503 to " + r.method + " " + r.endpoint + " from " + peer + ": " + message);
        send(ctx, r, resp, false);
    }

    /** Prometheus text by default; OpenMetrics when the scraper asks for it. */
    private void metrics(ChannelHandlerContext ctx, Request r) {
        final String accept = r.headers.get(HttpHeaderNames.ACCEPT);
        final String type = accept != null && accept.contains("application/openmetrics-text") ? OPENMETRICS
            : PROMETHEUS_TEXT;
        send(ctx, r, response(HttpResponseStatus.OK, api.registry().scrape(type), type), false);
    }

    private static String first(QueryStringDecoder q, String name) {
        final List<String> v = q.parameters().get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    private void respond(ChannelHandlerContext ctx, Request r, HttpResponseStatus status, String json) {
        send(ctx, r, response(status, json, JSON), false);
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

    /**
     * Writes the response (from any thread), then starts the next queued item on the event loop.
     *
     * @param close whether to close the connection after this answer whatever the client asked
     */
    private void send(ChannelHandlerContext ctx, Request r, FullHttpResponse resp, boolean close) {
        if (r.in != null) {
            budget.release(r.in.reserved());
        }
        api.metrics().httpResponse(r.endpoint, resp.status().code());
        if (resp.status().code() == 401 && r.credential != null) {
            // A credential was presented and not accepted: one try fewer for this client address.
            api.throttle().failed(r.client);
        }
        if (resp.status().code() == 503 && !resp.headers().contains(HttpHeaderNames.RETRY_AFTER)) {
            resp.headers().set(HttpHeaderNames.RETRY_AFTER, "1"); // every 503 says when to try again
        }
        if (r.method.equals(HttpMethod.HEAD)) {
            resp.content().clear();
        }
        if (!close && r.in != null && r.in.keepAlive()) {
            resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(resp).addListener(f -> ctx.executor().execute(() -> next(ctx)));
        } else {
            resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.executor().execute(() -> closing = true);
            ctx.writeAndFlush(resp).addListener(f -> lingerThenClose(ctx));
        }
    }

    /**
     * Closes after an answer that ends the connection without losing that answer. A client may still be sending
     * (an oversized body answered 413 before it arrived): closing a socket with unread input makes the kernel send
     * a reset, which can destroy the answer before the client reads it. So: half-close (the client sees the answer
     * and end of stream), keep reading and discarding ({@code closing} drops every request), and close when the
     * client does or after {@link #LINGER_MILLIS} at the latest (bounded, like a web server's lingering close).
     */
    private static void lingerThenClose(ChannelHandlerContext ctx) {
        if (!(ctx.channel() instanceof io.netty.channel.socket.SocketChannel socket) || !socket.isActive()) {
            ctx.close();
            return;
        }
        socket.shutdownOutput().addListener(f -> {
            if (!f.isSuccess()) {
                ctx.close();
                return;
            }
            socket.config().setAutoRead(true);
            ctx.executor().schedule(() -> ctx.close(), LINGER_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
        });
    }

    /** Longest a connection lingers, reading and discarding, after its final answer. */
    private static final long LINGER_MILLIS = 2_000;

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) {
            LOG.warn("HTTP connection from {} failed: {}", peer, cause.toString());
        }
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        closing = true;
        for (Inbound item : queue) {
            budget.release(item.reserved());
        }
        queue.clear();
        super.channelInactive(ctx);
    }

    /**
     * A request URI for the log: control characters escaped, and the values of {@code p} (v1 clients' password) and
     * of every query parameter with a secret name ({@link dev.spillway.runtime.api.UrlSecrets#secretName}: the
     * page's {@code token}, ping URLs' {@code key}, ...) masked.
     */
    static String loggable(String uri) {
        final Matcher m = QUERY_PARAM.matcher(uri);
        final StringBuilder sb = new StringBuilder(uri.length());
        while (m.find()) {
            final String name = m.group(2);
            m.appendReplacement(sb, Matcher.quoteReplacement(name.equalsIgnoreCase("p")
                || dev.spillway.runtime.api.UrlSecrets.secretName(name) ? m.group(1) + name + "=***" : m.group()));
        }
        m.appendTail(sb);
        return LogText.escape(sb.toString());
    }

    private static final java.util.regex.Pattern QUERY_PARAM =
        java.util.regex.Pattern.compile("([?&])([^&#=]*)=[^&#]*");

    /** JSON bodies in InfluxDB's error shape. */
    static final class Json {
        private Json() {
        }

        static String error(String code, String message) {
            return "{\"code\":" + quote(code) + ",\"message\":" + quote(message) + "}";
        }

        /** 403 naming the header that refused the request. */
        static String forbidden(String header, String message) {
            return "{\"code\":\"forbidden\",\"message\":" + quote(message) + ",\"header\":" + quote(header) + "}";
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
