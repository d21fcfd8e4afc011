package dev.spillway.statuspage.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

/**
 * The public surface and the dependencies of collector-status-page, checked on its compiled classes: every package is declared
 * here as API or named internal, no API signature leaks an internal type, no package cycle, no use of another
 * module's internals, and dependencies only on the modules below it (reads what the other modules write).
 */
class ModuleSurfaceTest {

    @Test
    void surfaceAndDependenciesAreAsDeclared() {
        ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.statuspage")
            .api("dev.spillway.statuspage")
            .assertAll("dev.spillway.telemetry", "dev.spillway.runtime", "dev.spillway.ingest", "dev.spillway.uptime", "dev.spillway.alerting");
    }
}
