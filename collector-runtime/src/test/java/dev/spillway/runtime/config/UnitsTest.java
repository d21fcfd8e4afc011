package dev.spillway.runtime.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Sizes and durations as people write them, both ways. */
class UnitsTest {

    @Test
    void formatsDurationsAsPeopleWriteThem() {
        assertEquals("0s", Units.formatDuration(Duration.ZERO));
        assertEquals("100ms", Units.formatDuration(Duration.ofMillis(100)));
        assertEquals("5s", Units.formatDuration(Duration.ofSeconds(5)));
        assertEquals("30s", Units.formatDuration(Duration.parse("PT30S")));
        assertEquals("30m", Units.formatDuration(Duration.ofMinutes(30)));
        assertEquals("1h30m", Units.formatDuration(Duration.ofMinutes(90)));
        assertEquals("1d", Units.formatDuration(Duration.ofHours(24)));
        assertEquals("400d", Units.formatDuration(Duration.parse("PT9600H")));
        assertEquals("1d2h3m4s", Units.formatDuration(Duration.parse("P1DT2H3M4S")));
        assertEquals("1500ms", Units.formatDuration(Duration.ofMillis(1500)));
        assertEquals("1m500ms", Units.formatDuration(Duration.ofMillis(60_500)));
        assertEquals("250us", Units.formatDuration(Duration.ofNanos(250_000)));
        assertEquals("7ns", Units.formatDuration(Duration.ofNanos(7)));
        assertEquals("-5s", Units.formatDuration(Duration.ofSeconds(-5)));
    }

    @Test
    void whatIsFormattedParsesBack() {
        for (Duration d : new Duration[] {Duration.ZERO, Duration.ofMillis(100), Duration.ofMillis(1500),
            Duration.ofMinutes(90), Duration.ofDays(400), Duration.parse("P1DT2H3M4.005S"), Duration.ofNanos(1001),
            Duration.ofHours(25)}) {
            assertEquals(d, Units.parseDuration(Units.formatDuration(d)), Units.formatDuration(d));
        }
    }

    @Test
    void parsesOneUnitSeveralInARowOrIso() {
        assertEquals(Duration.ofMillis(250), Units.parseDuration("250ms"));
        assertEquals(Duration.ofMinutes(5), Units.parseDuration("5m"));
        assertEquals(Duration.ZERO, Units.parseDuration("0"));
        assertEquals(Duration.ofSeconds(5), Units.parseDuration("PT5S"));
        assertEquals(Duration.ofMinutes(90), Units.parseDuration("1h30m"));
        assertEquals(Duration.ofMillis(1500), Units.parseDuration("1s500ms"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration("5"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration("1h30"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration("fast"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration(""));
    }

    @Test
    void sizes() {
        assertEquals(32L << 20, Units.parseSize("32MiB"));
        assertEquals(512L << 10, Units.parseSize("512k"));
        assertEquals("32MiB", Units.formatSize(32L << 20));
        assertEquals("1000B", Units.formatSize(1000));
    }
}
