package dev.spillway.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A real HTTP server on loopback that plays a Slack incoming webhook or a generic webhook: records every request
 * and answers from a script (then the fallback): 200, 429 with Retry-After, 500, 404 {@code no_service}, or
 * a hang (no answer until the receiver closes).
 */
public final class FakeReceiver implements AutoCloseable {

    /** One scripted answer. */
    public record Reply(int status, String body, Map<String, String> headers, boolean hangs) {
        /** Headers and the first bytes of a 1 MB body, then nothing until the receiver closes. */
        public static Reply stalledBody() {
            return new Reply(200, "stall", Map.of(), true);
        }

        public static Reply ok() {
            return new Reply(200, "ok", Map.of(), false);
        }

        public static Reply status(int status, String body) {
            return new Reply(status, body, Map.of(), false);
        }

        public static Reply rateLimited(String retryAfter) {
            return new Reply(429, "rate_limited", Map.of("Retry-After", retryAfter), false);
        }

        public static Reply hang() {
            return new Reply(0, "", Map.of(), true);
        }
    }

    /** One received request. */
    public record Received(String path, long notificationId, String body) {
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(8);
    private final ConcurrentLinkedDeque<Reply> script = new ConcurrentLinkedDeque<>();
    private final List<Received> received = new ArrayList<>();
    private final CountDownLatch closing = new CountDownLatch(1);
    private final Map<String, Reply> perPath = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile Reply fallback = Reply.ok();

    public FakeReceiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    /** The URL of a path on this receiver, e.g. {@code /services/T000/B000/XXXX}. */
    public String url(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    /** Answers these first, in order. */
    public FakeReceiver then(Reply... replies) {
        script.addAll(List.of(replies));
        return this;
    }

    /** Answers this once the script is used up. */
    public FakeReceiver always(Reply reply) {
        fallback = reply;
        return this;
    }

    /** Answers this on one path (after the script), e.g. a webhook that was deleted. */
    public FakeReceiver always(String path, Reply reply) {
        perPath.put(path, reply);
        return this;
    }

    /** Everything received so far, in arrival order. */
    public synchronized List<Received> received() {
        return List.copyOf(received);
    }

    /** Requests received on one path. */
    public synchronized List<Received> received(String path) {
        return received.stream().filter(r -> r.path.equals(path)).toList();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            final String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            final String id = ex.getRequestHeaders().getFirst("X-Spillway-Notification-Id");
            synchronized (this) {
                received.add(new Received(ex.getRequestURI().getPath(), id == null ? -1 : Long.parseLong(id), body));
            }
            final Reply scripted = script.pollFirst();
            final Reply reply = scripted != null ? scripted
                : perPath.getOrDefault(ex.getRequestURI().getPath(), fallback);
            if (reply.hangs() && reply.status() > 0) {
                ex.sendResponseHeaders(reply.status(), 1 << 20);
                ex.getResponseBody().write(reply.body().getBytes(StandardCharsets.UTF_8));
                ex.getResponseBody().flush();
            }
            if (reply.hangs()) {
                try {
                    closing.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
            reply.headers().forEach((k, v) -> ex.getResponseHeaders().add(k, v));
            final byte[] out = reply.body().getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(reply.status(), out.length == 0 ? -1 : out.length);
            if (out.length > 0) {
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(out);
                }
            }
        }
    }

    @Override
    public void close() {
        closing.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
