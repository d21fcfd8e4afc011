package dev.spillway.benchmarks.monitor;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * A target that answers every request after a fixed latency without holding a thread (the answer is scheduled
 * on the event loop), so thousands of concurrent slow requests cost it almost nothing. Its threads are named
 * {@code target-*} so the harness can subtract their CPU.
 */
final class LatencyTarget implements AutoCloseable {

    private static final byte[] BODY = "ok".getBytes(StandardCharsets.UTF_8);

    private final EventLoopGroup group;
    private final Channel server;
    private final LongAdder served = new LongAdder();
    // Per path, when it was last hit, and the gaps between hits while recording (event loop thread writes).
    private final java.util.Map<String, Long> lastHit = new java.util.concurrent.ConcurrentHashMap<>();
    private final List<Long> gaps = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    private volatile boolean recording;

    LatencyTarget(long latencyMillis) throws InterruptedException {
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("target", true), NioIoHandler.newFactory());
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 4096)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                        new SimpleChannelInboundHandler<FullHttpRequest>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                                final long now = System.nanoTime();
                                final Long before = lastHit.put(req.uri(), now);
                                if (recording && before != null) {
                                    gaps.add(now - before);
                                }
                                ctx.executor().schedule(() -> {
                                    final FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                        HttpResponseStatus.OK, Unpooled.wrappedBuffer(BODY));
                                    resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, BODY.length);
                                    resp.headers().set(HttpHeaderNames.CONNECTION, "close");
                                    served.increment();
                                    ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
                                }, latencyMillis, TimeUnit.MILLISECONDS);
                            }
                        });
                }
            })
            .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** Starts recording the time between consecutive hits of each path (a monitor's interval as seen here). */
    void recordIntervals() {
        gaps.clear();
        recording = true;
    }

    /** Stops recording; the gaps seen, in nanoseconds, sorted. */
    long[] intervals() {
        recording = false;
        synchronized (gaps) {
            return gaps.stream().mapToLong(Long::longValue).sorted().toArray();
        }
    }

    long served() {
        return served.sum();
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }
}
