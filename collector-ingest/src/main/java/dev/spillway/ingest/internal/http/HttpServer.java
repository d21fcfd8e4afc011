package dev.spillway.ingest.internal.http;

import dev.spillway.ingest.Listeners;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.log.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The HTTP listener, with every per-client resource bounded ({@link HttpLimits}): connections, time to send a
 * request, idle keep-alive time, bytes buffered over all connections, requests read ahead per connection. Bodies
 * over {@code --max-body-size} get 413 before they are buffered.
 */
public final class HttpServer {

    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);
    private static final String BUSY_JSON =
        "{\"code\":\"unavailable\",\"message\":\"too many connections (--http-max-connections); retry later\"}";
    private static final byte[] BUSY = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; "
        + "charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " + BUSY_JSON.length()
        + "\r\n\r\n" + BUSY_JSON).getBytes(StandardCharsets.US_ASCII);

    private final Channel server;
    private final BufferBudget budget;
    private final AtomicInteger open;
    private final RateLimitedLog[] logs;

    private HttpServer(Channel server, BufferBudget budget, AtomicInteger open, RateLimitedLog... logs) {
        this.server = server;
        this.budget = budget;
        this.open = open;
        this.logs = logs;
    }

    /**
     * Binds and starts accepting.
     *
     * @param connections receives every accepted connection, so shutdown can close them
     * @param registry receives the connection and buffer meters
     * @throws java.net.BindException naming the address and the option when it is in use
     */
    public static HttpServer start(HostPort address, EventLoopGroup boss, EventLoopGroup workers, HttpApi api,
                                   HttpLimits limits, ChannelGroup connections, MeterRegistry registry)
        throws InterruptedException, java.net.BindException {
        final BufferBudget budget = new BufferBudget(limits.maxBufferedBytes());
        final AtomicInteger open = new AtomicInteger();
        final RateLimitedLog refusedConnections = new RateLimitedLog(LOG, 10_000);
        final RateLimitedLog aborted = new RateLimitedLog(LoggerFactory.getLogger(RequestAssembler.class), 10_000);
        final RateLimitedLog timeouts = new RateLimitedLog(LoggerFactory.getLogger(RequestClock.class), 10_000);
        final Counter refused = Counter.builder("spillway.collector.http.connections.refused")
            .description("HTTP connections closed on accept because --http-max-connections were open")
            .register(registry);
        Gauge.builder("spillway.collector.http.connections", open, AtomicInteger::get)
            .description("open HTTP connections").register(registry);
        Gauge.builder("spillway.collector.http.buffered", budget, BufferBudget::used).baseUnit("bytes")
            .description("request bytes buffered and not yet answered, over all HTTP connections").register(registry);
        final long idleMillis = limits.idleTimeout().toMillis();
        final ServerBootstrap b = new ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childOption(ChannelOption.TCP_NODELAY, true)
            // A client that shuts down its sending side after the last request still gets its answers.
            .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    if (open.incrementAndGet() > limits.maxConnections()) {
                        open.decrementAndGet();
                        refused.increment();
                        refusedConnections.warn("refused HTTP connection from " + ch.remoteAddress() + ": "
                            + limits.maxConnections() + " connections open (--http-max-connections)");
                        ch.writeAndFlush(Unpooled.wrappedBuffer(BUSY)).addListener(ChannelFutureListener.CLOSE);
                        return;
                    }
                    ch.closeFuture().addListener(f -> open.decrementAndGet());
                    connections.add(ch);
                    final RequestClock clock = new RequestClock(limits.headerTimeout(), limits.readTimeout(), timeouts);
                    ch.pipeline()
                        .addLast("idle", new IdleStateHandler(0, 0, idleMillis, TimeUnit.MILLISECONDS))
                        .addLast("clock-bytes", clock.bytes())
                        .addLast("codec", new HttpServerCodec())
                        .addLast("clock-parts", clock.parts())
                        .addLast("assembler", new RequestAssembler(limits.maxBodySize(), budget, aborted))
                        .addLast("api", new HttpApiHandler(api, budget, limits.maxPipelined()));
                }
            });
        return new HttpServer(Listeners.await(b.bind(address.toSocketAddress()), address, "--http"), budget, open,
            refusedConnections, aborted, timeouts);
    }

    /** The bound address (the real port when 0 was asked for). */
    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Open connections. */
    public int openConnections() {
        return open.get();
    }

    /** Request bytes buffered now. */
    public long bufferedBytes() {
        return budget.used();
    }

    /**
     * Logs what the rate-limited warnings (refused connections, aborted uploads, timeouts, 503 answers) have not
     * mentioned yet; at shutdown, once no request is in progress.
     */
    public void flushLogs() {
        for (RateLimitedLog log : logs) {
            log.flush();
        }
        HttpApiHandler.flushRefusals();
    }

    /** Stops accepting connections; open connections keep being served until closed separately. */
    public void stopAccepting() {
        server.close().syncUninterruptibly();
    }
}
