package dev.spillway.collector;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Loopback TCP listeners, one per name, that accept a connection, record its arrival time ({@link System#nanoTime})
 * and close it: the target of {@code tcp://} monitors in multi-process tests, where a check is one accepted
 * connection. One selector thread serves them all, so a stalled check cannot hold up the others' accepts.
 */
final class TcpTargets implements AutoCloseable {

    private final Selector selector;
    private final Map<String, ServerSocketChannel> listeners = new HashMap<>();
    private final Map<String, List<Long>> hits = new HashMap<>();
    private final Thread acceptor;

    TcpTargets(List<String> names) throws IOException {
        selector = Selector.open();
        for (String name : names) {
            final ServerSocketChannel ch = ServerSocketChannel.open();
            ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
            ch.configureBlocking(false);
            final List<Long> arrivals = new CopyOnWriteArrayList<>();
            ch.register(selector, SelectionKey.OP_ACCEPT, arrivals);
            listeners.put(name, ch);
            hits.put(name, arrivals);
        }
        acceptor = new Thread(this::acceptLoop, "tcp-targets");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** The {@code tcp://} URL of {@code name}'s listener. */
    String url(String name) {
        final InetSocketAddress a = (InetSocketAddress) listeners.get(name).socket().getLocalSocketAddress();
        return "tcp://" + a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    /** Arrival times (System.nanoTime) of connections to {@code name}'s listener. */
    List<Long> hits(String name) {
        return new ArrayList<>(hits.get(name));
    }

    private void acceptLoop() {
        try {
            while (selector.isOpen()) {
                selector.select();
                for (SelectionKey key : selector.selectedKeys()) {
                    if (!key.isValid() || !key.isAcceptable()) {
                        continue;
                    }
                    SocketChannel s;
                    while ((s = ((ServerSocketChannel) key.channel()).accept()) != null) {
                        @SuppressWarnings("unchecked") final List<Long> arrivals = (List<Long>) key.attachment();
                        arrivals.add(System.nanoTime());
                        s.close();
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException | java.nio.channels.ClosedSelectorException e) {
            if (selector.isOpen()) {
                throw new IllegalStateException("tcp targets' accept loop failed", e);
            }
        }
    }

    @Override
    public void close() throws Exception {
        selector.close();
        for (ServerSocketChannel ch : listeners.values()) {
            ch.close();
        }
        acceptor.join(10_000);
    }
}
