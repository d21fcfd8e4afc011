package dev.spillway.uptime;

import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.uptime.monitor.AddressPolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code --probe-allow} and {@code --probe-deny}: parsed, validated with messages naming the option as set. */
class UptimeOptionsTest {

    private static UptimeSettings parse(OptionValues values, String... args) {
        final UptimeOptions o = new UptimeOptions();
        new CommandLine(o).parseArgs(args);
        return o.settings(values);
    }

    @Test
    void rangesAreReadIntoThePolicy() {
        assertSame(AddressPolicy.defaults(), parse(OptionValues.commandLine()).probePolicy(), "none given: built-in");
        final AddressPolicy p = parse(OptionValues.commandLine(), "--probe-deny", "10.0.0.0/8, fd00::/8",
            "--probe-allow", "169.254.169.254").probePolicy();
        assertEquals(AddressPolicy.parseList("10.0.0.0/8,fd00::/8"), p.deny());
        assertEquals(AddressPolicy.parseList("169.254.169.254/32"), p.allow());
    }

    @Test
    void aBadRangeNamesTheOptionAsTheUserSetIt() {
        assertEquals("--probe-deny: invalid value '10.0.0.0/8,10.0.0.0/33': '10.0.0.0/33': the prefix length must "
            + "be 0..32", assertThrows(ConfigException.class, () -> parse(OptionValues.commandLine(),
            "--probe-deny", "10.0.0.0/8,10.0.0.0/33")).getMessage());
        final OptionValues fromEnv = new OptionValues(Map.of("--probe-allow", "SPILLWAY_PROBE_ALLOW"));
        assertEquals("SPILLWAY_PROBE_ALLOW (--probe-allow): invalid value '10.0.0.1/8': '10.0.0.1/8' has host bits "
            + "set; did you mean 10.0.0.0/8?", assertThrows(ConfigException.class,
            () -> parse(fromEnv, "--probe-allow", "10.0.0.1/8")).getMessage());
    }

    @Test
    void theMonitorsFileIsCheckedAgainstThePolicyOfTheSameCommandLine(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("m.json");
        Files.writeString(f, "[{\"name\":\"meta\",\"url\":\"http://[::ffff:169.254.169.254]/\"}]");
        assertEquals("--monitors " + f + ": entry 1 ('meta'): url: address policy: 169.254.169.254 is cloud metadata "
            + "(169.254.169.254/32, denied by default; allow with --probe-allow)", assertThrows(ConfigException.class,
            () -> parse(OptionValues.commandLine(), "--monitors", f.toString())).getMessage());
        assertEquals(List.of("meta"), parse(OptionValues.commandLine(), "--monitors", f.toString(), "--probe-allow",
            "169.254.169.254/32").monitors().stream().map(m -> m.name()).toList());
    }
}
