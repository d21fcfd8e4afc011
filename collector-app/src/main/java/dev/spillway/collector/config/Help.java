package dev.spillway.collector.config;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.UsageMessageSpec;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --help}: the options in one section per module (the mixins of {@link CollectorOptions}), then
 * environment, value syntax, endpoints and exit codes.
 */
final class Help {

    /** Section headings by mixin name, in the order of the mixins. */
    private static final Map<String, String> HEADINGS = headings();

    private Help() {
    }

    private static Map<String, String> headings() {
        final Map<String, String> h = new LinkedHashMap<>();
        h.put("ingest", "Inputs (HTTP, TCP, UDP), authentication and limits");
        h.put("database", "Database");
        h.put("pipeline", "Pipeline and disk spool");
        h.put("uptime", "Monitors");
        h.put("alerting", "Notifications");
        h.put("status-page", "Status page");
        h.put("role", "Roles and duties (edge and writer collectors over NATS JetStream; what each runs)");
        return h;
    }

    /** Sets the grouped option list and the footer. */
    static void install(CommandLine cl) {
        cl.getHelpSectionMap().put(UsageMessageSpec.SECTION_KEY_OPTION_LIST, Help::optionSections);
        cl.getCommandSpec().usageMessage().footer(footer(cl));
    }

    /** The command's own options (--config, --help, --version), then a headed section per module. */
    private static String optionSections(CommandLine.Help help) {
        final CommandSpec spec = help.commandSpec();
        final Set<String> inMixins = new HashSet<>();
        final StringBuilder sections = new StringBuilder();
        for (Map.Entry<String, String> section : HEADINGS.entrySet()) {
            final CommandSpec mixin = spec.mixins().get(section.getKey());
            if (mixin == null) {
                continue;
            }
            final List<OptionSpec> options = new ArrayList<>();
            for (OptionSpec o : mixin.options()) {
                final OptionSpec own = spec.findOption(o.longestName());
                options.add(own != null ? own : o);
                inMixins.add(o.longestName());
            }
            sections.append(String.format("%n%s:%n", section.getValue()))
                .append(help.optionListExcludingGroups(options));
        }
        final List<OptionSpec> general = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (!inMixins.contains(o.longestName())) {
                general.add(o);
            }
        }
        return help.optionListExcludingGroups(general) + sections;
    }

    static String footer(CommandLine cl) {
        final StringBuilder env = new StringBuilder("    ");
        int col = 4;
        for (OptionSpec o : cl.getCommandSpec().options()) {
            final String name = o.longestName();
            if (name.equals("--help") || name.equals("--version")) {
                continue;
            }
            final String var = CollectorOptions.envName(name);
            if (col + var.length() + 1 > 76) {
                env.append("%n    ");
                col = 4;
            } else if (col > 4) {
                env.append(' ');
                col++;
            }
            env.append(var);
            col += var.length();
        }
        // Lines stay under 80 columns: picocli wraps longer footer lines without indentation.
        return "%nEnvironment:%n"
            + "  Every option can be set as an environment variable (SPILLWAY_ and the%n"
            + "  option in upper case, '-' as '_') or as a key of the --config properties%n"
            + "  file (the option without '--'):%n"
            + env + "%n"
            + "  Precedence: command line > environment > config file > default.%n"
            + "  Errors name the variable or key a bad value came from.%n"
            + "  SPILLWAY_LOG_LEVEL sets the log level (default INFO).%n"
            + "%nValues:%n"
            + "  SIZE      bytes with an optional binary unit: 1048576, 512KiB, 32MiB, 1GiB%n"
            + "            (KB/MB/GB and K/M/G mean the same powers of 1024)%n"
            + "  DURATION  a number and a unit ns, us, ms, s, m, h, d (100ms, 30s, 7d),%n"
            + "            several in a row (1h30m), a bare 0, or ISO-8601 (PT5S)%n"
            + "%nEndpoints (HTTP):%n"
            + "  POST /api/v2/write, /write  line protocol (v2/v1 APIs, precision, gzip):%n"
            + "                              204 accepted, 400 names the first bad line,%n"
            + "                              413 too large, 503 + Retry-After when full%n"
            + "  GET  /ping                  204, always open%n"
            + "  GET  /health                200 pass, 503 fail (database down); open%n"
            + "  GET  /ready                 200 when the database answers, else 503%n"
            + "  GET  /metrics               Prometheus text, or OpenMetrics (Accept)%n"
            + "  With --token, all but /ping and /health need 'Authorization: Token T'%n"
            + "  (or v1 credentials); /api/v1/tokens makes read-only tokens and ping keys.%n"
            + "  All but /ping and /health refuse a Host that is not the collector's%n"
            + "  (IP address, localhost, --allowed-hosts) and other sites' Origin: 403.%n"
            + "  JSON APIs take Content-Type: application/json only (415 otherwise).%n"
            + "  No query API (/query, Flux): query PostgreSQL, view 'telemetry'.%n"
            + "%nExit codes:%n"
            + "  0    clean shutdown (SIGTERM/SIGINT), every accepted event accounted for%n"
            + "  1    startup failed (database unreachable, data directory or address in%n"
            + "       use; one line with the cause), or the final account does not balance%n"
            + "  2    invalid configuration, a bad --monitors file included (one line naming%n"
            + "       the option or variable; nothing was started)%n"
            + "  130  a second SIGTERM/SIGINT cut the drain short%n";
    }
}
