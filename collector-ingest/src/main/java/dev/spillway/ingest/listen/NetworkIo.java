package dev.spillway.ingest.listen;

import dev.spillway.runtime.lifecycle.Deadline;
import dev.spillway.runtime.lifecycle.Service;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.util.concurrent.TimeUnit;

/**
 * The listeners' event loops and every open connection. Started before the pipeline and stopped after it has
 * drained: an {@code ack=commit} answer written during the drain still reaches its client, and only then do the
 * keep-alive connections close.
 */
public final class NetworkIo implements Service {

    final EventLoopGroup boss;
    final EventLoopGroup workers;
    final ChannelGroup connections;

    /** Starts the accept loop and the I/O loops (one per core). */
    public NetworkIo() {
        boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("accept", true), NioIoHandler.newFactory());
        workers = new MultiThreadIoEventLoopGroup(0, new DefaultThreadFactory("io", true), NioIoHandler.newFactory());
        connections = new DefaultChannelGroup("connections", GlobalEventExecutor.INSTANCE);
    }

    @Override
    public String name() {
        return "connections";
    }

    @Override
    public boolean stop(Deadline deadline) {
        final boolean closed = connections.close().awaitUninterruptibly(deadline.remaining().toMillis() / 2);
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        final long left = Math.max(1, deadline.remaining().toMillis());
        return workers.terminationFuture().awaitUninterruptibly(left)
            & boss.terminationFuture().awaitUninterruptibly(Math.max(1, deadline.remaining().toMillis())) & closed;
    }
}
