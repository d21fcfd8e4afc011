package dev.spillway.collector.udp;

import dev.spillway.collector.config.HostPort;
import dev.spillway.collector.ingest.LineIngestor;
import dev.spillway.collector.lineprotocol.Precision;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;

import java.net.InetSocketAddress;

/**
 * Line protocol over UDP: each datagram holds one or more whole lines. Fire-and-forget, like InfluxDB's UDP
 * listener: bad lines are counted and logged (rate-limited); datagrams the kernel drops are invisible here.
 */
public final class UdpServer {

    private static final int MAX_DATAGRAM = 65_536;

    private final Channel channel;

    private UdpServer(Channel channel) {
        this.channel = channel;
    }

    /** Binds the socket. */
    public static UdpServer start(HostPort address, EventLoopGroup group, LineIngestor ingestor)
        throws InterruptedException {
        final Bootstrap b = new Bootstrap()
            .group(group)
            .channel(NioDatagramChannel.class)
            // Bursts arrive faster than one event loop drains them; a larger kernel buffer absorbs the burst.
            .option(ChannelOption.SO_RCVBUF, 8 * 1024 * 1024)
            .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_DATAGRAM))
            .handler(new Handler(ingestor));
        return new UdpServer(b.bind(address.toSocketAddress()).sync().channel());
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** Closes the socket. */
    public void stopAccepting() {
        channel.close().syncUninterruptibly();
    }

    /** Parses each datagram; one handler for the socket, so one scratch buffer suffices. */
    private static final class Handler extends SimpleChannelInboundHandler<DatagramPacket> {
        private final LineIngestor ingestor;
        private final byte[] scratch = new byte[MAX_DATAGRAM];

        Handler(LineIngestor ingestor) {
            this.ingestor = ingestor;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
            final ByteBuf content = packet.content();
            final int len = Math.min(content.readableBytes(), scratch.length);
            content.getBytes(content.readerIndex(), scratch, 0, len);
            ingestor.ingest(scratch, 0, len, Precision.NANOSECONDS, "udp " + packet.sender(), 1);
        }
    }
}
