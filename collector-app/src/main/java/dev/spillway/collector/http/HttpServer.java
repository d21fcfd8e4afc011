package dev.spillway.collector.http;

import dev.spillway.collector.config.HostPort;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;

import java.net.InetSocketAddress;

/**
 * The HTTP listener. The aggregator answers 413 to bodies over {@code --max-body-size} before they are buffered
 * (by Content-Length, or as soon as a chunked body crosses the limit).
 */
public final class HttpServer {

    private final Channel server;

    private HttpServer(Channel server) {
        this.server = server;
    }

    /**
     * Binds and starts accepting.
     *
     * @param connections receives every accepted connection, so shutdown can close them
     */
    public static HttpServer start(HostPort address, EventLoopGroup boss, EventLoopGroup workers, HttpApi api,
                                   int maxBodySize, ChannelGroup connections) throws InterruptedException {
        final ServerBootstrap b = new ServerBootstrap()
            .group(boss, workers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 1024)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    connections.add(ch);
                    ch.pipeline()
                        .addLast("codec", new HttpServerCodec())
                        .addLast("aggregator", new HttpObjectAggregator(maxBodySize))
                        .addLast("api", new HttpApiHandler(api));
                }
            });
        return new HttpServer(b.bind(address.toSocketAddress()).sync().channel());
    }

    /** The bound address (the real port when 0 was asked for). */
    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Stops accepting connections; open connections keep being served until closed separately. */
    public void stopAccepting() {
        server.close().syncUninterruptibly();
    }
}
