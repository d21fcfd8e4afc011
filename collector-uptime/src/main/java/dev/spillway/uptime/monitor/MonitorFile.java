package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.config.ConfigException;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Reads {@code --monitors FILE}: JSON ({@code .json}) or YAML (anything else), either a list of monitors or an
 * object with a {@code monitors} list, each validated by the API's rules, and a {@code maintenance} list of windows
 * (validated by the alerting module, which applies them). Applied at start as upserts, so config
 * kept in git wins over API edits of the same names at the next start; monitors not in the file are left alone.
 */
public final class MonitorFile {

    private MonitorFile() {
    }

    /**
     * Parses and validates the file.
     *
     * @throws ConfigException one line naming the file, the entry (number and name) and the field
     */
    public static List<MonitorSpec> read(Path file) {
        return read(file, "--monitors " + file);
    }

    /**
     * Parses and validates the file.
     *
     * @param label how messages name the file, e.g. {@code --monitors monitors.yaml}
     * @throws ConfigException {@code "<label>: <what is wrong>"} in one line, naming the entry (number and name)
     *     and the field
     */
    public static List<MonitorSpec> read(Path file, String label) {
        return read(file, label, AddressPolicy.defaults());
    }

    /**
     * Parses and validates the file; an entry whose URL is an IP literal the policy denies is refused too.
     *
     * @param label how messages name the file, e.g. {@code --monitors monitors.yaml}
     * @param policy the probe address policy ({@code --probe-allow}, {@code --probe-deny})
     * @throws ConfigException {@code "<label>: <what is wrong>"} in one line, naming the entry (number and name)
     *     and the field
     */
    public static List<MonitorSpec> read(Path file, String label, AddressPolicy policy) {
        return readAll(file, label, policy).monitors();
    }

    /**
     * A maintenance window declared in the file ({@code maintenance:} list), not validated here: the alerting
     * module validates it with its API's rules (this module knows nothing of alerting).
     *
     * @param where how messages name it: {@code --monitors f.yaml: maintenance entry 2 ('nightly')}
     * @param id the window's id (its {@code id} field)
     * @param body the entry, in the API's shape ({@code scope}, {@code target}, {@code cron}, ...; {@code id} too)
     */
    public record DeclaredWindow(String where, String id, JsonNode body) {
    }

    /**
     * A notification channel declared in the file ({@code channels:} list), not validated here: the alerting module
     * validates it with the rules of {@code PUT /api/v1/channels/{id}}.
     *
     * @param where how messages name it: {@code --monitors f.yaml: channels entry 1 ('ops-mail')}
     * @param id the channel's id (its {@code id} field)
     * @param body the entry, in the API's shape ({@code kind}, {@code url}, {@code routes}, the kind's options)
     */
    public record DeclaredChannel(String where, String id, JsonNode body) {
    }

    /**
     * What a file declares: monitors, maintenance windows and notification channels.
     *
     * @param monitors validated like API bodies
     * @param maintenance windows, each an object with a string {@code id} unique in the file
     * @param channels channels, each an object with a string {@code id} unique in the file
     */
    public record Contents(List<MonitorSpec> monitors, List<DeclaredWindow> maintenance,
                           List<DeclaredChannel> channels) {

        /** Copies the lists. */
        public Contents {
            monitors = List.copyOf(monitors);
            maintenance = List.copyOf(maintenance);
            channels = List.copyOf(channels);
        }
    }

    /**
     * Parses and validates the file: a list of monitors, or an object with a {@code monitors} list, a
     * {@code maintenance} list of windows and a {@code channels} list of notification channels (each optional).
     *
     * @throws ConfigException {@code "<label>: <what is wrong>"} in one line, naming the entry (number and name)
     *     and the field
     */
    public static Contents readAll(Path file, String label, AddressPolicy policy) {
        final boolean json = file.toString().toLowerCase(Locale.ROOT).endsWith(".json");
        final ObjectMapper mapper = json ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
        final JsonNode root;
        try {
            root = mapper.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new ConfigException(label + ": not valid " + (json ? "JSON" : "YAML") + syntaxError(e));
        } catch (IOException e) {
            throw new ConfigException(label + ": cannot read it: " + oneLine(e.getMessage()));
        }
        final boolean object = root != null && root.isObject();
        if (object && (root.has("monitors") || root.has("maintenance") || root.has("channels"))) {
            for (java.util.Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
                final String f = it.next();
                if (!f.equals("monitors") && !f.equals("maintenance") && !f.equals("channels")) {
                    throw new ConfigException(label + ": " + f + ": unknown field; the file holds 'monitors', "
                        + "'maintenance' and 'channels' lists");
                }
            }
        }
        final JsonNode windows = object ? root.get("maintenance") : null;
        final JsonNode channels = object ? root.get("channels") : null;
        final JsonNode declared = object ? root.get("monitors") : root;
        final JsonNode list = declared == null && (windows != null || channels != null)
            ? new ObjectMapper().createArrayNode() : declared;
        if (list == null || !list.isArray()) {
            throw new ConfigException(label + ": must hold a list of monitors, or an object with a 'monitors' list "
                + "(and a 'maintenance' list of windows)");
        }
        final List<MonitorSpec> out = new ArrayList<>();
        final Set<String> names = new HashSet<>();
        int i = 0;
        for (JsonNode entry : list) {
            i++;
            final JsonNode name = entry.get("name");
            final String which = "entry " + i + (name != null && name.isTextual() ? " ('" + name.asText() + "')" : "");
            try {
                final MonitorSpec spec = MonitorValidator.parse(entry, null);
                MonitorValidator.checkAddress(spec, policy);
                if (!names.add(spec.name())) {
                    throw new ConfigException(label + ": " + which + ": name '" + spec.name() + "' appears twice");
                }
                out.add(spec);
            } catch (ApiException e) {
                throw new ConfigException(label + ": " + which + ": " + oneLine(e.getMessage()));
            }
        }
        return new Contents(out, maintenance(windows, label), channels(channels, label));
    }

    private static List<DeclaredChannel> channels(JsonNode channels, String label) {
        if (channels == null || channels.isNull()) {
            return List.of();
        }
        if (!channels.isArray()) {
            throw new ConfigException(label + ": channels: must be a list of channels");
        }
        final List<DeclaredChannel> out = new ArrayList<>();
        final Set<String> ids = new HashSet<>();
        int i = 0;
        for (JsonNode entry : channels) {
            i++;
            final JsonNode id = entry.get("id");
            final String where = label + ": channels entry " + i
                + (id != null && id.isTextual() ? " ('" + id.asText() + "')" : "");
            if (!entry.isObject()) {
                throw new ConfigException(where + ": must be an object such as {id: ops, kind: slack, "
                    + "url: 'https://hooks.slack.com/...'}");
            }
            if (id == null || !id.isTextual()) {
                throw new ConfigException(where + ": id: is required (a string naming the channel)");
            }
            if (!ids.add(id.asText())) {
                throw new ConfigException(where + ": id '" + id.asText() + "' appears twice");
            }
            out.add(new DeclaredChannel(where, id.asText(), entry));
        }
        return out;
    }

    private static List<DeclaredWindow> maintenance(JsonNode windows, String label) {
        if (windows == null || windows.isNull()) {
            return List.of();
        }
        if (!windows.isArray()) {
            throw new ConfigException(label + ": maintenance: must be a list of windows");
        }
        final List<DeclaredWindow> out = new ArrayList<>();
        final Set<String> ids = new HashSet<>();
        int i = 0;
        for (JsonNode entry : windows) {
            i++;
            final JsonNode id = entry.get("id");
            final String where = label + ": maintenance entry " + i
                + (id != null && id.isTextual() ? " ('" + id.asText() + "')" : "");
            if (!entry.isObject()) {
                throw new ConfigException(where + ": must be an object such as {id: nightly, scope: all, "
                    + "cron: '0 2 * * *', duration: 30m, zone: UTC}");
            }
            if (id == null || !id.isTextual()) {
                throw new ConfigException(where + ": id: is required (a string naming the window)");
            }
            if (!ids.add(id.asText())) {
                throw new ConfigException(where + ": id '" + id.asText() + "' appears twice");
            }
            out.add(new DeclaredWindow(where, id.asText(), entry));
        }
        return out;
    }

    /**
     * {@code " at line 4, column 1: expected ',' or ']', but got <stream end> (while parsing a flow sequence)"}: where
     * and what, without the parser's multi-line excerpt of the source.
     */
    private static String syntaxError(JsonProcessingException e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof MarkedYAMLException yaml && yaml.getProblem() != null) {
                final Mark at = yaml.getProblemMark();
                return (at == null ? "" : " at line " + (at.getLine() + 1) + ", column " + (at.getColumn() + 1)) + ": "
                    + oneLine(yaml.getProblem()) + (yaml.getContext() == null ? "" : " (" + oneLine(yaml.getContext())
                    + ")");
            }
        }
        final JsonLocation at = e.getLocation();
        return (at != null && at.getLineNr() > 0 ? " at line " + at.getLineNr() + ", column " + at.getColumnNr() : "")
            + ": " + oneLine(e.getOriginalMessage());
    }

    /** The parser's message without its source excerpt: the first line, trimmed. */
    private static String oneLine(String message) {
        if (message == null || message.isBlank()) {
            return "unknown error";
        }
        final String first = message.strip().lines().findFirst().orElse("").strip();
        return first.endsWith(":") ? first.substring(0, first.length() - 1) : first;
    }
}
