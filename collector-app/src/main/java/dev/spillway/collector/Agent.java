package dev.spillway.collector;

import dev.spillway.runtime.config.Units;

import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * {@code java -jar spillway-collector.jar agent KIND TARGET --collector URL --service ID [options]}: watches one
 * thing and reports it to a heartbeat service, so nobody writes a script for it:
 * <pre>
 * agent systemd nginx.service      systemctl is-active: active 0, activating/reloading/deactivating 1, else 2
 * agent elasticsearch http://es:9200   cluster health: green 0, yellow 1, red or no answer 2
 * agent command -- pg_dump mydb    the command's exit status, as /start + /{exit-status} with a run id
 * </pre>
 * The first two ping {@code /api/v1/services/{id}/ping?status=N} (register the service with three statuses, e.g.
 * {@code ["ok","degraded","down"]}), with what was seen as the body. Options: {@code --token} (or
 * {@code SPILLWAY_TOKEN}; a ping key is enough), {@code --every 60s} between looks, {@code --once} to look once and
 * exit (for cron), {@code --timeout 10s} per look and per request. A report is tried 3 times (1 s, then 2 s apart);
 * exit status with {@code --once}: 0 reported, 1 not reported, 2 bad usage.
 */
public final class Agent {

    private static final Pattern SERVICE = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final String USAGE = "usage: agent systemd UNIT | elasticsearch URL | command -- CMD [ARGS...] "
        + "--collector URL --service ID [--token T] [--every 60s] [--once] [--timeout 10s]";

    private final AgentCheck check;
    private final URI collector;
    private final String service;
    private final String token;
    private final Duration timeout;
    private final HttpClient http;
    private final PrintStream err;

    private Agent(AgentCheck check, URI collector, String service, String token, Duration timeout, HttpClient http,
                  PrintStream err) {
        this.check = check;
        this.collector = collector;
        this.service = service;
        this.token = token;
        this.timeout = timeout;
        this.http = http;
        this.err = err;
    }

    /**
     * Runs the agent; returns only with {@code --once} or on bad usage.
     *
     * @param args the arguments after {@code agent}
     * @param env the environment (PATH for systemctl and commands, SPILLWAY_TOKEN)
     * @return the exit status
     */
    public static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
        final List<String> rest = new ArrayList<>();
        List<String> command = null;
        String collector = null;
        String service = null;
        String token = env.get("SPILLWAY_TOKEN");
        Duration every = Duration.ofSeconds(60);
        Duration timeout = Duration.ofSeconds(10);
        boolean once = false;
        try {
            for (int i = 0; i < args.length; i++) {
                final String a = args[i];
                switch (a) {
                    case "--" -> {
                        command = List.of(args).subList(i + 1, args.length);
                        i = args.length;
                    }
                    case "--collector" -> collector = value(args, ++i, a);
                    case "--service" -> service = value(args, ++i, a);
                    case "--token" -> token = value(args, ++i, a);
                    case "--every" -> every = Units.parseDuration(value(args, ++i, a));
                    case "--timeout" -> timeout = Units.parseDuration(value(args, ++i, a));
                    case "--once" -> once = true;
                    case "-h", "--help" -> {
                        out.println(USAGE);
                        return 0;
                    }
                    default -> {
                        if (a.startsWith("--")) {
                            throw new IllegalArgumentException("unknown option " + a);
                        }
                        rest.add(a);
                    }
                }
            }
            if (collector == null || service == null) {
                throw new IllegalArgumentException("--collector and --service are required");
            }
            if (!SERVICE.matcher(service).matches()) {
                throw new IllegalArgumentException("--service must match [A-Za-z0-9_.-]{1,64}");
            }
            if (every.compareTo(Duration.ofSeconds(1)) < 0 || timeout.compareTo(Duration.ofMillis(100)) < 0) {
                throw new IllegalArgumentException("--every must be at least 1s and --timeout at least 100ms");
            }
            final URI base = URI.create(collector.endsWith("/") ? collector.substring(0, collector.length() - 1)
                : collector);
            if (base.getScheme() == null || !base.getScheme().startsWith("http") || base.getHost() == null) {
                throw new IllegalArgumentException("--collector must be an http(s) URL, was '" + collector + "'");
            }
            final HttpClient http = HttpClient.newBuilder().connectTimeout(timeout).build();
            final AgentCheck check = check(rest, command, env, http, timeout);
            final Agent agent = new Agent(check, base, service, token, timeout, http, err);
            if (once) {
                return agent.lookAndReport() ? 0 : 1;
            }
            while (!Thread.currentThread().isInterrupted()) {
                agent.lookAndReport();
                Thread.sleep(every.toMillis());
            }
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("spillway agent: " + e.getMessage() + "\n" + USAGE);
            return 2;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    private static AgentCheck check(List<String> rest, List<String> command, Map<String, String> env, HttpClient http,
                                    Duration timeout) {
        if (rest.isEmpty()) {
            throw new IllegalArgumentException("which kind: systemd, elasticsearch or command");
        }
        return switch (rest.get(0)) {
            case "systemd" -> {
                if (rest.size() != 2) {
                    throw new IllegalArgumentException("agent systemd takes one unit, e.g. nginx.service");
                }
                yield new AgentCheck.Systemd(rest.get(1), env, timeout);
            }
            case "elasticsearch" -> {
                if (rest.size() != 2 || !rest.get(1).startsWith("http")) {
                    throw new IllegalArgumentException("agent elasticsearch takes the cluster's URL, e.g. "
                        + "http://127.0.0.1:9200");
                }
                yield new AgentCheck.Elasticsearch(URI.create(rest.get(1)), http, timeout);
            }
            case "command" -> {
                if (command == null || command.isEmpty() || rest.size() != 1) {
                    throw new IllegalArgumentException("agent command takes the command after --, e.g. "
                        + "agent command ... -- /usr/local/bin/backup.sh");
                }
                yield new AgentCheck.Command(command, env, timeout);
            }
            default -> throw new IllegalArgumentException("unknown kind '" + rest.get(0)
                + "' (systemd, elasticsearch or command)");
        };
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    /** One look and its report; whether the report was taken. */
    boolean lookAndReport() throws InterruptedException {
        final String service = URLEncoder.encode(this.service, StandardCharsets.UTF_8);
        if (check.exitStatus()) {
            final String rid = UUID.randomUUID().toString();
            send("/api/v1/services/" + service + "/start?rid=" + rid, "");
            final AgentCheck.Outcome o = check.look();
            return send("/api/v1/services/" + service + "/" + Math.min(255, Math.max(0, o.status())) + "?rid=" + rid,
                o.detail());
        }
        final AgentCheck.Outcome o = check.look();
        return send("/api/v1/services/" + service + "/ping?status=" + o.status(), o.detail());
    }

    /** POSTs a signal, up to 3 tries; whether the collector took it (2xx). A 4xx is not retried. */
    private boolean send(String path, String body) throws InterruptedException {
        String last = null;
        for (int attempt = 1; attempt <= 3; attempt++) {
            try {
                final HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(collector + path)).timeout(timeout)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .POST(HttpRequest.BodyPublishers.ofString(body));
                if (token != null && !token.isEmpty()) {
                    b.header("Authorization", "Token " + token);
                }
                final HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() / 100 == 2) {
                    return true;
                }
                last = r.statusCode() + " " + r.body();
                if (r.statusCode() / 100 == 4) {
                    break; // the request is wrong (unknown service, bad key): trying again will not help
                }
            } catch (java.io.IOException e) {
                last = e.toString();
            }
            if (attempt < 3) {
                Thread.sleep(1000L * attempt);
            }
        }
        err.println("spillway agent: report to " + collector + path.replaceAll("\\?.*", "") + " failed: " + last);
        return false;
    }
}
