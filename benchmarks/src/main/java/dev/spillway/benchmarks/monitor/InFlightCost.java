package dev.spillway.benchmarks.monitor;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue #24's question "are in-flight checks bounded by threads, and what does a thread cost?" (a harness, not a
 * test): N connects that hang (loopback ports that listen with a backlog of 1 and never accept), held either by
 * one blocked thread each, as the probe executor does (256 KiB stacks), or by one NIO selector. Reports the
 * resident set added per connect and the CPU to start them.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.InFlightCost 2000 threads
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.InFlightCost 2000 selector
 * </pre>
 */
public final class InFlightCost {

    private InFlightCost() {
    }

    public static void main(String[] args) throws Exception {
        final int n = Integer.parseInt(args[0]);
        final boolean threads = args[1].equals("threads");
        final List<ServerSocket> silent = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            silent.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        }
        System.gc();
        pause(500);
        final double rss0 = rssMiB();
        final long cpu0 = cpuNanos();
        if (threads) {
            final CountDownLatch started = new CountDownLatch(n);
            final List<Thread> ts = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                final int port = silent.get(i % silent.size()).getLocalPort();
                final Thread t = new Thread(null, () -> {
                    try (Socket s = new Socket()) {
                        started.countDown();
                        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
                    } catch (java.io.IOException e) {
                        // timed out (expected) or refused: the connect is over either way
                    }
                }, "hang-" + i, 256 * 1024);
                t.start();
                ts.add(t);
            }
            started.await();
            pause(1000);
            report("threads (256 KiB stacks)", n, rss0, cpu0);
            for (Thread t : ts) {
                t.join();
            }
        } else {
            try (Selector sel = Selector.open()) {
                for (int i = 0; i < n; i++) {
                    final SocketChannel ch = SocketChannel.open();
                    ch.configureBlocking(false);
                    ch.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                        silent.get(i % silent.size()).getLocalPort()));
                    ch.register(sel, SelectionKey.OP_CONNECT);
                }
                sel.selectNow();
                pause(1000);
                report("one selector", n, rss0, cpu0);
                for (SelectionKey k : sel.keys()) {
                    k.channel().close();
                }
            }
        }
        for (ServerSocket s : silent) {
            s.close();
        }
    }

    private static void report(String how, int n, double rss0, long cpu0) throws java.io.IOException {
        final double added = rssMiB() - rss0;
        System.out.println(String.format(Locale.ROOT, "%s: %,d hanging connects, RSS +%.1f MiB (%.1f KiB each), "
            + "CPU %.0f ms to start them, %d live threads", how, n, added, added * 1024 / n,
            (cpuNanos() - cpu0) / 1e6, Thread.activeCount()));
    }

    private static double rssMiB() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        }
        return Double.NaN;
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
            .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void pause(long millis) {
        final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
            LockSupport.parkNanos(left);
        }
    }
}
