package dev.spillway.collector;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded jar as an operator runs it: a configuration error (a bad {@code --monitors} file) exits 2 with one
 * line before anything starts; a database that cannot be reached exits 1 with one line naming it and the cause,
 * and no stack trace anywhere.
 */
class CollectorStartupErrorsIT {

    /** What a finished process left. */
    private record Outcome(int exit, List<String> stderr, String stdout) {
    }

    @Test
    void aBadMonitorsFileExits2WithOneLineBeforeAnyDatabaseStarts(@TempDir Path dir) throws Exception {
        final Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "monitors:\n  - name: api\n    url: http://127.0.0.1:1/\n    interval: 0s\n");
        final Outcome o = run(dir, "--monitors", "bad.yaml");
        assertEquals(2, o.exit(), o.toString());
        assertEquals(1, o.stderr().size(), o.toString());
        assertEquals("spillway-collector: --monitors bad.yaml: entry 1 ('api'): interval: must be between 1s and 24h,"
            + " was 0s", o.stderr().get(0));
        assertEquals("", o.stdout().strip(), "nothing was started, so nothing was logged");
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(bad), left.toList(), "no data or spool directory may be created");
        }

        Files.writeString(bad, "monitors:\n  - name: api\n    url: [unclosed\n");
        final Outcome yaml = run(dir, "--monitors", "bad.yaml");
        assertEquals(2, yaml.exit(), yaml.toString());
        assertEquals(1, yaml.stderr().size(), yaml.toString());
        assertTrue(yaml.stderr().get(0).startsWith("spillway-collector: --monitors bad.yaml: not valid YAML at line "),
            yaml.toString());

        // A maintenance window in the file: the same rules and messages as the maintenance API.
        Files.writeString(bad, "monitors:\n  - name: api\n    url: http://127.0.0.1:1/\nmaintenance:\n"
            + "  - {id: nightly, scope: all, cron: '0 2 * * *', duration: 30m, zone: Mars/Base}\n");
        final Outcome window = run(dir, "--monitors", "bad.yaml");
        assertEquals(2, window.exit(), window.toString());
        assertEquals(List.of("spillway-collector: --monitors bad.yaml: maintenance entry 1 ('nightly'): zone: is not a "
            + "time zone such as Europe/Berlin or UTC: 'Mars/Base'"), window.stderr(), window.toString());
        assertEquals("", window.stdout().strip(), "nothing was started, so nothing was logged");

        final Outcome missing = run(dir, "--monitors", "missing.yaml");
        assertEquals(2, missing.exit(), missing.toString());
        assertEquals(List.of("spillway-collector: --monitors missing.yaml: no such file"), missing.stderr());
    }

    @Test
    void anUnreachableDatabaseExits1WithOneLineNamingItAndTheCause(@TempDir Path dir) throws Exception {
        final int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort(); // free once closed: connections are refused
        }
        final String url = "jdbc:postgresql://127.0.0.1:" + closed + "/spillway";
        final Outcome o = run(dir, "--jdbc-url", url, "--db-user", "bob", "--db-password", "s3cret", "--http",
            "127.0.0.1:0", "--spool-dir", "off");
        assertEquals(1, o.exit(), o.toString());
        assertEquals(List.of("spillway-collector: cannot connect to the database at " + url
            + " as bob: Connection refused"), o.stderr(), o.toString());
        assertFalse(o.stdout().contains("\tat ") || o.stdout().contains("Exception"),
            "stack trace outside debug level:\n" + o.stdout());
        assertFalse(o.stdout().contains("s3cret"), o.stdout());
    }

    private static Outcome run(Path dir, String... args) throws IOException, InterruptedException {
        final String jar = Path.of(System.getProperty("spillway.collector.jar", "target/spillway-collector.jar"))
            .toAbsolutePath().toString();
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-jar", jar));
        cmd.addAll(List.of(args));
        final Path out = Files.createTempFile("collector", ".out");
        final Path err = Files.createTempFile("collector", ".err");
        try {
            final ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(out.toFile())
                .redirectError(err.toFile());
            pb.environment().keySet().removeIf(k -> k.startsWith("SPILLWAY_"));
            final Process p = pb.start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("collector did not exit: " + String.join(" ", args));
            }
            return new Outcome(p.exitValue(), Files.readAllLines(err, StandardCharsets.UTF_8),
                Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
