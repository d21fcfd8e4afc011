package dev.spillway.collector.config;

import dev.spillway.collector.nats.NatsSettings;
import dev.spillway.alerting.AlertingOptions;
import dev.spillway.alerting.AlertingSettings;
import dev.spillway.ingest.IngestOptions;
import dev.spillway.ingest.IngestSettings;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.statuspage.StatusPageOptions;
import dev.spillway.statuspage.StatusPageSettings;
import dev.spillway.uptime.UptimeOptions;
import dev.spillway.uptime.UptimeSettings;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The command line: the options of each module (picocli mixins), composed. Every option can also come from the
 * environment ({@code SPILLWAY_RING_SIZE} for {@code --ring-size}) or from a properties file given with
 * {@code --config} (key {@code ring-size}); the precedence is command line, then environment, then file, then the
 * built-in default.
 *
 * <p>Options are read as strings and converted by their module, so that a value from any of the three sources
 * fails with the same message naming the option (see {@link OptionValues}).
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
    private final Map<String, String> origins = new HashMap<>();

    @Option(names = "--config", paramLabel = "FILE", description = "Java properties file with option defaults.")
    String config;

    // The order of the mixins is the order of the sections in --help.
    @Mixin(name = "ingest")
    IngestOptions ingest;

    @Mixin(name = "database")
    DatabaseOptions database;

    @Mixin(name = "pipeline")
    PipelineOptions pipeline;

    @Mixin(name = "uptime")
    UptimeOptions uptime;

    @Mixin(name = "alerting")
    AlertingOptions alerting;

    @Mixin(name = "status-page")
    StatusPageOptions statusPage;

    @Mixin(name = "role")
    NatsOptions nats;

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
     * Parses and validates the command line against the environment, and reads the files it names (the config
     * file, the {@code --monitors} file). Nothing is started.
     *
     * @param args the command line
     * @param env the environment, {@code System.getenv()} outside tests
     * @param out where {@code --help} and {@code --version} print
     * @throws ConfigException naming the first bad option, in one line
     */
    public static Parsed parse(String[] args, Map<String, String> env, java.io.PrintStream out) {
        final CollectorOptions options = new CollectorOptions();
        final CommandLine cl = new CommandLine(options);
        final Properties file = loadConfigFile(args, env);
        checkConfigKeys(cl, file);
        cl.setDefaultValueProvider(arg -> fallback(arg, env, file, configPath(args, env), options.origins));
        Help.install(cl);
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
        return new Run(options.toConfig(env));
    }

    /** The environment variable for an option: {@code --ring-size} is {@code SPILLWAY_RING_SIZE}. */
    public static String envName(String longOption) {
        return ENV_PREFIX + longOption.replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
    }

    private CollectorConfig toConfig(Map<String, String> env) {
        final OptionValues values = new OptionValues(origins);
        final IngestSettings ingestSettings = ingest.settings(values);
        final DatabaseSettings databaseSettings = database.settings(values);
        // Edges on one host must not share a spool: theirs is named after the HTTP port unless --spool-dir says.
        final PipelineSettings pipelineSettings = pipeline.settings(values, databaseSettings,
            nats.edgeRequested() ? ingestSettings.http() : null);
        final StatusPageSettings statusPageSettings = statusPage.settings(values);
        final AlertingSettings alertingSettings = alerting.settings(values);
        final NatsSettings natsSettings = nats.settings(values, databaseSettings);
        final Duties duties = nats.duties(values, natsSettings, databaseSettings);
        if (natsSettings.role() == NatsSettings.Role.EDGE && databaseSettings.embedded()
            && pipelineSettings.spoolDir() == null) {
            throw values.invalid("--spool-dir", "must not be off for an edge without a database (no --jdbc-url): "
                + "its series catalogue lives there");
        }
        // Last: the monitors file is read only once every plain option is known to be right.
        final UptimeSettings uptimeSettings = uptime.settings(values);
        // Its maintenance windows, by the alerting module's rules (the uptime module knows nothing of alerting).
        final AlertingSettings withWindows = alertingSettings.withWindows(
            dev.spillway.alerting.Maintenance.declared(uptimeSettings.maintenance()))
            .withChannels(dev.spillway.alerting.NotifyApi.declared(uptimeSettings.channels(), env));
        return new CollectorConfig(ingestSettings, databaseSettings, pipelineSettings, natsSettings, duties, uptimeSettings,
            withWindows, statusPageSettings);
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
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ConfigException("--config: cannot read '" + path + "': no such file");
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

    /** What the build recorded: version, commit, embedded PostgreSQL version. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"spillway-collector " + BuildInfo.version() + " (commit " + BuildInfo.commit() + ")",
                "embedded PostgreSQL " + BuildInfo.postgresVersion(),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
