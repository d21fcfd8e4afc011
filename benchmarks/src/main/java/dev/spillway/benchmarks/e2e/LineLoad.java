package dev.spillway.benchmarks.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The load process of the collector benchmark (a separate JVM, so its CPU is not the collector's): builds the
 * line-protocol bodies up front, prints {@code READY}, waits for {@code GO} on stdin, posts every body once over
 * {@code connections} keep-alive HTTP/1.1 connections (plain sockets, pre-built bodies), then prints
 * {@code DONE acked=<lines> seconds=<s> statuses=<code:count,...> loadCpu=<s>}. A body answered 503 is retried after its {@code Retry-After} (as the official
 * clients do); anything else but 204 is counted and not retried.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.LineLoad URL LINES SERIES BODY_LINES CONNECTIONS [STYLE [FIRST_LINE]]</pre>
 *
 * Style {@code telegraf} (the default): {@code cpu,host=host0042,region=eu-central usage_user=47.030088919404335 <ns>},
 * 17-digit floats. Style {@code sensor} (issue #25's workload): {@code sensor,host=h0042,site=s07 value=<v> <ns>}, half
 * of the series with 2-decimal values, half with 17-digit floats. Both: one numeric field (so lines = rows), series
 * round-robin, explicit timestamps 1 us apart.
 */
public final class LineLoad {

    private LineLoad() {
    }

    /** The bodies for {@code lines} lines over {@code series} series, {@code bodyLines} lines each. */
    static List<byte[]> bodies(int lines, int series, int bodyLines) {
        return bodies(lines, series, bodyLines, "telegraf");
    }

    /** The bodies in a given style ({@code telegraf} or {@code sensor}, see the class comment). */
    static List<byte[]> bodies(int lines, int series, int bodyLines, String style) {
        return bodies(lines, series, bodyLines, style, 0);
    }

    /**
     * The bodies with timestamps from line {@code firstLine} on: the same values and series, other bodies (a run
     * against a kept collector would otherwise send the bodies of the previous run again, and the collector's resend
     * window would rightly take them for resends).
     */
    static List<byte[]> bodies(int lines, int series, int bodyLines, String style, long firstLine) {
        if (!style.equals("telegraf") && !style.equals("sensor")) {
            throw new IllegalArgumentException("style must be telegraf or sensor, was " + style);
        }
        final boolean sensor = style.equals("sensor");
        final SplittableRandom random = new SplittableRandom(14);
        final List<byte[]> bodies = new ArrayList<>();
        final StringBuilder sb = new StringBuilder(bodyLines * 96);
        for (int i = 0; i < lines; i++) {
            final int s = i % series;
            if (sensor) {
                sb.append(sensorSeries(s)).append(" value=");
                if (s % 2 == 0) {
                    sb.append(String.format(Locale.ROOT, "%.2f", random.nextInt(100_000) / 100.0));
                } else {
                    sb.append(random.nextDouble() * 100);
                }
            } else {
                sb.append("cpu,host=host").append(String.format(Locale.ROOT, "%04d", s)).append(",region=")
                    .append(s % 2 == 0 ? "eu-central" : "us-west").append(" usage_user=")
                    .append(random.nextDouble() * 100);
            }
            sb.append(' ').append(RowSet.timestampOf(firstLine + i)).append('\n');
            if ((i + 1) % bodyLines == 0 || i + 1 == lines) {
                bodies.add(sb.toString().getBytes(StandardCharsets.UTF_8));
                sb.setLength(0);
            }
        }
        return bodies;
    }

    /** Measurement and tags of series {@code s} in the {@code sensor} style. */
    static String sensorSeries(int s) {
        return "sensor,host=h" + String.format(Locale.ROOT, "%04d", s) + ",site=s" + String.format(Locale.ROOT, "%02d", s % 50);
    }

    public static void main(String[] args) throws Exception {
        final URI uri = URI.create(args[0]);
        final List<byte[]> bodies = bodies(Integer.parseInt(args[1]), Integer.parseInt(args[2]),
            Integer.parseInt(args[3]), args.length > 5 ? args[5] : "telegraf", args.length > 6 ? Long.parseLong(args[6]) : 0);
        final int connections = Integer.parseInt(args[4]);
        final int bodyLines = Integer.parseInt(args[3]);
        System.out.println("READY " + bodies.size() + " bodies");
        System.out.flush();
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (!"GO".equals(in.readLine())) {
            System.exit(2);
        }
        final AtomicInteger next = new AtomicInteger();
        final AtomicLong acked = new AtomicLong();
        final Map<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
        final java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        final long start = System.nanoTime();
        final Thread[] workers = new Thread[connections];
        for (int c = 0; c < connections; c++) {
            workers[c] = new Thread(() -> {
                Connection conn = null;
                int b;
                while ((b = next.getAndIncrement()) < bodies.size()) {
                    final byte[] body = bodies.get(b);
                    for (int attempt = 0; attempt < 1000; attempt++) {
                        int status;
                        try {
                            if (conn == null) {
                                conn = new Connection(uri);
                            }
                            status = conn.post(body);
                        } catch (java.io.IOException e) {
                            status = -1;
                            if (conn != null) {
                                conn.close();
                            }
                            conn = null;
                        }
                        statuses.computeIfAbsent(status, k -> new AtomicLong()).incrementAndGet();
                        if (status == 204) {
                            acked.addAndGet(countLines(body));
                            break;
                        }
                        if (status != 503 && status != -1) {
                            break;
                        }
                        try {
                            Thread.sleep(100); // shorter than Retry-After: 1, to measure capacity, not the back-off
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
                if (conn != null) {
                    conn.close();
                }
            }, "load-" + c);
            workers[c].start();
        }
        for (Thread t : workers) {
            t.join();
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final StringBuilder st = new StringBuilder();
        statuses.forEach((k, v) -> st.append(st.length() == 0 ? "" : ",").append(k).append(':').append(v.get()));
        final double cpu = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
            .getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
        System.out.printf(Locale.ROOT, "DONE acked=%d seconds=%.4f statuses=%s bodyLines=%d loadCpu=%.2f%n", acked.get(),
            seconds, st, bodyLines, cpu);
        System.out.flush();
    }

    /**
     * One keep-alive HTTP/1.1 connection on a plain socket: the request head is a few bytes before the pre-built
     * body, and only the status line and the headers of the answer are parsed, so the load process spends its CPU
     * on the wire, not in an HTTP client library.
     */
    private static final class Connection {
        private final java.net.Socket socket;
        private final java.io.OutputStream out;
        private final java.io.InputStream in;
        private final String head;

        Connection(URI uri) throws java.io.IOException {
            socket = new java.net.Socket(uri.getHost(), uri.getPort());
            socket.setTcpNoDelay(true);
            out = new java.io.BufferedOutputStream(socket.getOutputStream(), 1 << 16);
            in = new java.io.BufferedInputStream(socket.getInputStream(), 1 << 16);
            head = "POST " + uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery())
                + " HTTP/1.1\r\nHost: " + uri.getHost() + ":" + uri.getPort()
                + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
        }

        int post(byte[] body) throws java.io.IOException {
            out.write((head + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            final String status = line();
            if (status == null || !status.startsWith("HTTP/1.1 ")) {
                throw new java.io.IOException("bad status line: " + status);
            }
            long length = 0;
            boolean close = false;
            String h;
            while ((h = line()) != null && !h.isEmpty()) {
                final String lower = h.toLowerCase(Locale.ROOT);
                if (lower.startsWith("content-length:")) {
                    length = Long.parseLong(lower.substring(15).trim());
                } else if (lower.startsWith("connection:") && lower.contains("close")) {
                    close = true;
                }
            }
            if (h == null) {
                throw new java.io.EOFException("connection closed in the response head");
            }
            in.skipNBytes(length);
            final int code = Integer.parseInt(status.substring(9, 12));
            if (close) {
                throw new java.io.IOException("server closed the connection after " + code);
            }
            return code;
        }

        private String line() throws java.io.IOException {
            final StringBuilder sb = new StringBuilder(64);
            int c;
            while ((c = in.read()) >= 0) {
                if (c == '\n') {
                    final int n = sb.length();
                    return n > 0 && sb.charAt(n - 1) == '\r' ? sb.substring(0, n - 1) : sb.toString();
                }
                sb.append((char) c);
            }
            return sb.length() == 0 ? null : sb.toString();
        }

        void close() {
            try {
                socket.close();
            } catch (java.io.IOException e) {
                System.err.println("load: closing a connection failed: " + e);
            }
        }
    }

    private static int countLines(byte[] body) {
        int n = 0;
        for (byte c : body) {
            if (c == '\n') {
                n++;
            }
        }
        return n;
    }
}
