package dev.spillway.telemetry.testsupport;

import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import org.junit.jupiter.api.Assumptions;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code nats-server} with JetStream, on a free loopback port with its own store directory, for one test
 * class. Tests that need it call {@link #startOrSkip(Path)}: without the binary (Debian package {@code
 * nats-server}; {@code .ci/run} installs it) the test is skipped, saying so on the console.
 *
 * <p>The binary is looked up in the environment variable {@code NATS_SERVER}, then the {@code PATH}, then
 * {@code /usr/sbin} and {@code /usr/bin} (Debian installs it in {@code /usr/sbin}, which is not on every user's
 * {@code PATH}).
 */
public final class NatsServer implements AutoCloseable {

    private final Path binary;
    private final Path storeDir;
    private final Path logFile;
    private final int port;
    private volatile Process process;

    private NatsServer(Path binary, Path storeDir, int port) {
        this.binary = binary;
        this.storeDir = storeDir;
        this.logFile = storeDir.resolveSibling(storeDir.getFileName() + ".log");
        this.port = port;
    }

    /** Starts a server storing under {@code dir}, or skips the calling test when nats-server is not installed. */
    public static NatsServer startOrSkip(Path dir) {
        final Path binary = find();
        if (binary == null) {
            final String why = "nats-server not found (NATS_SERVER, PATH, /usr/sbin, /usr/bin): skipping this "
                + "JetStream test; install it with `apt-get install nats-server` (.ci/run does)";
            System.out.println("SKIPPED: " + why);
            Assumptions.assumeTrue(false, why);
        }
        final NatsServer server = new NatsServer(binary, dir.resolve("jetstream"), TestDatabase.freePort());
        server.start();
        return server;
    }

    private static Path find() {
        final List<Path> candidates = new ArrayList<>();
        final String env = System.getenv("NATS_SERVER");
        if (env != null && !env.isBlank()) {
            candidates.add(Path.of(env));
        }
        final String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, "nats-server"));
                }
            }
        }
        candidates.add(Path.of("/usr/sbin/nats-server"));
        candidates.add(Path.of("/usr/bin/nats-server"));
        for (Path p : candidates) {
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** Starts the server (again) on the same port and store directory; returns once JetStream answers. */
    public synchronized void start() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("nats-server already running on port " + port);
        }
        try {
            Files.createDirectories(storeDir);
            process = new ProcessBuilder(binary.toString(), "-a", "127.0.0.1", "-p", Integer.toString(port), "-js",
                "-sd", storeDir.toString(), "-n", "spillway-test-" + port)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                .start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + binary, e);
        }
        Await.untilNoThrow(Duration.ofSeconds(30), () -> {
            if (!process.isAlive()) {
                throw new AssertionError("nats-server exited with " + process.exitValue() + "; log: "
                    + Files.readString(logFile));
            }
            try (Connection c = Nats.connect(new Options.Builder().server(url()).connectionTimeout(Duration.ofSeconds(1))
                .maxReconnects(0).build())) {
                c.jetStreamManagement().getAccountStatistics();
                return true;
            }
        }, "nats-server on port " + port + " did not come up with JetStream");
    }

    /** Stops the server gracefully (SIGTERM) and waits for it; JetStream data stays in the store directory. */
    public synchronized void stop() {
        final Process p = process;
        if (p == null) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** Kills the server with SIGKILL ({@code kill -9}) and waits for it; {@link #start()} brings it back. */
    public synchronized void kill() {
        final Process p = process;
        if (p == null) {
            return;
        }
        p.destroyForcibly(); // SIGKILL on Unix
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("nats-server on port " + port + " survived SIGKILL for 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** The client URL, {@code nats://127.0.0.1:<port>}. */
    public String url() {
        return "nats://127.0.0.1:" + port;
    }

    /**
     * The store directory ({@code -sd}); nats-server keeps a stream's files under {@code jetstream/$G/streams/<name>}
     * in it (global account). Change files there only while the server is stopped.
     */
    public Path storeDir() {
        return storeDir;
    }

    /** The port (stable across {@link #stop()} / {@link #start()}). */
    public int port() {
        return port;
    }

    /** A connection that reconnects forever (every 100 ms), as edges and writers use. */
    public Connection connect(String name) throws IOException, InterruptedException {
        return Nats.connect(new Options.Builder().server(url()).connectionName(name).maxReconnects(-1)
            .reconnectWait(Duration.ofMillis(100)).connectionTimeout(Duration.ofSeconds(2)).build());
    }

    @Override
    public void close() {
        stop();
    }
}
