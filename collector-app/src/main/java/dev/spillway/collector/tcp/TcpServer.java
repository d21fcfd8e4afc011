package dev.spillway.collector.tcp;

import dev.spillway.collector.config.HostPort;
import dev.spillway.collector.ingest.BadLineLog;
import dev.spillway.collector.ingest.CollectorMetrics;
import dev.spillway.collector.ingest.LineIngestor;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.timeout.IdleStateHandler;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * Newline-delimited line protocol over TCP, Telegraf's {@code socket_listener} style: no responses, so bad lines
 * are counted and logged (rate-limited) and the connection carries on. Parsing and ingesting happen on
 * {@code ingestExecutor}, never on the event loop; a full pipeline pauses reading. Lines longer than
 * {@code --max-line-length} are skipped whole; idle connections are closed after {@code --tcp-idle-timeout}.
 */
public final class TcpServer {

    private final Channel server;

    private TcpServer(Channel server) {
        this.server = server;
    }

    /** Binds and starts accepting. */
    public static TcpServer start(HostPort address, EventLoopGroup boss, EventLoopGroup workers, LineIngestor ingestor,
                                  CollectorMetrics metrics, BadLineLog badLines, int maxLineLength, Duration idleTimeout,
                                  ChannelGroup connections, Executor ingestExecutor)
        throws InterruptedException, java.net.BindException {
        final ServerBootstrap b = new ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    connections.add(ch);
                    if (!idleTimeout.isZero()) {
                        ch.pipeline().addLast("idle", new IdleStateHandler(idleTimeout.toMillis(), 0, 0,
                            TimeUnit.MILLISECONDS));
                    }
                    ch.pipeline().addLast("lines", new LastLineDecoder(maxLineLength))
                        .addLast("ingest", new TcpLineHandler(ingestor, metrics, badLines, ingestExecutor));
                }
            });
        return new TcpServer(address.bind(b.bind(address.toSocketAddress()), "--tcp"));
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Stops accepting connections. */
    public void stopAccepting() {
        server.close().syncUninterruptibly();
    }
}
