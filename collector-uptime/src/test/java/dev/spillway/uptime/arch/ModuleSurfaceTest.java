package dev.spillway.uptime.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

/**
 * The public surface and the dependencies of collector-uptime, checked on its compiled classes: every package is declared
 * here as API or named internal, no API signature leaks an internal type, no package cycle, no use of another
 * module's internals, and dependencies only on the modules below it (monitors, heartbeats and transitions; it knows nothing of alerting).
 */
class ModuleSurfaceTest {

    @Test
    void surfaceAndDependenciesAreAsDeclared() {
        ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.uptime")
            .api("dev.spillway.uptime",
            "dev.spillway.uptime.monitor",
            "dev.spillway.uptime.heartbeat",
            "dev.spillway.uptime.transitions",
            "dev.spillway.uptime.schema")
            .assertAll("dev.spillway.telemetry", "dev.spillway.runtime", "dev.spillway.ingest");
    }
}
