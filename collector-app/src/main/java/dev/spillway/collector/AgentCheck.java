package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What an agent watches, turned into a status index for its heartbeat service (whose statuses should be three,
 * e.g. {@code ["ok","degraded","down"]}): {@link #OK} 0, {@link #DEGRADED} 1, {@link #DOWN} 2, or, for a command,
 * its exit status (reported with {@code /{exit-status}}).
 */
abstract class AgentCheck {

    static final int OK = 0;
    static final int DEGRADED = 1;
    static final int DOWN = 2;

    /** The outcome of one look: the status index and a line saying what was seen. */
    record Outcome(int status, String detail) {
    }

    /** Looks once; never throws (a failure to look is {@link #DOWN} with the reason). */
    abstract Outcome look();

    /** Whether the outcome is an exit status (a command) rather than a status index. */
    boolean exitStatus() {
        return false;
    }

    /**
     * {@code systemctl is-active UNIT}: {@code active} 0; {@code activating}, {@code reloading},
     * {@code deactivating} 1; anything else ({@code inactive}, {@code failed}, an unknown unit) 2.
     */
    static final class Systemd extends AgentCheck {
        private final String unit;
        private final Map<String, String> env;
        private final Duration timeout;

        Systemd(String unit, Map<String, String> env, Duration timeout) {
            this.unit = unit;
            this.env = env;
            this.timeout = timeout;
        }

        @Override
        Outcome look() {
            final Path systemctl = onPath("systemctl", env);
            if (systemctl == null) {
                return new Outcome(DOWN, "systemctl not found on PATH");
            }
            final Run r = run(List.of(systemctl.toString(), "is-active", unit), env, timeout);
            final String state = r.output.strip().lines().findFirst().orElse("").strip();
            return switch (state) {
                case "active" -> new Outcome(OK, unit + " is active");
                case "activating", "reloading", "deactivating" -> new Outcome(DEGRADED, unit + " is " + state);
                default -> new Outcome(DOWN, unit + " is " + (state.isEmpty() ? "unknown (" + r.describe() + ")"
                    : state));
            };
        }
    }

    /** An Elasticsearch cluster's health colour ({@code GET /_cluster/health}): green 0, yellow 1, red or no answer 2. */
    static final class Elasticsearch extends AgentCheck {
        private static final ObjectMapper JSON = new ObjectMapper();
        private final URI health;
        private final HttpClient http;
        private final Duration timeout;

        Elasticsearch(URI base, HttpClient http, Duration timeout) {
            final String b = base.toString();
            this.health = URI.create((b.endsWith("/") ? b : b + "/") + "_cluster/health");
            this.http = http;
            this.timeout = timeout;
        }

        @Override
        Outcome look() {
            try {
                final HttpResponse<String> r = http.send(HttpRequest.newBuilder(health).timeout(timeout).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) {
                    return new Outcome(DOWN, health + " answered " + r.statusCode());
                }
                final JsonNode status = JSON.readTree(r.body()).get("status");
                final String colour = status == null ? "" : status.asText().toLowerCase(Locale.ROOT);
                return switch (colour) {
                    case "green" -> new Outcome(OK, "cluster is green");
                    case "yellow" -> new Outcome(DEGRADED, "cluster is yellow");
                    case "red" -> new Outcome(DOWN, "cluster is red");
                    default -> new Outcome(DOWN, health + " gave no health colour");
                };
            } catch (IOException e) {
                return new Outcome(DOWN, health + ": " + e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return new Outcome(DOWN, "interrupted");
            }
        }
    }

    /** A command's exit status (0 success, anything else a failure with that status; 124 for a timeout). */
    static final class Command extends AgentCheck {
        private final List<String> command;
        private final Map<String, String> env;
        private final Duration timeout;

        Command(List<String> command, Map<String, String> env, Duration timeout) {
            this.command = List.copyOf(command);
            this.env = env;
            this.timeout = timeout;
        }

        @Override
        Outcome look() {
            final Run r = run(command, env, timeout);
            return new Outcome(r.exit, r.describe() + (r.output.isBlank() ? "" : ": " + last(r.output)));
        }

        @Override
        boolean exitStatus() {
            return true;
        }

        private static String last(String output) {
            final String t = output.strip();
            return t.length() <= 500 ? t : "..." + t.substring(t.length() - 497);
        }
    }

    /** A finished process: exit status (124 timed out, 127 not started) and its first 64 KiB of output. */
    record Run(int exit, String output, String error) {
        String describe() {
            return error != null ? error : "exit status " + exit;
        }
    }

    static Run run(List<String> command, Map<String, String> env, Duration timeout) {
        final ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().putAll(env);
        final Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Run(127, "", "cannot run " + command.get(0) + ": " + e.getMessage());
        }
        try {
            // Output read on its own thread so a chatty command cannot block on a full pipe.
            final java.util.concurrent.CompletableFuture<byte[]> out = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> {
                    try {
                        return p.getInputStream().readNBytes(64 * 1024);
                    } catch (IOException e) {
                        return new byte[0];
                    }
                });
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                return new Run(124, "", "timed out after " + timeout.toSeconds() + " s");
            }
            return new Run(p.exitValue(), new String(out.get(1, TimeUnit.SECONDS), StandardCharsets.UTF_8), null);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            return new Run(130, "", "interrupted");
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return new Run(p.exitValue(), "", null);
        }
    }

    /** The executable {@code name} in the environment's PATH, or null. */
    static Path onPath(String name, Map<String, String> env) {
        for (String dir : env.getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            final Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
