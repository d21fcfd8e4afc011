package dev.spillway.ingest.internal.udp;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.ingest.Listeners;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.config.Units;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.lineprotocol.Precision;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Line protocol over UDP: each datagram holds one or more whole lines. Fire-and-forget, like InfluxDB's UDP
 * listener, and lossy by nature: what the kernel drops when its receive buffer is full never reaches the
 * collector. So the loss is made visible instead: {@code spillway_collector_udp_datagrams_total} counts what
 * arrived, {@code spillway_collector_udp_kernel_drops_total} what the kernel dropped on this socket (Linux
 * {@code /proc/net/udp}).
 *
 * <p>Datagrams are copied off the event loop into a bounded queue that one ingest thread drains; when the queue
 * is full the socket is not read ({@code autoRead} off) until it drains to half, so a full pipeline costs
 * kernel drops (counted) instead of a parked event loop.
 */
public final class UdpServer {

    private static final Logger LOG = LoggerFactory.getLogger(UdpServer.class);
    private static final int MAX_DATAGRAM = 65_536;
    private static final int QUEUE = 512;

    private final Channel channel;
    private final BlockingQueue<Datagram> queue;
    private final LineIngestor ingestor;
    private final Thread worker;
    // Meters hold their state weakly: the server keeps the drop reader alive.
    private final KernelUdpDrops kernelDrops;
    private volatile boolean stopping;

    private UdpServer(Channel channel, BlockingQueue<Datagram> queue, LineIngestor ingestor,
                      KernelUdpDrops kernelDrops) {
        this.channel = channel;
        this.kernelDrops = kernelDrops;
        this.queue = queue;
        this.ingestor = ingestor;
        this.worker = ServiceThreads.single("udp-ingest").newThread(this::drain);
    }

    /**
     * Binds the socket and starts the ingest thread.
     *
     * @param receiveBuffer the kernel receive buffer to ask for (Linux caps it at {@code net.core.rmem_max})
     */
    public static UdpServer start(HostPort address, EventLoopGroup group, LineIngestor ingestor, int receiveBuffer,
                                  MeterRegistry registry) throws InterruptedException, java.net.BindException {
        final BlockingQueue<Datagram> queue = new ArrayBlockingQueue<>(QUEUE);
        final Counter received = Counter.builder("spillway.collector.udp.datagrams")
            .description("UDP datagrams received by the collector").register(registry);
        final Counter overflow = Counter.builder("spillway.collector.udp.queue.drops")
            .description("UDP datagrams read in one burst after reading paused, with the queue already full")
            .register(registry);
        final Bootstrap b = new Bootstrap()
            .group(group)
            .channel(NioDatagramChannel.class)
            .option(ChannelOption.SO_RCVBUF, receiveBuffer)
            .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_DATAGRAM))
            .handler(new Handler(queue, received, overflow));
        final Channel ch = Listeners.await(b.bind(address.toSocketAddress()), address, "--udp");
        final int granted = ((NioDatagramChannel) ch).config().getReceiveBufferSize();
        // Linux reports twice what it granted (the doubling covers its bookkeeping), capped by net.core.rmem_max.
        if (granted < receiveBuffer) {
            LOG.warn("UDP receive buffer: asked for {} (--udp-receive-buffer), the kernel granted {}; raise "
                + "net.core.rmem_max (sysctl) to absorb larger bursts", Units.formatSize(receiveBuffer),
                Units.formatSize(granted));
        }
        final KernelUdpDrops drops = new KernelUdpDrops((InetSocketAddress) ch.localAddress());
        FunctionCounter.builder("spillway.collector.udp.kernel.drops", drops, KernelUdpDrops::read)
            .description("datagrams the kernel dropped on the UDP socket because its receive buffer was full "
                + "(Linux /proc/net/udp; 0 elsewhere)")
            .register(registry);
        Gauge.builder("spillway.collector.udp.queued", queue, BlockingQueue::size)
            .description("UDP datagrams received and waiting to be parsed").register(registry);
        final UdpServer server = new UdpServer(ch, queue, ingestor, drops);
        server.worker.start();
        return server;
    }

    private void drain() {
        while (true) {
            final Datagram d;
            try {
                d = queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (d == null) {
                if (stopping) {
                    return;
                }
                continue;
            }
            if (!channel.config().isAutoRead() && queue.size() <= QUEUE / 2) {
                channel.config().setAutoRead(true);
            }
            try {
                ingestor.ingest(d.bytes, 0, d.bytes.length, Precision.NANOSECONDS, d.source, 1).join();
            } catch (RuntimeException e) {
                LOG.error("UDP datagram from {}: ingest failed", d.source, e);
            }
        }
    }

    /** Datagrams the kernel dropped on this socket so far (0 where unknown). */
    public long kernelDrops() {
        return (long) kernelDrops.read();
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** Closes the socket; datagrams already queued are still ingested. */
    public void stopAccepting() {
        channel.close().syncUninterruptibly();
        stopping = true;
        if (worker != null) {
            try {
                worker.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private record Datagram(byte[] bytes, String source) {
    }

    /** Copies each datagram into the queue; pauses reading before it is full. */
    private static final class Handler extends SimpleChannelInboundHandler<DatagramPacket> {
        // One read loop delivers up to 16 datagrams after reading pauses; leave room for them.
        private static final int PAUSE_AT = QUEUE - 32;
        private final BlockingQueue<Datagram> queue;
        private final Counter received;
        private final Counter overflow;

        Handler(BlockingQueue<Datagram> queue, Counter received, Counter overflow) {
            this.queue = queue;
            this.received = received;
            this.overflow = overflow;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
            received.increment();
            final ByteBuf content = packet.content();
            final byte[] bytes = new byte[content.readableBytes()];
            content.getBytes(content.readerIndex(), bytes);
            if (!queue.offer(new Datagram(bytes, "udp " + packet.sender()))) {
                overflow.increment();
            }
            if (queue.size() >= PAUSE_AT) {
                ctx.channel().config().setAutoRead(false);
            }
        }
    }
}
