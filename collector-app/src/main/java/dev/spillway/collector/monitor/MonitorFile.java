package dev.spillway.collector.monitor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.spillway.collector.api.ApiException;
import dev.spillway.collector.config.ConfigException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Reads {@code --monitors FILE}: JSON ({@code .json}) or YAML (anything else), either a list of monitors or an
 * object with a {@code monitors} list, each validated by the API's rules. Applied at start as upserts, so config
 * kept in git wins over API edits of the same names at the next start; monitors not in the file are left alone.
 */
public final class MonitorFile {

    private MonitorFile() {
    }

    /**
     * Parses and validates the file.
     *
     * @throws ConfigException naming the file, the entry and the field
     */
    public static List<MonitorSpec> read(Path file) {
        final ObjectMapper mapper = file.toString().toLowerCase(Locale.ROOT).endsWith(".json")
            ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
        final JsonNode root;
        try {
            root = mapper.readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException("--monitors: cannot read '" + file + "': " + e.getMessage());
        }
        final JsonNode list = root != null && root.isObject() ? root.get("monitors") : root;
        if (list == null || !list.isArray()) {
            throw new ConfigException("--monitors: '" + file + "' must hold a list of monitors, or an object with a "
                + "'monitors' list");
        }
        final List<MonitorSpec> out = new ArrayList<>();
        final Set<String> names = new HashSet<>();
        int i = 0;
        for (JsonNode entry : list) {
            i++;
            try {
                final MonitorSpec spec = MonitorValidator.parse(entry, null);
                if (!names.add(spec.name())) {
                    throw new ConfigException("--monitors: '" + file + "' entry " + i + ": name '" + spec.name()
                        + "' appears twice");
                }
                out.add(spec);
            } catch (ApiException e) {
                throw new ConfigException("--monitors: '" + file + "' entry " + i + ": " + e.getMessage());
            }
        }
        return out;
    }
}
