package dev.spillway.collector.config;

import dev.spillway.collector.nats.NatsSettings;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The role options (a picocli mixin of the collector's command): standalone, or edge and writer collectors that
 * pass batches through NATS JetStream.
 */
public final class NatsOptions {

    @Option(names = "--role", paramLabel = "ROLE", defaultValue = "standalone",
        description = "standalone (inputs and database writes in one process), edge (publish batches to NATS "
            + "JetStream; needs --nats and a shared --jdbc-url for series ids) or writer (standalone plus consuming "
            + "the edges' batches from JetStream) (default: ${DEFAULT-VALUE}).")
    String role;

    @Option(names = "--duties", paramLabel = "LIST",
        description = "What this collector runs: a comma-separated list of ingest (always on: listeners, API, "
            + "pipeline), monitors (its share, by leases), heartbeats (announcing missed deadlines), notifications "
            + "(the relay), or all (default: all for standalone and writer, ingest for edge).")
    String duties;

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

    /** Whether {@code --role} asks for an edge (before validation; for defaults that depend on it). */
    boolean edgeRequested() {
        return role != null && role.trim().equalsIgnoreCase("edge");
    }

    /**
     * Validates {@code --duties} against the role.
     *
     * @throws ConfigException naming {@code --duties}
     */
    public Duties duties(OptionValues v, NatsSettings settings, DatabaseSettings database) {
        final Duties d = Duties.parse(v, duties, settings.role());
        if (settings.role() == NatsSettings.Role.EDGE && database.embedded()
            && (d.monitors() || d.heartbeats() || d.notifications())) {
            throw v.invalid("--duties", "an edge without a database (no --jdbc-url) runs ingest only: monitors, "
                + "heartbeat deadlines and notifications live in the database; give the edge --jdbc-url to run "
                + "them there, or run them on the writer");
        }
        return d;
    }

    /**
     * Validates the options.
     *
     * @param database the database settings: an edge needs an external, shared database
     * @throws ConfigException naming the first bad option as the user set it
     */
    public NatsSettings settings(OptionValues v, DatabaseSettings database) {
        final NatsSettings.Role r = v.choice("--role", role, NatsSettings.Role.class);
        if (r == NatsSettings.Role.STANDALONE) {
            if (!OptionValues.blank(nats)) {
                throw new ConfigException(v.name("--nats") + " needs --role edge or --role writer");
            }
            return new NatsSettings(r, null, null, null, null, null, null, null, 0, null, null, null, 0);
        }
        if (OptionValues.blank(nats)) {
            throw new ConfigException(v.name("--role") + " " + role.trim()
                + " needs --nats URL (e.g. nats://127.0.0.1:4222)");
        }
        if ((natsUser == null) != (natsPassword == null)) {
            throw natsUser != null ? v.invalid("--nats-user", "needs --nats-password (they go together)")
                : v.invalid("--nats-password", "needs --nats-user (they go together)");
        }
        final Path creds = OptionValues.blank(natsCreds) ? null : v.readableFile("--nats-creds", natsCreds);
        final long maxBytes = v.convert("--nats-max-bytes", natsMaxBytes, Units::parseSize);
        if (maxBytes < (1L << 20) || maxBytes > (1L << 50)) {
            throw v.invalid("--nats-max-bytes", "must be 1MiB..1PiB, was " + natsMaxBytes);
        }
        // Writers keep ledger rows for max_age + 1 h, and the ledger's retention is capped at 30 days.
        final Duration maxAge = v.durationIn("--nats-max-age", natsMaxAge, Duration.ofMinutes(1), Duration.ofDays(29));
        final Duration window = v.durationIn("--nats-dedup-window", natsDedupWindow, Duration.ofMillis(100), maxAge);
        final Duration ackWait = v.durationIn("--nats-ack-wait", natsAckWait, Duration.ofSeconds(1),
            Duration.ofHours(1));
        final int threads = v.intIn("--writer-threads", writerThreads, 1, 64);
        final NatsSettings settings = new NatsSettings(r, nats.trim(), creds, natsUser, natsPassword,
            natsStream, natsSubject, natsConsumer, maxBytes, maxAge, window, ackWait, threads);
        try {
            JetStreamRole.topology(settings);
        } catch (IllegalArgumentException e) {
            // "JetStreamTopology.stream must be ..." -> "--nats-stream must be ...", as the user set it.
            final String message = e.getMessage().replaceFirst("^JetStreamTopology\\.", "");
            final int space = message.indexOf(' ');
            final String field = space < 0 ? message : message.substring(0, space);
            final String option = switch (field) {
                case "stream" -> "--nats-stream";
                case "subject" -> "--nats-subject";
                case "consumer" -> "--nats-consumer";
                case "maxBytes" -> "--nats-max-bytes";
                case "maxAge" -> "--nats-max-age";
                case "duplicateWindow" -> "--nats-dedup-window";
                case "ackWait" -> "--nats-ack-wait";
                default -> null;
            };
            throw option == null ? new ConfigException("--nats: " + message)
                : v.invalid(option, message.substring(field.length()).strip());
        }
        return settings;
    }
}
