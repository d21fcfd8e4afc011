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
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        assertEquals(new HostPort("127.0.0.1", 8086), c.ingest().http());
        assertNull(c.ingest().tcp());
        assertNull(c.ingest().token());
        assertTrue(c.database().embedded());
        assertEquals(5433, c.database().port());
        assertEquals(65_536, c.pipeline().ringSize());
        assertEquals(Duration.ofMillis(100), c.pipeline().flushInterval());
        assertEquals(OverflowPolicy.BLOCK, c.pipeline().overflowPolicy());
        assertEquals(32 << 20, c.ingest().maxBodySize());
        assertEquals(128 << 20, c.ingest().maxDecompressedSize());
        assertEquals(100_000, c.ingest().maxSeries());
        assertEquals(0.9, c.ingest().highWaterMark());
    }

    @Test
    void commandLineBeatsEnvironmentBeatsFileBeatsDefault(@TempDir Path dir) throws Exception {
        final Path file = dir.resolve("collector.properties");
        Files.writeString(file, "ring-size=1024\nbatch-size=16\nworkers=3\ntoken=fromfile\n", StandardCharsets.UTF_8);
        final CollectorConfig c = parse(Map.of("SPILLWAY_RING_SIZE", "2048", "SPILLWAY_BATCH_SIZE", "32"),
            "--config", file.toString(), "--ring-size", "4096");
        assertEquals(4096, c.pipeline().ringSize()); // CLI
        assertEquals(32, c.pipeline().batchSize()); // env
        assertEquals(3, c.pipeline().workers()); // file
        assertEquals("fromfile", c.ingest().token()); // file
        assertEquals(Duration.ofMillis(100), c.pipeline().flushInterval()); // default
        assertEquals(new HostPort("0.0.0.0", 9999), parse(Map.of("SPILLWAY_HTTP", ":9999")).ingest().http());
        assertEquals(OverflowPolicy.OVERWRITE_OLDEST, parse(Map.of(), "--overflow-policy", "overwrite-oldest")
            .pipeline().overflowPolicy());
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
        assertMessage("--db-user needs --jdbc-url", Map.of(), "--db-user", "u");
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
        assertEquals(Duration.ofMinutes(90), Units.parseDuration("1h30m"));
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
        assertEquals(Duration.ofDays(30), c.database().retention());
        assertEquals(Duration.ofDays(7), c.database().compressAfter());
        assertEquals(Duration.ofHours(6), c.database().chunkInterval());
        assertEquals(dev.spillway.telemetry.timescale.IndexMode.BRIN_TIME, c.database().indexMode());
        assertNull(parse(Map.of()).database().retention(), "keeps everything by default");
    }

    @Test
    void storageLayoutIsParsedAndDefaultsToAuto() {
        assertEquals(null, parse(Map.of()).database().storageLayout(), "auto: chosen from the existing table");
        assertEquals(null, parse(Map.of(), "--storage-layout", "auto").database().storageLayout());
        assertEquals(dev.spillway.telemetry.timescale.StorageLayout.ROWS,
            parse(Map.of(), "--storage-layout", "rows").database().storageLayout());
        assertEquals(dev.spillway.telemetry.timescale.StorageLayout.BLOCKS,
            parse(Map.of(), "--storage-layout", "blocks").database().storageLayout());
        assertMessage("--storage-layout: invalid value 'columns'; expected one of auto, rows, blocks", Map.of(),
            "--storage-layout", "columns");
    }

    @Test
    void spoolIsOnByDefaultBesideTheDataDirectoryAndAckDefaultsToAccept() {
        final CollectorConfig c = parse(Map.of(), "--data-dir", "/tmp/x/data");
        assertEquals(java.nio.file.Path.of("/tmp/x/data-spool"), c.pipeline().spoolDir());
        assertEquals(1L << 30, c.pipeline().spoolMaxBytes());
        assertEquals(Duration.ofMillis(500), c.pipeline().spoolFsync());
        assertEquals(dev.spillway.telemetry.SpoolConfig.FullPolicy.DROP_OLDEST_SEGMENT, c.pipeline().spoolFull());
        assertEquals(dev.spillway.ingest.AckMode.ACCEPT, c.ingest().ack());
        assertEquals(Duration.ofSeconds(30), c.ingest().ackTimeout());
        final CollectorConfig off = parse(Map.of(), "--spool-dir", "off", "--ack", "commit", "--spool-fsync", "always");
        assertNull(off.pipeline().spoolDir());
        assertNull(off.pipeline().spool());
        assertEquals(dev.spillway.ingest.AckMode.COMMIT, off.ingest().ack());
        final CollectorConfig always = parse(Map.of(), "--spool-fsync", "always", "--spool-full", "refuse");
        assertTrue(always.pipeline().spool().fsyncAlways());
        assertEquals(dev.spillway.telemetry.SpoolConfig.FullPolicy.REFUSE, always.pipeline().spool().fullPolicy());
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

    @Test
    void everyModuleOwnsItsSettingsAndTheFlatAccessorsDelegate() {
        final CollectorConfig c = parse(Map.of(), "--tcp", ":8094", "--probe-concurrency", "7", "--slack-webhook",
            "https://hooks.slack.test/T/B/x", "--public-status-page", "--ring-size", "1024", "--batch-size", "64",
            "--retention", "400d", "--jdbc-url", "jdbc:postgresql://db/x", "--db-user", "u");
        assertEquals(new HostPort("0.0.0.0", 8094), c.ingest().tcp());
        assertEquals(c.ingest().tcp(), c.ingest().tcp());
        assertEquals(7, c.uptime().probeConcurrency());
        assertEquals(7, c.uptime().probeConcurrency());
        assertEquals("https://hooks.slack.test/T/B/x", c.alerting().slackWebhook());
                assertEquals(Duration.ofHours(24), c.alerting().notifyMaxAge());
        assertTrue(c.statusPage().publicPage());
        assertTrue(c.statusPage().publicPage());
        assertEquals(1024, c.pipeline().ringSize());
        assertEquals(64, c.pipeline().batchSize());
        assertEquals(Duration.ofDays(400), c.database().retention());
        assertEquals("u", c.database().user());
        assertEquals(dev.spillway.collector.nats.NatsSettings.Role.STANDALONE, c.nats().role());
        assertTrue(c.uptime().monitors().isEmpty(), "no --monitors file, no monitors");
        assertNull(c.uptime().monitorsFile());
    }

    @Test
    void precedenceHoldsForTheOptionsOfEveryModule(@TempDir Path dir) throws Exception {
        final Path file = dir.resolve("collector.properties");
        Files.writeString(file, "max-series=10\nprobe-concurrency=3\nnotify-max-age=2h\npublic-status-page=true\n"
            + "index-mode=none\nretry-attempts=4\nnats-stream=fromfile\n", StandardCharsets.UTF_8);
        final Map<String, String> env = Map.of("SPILLWAY_MAX_SERIES", "20", "SPILLWAY_PROBE_CONCURRENCY", "6",
            "SPILLWAY_NOTIFY_MAX_AGE", "3h", "SPILLWAY_RETRY_ATTEMPTS", "5");
        final CollectorConfig c = parse(env, "--config", file.toString(), "--max-series", "30",
            "--notify-max-age", "4h");
        assertEquals(30, c.ingest().maxSeries()); // CLI over env and file
        assertEquals(Duration.ofHours(4), c.alerting().notifyMaxAge()); // CLI
        assertEquals(6, c.uptime().probeConcurrency()); // env over file
        assertEquals(5, c.pipeline().retryAttempts()); // env over file
        assertTrue(c.statusPage().publicPage()); // file
        assertEquals(dev.spillway.telemetry.timescale.IndexMode.NONE, c.database().indexMode()); // file
        assertEquals(Duration.ofMinutes(5), c.uptime().monitorReloadInterval()); // default
    }

    @Test
    void messagesNameTheOptionOfEveryModuleAsTheUserSetIt(@TempDir Path dir) throws Exception {
        // ingest
        assertMessage("--tcp-max-connections must be 1..1000000, was 0", Map.of(), "--tcp-max-connections", "0");
        assertMessage("--http-max-buffered (64KiB) must be at least --max-body-size (32MiB)", Map.of(),
            "--http-max-buffered", "64KiB");
        assertMessage("--token must not be blank", Map.of(), "--token", " ");
        // database
        assertMessage("--jdbc-url must start with jdbc:postgresql:", Map.of(), "--jdbc-url", "jdbc:mysql://x/y");
        assertMessage("--index-mode: invalid value 'fast'; expected one of default, none, brin-time", Map.of(),
            "--index-mode", "fast");
        // pipeline: durations in ranges read as people write them, not PT0.001S..PT1H
        assertMessage("--flush-interval must be 1ms..1h, was 2h", Map.of(), "--flush-interval", "2h");
        assertMessage("--retention must be 1m..36500d, was 1s", Map.of(), "--retention", "1s");
        assertMessage("--overflow-policy: invalid value 'maybe'; expected one of", Map.of(), "--overflow-policy",
            "maybe");
        // uptime
        assertMessage("--probe-keep-alive must be true or false, was 'perhaps'", Map.of(), "--probe-keep-alive",
            "perhaps");
        assertMessage("--monitor-reload-interval must be 1s..1d, was 2d", Map.of(), "--monitor-reload-interval", "2d");
        // alerting
        assertMessage("--slack-webhook must be an http(s) URL with a host", Map.of(), "--slack-webhook", "ftp://x/");
        assertMessage("--notify-max-age must be 1m..30d, was 31d", Map.of(), "--notify-max-age", "31d");
        // status page
        assertMessage("--public-status-page must be true or false, was 'maybe'", Map.of(), "--public-status-page",
            "maybe");
        // roles
        assertMessage("--duties an edge without a database (no --jdbc-url) runs ingest only", Map.of(), "--role",
            "edge", "--nats", "nats://127.0.0.1:4222", "--duties", "ingest,heartbeats");
        assertMessage("--nats-max-age must be 1m..29d, was 30d", Map.of(), "--role", "writer", "--nats",
            "nats://127.0.0.1:4222", "--nats-max-age", "30d");
        // Values from the environment or the config file are reported under their own names.
        assertMessage("SPILLWAY_NOTIFY_MAX_AGE (--notify-max-age) must be 1m..30d, was 0s",
            Map.of("SPILLWAY_NOTIFY_MAX_AGE", "0s"));
        final Path file = dir.resolve("c.properties");
        Files.writeString(file, "probe-concurrency=0\n");
        assertMessage("probe-concurrency in " + file + " (--probe-concurrency) must be 1..10000, was 0", Map.of(),
            "--config", file.toString());
    }

    @Test
    void aBadMonitorsFileIsAConfigurationErrorNamingTheFileAndTheProblem(@TempDir Path dir) throws Exception {
        final Path missing = dir.resolve("missing.yaml");
        assertOneLine("--monitors " + missing + ": no such file", "--monitors", missing.toString());
        assertOneLine("--monitors " + dir + ": is a directory", "--monitors", dir.toString());

        final Path yaml = dir.resolve("bad.yaml");
        Files.writeString(yaml, "monitors:\n  - name: api\n    url: http://127.0.0.1:1/\n    interval: [oops\n");
        assertOneLine("--monitors " + yaml + ": not valid YAML at line 5, column 1: expected ',' or ']', but got "
            + "<stream end> (while parsing a flow sequence)", "--monitors", yaml.toString());

        final Path json = dir.resolve("bad.json");
        Files.writeString(json, "[{\"name\": \"api\", ");
        assertOneLine("--monitors " + json + ": not valid JSON at line 1, column ", "--monitors", json.toString());

        final Path invalid = dir.resolve("invalid.yaml");
        Files.writeString(invalid, "- name: ok\n  url: http://127.0.0.1:1/\n- name: slow\n  url: http://127.0.0.1:1/\n"
            + "  interval: 0s\n");
        assertOneLine("--monitors " + invalid + ": entry 2 ('slow'): interval: must be between 1s and 24h, was 0s",
            "--monitors", invalid.toString());

        final Path twice = dir.resolve("twice.yaml");
        Files.writeString(twice, "- {name: a, url: 'http://127.0.0.1:1/'}\n- {name: a, url: 'http://127.0.0.1:2/'}\n");
        assertOneLine("--monitors " + twice + ": entry 2 ('a'): name 'a' appears twice", "--monitors",
            twice.toString());

        final Path notAList = dir.resolve("map.yaml");
        Files.writeString(notAList, "name: a\n");
        assertOneLine("--monitors " + notAList + ": must hold a list of monitors", "--monitors", notAList.toString());

        final Path unknown = dir.resolve("unknown.yaml");
        Files.writeString(unknown, "- {name: a, url: 'http://127.0.0.1:1/', intervall: 5s}\n");
        assertOneLine("--monitors " + unknown + ": entry 1 ('a'): intervall: unknown field", "--monitors",
            unknown.toString());

        // From the environment, the message says so.
        final ConfigException env = assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(new String[0], Map.of("SPILLWAY_MONITORS", invalid.toString()), NULL));
        assertTrue(env.getMessage().startsWith("SPILLWAY_MONITORS (--monitors) " + invalid + ": entry 2"),
            env.getMessage());
    }

    @Test
    void theMonitorsFileIsReadAtConfigurationTime(@TempDir Path dir) throws Exception {
        final Path yaml = dir.resolve("monitors.yaml");
        Files.writeString(yaml, "monitors:\n  - name: api\n    url: https://example.test/health\n    interval: 30s\n"
            + "  - name: web\n    url: http://example.test/\n    enabled: false\n");
        final CollectorConfig c = parse(Map.of(), "--monitors", yaml.toString());
        assertEquals(yaml.toAbsolutePath().normalize(), c.uptime().monitorsFile());
        assertEquals(java.util.List.of("api", "web"), c.uptime().monitors().stream()
            .map(dev.spillway.uptime.monitor.MonitorSpec::name).toList());
        assertEquals(Duration.ofSeconds(30), c.uptime().monitors().get(0).interval());
        assertEquals(c.uptime().monitors(), c.uptime().monitors());
    }

    @Test
    void dutiesFollowTheRoleUnlessSetAndAreValidatedNamingTheOption() {
        final String[] edge = {"--role", "edge", "--nats", "nats://127.0.0.1:4222", "--jdbc-url",
            "jdbc:postgresql://db/x", "--db-user", "u"};
        assertEquals("ingest, monitors, heartbeats, notifications", parse(Map.of()).duties().toString());
        assertEquals("ingest, monitors, heartbeats, notifications", parse(Map.of(), "--role", "writer", "--nats",
            "nats://127.0.0.1:4222").duties().toString());
        final Duties edgeDuties = parse(Map.of(), edge).duties();
        assertEquals("ingest", edgeDuties.toString(), "an edge ingests only unless told otherwise");
        assertEquals("monitors, heartbeats, notifications", edgeDuties.off());
        final java.util.List<String> edgeWithMonitors = new java.util.ArrayList<>(java.util.List.of(edge));
        edgeWithMonitors.addAll(java.util.List.of("--duties", "ingest, monitors"));
        final Duties d = parse(Map.of(), edgeWithMonitors.toArray(String[]::new)).duties();
        assertTrue(d.monitors() && !d.heartbeats() && !d.notifications(), d.toString());
        final Duties writerOnly = parse(Map.of("SPILLWAY_DUTIES", "ingest"), "--role", "writer", "--nats",
            "nats://127.0.0.1:4222").duties();
        assertEquals("ingest", writerOnly.toString(), "a writer that only writes");
        assertEquals("ingest, monitors, heartbeats, notifications", parse(Map.of(), "--duties", "ALL").duties()
            .toString());
        assertTrue(parse(Map.of(), "--duties", "ingest,notifications").toString().contains("duties=ingest,notifications"));

        assertOneLine("--duties names an unknown duty 'monitor'; expected a comma-separated list of ingest, "
            + "monitors, heartbeats, notifications (or all), was 'ingest,monitor'", "--duties", "ingest,monitor");
        assertOneLine("--duties must include ingest", "--duties", "monitors,heartbeats");
        assertOneLine("--duties has an empty entry", "--duties", "ingest,,monitors");
        assertMessage("SPILLWAY_DUTIES (--duties) names an unknown duty 'none'", Map.of("SPILLWAY_DUTIES", "none"));
        assertEquals(Duration.ofSeconds(10), parse(Map.of()).uptime().monitorLeaseTtl());
        assertEquals(Duration.ofSeconds(3), parse(Map.of(), "--monitor-lease-ttl", "3s").uptime().monitorLeaseTtl());
        assertOneLine("--monitor-lease-ttl must be 1s..1h, was 500ms", "--monitor-lease-ttl", "500ms");
        assertEquals(null, parse(Map.of()).uptime().location());
        assertEquals("eu-1", parse(Map.of(), "--location", "eu-1").uptime().location());
        assertEquals("b", parse(Map.of("SPILLWAY_LOCATION", "b")).uptime().location());
        assertOneLine("--location must match [A-Za-z0-9_.-]{1,32}, was 'a b'", "--location", "a b");
        assertMessage("SPILLWAY_LOCATION (--location) must match [A-Za-z0-9_.-]{1,32}, was 'x/y'",
            Map.of("SPILLWAY_LOCATION", "x/y"));
    }

    @Test
    void toStringMasksSecretsAndShowsDurationsAsPeopleWriteThem() {
        final String s = parse(Map.of(), "--token", "s3cret", "--jdbc-url",
            "jdbc:postgresql://db/x?password=hunter2", "--db-user", "u", "--db-password", "pw", "--slack-webhook",
            "https://hooks.slack.test/T/B/secretpath", "--retention", "400d", "--flush-interval", "250ms",
            "--notify-max-age", "90m").toString();
        for (String secret : new String[] {"s3cret", "hunter2", "pw ", "secretpath"}) {
            assertTrue(!s.contains(secret), "leaks " + secret + ": " + s);
        }
        for (String expected : new String[] {"retention=400d", "flush=250ms", "notifyMaxAge=1h30m", "auth=token",
            "password=***", "fsync 500ms"}) {
            assertTrue(s.contains(expected), "lacks " + expected + ": " + s);
        }
        assertTrue(!s.matches("(?s).*\\bPT\\d.*"), "ISO-8601 duration in " + s);
    }

    @Test
    void helpGroupsTheOptionsByModuleAndKeepsEveryOption() {
        final String help = printed("--help");
        int last = -1;
        for (String heading : new String[] {"Inputs (HTTP, TCP, UDP)", "Database:", "Pipeline and disk spool:",
            "Monitors:", "Notifications:", "Status page:", "Roles and duties ("}) {
            final int at = help.indexOf(heading);
            assertTrue(at > last, heading + " missing or out of order:\n" + help);
            last = at;
        }
        final picocli.CommandLine cl = new picocli.CommandLine(new CollectorOptions());
        for (picocli.CommandLine.Model.OptionSpec o : cl.getCommandSpec().options()) {
            assertTrue(help.contains(o.longestName()), "--help lacks " + o.longestName());
            assertTrue(help.contains(CollectorOptions.envName(o.longestName())) || o.longestName().equals("--help")
                || o.longestName().equals("--version"), "--help lacks the variable of " + o.longestName());
        }
        assertTrue(cl.getCommandSpec().options().size() >= 60, "options went missing");
    }

    @Test
    void maintenanceWindowsInTheMonitorsFileAreValidatedWithTheApisRules(@TempDir Path dir) throws Exception {
        final Path good = dir.resolve("good.yaml");
        Files.writeString(good, "monitors:\n  - {name: db, url: 'http://127.0.0.1:1/', tags: {team: db}}\n"
            + "  - {name: api, url: 'http://127.0.0.1:2/', parent: db}\n"
            + "maintenance:\n"
            + "  - id: nightly\n    scope: tag\n    target: team=db\n    cron: '0 2 * * *'\n    duration: 30m\n"
            + "    zone: Europe/Berlin\n    reason: backup\n"
            + "  - {id: migration, scope: monitor, target: api, starts_at: '2026-12-24T22:00:00Z', "
            + "ends_at: '2026-12-25T02:00:00Z'}\n");
        final CollectorOptions.Parsed parsed = CollectorOptions.parse(new String[] {"--monitors", good.toString()},
            Map.of(), NULL);
        final CollectorConfig c = ((CollectorOptions.Run) parsed).config();
        assertEquals("db", c.uptime().monitors().get(1).parent());
        assertEquals(2, c.alerting().windows().size());
        final dev.spillway.alerting.MaintenanceWindow nightly = c.alerting().windows().get(0);
        assertEquals("nightly", nightly.id());
        assertEquals("0 2 * * *", nightly.cron());
        assertEquals(java.time.Duration.ofMinutes(30), nightly.duration());
        assertEquals("Europe/Berlin", nightly.zone().getId());
        assertEquals(java.time.Instant.parse("2026-12-25T02:00:00Z"), c.alerting().windows().get(1).endsAt());

        // The example in docs/alerting.md, as written there.
        final String doc = Files.readString(Path.of("..", "docs", "alerting.md"));
        final int at = doc.indexOf("```yaml\nmonitors:\n  - {name: db");
        assertTrue(at >= 0, "the example is in docs/alerting.md");
        final Path example = dir.resolve("example.yaml");
        Files.writeString(example, doc.substring(at + 8, doc.indexOf("```", at + 8)));
        final CollectorConfig fromDoc = ((CollectorOptions.Run) CollectorOptions.parse(new String[] {"--monitors",
            example.toString()}, Map.of("DBTEAM_SLACK_URL", "https://hooks.slack.com/services/T0/B0/x",
            "PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef"), NULL)).config();
        assertEquals(List.of("dbteam", "oncall"), fromDoc.alerting().channels().stream()
            .map(dev.spillway.alerting.ChannelDefinition::id).toList());
        assertEquals("db", fromDoc.uptime().monitors().get(1).parent());
        assertEquals(List.of("nightly", "migration"), fromDoc.alerting().windows().stream()
            .map(dev.spillway.alerting.MaintenanceWindow::id).toList());

        final String[][] bad = {
            {"  - {id: w, scope: all, cron: '0 25 * * *', duration: 30m, zone: UTC}\n",
                "maintenance entry 1 ('w'): cron: cron is not a five-field cron expression"},
            {"  - {id: w, scope: all, cron: '0 2 * * *', duration: 30m, zone: Mars/Base}\n",
                "maintenance entry 1 ('w'): zone: is not a time zone such as Europe/Berlin or UTC: 'Mars/Base'"},
            {"  - {id: w, scope: monitor, cron: '0 2 * * *', duration: 30m, zone: UTC}\n",
                "maintenance entry 1 ('w'): target: target is required for scope monitor"},
            {"  - {id: w, scope: all, for: 2h}\n", "maintenance entry 1 ('w'): for: a snooze counts from when it is "
                + "made"},
            {"  - {id: w, scope: all, cron: '0 2 * * *', duration: 30m, zone: UTC, every: day}\n",
                "maintenance entry 1 ('w'): every: unknown field"},
            {"  - {scope: all, cron: '0 2 * * *', duration: 30m, zone: UTC}\n",
                "maintenance entry 1: id: is required"},
            {"  - {id: w, scope: all, starts_at: '2026-01-01T00:00:00Z', ends_at: '2026-01-01T01:00:00Z'}\n"
                + "  - {id: w, scope: all, starts_at: '2026-01-02T00:00:00Z', ends_at: '2026-01-02T01:00:00Z'}\n",
                "maintenance entry 2 ('w'): id 'w' appears twice"}};
        for (String[] b : bad) {
            final Path f = dir.resolve("bad.yaml");
            Files.writeString(f, "maintenance:\n" + b[0]);
            assertOneLine("--monitors " + f + ": " + b[1], "--monitors", f.toString());
        }
    }

    @Test
    void channelsInTheMonitorsFileAreValidatedWithTheApisRulesAndTakeSecretsFromTheEnvironment(@TempDir Path dir)
        throws Exception {
        final Path good = dir.resolve("good.yaml");
        Files.writeString(good, "channels:\n"
            + "  - {id: ops, kind: slack, url: '${OPS_SLACK}', group_window: 1m, repeat_interval: 4h,\n"
            + "     routes: [{scope: tag, target: team=db}]}\n"
            + "  - {id: oncall, kind: pagerduty, routing_key: '${PD_KEY}'}\n"
            + "  - {id: mail, kind: email, host: smtp.example.org, port: 465, tls: implicit, from: spillway@example.org,\n"
            + "     to: [ops@example.org, db@example.org], username: spillway, password: '${SMTP_PASSWORD}'}\n");
        final Map<String, String> env = Map.of("OPS_SLACK", "https://hooks.slack.com/services/T0/B0/secretpath",
            "PD_KEY", "0123456789abcdef0123456789abcdef", "SMTP_PASSWORD", "hunter2");
        final CollectorConfig c = ((CollectorOptions.Run) CollectorOptions.parse(new String[] {"--monitors",
            good.toString()}, env, NULL)).config();
        final List<dev.spillway.alerting.ChannelDefinition> channels = c.alerting().channels();
        assertEquals(List.of("ops", "oncall", "mail"), channels.stream().map(dev.spillway.alerting.ChannelDefinition::id)
            .toList());
        assertEquals("https://hooks.slack.com/services/T0/B0/secretpath", channels.get(0).url());
        assertEquals(java.time.Duration.ofMinutes(1), channels.get(0).groupWindow());
        assertEquals(java.time.Duration.ofHours(4), channels.get(0).repeatInterval());
        assertEquals(List.of(new dev.spillway.alerting.ChannelStore.Route("tag", "team=db")), channels.get(0).routes());
        assertEquals("0123456789abcdef0123456789abcdef", channels.get(1).options().get("routing_key"));
        assertEquals("hunter2", channels.get(2).options().get("password"));
        assertEquals("ops@example.org,db@example.org", channels.get(2).options().get("to"));
        // Secrets stay out of what is printed of the settings.
        assertFalse(c.alerting().toString().contains("secretpath"), c.alerting().toString());
        assertFalse(c.alerting().toString().contains("hunter2"), c.alerting().toString());

        final String[][] bad = {
            {"  - {id: ops, kind: slack, url: '${UNSET_VARIABLE}'}\n",
                "channels entry 1 ('ops'): url: environment variable UNSET_VARIABLE is not set"},
            {"  - {id: ops, kind: carrier-pigeon, url: 'https://example.org/'}\n", "channels entry 1 ('ops'): kind: "},
            {"  - {id: ops, kind: slack, url: 'ftp://example.org/'}\n", "channels entry 1 ('ops'): url: "},
            {"  - {id: ops, kind: slack, url: 'https://example.org/', group_window: 2h}\n",
                "channels entry 1 ('ops'): group_window: must be a duration string 0s..1h"},
            {"  - {id: ops, kind: pagerduty, routing_key: '***'}\n", "channels entry 1 ('ops'): routing_key: "},
            {"  - {id: ops, kind: slack, url: 'https://example.org/', colour: red}\n",
                "channels entry 1 ('ops'): colour: unknown field"},
            {"  - {kind: slack, url: 'https://example.org/'}\n", "channels entry 1: id: is required"},
            {"  - {id: ops, kind: slack, url: 'https://example.org/a'}\n  - {id: ops, kind: slack, url: "
                + "'https://example.org/b'}\n", "channels entry 2 ('ops'): id 'ops' appears twice"}};
        for (String[] b : bad) {
            final Path f = dir.resolve("bad.yaml");
            Files.writeString(f, "channels:\n" + b[0]);
            assertOneLine("--monitors " + f + ": " + b[1], "--monitors", f.toString());
        }
        final Path other = dir.resolve("other.yaml");
        Files.writeString(other, "monitors: []\nreceivers: []\n");
        assertOneLine("--monitors " + other + ": receivers: unknown field; the file holds 'monitors', 'maintenance' "
            + "and 'channels' lists", "--monitors", other.toString());
    }

    private static void assertOneLine(String expectedStart, String... args) {
        final ConfigException e = assertThrows(ConfigException.class,
            () -> CollectorOptions.parse(args, Map.of(), NULL));
        assertTrue(e.getMessage().startsWith(expectedStart), "'" + e.getMessage() + "' does not start with '"
            + expectedStart + "'");
        assertTrue(!e.getMessage().contains("\n") && !e.getMessage().contains("\r"), "not one line: " + e.getMessage());
    }

    /** Free text: any value is valid. */
    private static final java.util.Set<String> FREE_TEXT = java.util.Set.of("--token", "--data-dir", "--spool-dir",
        "--nats");

    @Test
    void aBadValueOfAnyOptionFromAnySourceGivesOneLineNamingIt() {
        final picocli.CommandLine cl = new picocli.CommandLine(new CollectorOptions());
        int checked = 0;
        for (picocli.CommandLine.Model.OptionSpec o : cl.getCommandSpec().options()) {
            final String option = o.longestName();
            if (option.equals("--help") || option.equals("--version") || option.equals("--config")) {
                continue;
            }
            // The role options apply only to edges and writers.
            final java.util.List<String> context = option.equals("--nats") ? java.util.List.of("--role", "writer")
                : option.startsWith("--nats-") || option.equals("--writer-threads")
                ? java.util.List.of("--role", "writer", "--nats", "nats://127.0.0.1:4222") : java.util.List.of();
            final java.util.List<String> args = new java.util.ArrayList<>(context);
            args.add(option + "=@@bad@@");
            final Map<String, String> env = Map.of(CollectorOptions.envName(option), "@@bad@@");
            if (FREE_TEXT.contains(option)) {
                parse(Map.of(), args.toArray(String[]::new));
                parse(env, context.toArray(String[]::new));
                continue;
            }
            final ConfigException cli = assertThrows(ConfigException.class,
                () -> CollectorOptions.parse(args.toArray(String[]::new), Map.of(), NULL), option);
            assertTrue(cli.getMessage().startsWith(option) || cli.getMessage().contains(" " + option), option + ": "
                + cli.getMessage());
            final ConfigException fromEnv = assertThrows(ConfigException.class,
                () -> CollectorOptions.parse(context.toArray(String[]::new), env, NULL), option);
            assertTrue(fromEnv.getMessage().contains(CollectorOptions.envName(option) + " (" + option + ")"),
                option + ": " + fromEnv.getMessage());
            for (String m : new String[] {cli.getMessage(), fromEnv.getMessage()}) {
                // One line, no exception class names, no ISO-8601 durations (but the hint that PT5S is accepted).
                assertTrue(!m.contains("\n") && !m.contains("Exception")
                    && !m.replace("or PT5S", "").matches("(?s).*\\bPT\\d.*"), option + ": " + m);
            }
            checked++;
        }
        assertTrue(checked >= 55, "checked only " + checked + " options");
    }
}

