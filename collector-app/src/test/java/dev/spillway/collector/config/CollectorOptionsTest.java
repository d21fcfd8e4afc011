package dev.spillway.collector.config;

import dev.spillway.runtime.config.Units;
import dev.spillway.runtime.config.HostPort;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.telemetry.OverflowPolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Precedence (CLI > env > file > default) and validation messages that name the option. */
class CollectorOptionsTest {

    private static final PrintStream NULL = new PrintStream(new ByteArrayOutputStream());

    private static CollectorConfig parse(Map<String, String> env, String... args) {
        return ((CollectorOptions.Run) CollectorOptions.parse(args, env, NULL)).config();
    }

    @Test
    void defaults() {
        final CollectorConfig c = parse(Map.of());
        assertEquals(new HostPort("127.0.0.1", 8086), c.http());
        assertNull(c.tcp());
        assertNull(c.token());
        assertTrue(c.embeddedDatabase());
        assertEquals(5433, c.dbPort());
        assertEquals(65_536, c.ringSize());
        assertEquals(Duration.ofMillis(100), c.flushInterval());
        assertEquals(OverflowPolicy.BLOCK, c.overflowPolicy());
        assertEquals(32 << 20, c.maxBodySize());
        assertEquals(128 << 20, c.maxDecompressedSize());
        assertEquals(100_000, c.maxSeries());
        assertEquals(0.9, c.highWaterMark());
    }

    @Test
    void commandLineBeatsEnvironmentBeatsFileBeatsDefault(@TempDir Path dir) throws Exception {
        final Path file = dir.resolve("collector.properties");
        Files.writeString(file, "ring-size=1024\nbatch-size=16\nworkers=3\ntoken=fromfile\n", StandardCharsets.UTF_8);
        final CollectorConfig c = parse(Map.of("SPILLWAY_RING_SIZE", "2048", "SPILLWAY_BATCH_SIZE", "32"),
            "--config", file.toString(), "--ring-size", "4096");
        assertEquals(4096, c.ringSize()); // CLI
        assertEquals(32, c.batchSize()); // env
        assertEquals(3, c.workers()); // file
        assertEquals("fromfile", c.token()); // file
        assertEquals(Duration.ofMillis(100), c.flushInterval()); // default
        assertEquals(new HostPort("0.0.0.0", 9999), parse(Map.of("SPILLWAY_HTTP", ":9999")).http());
        assertEquals(OverflowPolicy.OVERWRITE_OLDEST, parse(Map.of(), "--overflow-policy", "overwrite-oldest")
            .overflowPolicy());
    }

    @Test
    void invalidValuesNameTheOption(@TempDir Path dir) throws Exception {
        assertMessage("--ring-size must be a power of two", Map.of(), "--ring-size", "1000");
        // A value from the environment is reported under the variable's name.
        assertMessage("SPILLWAY_RING_SIZE (--ring-size): invalid value 'lots'", Map.of("SPILLWAY_RING_SIZE", "lots"));
        assertMessage("SPILLWAY_RING_SIZE (--ring-size) must be a power of two", Map.of("SPILLWAY_RING_SIZE", "3"));
        assertMessage("--http", Map.of(), "--http", "localhost");
        assertMessage("--flush-interval", Map.of(), "--flush-interval", "fast");
        assertMessage("--high-water-mark must be a fraction", Map.of(), "--high-water-mark", "1.5");
        assertMessage("--overflow-policy", Map.of(), "--overflow-policy", "maybe");
        assertMessage("--max-body-size", Map.of(), "--max-body-size", "12XB");
        assertMessage("--db-user/--db-password need --jdbc-url", Map.of(), "--db-user", "u");
        assertMessage("Unknown option", Map.of(), "--rign-size", "4");
        final Path file = dir.resolve("bad.properties");
        Files.writeString(file, "rign-size=4\n");
        assertMessage("unknown key 'rign-size'", Map.of(), "--config", file.toString());
        assertMessage("--config: cannot read", Map.of(), "--config", dir.resolve("missing").toString());
    }

    @Test
    void helpAndVersionPrint() {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertInstanceOf(CollectorOptions.Printed.class,
            CollectorOptions.parse(new String[] {"--help"}, Map.of(), new PrintStream(out, true)));
        assertTrue(out.toString().contains("--max-decompressed-size"));
        assertInstanceOf(CollectorOptions.Printed.class, CollectorOptions.parse(new String[] {"--version"}, Map.of(), NULL));
    }

    @Test
    void units() {
        assertEquals(32L << 20, Units.parseSize("32MiB"));
        assertEquals(512L << 10, Units.parseSize("512k"));
        assertEquals(Duration.ofMillis(250), Units.parseDuration("250ms"));
        assertEquals(Duration.ofMinutes(5), Units.parseDuration("5m"));
        assertEquals(Duration.ofSeconds(5), Units.parseDuration("PT5S"));
        assertEquals(new HostPort("::1", 8086), HostPort.parse("[::1]:8086"));
    }

    private static void assertMessage(String expected, Map<String, String> env, String... args) {
        final ConfigException e = assertThrows(ConfigException.class, () -> CollectorOptions.parse(args, env, NULL));
        assertTrue(e.getMessage().contains(expected), "'" + e.getMessage() + "' lacks '" + expected + "'");
    }

    private static String printed(String option) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertInstanceOf(CollectorOptions.Printed.class, CollectorOptions.parse(new String[] {option}, Map.of(),
            new PrintStream(out, true, StandardCharsets.UTF_8)));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void helpListsEnvironmentValueSyntaxEndpointsAndExitCodes() {
        final String help = printed("--help");
        for (String expected : new String[] {"SPILLWAY_RING_SIZE", "SPILLWAY_HTTP_MAX_CONNECTIONS", "SPILLWAY_LOG_LEVEL",
            "DURATION", "32MiB", "PT5S", "/api/v2/write", "/health", "/metrics", "Exit codes", "130", "--retention",
            "--index-mode", "--http-idle-timeout"}) {
            assertTrue(help.contains(expected), "--help lacks " + expected + ":\n" + help);
        }
    }

    @Test
    void versionNamesCommitAndEmbeddedPostgres() {
        final String version = printed("--version");
        assertTrue(version.contains("commit ") && version.contains("embedded PostgreSQL 17"), version);
    }

    @Test
    void timescaleOptionsAreParsed() {
        final CollectorConfig c = parse(Map.of("SPILLWAY_RETENTION", "30d"), "--compress-after", "7d",
            "--chunk-interval", "6h", "--index-mode", "brin-time");
        assertEquals(Duration.ofDays(30), c.retention());
        assertEquals(Duration.ofDays(7), c.compressAfter());
        assertEquals(Duration.ofHours(6), c.chunkInterval());
        assertEquals(dev.spillway.telemetry.timescale.IndexMode.BRIN_TIME, c.indexMode());
        assertNull(parse(Map.of()).retention(), "keeps everything by default");
    }

    @Test
    void spoolIsOnByDefaultBesideTheDataDirectoryAndAckDefaultsToAccept() {
        final CollectorConfig c = parse(Map.of(), "--data-dir", "/tmp/x/data");
        assertEquals(java.nio.file.Path.of("/tmp/x/data-spool"), c.spoolDir());
        assertEquals(1L << 30, c.spoolMaxBytes());
        assertEquals(Duration.ofMillis(500), c.spoolFsync());
        assertEquals(dev.spillway.telemetry.SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT, c.spoolFull());
        assertEquals(dev.spillway.ingest.AckMode.ACCEPT, c.ack());
        assertEquals(Duration.ofSeconds(30), c.ackTimeout());
        final CollectorConfig off = parse(Map.of(), "--spool-dir", "off", "--ack", "commit", "--spool-fsync", "always");
        assertNull(off.spoolDir());
        assertNull(off.spool());
        assertEquals(dev.spillway.ingest.AckMode.COMMIT, off.ack());
        final CollectorConfig always = parse(Map.of(), "--spool-fsync", "always", "--spool-full", "refuse");
        assertTrue(always.spool().fsyncAlways());
        assertEquals(dev.spillway.telemetry.SpoolConfig.FullPolicy.REFUSE, always.spool().fullPolicy());
    }

    @Test
    void badSpoolAndAckValuesNameTheOption() {
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(), "--ack", "sometimes")).getMessage()
            .contains("--ack"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(), "--spool-full", "panic")).getMessage()
            .contains("--spool-full"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(), "--spool-max-size", "10KiB"))
            .getMessage().contains("--spool-max-size"));
        assertTrue(assertThrows(ConfigException.class, () -> parse(Map.of(), "--data-dir", "/tmp/d", "--spool-dir",
            "/tmp/d/spool")).getMessage().contains("must not be inside --data-dir"));
    }
}
