package dev.spillway.alerting.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

/**
 * The public surface and the dependencies of collector-alerting, checked on its compiled classes: every package is declared
 * here as API or named internal, no API signature leaks an internal type, no package cycle, no use of another
 * module's internals, and dependencies only on the modules below it (notifications; it listens to uptime's transitions).
 */
class ModuleSurfaceTest {

    @Test
    void surfaceAndDependenciesAreAsDeclared() {
        ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.alerting")
            .api("dev.spillway.alerting")
            .assertAll("dev.spillway.runtime", "dev.spillway.uptime");
    }
}
