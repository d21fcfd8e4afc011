package dev.spillway.benchmarks.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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
 * {@code connections} keep-alive HTTP/1.1 connections, then prints {@code DONE acked=<lines> seconds=<s>
 * statuses=<code:count,...>}. A body answered 503 is retried after its {@code Retry-After} (as the official
 * clients do); anything else but 204 is counted and not retried.
 *
 * <pre>java -cp benchmarks.jar dev.spillway.benchmarks.e2e.LineLoad URL LINES SERIES BODY_LINES CONNECTIONS</pre>
 *
 * Lines are Telegraf-like: {@code cpu,host=host0042,region=eu-central usage_user=47.030088919404335 <ns>}, one
 * numeric field (so lines = rows), series round-robin, 17-digit floats, explicit timestamps 1 us apart.
 */
public final class LineLoad {

    private LineLoad() {
    }

    /** The bodies for {@code lines} lines over {@code series} series, {@code bodyLines} lines each. */
    static List<byte[]> bodies(int lines, int series, int bodyLines) {
        final SplittableRandom random = new SplittableRandom(14);
        final List<byte[]> bodies = new ArrayList<>();
        final StringBuilder sb = new StringBuilder(bodyLines * 96);
        for (int i = 0; i < lines; i++) {
            final int s = i % series;
            sb.append("cpu,host=host").append(String.format(Locale.ROOT, "%04d", s)).append(",region=")
                .append(s % 2 == 0 ? "eu-central" : "us-west").append(" usage_user=")
                .append(random.nextDouble() * 100).append(' ').append(RowSet.timestampOf(i)).append('\n');
            if ((i + 1) % bodyLines == 0 || i + 1 == lines) {
                bodies.add(sb.toString().getBytes(StandardCharsets.UTF_8));
                sb.setLength(0);
            }
        }
        return bodies;
    }

    public static void main(String[] args) throws Exception {
        final URI uri = URI.create(args[0]);
        final List<byte[]> bodies = bodies(Integer.parseInt(args[1]), Integer.parseInt(args[2]),
            Integer.parseInt(args[3]));
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
        final long start = System.nanoTime();
        final Thread[] threads = new Thread[connections];
        for (int c = 0; c < connections; c++) {
            threads[c] = new Thread(() -> {
                // One client per thread: its own keep-alive connection.
                final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(10)).build();
                int b;
                while ((b = next.getAndIncrement()) < bodies.size()) {
                    final byte[] body = bodies.get(b);
                    for (int attempt = 0; attempt < 1000; attempt++) {
                        final int status = post(client, uri, body);
                        statuses.computeIfAbsent(status, k -> new AtomicLong()).incrementAndGet();
                        if (status == 204) {
                            acked.addAndGet(countLines(body));
                            break;
                        }
                        if (status != 503) {
                            break;
                        }
                        try {
                            Thread.sleep(100); // shorter than Retry-After: 1, to measure capacity, not the back-off
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
            }, "load-" + c);
            threads[c].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        final StringBuilder st = new StringBuilder();
        statuses.forEach((k, v) -> st.append(st.length() == 0 ? "" : ",").append(k).append(':').append(v.get()));
        System.out.printf(Locale.ROOT, "DONE acked=%d seconds=%.4f statuses=%s bodyLines=%d%n", acked.get(), seconds,
            st, bodyLines);
        System.out.flush();
    }

    private static int post(HttpClient client, URI uri, byte[] body) {
        try {
            final HttpResponse<Void> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "text/plain; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.discarding());
            return r.statusCode();
        } catch (java.io.IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -2;
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
