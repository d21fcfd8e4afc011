package dev.spillway.benchmarks.monitor;

import com.sun.net.httpserver.HttpServer;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.uptime.monitor.AddressPolicy;
import dev.spillway.uptime.monitor.CheckResult;
import dev.spillway.uptime.monitor.MonitorSpec;
import dev.spillway.uptime.monitor.MonitorValidator;
import dev.spillway.uptime.monitor.Probes;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Issue #23's check-type benchmark (a harness, not a test): checks per second on one thread, back to back, of each
 * type against a local target on loopback: {@code tcp} (connect + send/expect against an echo server), {@code dns}
 * (an A query to a UDP responder), {@code tls} (a full handshake, a fresh connection each, against a server with a
 * keytool EC certificate), {@code http} (a GET with a JSON-path and a header assertion). Beside blackbox_exporter's
 * published "around 1k probes per core per second" (the targets run in this JVM too, so they share the machine).
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.spillway.benchmarks.monitor.CheckTypesBench [--seconds 10]
 * </pre>
 */
public final class CheckTypesBench {

    private CheckTypesBench() {
    }

    public static void main(String[] args) throws Exception {
        int seconds = 10;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--seconds")) {
                seconds = Integer.parseInt(args[++i]);
            }
        }
        final ExecutorService pool = Executors.newCachedThreadPool(r -> {
            final Thread t = new Thread(r, "target");
            t.setDaemon(true);
            return t;
        });
        final InetAddress lo = InetAddress.getLoopbackAddress();
        final ServerSocket echo = new ServerSocket(0, 1000, lo);
        pool.execute(() -> accept(echo, pool));
        final DatagramSocket dns = new DatagramSocket(new InetSocketAddress(lo, 0));
        pool.execute(() -> answerDns(dns));
        final SSLServerSocket tls = (SSLServerSocket) selfSigned().getServerSocketFactory().createServerSocket(0, 1000,
            lo);
        pool.execute(() -> accept(tls, pool));
        final HttpServer http = HttpServer.create(new InetSocketAddress(lo, 0), 1000);
        http.createContext("/health", x -> {
            final byte[] b = "{\"status\":\"ok\",\"load\":0.5}".getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().add("Content-Type", "application/json");
            x.sendResponseHeaders(200, b.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(b);
            }
        });
        http.setExecutor(pool);
        http.start();

        final Map<String, String> specs = new LinkedHashMap<>();
        specs.put("tcp", "{\"name\":\"b\",\"url\":\"tcp://127.0.0.1:" + echo.getLocalPort() + "\",\"tcp\":{\"send\":"
            + "\"PING\\n\",\"expect\":\"PING\"}}");
        specs.put("dns", "{\"name\":\"b\",\"url\":\"dns://127.0.0.1:" + dns.getLocalPort() + "\",\"dns\":{"
            + "\"query_name\":\"app.test\",\"expected\":[\"192.0.2.1\"]}}");
        specs.put("tls", "{\"name\":\"b\",\"url\":\"tls://127.0.0.1:" + tls.getLocalPort() + "\",\"tls_verify\":false}");
        specs.put("http+json", "{\"name\":\"b\",\"url\":\"http://127.0.0.1:" + http.getAddress().getPort()
            + "/health\",\"assertions\":[{\"source\":\"json\",\"path\":\"$.status\",\"op\":\"==\",\"value\":\"ok\"},"
            + "{\"source\":\"header\",\"name\":\"Content-Type\",\"op\":\"contains\",\"value\":\"json\"}]}");
        System.out.printf(Locale.ROOT, "check types, one thread, back to back, %d s each after 2 s warm-up; "
            + "%d processors, load average %s%n", seconds, Runtime.getRuntime().availableProcessors(),
            Files.readString(Path.of("/proc/loadavg")).trim());
        try (Probes probes = new Probes(false, 4, AddressPolicy.defaults())) {
            for (Map.Entry<String, String> e : specs.entrySet()) {
                final MonitorSpec spec = MonitorValidator.parse(ApiJson.MAPPER.readTree(e.getValue()), null);
                run(probes, spec, 2);
                final long[] r = run(probes, spec, seconds);
                System.out.printf(Locale.ROOT, "%-10s %,8.0f checks/s  (%d checks, %d down)%n", e.getKey(),
                    r[0] / (double) seconds, r[0], r[1]);
            }
        }
        System.exit(0);
    }

    private static long[] run(Probes probes, MonitorSpec spec, int seconds) {
        final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long n = 0;
        long down = 0;
        while (System.nanoTime() < end) {
            final CheckResult r = probes.check(spec);
            n++;
            if (!r.up()) {
                down++;
            }
        }
        return new long[] {n, down};
    }

    private static void accept(ServerSocket server, ExecutorService pool) {
        while (!server.isClosed()) {
            try {
                final Socket s = server.accept();
                pool.execute(() -> {
                    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                        if (s instanceof SSLSocket ssl) {
                            ssl.startHandshake();
                        }
                        in.transferTo(out);
                    } catch (Exception e) {
                        // the probe closed its side
                    }
                });
            } catch (Exception e) {
                return;
            }
        }
    }

    /** Answers every query with one A record 192.0.2.1 (no compression). */
    private static void answerDns(DatagramSocket socket) {
        final byte[] buf = new byte[512];
        while (!socket.isClosed()) {
            try {
                final DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                int q = 12;
                while (buf[q] != 0) {
                    q += buf[q] + 1;
                }
                final int qEnd = q + 5;
                final ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(buf[0]);
                out.write(buf[1]);
                out.write(new byte[] {(byte) 0x81, (byte) 0x80, 0, 1, 0, 1, 0, 0, 0, 0});
                out.write(buf, 12, qEnd - 12);
                out.write(new byte[] {(byte) 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 192, 0, 2, 1});
                final byte[] a = out.toByteArray();
                socket.send(new DatagramPacket(a, a.length, p.getSocketAddress()));
            } catch (Exception e) {
                return;
            }
        }
    }

    private static SSLContext selfSigned() throws Exception {
        final Path dir = Files.createTempDirectory("check-bench");
        final Path ks = dir.resolve("bench.p12");
        final Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
            "-genkeypair", "-alias", "bench", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
            "-validity", "30", "-keystore", ks.toString(), "-storetype", "PKCS12", "-storepass", "changeit",
            "-keypass", "changeit").redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool failed");
        }
        final KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ks)) {
            store.load(in, "changeit".toCharArray());
        }
        final KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, "changeit".toCharArray());
        final SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        return ctx;
    }
}
