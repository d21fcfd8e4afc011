package dev.spillway.ingest.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

/**
 * The public surface and the dependencies of collector-ingest, checked on its compiled classes: every package is declared
 * here as API or named internal, no API signature leaks an internal type, no package cycle, no use of another
 * module's internals, and dependencies only on the modules below it (line protocol in, points into the pipeline).
 */
class ModuleSurfaceTest {

    @Test
    void surfaceAndDependenciesAreAsDeclared() {
        ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.ingest")
            .api("dev.spillway.ingest", "dev.spillway.ingest.auth", "dev.spillway.ingest.listen",
                "dev.spillway.ingest.series", "dev.spillway.ingest.lineprotocol", "dev.spillway.ingest.resend")
            .assertAll("dev.spillway.telemetry", "dev.spillway.runtime");
    }
}
