package dev.spillway.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A real HTTP(S) server on loopback whose answers each test controls per path: status, latency, body, a slow
 * body, redirects. Counts concurrent requests and records when each path was hit.
 */
public final class TargetServer implements AutoCloseable {

    /** What a path answers. */
    public record Behaviour(int status, long delayMillis, String body, long bodyPauseMillis, String location) {
        public static Behaviour ok(String body) {
            return new Behaviour(200, 0, body, 0, null);
        }

        public static Behaviour status(int status) {
            return new Behaviour(status, 0, "status " + status, 0, null);
        }

        public static Behaviour slow(long delayMillis) {
            return new Behaviour(200, delayMillis, "slow", 0, null);
        }

        public static Behaviour redirect(int status, String location) {
            return new Behaviour(status, 0, "", 0, location);
        }

        /** Headers at once, half the body, a pause, then the rest. */
        public static Behaviour slowBody(long pauseMillis) {
            return new Behaviour(200, 0, "first half|second half", pauseMillis, null);
        }
    }

    private final HttpServer server;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        final Thread t = new Thread(r, "target");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Behaviour> paths = new ConcurrentHashMap<>();
    private final Map<String, List<Long>> hits = new ConcurrentHashMap<>();
    private final AtomicInteger concurrent = new AtomicInteger();
    private final AtomicInteger maxConcurrent = new AtomicInteger();

    private TargetServer(HttpServer server) {
        this.server = server;
        server.createContext("/", this::handle);
        server.setExecutor(threads);
        server.start();
    }

    /** Plain HTTP on an ephemeral loopback port. */
    public static TargetServer http() throws IOException {
        return new TargetServer(HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200));
    }

    /** HTTPS with a self-signed certificate for localhost/127.0.0.1 valid for {@code days}. */
    public static TargetServer https(Path dir, int days) throws Exception {
        final HttpsServer s = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200);
        s.setHttpsConfigurator(new HttpsConfigurator(selfSigned(dir, days)));
        return new TargetServer(s);
    }

    /** A self-signed certificate made with the JDK's keytool, as an SSLContext. */
    public static SSLContext selfSigned(Path dir, int days) throws Exception {
        final Path ks = dir.resolve("target-" + days + "d.p12");
        if (!Files.exists(ks)) {
            final Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
            final Process p = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", "target",
                "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", Integer.toString(days),
                "-keystore", ks.toString(), "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
                .redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("keytool failed: " + out);
            }
        }
        final KeyStore store = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(ks)) {
            store.load(in, "changeit".toCharArray());
        }
        final KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, "changeit".toCharArray());
        final SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        return ctx;
    }

    /**
     * The certificate of {@link #selfSigned(Path, int)} (made first if missing) as PEM text, for a client to trust
     * it (e.g. an email channel's {@code ca_cert}).
     */
    public static String selfSignedCertificatePem(Path dir, int days) throws Exception {
        selfSigned(dir, days);
        final KeyStore store = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(dir.resolve("target-" + days + "d.p12"))) {
            store.load(in, "changeit".toCharArray());
        }
        final byte[] der = store.getCertificate("target").getEncoded();
        return "-----BEGIN CERTIFICATE-----\n" + java.util.Base64.getMimeEncoder(64, "\n".getBytes(
            StandardCharsets.US_ASCII)).encodeToString(der) + "\n-----END CERTIFICATE-----\n";
    }

    /** Sets what {@code path} answers. */
    public TargetServer on(String path, Behaviour b) {
        paths.put(path, b);
        return this;
    }

    /** {@code http(s)://127.0.0.1:PORT} + path. */
    public String url(String path) {
        final String scheme = server instanceof HttpsServer ? "https" : "http";
        return scheme + "://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** Arrival times (System.nanoTime) of requests to {@code path}. */
    public List<Long> hits(String path) {
        return new ArrayList<>(hits.getOrDefault(path, List.of()));
    }

    /** Most requests served at once. */
    public int maxConcurrent() {
        return maxConcurrent.get();
    }

    private void handle(HttpExchange ex) throws IOException {
        final int now = concurrent.incrementAndGet();
        maxConcurrent.accumulateAndGet(now, Math::max);
        // Leaves the count just before the last bytes go out: once the client has them it may release its slot
        // and start the next check before this thread returns, which would count one check twice.
        final Runnable leave = new Runnable() {
            private boolean left;

            @Override
            public void run() {
                if (!left) {
                    left = true;
                    concurrent.decrementAndGet();
                }
            }
        };
        try {
            final String path = ex.getRequestURI().getPath();
            hits.computeIfAbsent(path, k -> new CopyOnWriteArrayList<>()).add(System.nanoTime());
            ex.getRequestBody().readAllBytes();
            final Behaviour b = paths.getOrDefault(path, Behaviour.status(404));
            pause(b.delayMillis);
            if (b.location != null) {
                ex.getResponseHeaders().add("Location", b.location);
            }
            final byte[] body = b.body.getBytes(StandardCharsets.UTF_8);
            if (b.bodyPauseMillis > 0) {
                ex.sendResponseHeaders(b.status, body.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(body, 0, body.length / 2);
                    out.flush();
                    pause(b.bodyPauseMillis);
                    leave.run();
                    out.write(body, body.length / 2, body.length - body.length / 2);
                }
            } else {
                leave.run();
                ex.sendResponseHeaders(b.status, body.length == 0 ? -1 : body.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(body);
                }
            }
        } catch (IOException e) {
            // The prober gave up (timeout) and closed the connection: expected in timeout tests.
            ex.close();
        } finally {
            leave.run();
        }
    }

    /** Simulated server latency (behaviour of the target, not test synchronisation). */
    private static void pause(long millis) {
        final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
            LockSupport.parkNanos(left);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
