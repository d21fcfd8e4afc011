package dev.spillway.collector.config;

import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The part of {@code --help} after the options: environment, value syntax, endpoints, exit codes. */
final class Help {

    private Help() {
    }

    static String footer(CommandLine cl) {
        final StringBuilder env = new StringBuilder();
        int col = 0;
        for (OptionSpec o : cl.getCommandSpec().options()) {
            final String name = o.longestName();
            if (name.equals("--help") || name.equals("--version")) {
                continue;
            }
            final String var = CollectorOptions.envName(name);
            if (col + var.length() > 100) {
                env.append("%n    ");
                col = 0;
            } else if (col > 0) {
                env.append(' ');
            }
            env.append(var);
            col += var.length() + 1;
        }
        return "%nEnvironment:%n"
            + "  Every option can be set as an environment variable (SPILLWAY_ + the option in upper case, '-' as '_')"
            + "%n  or as a key of the --config properties file (the option without '--'):%n    " + env + "%n"
            + "  Precedence: command line > environment > config file > default. Errors name the variable or key.%n"
            + "  SPILLWAY_LOG_LEVEL sets the log level (default INFO).%n"
            + "%nValues:%n"
            + "  SIZE      a number of bytes with an optional binary unit: 1048576, 512KiB, 32MiB, 1GiB (KB, MB, GB"
            + " and K, M, G%n            mean the same powers of 1024).%n"
            + "  DURATION  a number with a unit: ns, us, ms, s, m, h, d (100ms, 30s, 5m, 7d); a bare 0; or ISO-8601"
            + " (PT5S).%n"
            + "%nEndpoints (HTTP):%n"
            + "  POST /api/v2/write, POST /write  InfluxDB line protocol (v2 and v1 APIs; precision, gzip); 204 when"
            + " stored%n"
            + "                                  in the buffer, 400 naming the first bad line, 413, 503 + Retry-After"
            + " when full%n"
            + "  GET  /ping                      204, always open%n"
            + "  GET  /health                    200 pass / 503 fail (database down), always open%n"
            + "  GET  /ready                     200 when the database answers and the pipeline runs, else 503%n"
            + "  GET  /metrics                   Prometheus text; OpenMetrics when asked for (Accept)%n"
            + "  With --token, all but /ping and /health need 'Authorization: Token T' (or v1 credentials).%n"
            + "  There is no query API (/query, Flux): query PostgreSQL (view 'telemetry').%n"
            + "%nExit codes:%n"
            + "  0    clean shutdown (SIGTERM/SIGINT), every accepted event accounted for%n"
            + "  1    startup failed (database, data directory in use, address in use), or the final account does"
            + " not balance%n"
            + "  2    invalid configuration (the message names the option, variable or key)%n"
            + "  130  a second SIGTERM/SIGINT cut the drain short%n";
    }
}
