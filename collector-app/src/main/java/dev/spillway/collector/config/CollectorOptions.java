package dev.spillway.collector.config;

import dev.spillway.collector.ingest.AckMode;
import dev.spillway.telemetry.OverflowPolicy;
import dev.spillway.telemetry.SpoolConfig;
import dev.spillway.telemetry.timescale.IndexMode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The command line. Every option can also come from the environment ({@code SPILLWAY_RING_SIZE} for
 * {@code --ring-size}) or from a properties file given with {@code --config} (key {@code ring-size}); the
 * precedence is command line, then environment, then file, then the built-in default.
 *
 * <p>Options are read as strings and converted here, so that a value from any of the three sources fails with
 * the same message naming the option.
 */
@Command(name = "spillway-collector", mixinStandardHelpOptions = true,
    versionProvider = CollectorOptions.Version.class, sortOptions = false, usageHelpAutoWidth = true,
    description = {"Receives InfluxDB line protocol over HTTP, TCP and UDP and writes it to PostgreSQL/TimescaleDB.",
        "Every option may also be set as environment variable SPILLWAY_<OPTION> (e.g. SPILLWAY_RING_SIZE) or as a "
            + "key in the --config properties file (e.g. ring-size=65536). Precedence: command line > environment"
            + " > config file > default."})
public final class CollectorOptions {

    /** Environment variable prefix. */
    public static final String ENV_PREFIX = "SPILLWAY_";

    // Options whose value came from the environment or the config file: option -> where, for messages.
    private final Map<String, String> origins = new java.util.HashMap<>();

    @Option(names = "--config", paramLabel = "FILE", description = "Java properties file with option defaults.")
    String config;

    @Option(names = "--http", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8086",
        description = "HTTP listen address (default: ${DEFAULT-VALUE}, loopback only).")
    String http;

    @Option(names = "--tcp", paramLabel = "HOST:PORT", description = "TCP line-protocol listener (off unless given).")
    String tcp;

    @Option(names = "--udp", paramLabel = "HOST:PORT", description = "UDP line-protocol listener (off unless given).")
    String udp;

    @Option(names = "--token", paramLabel = "TOKEN",
        description = "Require this token for writes, /ready and /metrics (/ping and /health stay open).")
    String token;

    @Option(names = "--jdbc-url", paramLabel = "URL",
        description = "Use this PostgreSQL/TimescaleDB instead of the embedded one.")
    String jdbcUrl;

    @Option(names = "--db-user", paramLabel = "USER", description = "Database user for --jdbc-url.")
    String dbUser;

    @Option(names = "--db-password", paramLabel = "PASSWORD", description = "Database password for --jdbc-url.")
    String dbPassword;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "spillway-data",
        description = "Data directory of the embedded PostgreSQL (default: ./${DEFAULT-VALUE}).")
    String dataDir;

    @Option(names = "--db-port", paramLabel = "PORT", defaultValue = "5433",
        description = "Port of the embedded PostgreSQL; a free one is used when it is taken; 0 = any "
            + "(default: ${DEFAULT-VALUE}).")
    String dbPort;

    @Option(names = "--ring-size", paramLabel = "N", defaultValue = "65536",
        description = "Ring slots, a power of two (default: ${DEFAULT-VALUE}).")
    String ringSize;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "16384",
        description = "Most events per database batch (default: ${DEFAULT-VALUE}).")
    String batchSize;

    @Option(names = "--flush-interval", paramLabel = "DURATION", defaultValue = "100ms",
        description = "Longest a partial batch waits (default: ${DEFAULT-VALUE}).")
    String flushInterval;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "2",
        description = "Database writer threads (default: ${DEFAULT-VALUE}).")
    String workers;

    @Option(names = "--overflow-policy", paramLabel = "POLICY", defaultValue = "block",
        description = "When the ring is full: block, drop-newest or overwrite-oldest (default: ${DEFAULT-VALUE}).")
    String overflowPolicy;

    @Option(names = "--retry-attempts", paramLabel = "N", defaultValue = "8",
        description = "Write attempts per batch (default: ${DEFAULT-VALUE}).")
    String retryAttempts;

    @Option(names = "--retry-max-elapsed", paramLabel = "DURATION", defaultValue = "60s",
        description = "Time budget for retrying one batch (default: ${DEFAULT-VALUE}).")
    String retryMaxElapsed;

    @Option(names = "--max-body-size", paramLabel = "SIZE", defaultValue = "32MiB",
        description = "Largest HTTP body as sent; larger gets 413 (default: ${DEFAULT-VALUE}).")
    String maxBodySize;

    @Option(names = "--max-decompressed-size", paramLabel = "SIZE", defaultValue = "128MiB",
        description = "Largest HTTP body after gunzip; larger gets 413 (default: ${DEFAULT-VALUE}).")
    String maxDecompressedSize;

    @Option(names = "--max-series", paramLabel = "N", defaultValue = "100000",
        description = "Most series (measurement+tags+field); lines for new series beyond it are rejected "
            + "(default: ${DEFAULT-VALUE}).")
    String maxSeries;

    @Option(names = "--max-line-length", paramLabel = "SIZE", defaultValue = "1MiB",
        description = "Longest TCP line; longer lines are dropped and counted (default: ${DEFAULT-VALUE}).")
    String maxLineLength;

    @Option(names = "--tcp-idle-timeout", paramLabel = "DURATION", defaultValue = "5m",
        description = "Close TCP connections idle this long; 0 disables (default: ${DEFAULT-VALUE}).")
    String tcpIdleTimeout;

    @Option(names = "--tcp-max-connections", paramLabel = "N", defaultValue = "1024",
        description = "Most open TCP line-protocol connections; more are closed at once, counted and logged "
            + "(default: ${DEFAULT-VALUE}).")
    String tcpMaxConnections;

    @Option(names = "--high-water-mark", paramLabel = "FRACTION", defaultValue = "0.9",
        description = "Ring occupancy above which HTTP writes get 503 + Retry-After (default: ${DEFAULT-VALUE}).")
    String highWaterMark;

    @Option(names = "--ingest-threads", paramLabel = "N", defaultValue = "4",
        description = "Threads that decompress, parse and ingest HTTP bodies (default: ${DEFAULT-VALUE}).")
    String ingestThreads;

    @Option(names = "--close-timeout", paramLabel = "DURATION", defaultValue = "30s",
        description = "How long shutdown waits for buffered events to be written (default: ${DEFAULT-VALUE}).")
    String closeTimeout;

    @Option(names = "--http-max-connections", paramLabel = "N", defaultValue = "4096",
        description = "Most open HTTP connections; more are answered 503 and closed (default: ${DEFAULT-VALUE}).")
    String httpMaxConnections;

    @Option(names = "--http-max-buffered", paramLabel = "SIZE", defaultValue = "256MiB",
        description = "Most request bytes held in memory over all HTTP connections; a request that does not fit gets"
            + " 503 + Retry-After (default: ${DEFAULT-VALUE}).")
    String httpMaxBuffered;

    @Option(names = "--http-header-timeout", paramLabel = "DURATION", defaultValue = "10s",
        description = "Close a connection whose request head is not complete this long after its first byte "
            + "(default: ${DEFAULT-VALUE}).")
    String httpHeaderTimeout;

    @Option(names = "--http-read-timeout", paramLabel = "DURATION", defaultValue = "60s",
        description = "Close a connection whose request (head and body) is not complete this long after its first "
            + "byte (default: ${DEFAULT-VALUE}).")
    String httpReadTimeout;

    @Option(names = "--http-idle-timeout", paramLabel = "DURATION", defaultValue = "3m",
        description = "Close keep-alive connections idle this long (default: ${DEFAULT-VALUE}).")
    String httpIdleTimeout;

    @Option(names = "--udp-receive-buffer", paramLabel = "SIZE", defaultValue = "16MiB",
        description = "UDP socket receive buffer to ask the kernel for; Linux caps it at net.core.rmem_max "
            + "(default: ${DEFAULT-VALUE}).")
    String udpReceiveBuffer;

    @Option(names = "--chunk-interval", paramLabel = "DURATION", defaultValue = "1d",
        description = "TimescaleDB chunk interval of the events table, applied when it is created "
            + "(default: ${DEFAULT-VALUE}).")
    String chunkInterval;

    @Option(names = "--compress-after", paramLabel = "DURATION",
        description = "Compress TimescaleDB chunks older than this (off unless given; TimescaleDB only).")
    String compressAfter;

    @Option(names = "--retention", paramLabel = "DURATION",
        description = "Drop TimescaleDB chunks older than this (keep everything unless given; TimescaleDB only).")
    String retention;

    @Option(names = "--spool-dir", paramLabel = "DIR|off",
        description = "Disk spool for batches the database cannot take (outage, retries exhausted), replayed once it "
            + "is back; 'off' disables it (then such batches fail, counted). Default: <data-dir>-spool, beside the "
            + "data directory (PostgreSQL owns the data directory itself).")
    String spoolDir;

    @Option(names = "--spool-max-size", paramLabel = "SIZE", defaultValue = "1GiB",
        description = "Most disk the spool may use (default: ${DEFAULT-VALUE}).")
    String spoolMaxSize;

    @Option(names = "--spool-fsync", paramLabel = "always|DURATION", defaultValue = "500ms",
        description = "fsync every spooled batch ('always') or at most this often; a power loss can lose up to one "
            + "interval of spooled batches (default: ${DEFAULT-VALUE}).")
    String spoolFsync;

    @Option(names = "--spool-full", paramLabel = "POLICY", defaultValue = "drop-oldest-segment",
        description = "When the spool is full: drop-oldest-segment (its events count as failed) or refuse (the new "
            + "batch fails) (default: ${DEFAULT-VALUE}).")
    String spoolFull;

    @Option(names = "--ack", paramLabel = "accept|commit", defaultValue = "accept",
        description = "When an HTTP write gets 204: accept = once parsed and in the buffer; commit = once every event "
            + "is committed to the database or fsynced in the spool (503 if any was lost). A request may choose "
            + "with ?ack= or the X-Spillway-Ack header (default: ${DEFAULT-VALUE}).")
    String ack;

    @Option(names = "--ack-timeout", paramLabel = "DURATION", defaultValue = "30s",
        description = "Longest an ack=commit write waits for its events to be confirmed before answering 503 "
            + "(default: ${DEFAULT-VALUE}).")
    String ackTimeout;

    @Option(names = "--index-mode", paramLabel = "MODE", defaultValue = "default",
        description = "Indexes of the events table: default (source_id, time), none, or brin-time "
            + "(default: ${DEFAULT-VALUE}).")
    String indexMode;

    @Option(names = "--monitors", paramLabel = "FILE",
        description = "Monitors to create or update at start (JSON or YAML list; see README 'Monitors').")
    String monitors;

    @Option(names = "--probe-concurrency", paramLabel = "N", defaultValue = "500",
        description = "Most monitor checks in flight at once; more wait in a queue (default: ${DEFAULT-VALUE}).")
    String probeConcurrency;

    @Option(names = "--probe-keep-alive", paramLabel = "BOOL", defaultValue = "false",
        description = "Reuse connections between checks (then connect/TLS are measured only on new connections) "
            + "(default: ${DEFAULT-VALUE}).")
    String probeKeepAlive;

    @Option(names = "--monitor-reload-interval", paramLabel = "DURATION", defaultValue = "5m",
        description = "How often the monitors table is re-read for rows changed with SQL (default: ${DEFAULT-VALUE}).")
    String monitorReloadInterval;

    @Option(names = "--slack-webhook", paramLabel = "URL",
        description = "Send heartbeat and monitor notifications to this Slack incoming webhook (creates the channel "
            + "'slack'; more channels via /api/v1/channels).")
    String slackWebhook;

    @Option(names = "--public-url", paramLabel = "URL",
        description = "Public address of the status page, linked from notifications (off unless given).")
    String publicUrl;

    @Option(names = "--notify-max-age", paramLabel = "DURATION", defaultValue = "24h",
        description = "Retry undelivered notifications this long, then give them up (default: ${DEFAULT-VALUE}).")
    String notifyMaxAge;

    @Option(names = "--public-status-page", paramLabel = "BOOLEAN", arity = "0..1", fallbackValue = "true",
        defaultValue = "false",
        description = "With --token: show the read-only status page (GET /) to everyone; write and admin APIs keep"
            + " requiring the token (default: ${DEFAULT-VALUE}).")
    String publicStatusPage;

    @Option(names = "--role", paramLabel = "ROLE", defaultValue = "standalone",
        description = "standalone (inputs and database writes in one process), edge (publish batches to NATS "
            + "JetStream; needs --nats and a shared --jdbc-url for series ids) or writer (standalone plus consuming "
            + "the edges' batches from JetStream) (default: ${DEFAULT-VALUE}).")
    String role;

    @Option(names = "--nats", paramLabel = "URL[,URL...]",
        description = "NATS server URL(s) for the edge and writer roles, e.g. nats://127.0.0.1:4222.")
    String nats;

    @Option(names = "--nats-creds", paramLabel = "FILE", description = "NATS credentials file (JWT and NKey seed).")
    String natsCreds;

    @Option(names = "--nats-user", paramLabel = "USER", description = "NATS user (with --nats-password).")
    String natsUser;

    @Option(names = "--nats-password", paramLabel = "PASSWORD", description = "NATS password.")
    String natsPassword;

    @Option(names = "--nats-stream", paramLabel = "NAME", defaultValue = "spillway",
        description = "JetStream stream carrying the batches (default: ${DEFAULT-VALUE}).")
    String natsStream;

    @Option(names = "--nats-subject", paramLabel = "SUBJECT", defaultValue = "spillway.batches",
        description = "Subject the edges publish to (default: ${DEFAULT-VALUE}).")
    String natsSubject;

    @Option(names = "--nats-consumer", paramLabel = "NAME", defaultValue = "spillway-writers",
        description = "Durable consumer the writers share (default: ${DEFAULT-VALUE}).")
    String natsConsumer;

    @Option(names = "--nats-max-bytes", paramLabel = "SIZE", defaultValue = "1GiB",
        description = "Stream limit on unwritten batches; when full, edges retry, then answer 503 "
            + "(default: ${DEFAULT-VALUE}).")
    String natsMaxBytes;

    @Option(names = "--nats-max-age", paramLabel = "DURATION", defaultValue = "24h",
        description = "Unwritten batches older than this leave the stream; writers keep their ledger longer "
            + "(default: ${DEFAULT-VALUE}).")
    String natsMaxAge;

    @Option(names = "--nats-dedup-window", paramLabel = "DURATION", defaultValue = "2m",
        description = "JetStream's Nats-Msg-Id duplicate window (default: ${DEFAULT-VALUE}).")
    String natsDedupWindow;

    @Option(names = "--nats-ack-wait", paramLabel = "DURATION", defaultValue = "30s",
        description = "A batch a writer took and did not acknowledge within this (it crashed) goes to another "
            + "writer; long commits extend it (default: ${DEFAULT-VALUE}).")
    String natsAckWait;

    @Option(names = "--writer-threads", paramLabel = "N", defaultValue = "2",
        description = "Writer role: threads pulling and committing batches (default: ${DEFAULT-VALUE}).")
    String writerThreads;

    /** Outcome of parsing: either a config to run, or help/version text already printed. */
    public sealed interface Parsed permits Run, Printed {
    }

    /** Start the collector with this configuration. */
    public record Run(CollectorConfig config) implements Parsed {
    }

    /** Help or version was printed; exit 0. */
    public record Printed() implements Parsed {
    }

    /**
     * Parses and validates the command line against the environment.
     *
     * @param args the command line
     * @param env the environment, {@code System.getenv()} outside tests
     * @param out where {@code --help} and {@code --version} print
     * @throws ConfigException naming the first bad option
     */
    public static Parsed parse(String[] args, Map<String, String> env, java.io.PrintStream out) {
        final CollectorOptions options = new CollectorOptions();
        final CommandLine cl = new CommandLine(options);
        final Properties file = loadConfigFile(args, env);
        checkConfigKeys(cl, file);
        cl.setDefaultValueProvider(arg -> fallback(arg, env, file, configPath(args, env), options.origins));
        cl.getCommandSpec().usageMessage().footer(Help.footer(cl));
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new ConfigException(e.getMessage() + " (see --help)");
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return new Printed();
        }
        if (cl.isVersionHelpRequested()) {
            cl.printVersionHelp(out);
            return new Printed();
        }
        return new Run(options.toConfig());
    }

    /** The environment variable for an option: {@code --ring-size} is {@code SPILLWAY_RING_SIZE}. */
    public static String envName(String longOption) {
        return ENV_PREFIX + longOption.replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
    }

    private static String fallback(ArgSpec arg, Map<String, String> env, Properties file, String filePath,
                                   Map<String, String> origins) {
        if (!(arg instanceof OptionSpec option) || option.longestName().equals("--config")) {
            return null;
        }
        final String envName = envName(option.longestName());
        final String fromEnv = env.get(envName);
        if (fromEnv != null) {
            origins.put(option.longestName(), envName);
            return fromEnv;
        }
        final String key = option.longestName().substring(2);
        final String fromFile = file.getProperty(key);
        if (fromFile != null) {
            origins.put(option.longestName(), key + " in " + filePath);
        }
        return fromFile;
    }

    private static String configPath(String[] args, Map<String, String> env) {
        String path = env.get(envName("--config"));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                path = args[i + 1];
            } else if (args[i].startsWith("--config=")) {
                path = args[i].substring("--config=".length());
            }
        }
        return path;
    }

    private static Properties loadConfigFile(String[] args, Map<String, String> env) {
        final String path = configPath(args, env);
        final Properties props = new Properties();
        if (path == null) {
            return props;
        }
        try (Reader r = Files.newBufferedReader(Path.of(path), StandardCharsets.UTF_8)) {
            props.load(r);
        } catch (IOException | RuntimeException e) {
            throw new ConfigException("--config: cannot read '" + path + "': " + e.getMessage());
        }
        return props;
    }

    private static void checkConfigKeys(CommandLine cl, Properties file) {
        final Set<String> known = new TreeSet<>();
        for (OptionSpec o : cl.getCommandSpec().options()) {
            known.add(o.longestName().substring(2));
        }
        known.remove("config");
        known.remove("help");
        known.remove("version");
        for (String key : file.stringPropertyNames()) {
            if (!known.contains(key)) {
                throw new ConfigException("--config: unknown key '" + key + "'; known keys: " + known);
            }
        }
    }

    /**
     * How the user set an option, for error messages: {@code --ring-size}, or
     * {@code SPILLWAY_RING_SIZE (--ring-size)} when the value came from the environment, or
     * {@code ring-size in FILE (--ring-size)} when it came from the config file.
     */
    private String name(String option) {
        final String origin = origins.get(option);
        return origin == null ? option : origin + " (" + option + ")";
    }

    CollectorConfig toConfig() {
        final HostPort httpAddr = convert("--http", http, HostPort::parse);
        final HostPort tcpAddr = blank(tcp) ? null : convert("--tcp", tcp, HostPort::parse);
        final HostPort udpAddr = blank(udp) ? null : convert("--udp", udp, HostPort::parse);
        if (token != null && token.isBlank()) {
            throw new ConfigException(name("--token") + " must not be blank (omit it to disable authentication)");
        }
        if (!blank(jdbcUrl) && !jdbcUrl.startsWith("jdbc:postgresql:")) {
            throw new ConfigException(name("--jdbc-url") + " must start with jdbc:postgresql:, was '" + jdbcUrl + "'");
        }
        if (blank(jdbcUrl) && (dbUser != null || dbPassword != null)) {
            throw new ConfigException("--db-user/--db-password need --jdbc-url (the embedded database generates its own passwords)");
        }
        final int ring = intIn("--ring-size", ringSize, 2, 1 << 30);
        if (Integer.bitCount(ring) != 1) {
            throw new ConfigException(name("--ring-size") + " must be a power of two (e.g. 65536), was " + ring);
        }
        final int batch = intIn("--batch-size", batchSize, 1, ring);
        final Duration flush = durationIn("--flush-interval", flushInterval, Duration.ofMillis(1), Duration.ofHours(1));
        final int workerCount = intIn("--workers", workers, 1, 256);
        final OverflowPolicy policy = convert("--overflow-policy", overflowPolicy, CollectorOptions::policy);
        final int attempts = intIn("--retry-attempts", retryAttempts, 1, 1000);
        final Duration maxElapsed = durationIn("--retry-max-elapsed", retryMaxElapsed, Duration.ZERO,
            Duration.ofHours(24));
        final int body = sizeIn("--max-body-size", maxBodySize, 1024, Integer.MAX_VALUE - 1024);
        final int inflated = sizeIn("--max-decompressed-size", maxDecompressedSize, 1024, 1 << 30);
        final int series = intIn("--max-series", maxSeries, 1, Integer.MAX_VALUE);
        final int line = sizeIn("--max-line-length", maxLineLength, 64, 1 << 30);
        final Duration idle = durationIn("--tcp-idle-timeout", tcpIdleTimeout, Duration.ZERO, Duration.ofDays(7));
        final int tcpConnections = intIn("--tcp-max-connections", tcpMaxConnections, 1, 1_000_000);
        final double hwm = convert("--high-water-mark", highWaterMark, Double::parseDouble);
        if (!(hwm > 0.0 && hwm <= 1.0)) {
            throw new ConfigException(name("--high-water-mark") + " must be a fraction in (0, 1], was " + highWaterMark);
        }
        final int threads = intIn("--ingest-threads", ingestThreads, 1, 256);
        final Duration close = durationIn("--close-timeout", closeTimeout, Duration.ZERO, Duration.ofHours(1));
        final boolean publicPage = bool("--public-status-page", publicStatusPage);
        final int port = intIn("--db-port", dbPort, 0, 65_535);
        final int maxConnections = intIn("--http-max-connections", httpMaxConnections, 1, 1_000_000);
        final long maxBuffered = sizeIn("--http-max-buffered", httpMaxBuffered, 64 * 1024, Integer.MAX_VALUE);
        if (maxBuffered < body) {
            throw new ConfigException(name("--http-max-buffered") + " (" + Units.formatSize(maxBuffered) + ") must be at least "
                + "--max-body-size (" + Units.formatSize(body) + "), or no body of the largest size could be taken");
        }
        final Duration headerTimeout = durationIn("--http-header-timeout", httpHeaderTimeout, Duration.ofMillis(10),
            Duration.ofHours(1));
        final Duration readTimeout = durationIn("--http-read-timeout", httpReadTimeout, Duration.ofMillis(10),
            Duration.ofHours(1));
        final Duration idleTimeout = durationIn("--http-idle-timeout", httpIdleTimeout, Duration.ofMillis(10),
            Duration.ofDays(1));
        final int udpBuffer = sizeIn("--udp-receive-buffer", udpReceiveBuffer, 4096, 1 << 30);
        final Duration chunk = durationIn("--chunk-interval", chunkInterval, Duration.ofMinutes(1),
            Duration.ofDays(36_500));
        final Duration compress = blank(compressAfter) ? null
            : durationIn("--compress-after", compressAfter, Duration.ofMinutes(1), Duration.ofDays(36_500));
        final Duration keep = blank(retention) ? null
            : durationIn("--retention", retention, Duration.ofMinutes(1), Duration.ofDays(36_500));
        final IndexMode index = convert("--index-mode", indexMode,
            v -> IndexMode.valueOf(v.toUpperCase(Locale.ROOT).replace('-', '_')));
        final Path monitorFile = blank(monitors) ? null : Path.of(monitors).toAbsolutePath().normalize();
        if (monitorFile != null && !java.nio.file.Files.isReadable(monitorFile)) {
            throw new ConfigException("--monitors: cannot read '" + monitors + "'");
        }
        final int probes = intIn("--probe-concurrency", probeConcurrency, 1, 10_000);
        final boolean keepAlive = convert("--probe-keep-alive", probeKeepAlive, CollectorOptions::bool);
        final Duration reload = durationIn("--monitor-reload-interval", monitorReloadInterval, Duration.ofSeconds(1),
            Duration.ofDays(1));
        if (blank(dataDir)) {
            throw new ConfigException(name("--data-dir") + " must not be empty");
        }
        final NatsSettings natsSettings = natsSettings(!blank(jdbcUrl));
        final Path data = Path.of(dataDir).toAbsolutePath().normalize();
        final Path spool;
        if (spoolDir == null) {
            spool = data.resolveSibling(data.getFileName() + "-spool");
        } else if (spoolDir.isBlank()) {
            throw new ConfigException("--spool-dir must be a directory or 'off'");
        } else {
            spool = spoolDir.trim().equalsIgnoreCase("off") ? null : Path.of(spoolDir).toAbsolutePath().normalize();
        }
        if (spool != null && spool.startsWith(data) && blank(jdbcUrl)) {
            throw new ConfigException("--spool-dir must not be inside --data-dir (" + data + "): PostgreSQL owns it");
        }
        final long spoolMax = convert("--spool-max-size", spoolMaxSize, Units::parseSize);
        if (spoolMax < (1L << 20)) {
            throw new ConfigException("--spool-max-size must be at least 1MiB, was " + spoolMaxSize);
        }
        final Duration fsync = "always".equalsIgnoreCase(spoolFsync == null ? "" : spoolFsync.trim()) ? Duration.ZERO
            : durationIn("--spool-fsync", spoolFsync, Duration.ofMillis(1), Duration.ofMinutes(1));
        final SpoolConfig.FullPolicy full = convert("--spool-full", spoolFull,
            v -> SpoolConfig.FullPolicy.valueOf(v.toUpperCase(Locale.ROOT).replace('-', '_')));
        final AckMode ackMode = convert("--ack", ack, AckMode::parse);
        final Duration ackWait = durationIn("--ack-timeout", ackTimeout, Duration.ofMillis(10), Duration.ofHours(1));
        if (spool != null && (long) batch * 64 > spoolMax / 4) {
            throw new ConfigException("--spool-max-size (" + Units.formatSize(spoolMax) + ") is too small for batches of "
                + batch + " events; give it at least " + Units.formatSize((long) batch * 64 * 4));
        }
        return new CollectorConfig(httpAddr, tcpAddr, udpAddr, token, blank(jdbcUrl) ? null : jdbcUrl,
            dbUser, dbPassword, Path.of(dataDir).toAbsolutePath().normalize(), port, ring, batch, flush,
            workerCount, policy, attempts, maxElapsed, body, inflated, series, line, idle, tcpConnections, hwm, threads, close,
            maxConnections, maxBuffered, headerTimeout, readTimeout, idleTimeout, udpBuffer, chunk, compress, keep,
            index, monitorFile, probes, keepAlive, reload, alerting(), publicPage, spool, spoolMax, fsync, full, ackMode, ackWait,
            natsSettings);
    }

    private NatsSettings natsSettings(boolean externalDatabase) {
        final NatsSettings.Role r = convert("--role", role,
            v -> NatsSettings.Role.valueOf(v.toUpperCase(Locale.ROOT)));
        if (r == NatsSettings.Role.STANDALONE) {
            if (!blank(nats)) {
                throw new ConfigException("--nats needs --role edge or --role writer");
            }
            return new NatsSettings(r, null, null, null, null, null, null, null, 0, null, null, null, 0);
        }
        if (blank(nats)) {
            throw new ConfigException("--role " + role + " needs --nats URL (e.g. nats://127.0.0.1:4222)");
        }
        if (r == NatsSettings.Role.EDGE && !externalDatabase) {
            throw new ConfigException("--role edge needs --jdbc-url: edges resolve series ids in the shared database "
                + "the writers write to, so that every edge gives a series the same source_id");
        }
        if ((natsUser == null) != (natsPassword == null)) {
            throw new ConfigException("--nats-user and --nats-password go together");
        }
        final java.nio.file.Path creds = blank(natsCreds) ? null : Path.of(natsCreds);
        if (creds != null && !java.nio.file.Files.isReadable(creds)) {
            throw new ConfigException("--nats-creds: cannot read '" + natsCreds + "'");
        }
        final long maxBytes = convert("--nats-max-bytes", natsMaxBytes, Units::parseSize);
        if (maxBytes < (1L << 20) || maxBytes > (1L << 50)) {
            throw new ConfigException("--nats-max-bytes must be 1MiB..1PiB, was " + natsMaxBytes);
        }
        // Writers keep ledger rows for max_age + 1 h, and the ledger's retention is capped at 30 days.
        final Duration maxAge = durationIn("--nats-max-age", natsMaxAge, Duration.ofMinutes(1), Duration.ofDays(29));
        final Duration window = durationIn("--nats-dedup-window", natsDedupWindow, Duration.ofMillis(100), maxAge);
        final Duration ackWait = durationIn("--nats-ack-wait", natsAckWait, Duration.ofSeconds(1), Duration.ofHours(1));
        final int threads = intIn("--writer-threads", writerThreads, 1, 64);
        final NatsSettings settings = new NatsSettings(r, nats.trim(), creds, natsUser, natsPassword,
            natsStream, natsSubject, natsConsumer, maxBytes, maxAge, window, ackWait, threads);
        try {
            dev.spillway.collector.nats.JetStreamRole.topology(settings);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage().replace("JetStreamTopology.", "--nats-"));
        }
        return settings;
    }

    private AlertingConfig alerting() {
        final String slack = blank(slackWebhook) ? null : slackWebhook.trim();
        if (slack != null) {
            httpUrl("--slack-webhook", slack);
        }
        final String pub = blank(publicUrl) ? null : publicUrl.trim();
        if (pub != null) {
            httpUrl("--public-url", pub);
        }
        return new AlertingConfig(slack, pub, durationIn("--notify-max-age", notifyMaxAge, Duration.ofMinutes(1),
            Duration.ofDays(30)));
    }

    private void httpUrl(String option, String value) {
        final java.net.URI u = convert(option, value, java.net.URI::create);
        if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
            throw new ConfigException(name(option) + " must be an http(s) URL with a host");
        }
    }

    private static OverflowPolicy policy(String s) {
        return OverflowPolicy.valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
    }

    private static boolean bool(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw new IllegalArgumentException("expected true or false");
        };
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    private <T> T convert(String option, String value, Function<String, T> f) {
        if (value == null) {
            throw new ConfigException(name(option) + " needs a value");
        }
        try {
            return f.apply(value.trim());
        } catch (RuntimeException e) {
            final String why = e.getMessage() == null ? "" : ": " + e.getMessage();
            throw new ConfigException(name(option) + ": invalid value '" + value + "'" + why);
        }
    }

    private int intIn(String option, String value, int min, int max) {
        final long v = convert(option, value, Long::parseLong);
        if (v < min || v > max) {
            throw new ConfigException(name(option) + " must be " + min + ".." + max + ", was " + value);
        }
        return (int) v;
    }

    private int sizeIn(String option, String value, long min, long max) {
        final long v = convert(option, value, Units::parseSize);
        if (v < min || v > max) {
            throw new ConfigException(name(option) + " must be " + Units.formatSize(min) + ".." + Units.formatSize(max)
                + ", was " + value);
        }
        return (int) v;
    }

    private Duration durationIn(String option, String value, Duration min, Duration max) {
        final Duration d = convert(option, value, Units::parseDuration);
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new ConfigException(name(option) + " must be " + min + ".." + max + ", was " + value);
        }
        return d;
    }

    /** What the build recorded: version, commit, embedded PostgreSQL version. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"spillway-collector " + BuildInfo.version() + " (commit " + BuildInfo.commit() + ")",
                "embedded PostgreSQL " + BuildInfo.postgresVersion(),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }

    private static boolean bool(String option, String value) {
        final String v = value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw new ConfigException(option + " must be true or false, was '" + value + "'");
        };
    }
}
