package dev.spillway.runtime.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Every message starts with the option as the user set it; ranges read as people write them. */
class OptionValuesTest {

    private enum Mode { DROP_NEWEST, BLOCK }

    private final OptionValues cli = OptionValues.commandLine();
    private final OptionValues env = new OptionValues(Map.of("--x", "SPILLWAY_X"));

    @Test
    void namesTheOptionAndWhereItsValueCameFrom() {
        assertEquals("--x must be 1..10, was 11", assertThrows(ConfigException.class,
            () -> cli.intIn("--x", "11", 1, 10)).getMessage());
        assertEquals("SPILLWAY_X (--x) must be 1..10, was 11", assertThrows(ConfigException.class,
            () -> env.intIn("--x", "11", 1, 10)).getMessage());
        assertEquals("--x: invalid value 'many': For input string: \"many\"", assertThrows(ConfigException.class,
            () -> cli.intIn("--x", "many", 1, 10)).getMessage());
        assertEquals("--x needs a value", assertThrows(ConfigException.class,
            () -> cli.intIn("--x", null, 1, 10)).getMessage());
    }

    @Test
    void rangesOfDurationsAndSizesReadAsPeopleWriteThem() {
        assertEquals("--x must be 1ms..1h, was 2h", assertThrows(ConfigException.class,
            () -> cli.durationIn("--x", "2h", Duration.ofMillis(1), Duration.ofHours(1))).getMessage());
        assertEquals("--x must be 1KiB..1GiB, was 1", assertThrows(ConfigException.class,
            () -> cli.sizeIn("--x", "1", 1024, 1 << 30)).getMessage());
        assertEquals(Duration.ofMinutes(90), cli.durationIn("--x", "1h30m", Duration.ZERO, Duration.ofDays(1)));
    }

    @Test
    void choicesBooleansUrlsAndFiles(@TempDir Path dir) {
        assertEquals(Mode.DROP_NEWEST, cli.choice("--x", "drop-newest", Mode.class));
        assertEquals("--x: invalid value 'maybe'; expected one of drop-newest, block", assertThrows(
            ConfigException.class, () -> cli.choice("--x", "maybe", Mode.class)).getMessage());
        assertEquals(true, cli.bool("--x", "yes"));
        assertEquals("SPILLWAY_X (--x) must be true or false, was 'sure'", assertThrows(ConfigException.class,
            () -> env.bool("--x", "sure")).getMessage());
        assertEquals("--x must be an http(s) URL with a host", assertThrows(ConfigException.class,
            () -> cli.httpUrl("--x", "ftp://host/")).getMessage());
        assertEquals("--x " + dir.resolve("none") + ": no such file", assertThrows(ConfigException.class,
            () -> cli.readableFile("--x", dir.resolve("none").toString())).getMessage());
        assertEquals("--x " + dir + ": is a directory, not a file", assertThrows(ConfigException.class,
            () -> cli.readableFile("--x", dir.toString())).getMessage());
    }
}
