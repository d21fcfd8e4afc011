package dev.spillway.telemetry.arch;

import dev.spillway.telemetry.testsupport.ModuleSurface;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guards the public surface of telemetry-core, on the compiled classes: the module exports exactly the API
 * packages, every other package is an {@code internal} one, no public API signature mentions an internal type, the
 * package graph has no cycle, and telemetry-core depends on no other Spillway module ({@link ModuleSurface}). A new
 * exported package, a new non-internal package, a leaked internal type or a new cycle fails the build here.
 */
class ApiSurfaceTest {

    private static final Set<String> API = Set.of(
        "dev.spillway.telemetry", "dev.spillway.telemetry.sink", "dev.spillway.telemetry.timescale",
        "dev.spillway.telemetry.nats");
    private static final Path CLASSES = Path.of("target", "classes");

    private final ModuleSurface surface = ModuleSurface.of(CLASSES, "dev.spillway.telemetry")
        .api(API.toArray(String[]::new));

    @Test
    void moduleExportsExactlyTheApiPackages() throws IOException {
        final ModuleDescriptor module;
        try (InputStream in = Files.newInputStream(CLASSES.resolve("module-info.class"))) {
            module = ModuleDescriptor.read(in);
        }
        assertEquals("dev.spillway.telemetry", module.name());
        final Set<String> exported = module.exports().stream().map(ModuleDescriptor.Exports::source)
            .collect(Collectors.toSet());
        assertEquals(API, exported, "exported packages");
        assertTrue(module.exports().stream().noneMatch(ModuleDescriptor.Exports::isQualified), "no qualified exports");
        assertTrue(module.opens().isEmpty(), "no opened packages");
    }

    @Test
    void everyPackageIsApiOrInternal() {
        surface.assertEveryPackageIsApiOrInternal();
    }

    @Test
    void noPublicApiSignatureMentionsAnInternalType() {
        surface.assertNoInternalTypeInApi();
    }

    @Test
    void packageGraphHasNoCycle() {
        surface.assertNoPackageCycle();
    }

    @Test
    void dependsOnNoOtherSpillwayModule() {
        surface.assertUsesNoOtherModulesInternals();
        surface.assertDependsOnlyOn();
    }
}
