package dev.spillway.benchmarks.heartbeat;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The load process of {@link PingRateBench}: open-loop HTTP/1.1 GETs at a fixed rate over keep-alive connections
 * (one request in flight per connection, no pipelining), one selector thread. Request {@code k} of a phase is due at
 * {@code start + k / rate}; it goes out on the first idle connection, and its latency is counted from that due time,
 * not from when it was sent (a slow answer delays the requests behind it, and their wait is counted: no coordinated
 * omission). The selector wakes at millisecond granularity, so up to ~1 ms of every latency is the load process's
 * own batching; the {@code /ping} baseline, measured the same way, shows it.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.heartbeat.PingLoad HOST PORT PATHS_FILE RATE CONNECTIONS
 *     COUNTS_FILE PHASE...   (PHASE = name:baseline|pings:seconds)</pre>
 * Prints {@code PHASE-START name} and {@code PHASE-END name} as phases start and end (the parent samples the
 * collector's CPU time there) and one {@code RESULT name key=value ...} line per phase; writes, per line of
 * PATHS_FILE, the number of its requests answered 204 and the number given up on (a connection error, or no answer
 * within 30 s) to COUNTS_FILE ({@code ok unanswered}, one line each).
 */
public final class PingLoad {

    private static final byte[] BASELINE = request("/ping");
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final InetSocketAddress address;
    private final byte[][] requests;
    private final int[] ok;
    private final int[] unanswered; // per path: requests given up on (connection error, no answer within 30 s)
    private final Selector selector;
    private final ArrayDeque<Conn> idle = new ArrayDeque<>();
    private final Conn[] conns;
    private final PrintStream out;
    private long next; // round-robin position over the paths, across phases

    private PingLoad(InetSocketAddress address, List<String> paths, int connections, PrintStream out)
        throws IOException {
        this.address = address;
        this.requests = new byte[paths.size()][];
        for (int i = 0; i < paths.size(); i++) {
            requests[i] = request(paths.get(i));
        }
        this.ok = new int[paths.size()];
        this.unanswered = new int[paths.size()];
        this.selector = Selector.open();
        this.conns = new Conn[connections];
        this.out = out;
        for (int i = 0; i < connections; i++) {
            conns[i] = new Conn();
            connect(conns[i]);
            idle.add(conns[i]);
        }
    }

    private static byte[] request(String path) {
        return ("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: spillway-pingload\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    }

    public static void main(String[] args) throws Exception {
        final InetSocketAddress address = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        final List<String> paths = Files.readAllLines(Path.of(args[2]));
        final double rate = Double.parseDouble(args[3]);
        final int connections = Integer.parseInt(args[4]);
        final Path counts = Path.of(args[5]);
        final PingLoad load = new PingLoad(address, paths, connections, System.out);
        for (int i = 6; i < args.length; i++) {
            final String[] p = args[i].split(":");
            load.phase(p[0], p[1].equals("pings"), rate, Double.parseDouble(p[2]));
        }
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < load.ok.length; i++) {
            sb.append(load.ok[i]).append(' ').append(load.unanswered[i]).append('\n');
        }
        Files.writeString(counts, sb.toString());
        System.out.println("DONE");
        System.out.flush();
    }

    /** Per phase: what was sent, what came back, and the latency from each request's due time. */
    static final class Phase {
        final String name;
        final boolean pings;
        final LatencyHistogram latency = new LatencyHistogram();
        final TreeMap<Integer, Long> statuses = new TreeMap<>();
        long sent;
        long errors;
        long lateStart; // requests sent more than 10 ms after they were due (no idle connection)
        long lastAnswer; // System.nanoTime() of the phase's last answer
        long start;
        long[] slowPerSecond = new long[64]; // answers over 50 ms, by the second of the phase they were due in
        long[] maxPerSecond = new long[64]; // the slowest answer (µs), by the same second
        String firstError;

        Phase(String name, boolean pings) {
            this.name = name;
            this.pings = pings;
        }
    }

    private final class Conn {
        SocketChannel channel;
        SelectionKey key;
        final ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        long due;
        int service = -1;
        Phase phase;
    }

    private void connect(Conn c) throws IOException {
        c.channel = SocketChannel.open(address);
        c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        c.channel.configureBlocking(false);
        c.key = c.channel.register(selector, SelectionKey.OP_READ, c);
        c.in.clear();
    }

    private void phase(String name, boolean pings, double rate, double seconds) throws IOException {
        final Phase ph = new Phase(name, pings);
        out.println("PHASE-START " + name);
        out.flush();
        final long period = (long) (1e9 / rate);
        final long total = (long) (rate * seconds);
        final long start = System.nanoTime();
        ph.start = start;
        long k = 0;
        while (k < total || idle.size() < conns.length) {
            final long now = System.nanoTime();
            if (k >= total && now - start - (long) (seconds * 1e9) > DRAIN_NANOS) {
                break; // answers that never came are counted below as errors
            }
            while (k < total && !idle.isEmpty()) {
                final long due = start + k * period;
                if (due > now) {
                    break;
                }
                final Conn c = idle.poll();
                send(c, ph, due, now);
                k++;
            }
            long waitNanos = k < total ? start + k * period - System.nanoTime() : TimeUnit.MILLISECONDS.toNanos(10);
            if (waitNanos <= 0 && idle.isEmpty()) {
                waitNanos = TimeUnit.MILLISECONDS.toNanos(1); // due, but every connection waits for an answer
            }
            if (waitNanos > 0) {
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(waitNanos)));
            } else {
                selector.selectNow();
            }
            for (SelectionKey key : selector.selectedKeys()) {
                read((Conn) key.attachment());
            }
            selector.selectedKeys().clear();
        }
        for (Conn c : conns) {
            if (c.phase == ph) { // never answered within the drain time
                ph.errors++;
                if (c.service >= 0) {
                    unanswered[c.service]++; // it may still have been stored
                }
                remember(ph, "no answer within " + TimeUnit.NANOSECONDS.toSeconds(DRAIN_NANOS) + " s");
                reconnect(c);
                idle.add(c);
            }
        }
        final double elapsed = (System.nanoTime() - start) / 1e9;
        out.println("PHASE-END " + name);
        final long answered = ph.latency.count();
        final long ok204 = ph.statuses.getOrDefault(204, 0L);
        // Answers per second from the first due time to the last answer (the sends' duration at least): a
        // collector that falls behind answers the backlog after the sends ended, and that time counts.
        final double answeredIn = Math.max(seconds, (ph.lastAnswer - start) / 1e9);
        out.printf(Locale.ROOT, "RESULT %s target=%.0f seconds=%.3f sent=%d answered=%d ok=%d rate=%.1f p50=%d "
                + "p99=%d p999=%d max=%d errors=%d late=%d statuses=%s firstError=%s%n", name, rate, seconds,
            ph.sent, answered, ok204, ok204 / answeredIn, ph.latency.percentile(0.50), ph.latency.percentile(0.99),
            ph.latency.percentile(0.999), ph.latency.max(), ph.errors, ph.lateStart,
            ph.statuses.toString().replace(" ", ""), ph.firstError == null ? "-"
                : ph.firstError.replaceAll("\\s+", "_"));
        out.flush();
        final StringBuilder slow = new StringBuilder();
        for (int i = 0; i < Math.ceil(seconds) && i < ph.maxPerSecond.length; i++) {
            if (ph.slowPerSecond[i] > 0) {
                slow.append(' ').append(i).append("s:").append(ph.slowPerSecond[i]).append('/')
                    .append(ph.maxPerSecond[i] / 1000).append("ms");
            }
        }
        // Which seconds of the phase had answers over 50 ms: "second:how many/slowest".
        out.println("SLOW " + name + (slow.length() == 0 ? " none" : slow.toString()));
        if (elapsed > seconds + 1) {
            out.printf(Locale.ROOT, "NOTE %s took %.1f s for %.1f s of sends (draining answers)%n", name, elapsed,
                seconds);
        }
    }

    private void send(Conn c, Phase ph, long due, long now) throws IOException {
        final byte[] req;
        if (ph.pings) {
            c.service = (int) (next++ % requests.length);
            req = requests[c.service];
        } else {
            c.service = -1;
            req = BASELINE;
        }
        c.due = due;
        c.phase = ph;
        ph.sent++;
        if (now - due > TimeUnit.MILLISECONDS.toNanos(10)) {
            ph.lateStart++;
        }
        try {
            final ByteBuffer b = ByteBuffer.wrap(req);
            c.channel.write(b);
            if (b.hasRemaining()) {
                throw new IOException("request not written at once (" + b.remaining() + " bytes left)");
            }
        } catch (IOException e) {
            fail(c, e);
        }
    }

    private void read(Conn c) {
        try {
            final int n = c.channel.read(c.in);
            if (n < 0) {
                throw new IOException("connection closed by the collector");
            }
            parse(c);
        } catch (IOException e) {
            fail(c, e);
        }
    }

    /** One complete response (status line, headers, Content-Length body) ends the request. */
    private void parse(Conn c) throws IOException {
        final ByteBuffer in = c.in;
        final byte[] a = in.array();
        final int len = in.position();
        int headerEnd = -1;
        for (int i = 3; i < len; i++) {
            if (a[i] == '\n' && a[i - 1] == '\r' && a[i - 2] == '\n' && a[i - 3] == '\r') {
                headerEnd = i + 1;
                break;
            }
        }
        if (headerEnd < 0) {
            if (len == in.capacity()) {
                throw new IOException("response header larger than 64 KiB");
            }
            return;
        }
        final String head = new String(a, 0, headerEnd, StandardCharsets.ISO_8859_1);
        if (!head.startsWith("HTTP/1.1 ") || head.length() < 12) {
            throw new IOException("not an HTTP/1.1 answer: " + head.lines().findFirst().orElse(""));
        }
        final int status = Integer.parseInt(head.substring(9, 12));
        long contentLength = 0;
        boolean close = false;
        for (String line : head.split("\r\n")) {
            final String l = line.toLowerCase(Locale.ROOT);
            if (l.startsWith("content-length:")) {
                contentLength = Long.parseLong(l.substring(15).trim());
            } else if (l.startsWith("transfer-encoding:")) {
                throw new IOException("chunked answer (status " + status + ") not supported by the load process");
            } else if (l.startsWith("connection:") && l.contains("close")) {
                close = true;
            }
        }
        final long total = headerEnd + contentLength;
        if (total > in.capacity()) {
            throw new IOException("answer body too large: " + contentLength);
        }
        if (len < total) {
            return;
        }
        if (len > total) {
            throw new IOException("bytes after the answer (" + (len - total) + "): the collector answered twice?");
        }
        final Phase ph = c.phase;
        if (ph == null) {
            throw new IOException("an answer nobody asked for (status " + status + ")");
        }
        final long now = System.nanoTime();
        ph.latency.record(TimeUnit.NANOSECONDS.toMicros(now - c.due));
        ph.lastAnswer = now;
        final int second = (int) ((c.due - ph.start) / 1_000_000_000L);
        if (second >= ph.maxPerSecond.length) {
            ph.maxPerSecond = java.util.Arrays.copyOf(ph.maxPerSecond, second * 2);
            ph.slowPerSecond = java.util.Arrays.copyOf(ph.slowPerSecond, second * 2);
        }
        final long micros = TimeUnit.NANOSECONDS.toMicros(now - c.due);
        ph.maxPerSecond[second] = Math.max(ph.maxPerSecond[second], micros);
        if (micros > 50_000) {
            ph.slowPerSecond[second]++;
        }
        ph.statuses.merge(status, 1L, Long::sum);
        if (status == 204 && c.service >= 0) {
            ok[c.service]++;
        } else if (status != 204) {
            remember(ph, "status " + status + ": " + new String(a, headerEnd, (int) contentLength,
                StandardCharsets.UTF_8));
        }
        c.phase = null;
        in.clear();
        if (close) {
            reconnect(c);
        }
        idle.add(c);
    }

    private void fail(Conn c, IOException e) {
        final Phase ph = c.phase;
        if (ph != null) {
            ph.errors++;
            remember(ph, e.toString());
            if (c.service >= 0) {
                unanswered[c.service]++; // it may still have been stored
            }
        }
        c.phase = null;
        try {
            reconnect(c);
            if (!idle.contains(c)) {
                idle.add(c);
            }
        } catch (IOException again) {
            throw new IllegalStateException("cannot reconnect to " + address + ": " + again, again);
        }
    }

    private void reconnect(Conn c) throws IOException {
        c.key.cancel();
        c.channel.close();
        connect(c);
    }

    private static void remember(Phase ph, String what) {
        if (ph.firstError == null) {
            ph.firstError = what.length() > 200 ? what.substring(0, 200) : what;
        }
    }
}
