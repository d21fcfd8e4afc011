package dev.spillway.runtime.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

/**
 * The public surface and the dependencies of collector-runtime, checked on its compiled classes: every package is declared
 * here as API or named internal, no API signature leaks an internal type, no package cycle, no use of another
 * module's internals, and dependencies only on the modules below it (what every collector module runs on; it depends on no other Spillway module).
 */
class ModuleSurfaceTest {

    @Test
    void surfaceAndDependenciesAreAsDeclared() {
        ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.runtime")
            .api("dev.spillway.runtime.api",
            "dev.spillway.runtime.config",
            "dev.spillway.runtime.db",
            "dev.spillway.runtime.lifecycle",
            "dev.spillway.runtime.log")
            .assertAll();
    }
}
