package dev.spillway.ingest.internal.tcp;

import dev.spillway.ingest.Listeners;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.runtime.log.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.timeout.IdleStateHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Newline-delimited line protocol over TCP, Telegraf's {@code socket_listener} style: no responses, so bad lines
 * are counted and logged (rate-limited) and the connection carries on. Parsing and ingesting happen on
 * {@code ingestExecutor}, never on the event loop; a full pipeline pauses reading. Lines longer than
 * {@code --max-line-length} are skipped whole; idle connections are closed after {@code --tcp-idle-timeout}.
 *
 * <p>At most {@code --tcp-max-connections} are open at once. The protocol has no way to say "busy", so a
 * connection beyond the limit is closed as soon as it is accepted, before anything is read from it (the sender
 * sees the connection closed, or reset if it had sent data), counted in
 * {@code spillway_collector_tcp_connections_refused_total} and logged at most once per 10 s.
 */
public final class TcpServer {

    private static final Logger LOG = LoggerFactory.getLogger(TcpServer.class);
    private static final long LOG_INTERVAL_MILLIS = 10_000;

    private final Channel server;
    private final AtomicInteger open;
    private final RateLimitedLog refusedLog;

    private TcpServer(Channel server, AtomicInteger open, RateLimitedLog refusedLog) {
        this.server = server;
        this.open = open;
        this.refusedLog = refusedLog;
    }

    /**
     * Binds and starts accepting.
     *
     * @param maxConnections most connections open at once; more are closed on accept
     * @param idleTimeout a connection that sends nothing this long is closed; zero never
     * @param registry receives the connection meters
     */
    public static TcpServer start(HostPort address, EventLoopGroup boss, EventLoopGroup workers, LineIngestor ingestor,
                                  CollectorMetrics metrics, BadLineLog badLines, int maxLineLength, Duration idleTimeout,
                                  int maxConnections, ChannelGroup connections, Executor ingestExecutor,
                                  MeterRegistry registry)
        throws InterruptedException, java.net.BindException {
        final AtomicInteger open = new AtomicInteger();
        final RateLimitedLog refusedLog = new RateLimitedLog(LOG, LOG_INTERVAL_MILLIS);
        final Counter refused = Counter.builder("spillway.collector.tcp.connections.refused")
            .description("TCP connections closed on accept because --tcp-max-connections were open")
            .register(registry);
        Gauge.builder("spillway.collector.tcp.connections", open, AtomicInteger::get)
            .description("open TCP line-protocol connections").register(registry);
        final ServerBootstrap b = new ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    if (open.incrementAndGet() > maxConnections) {
                        open.decrementAndGet();
                        refused.increment();
                        // Closed before the first read: no line of it is parsed, so none is half-counted.
                        ch.config().setAutoRead(false);
                        ch.close();
                        refusedLog.warn("refused TCP connection from " + ch.remoteAddress() + ": " + maxConnections
                            + " connections open (--tcp-max-connections)");
                        return;
                    }
                    ch.closeFuture().addListener(f -> open.decrementAndGet());
                    connections.add(ch);
                    if (!idleTimeout.isZero()) {
                        ch.pipeline().addLast("idle", new IdleStateHandler(idleTimeout.toMillis(), 0, 0,
                            TimeUnit.MILLISECONDS));
                    }
                    ch.pipeline().addLast("lines", new LastLineDecoder(maxLineLength))
                        .addLast("ingest", new TcpLineHandler(ingestor, metrics, badLines, ingestExecutor));
                }
            });
        return new TcpServer(Listeners.await(b.bind(address.toSocketAddress()), address, "--tcp"), open, refusedLog);
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Open connections. */
    public int openConnections() {
        return open.get();
    }

    /** Stops accepting connections and reports refusals not logged yet. */
    public void stopAccepting() {
        server.close().syncUninterruptibly();
        refusedLog.flush();
    }
}
