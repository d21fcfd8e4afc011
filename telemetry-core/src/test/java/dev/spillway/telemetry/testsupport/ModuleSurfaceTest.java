package dev.spillway.telemetry.testsupport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.spi.ToolProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Proves that each {@link ModuleSurface} check fails when its rule is broken, and that a clean layout passes, on
 * throwaway classes compiled here: a module under {@code dev.spillway.fixture}, compiled against a few classes of
 * other modules that jdeps does not see (so their dependencies are "not found" ones, as in a real module's build).
 * javac runs in-process through {@link ToolProvider} (java.base): test code is compiled into the
 * {@code dev.spillway.telemetry} module, which does not read {@code java.compiler}, so {@code javax.tools} is out of
 * reach.
 */
class ModuleSurfaceTest {

    private static final String ROOT = "dev.spillway.fixture";

    @TempDir
    static Path shared;
    private static Path others;

    @TempDir
    Path dir;
    private URLClassLoader loader;

    @BeforeAll
    static void compileOtherModules() throws IOException {
        others = compile(shared.resolve("others"), null,
            src("dev.spillway.lib.Lib", "public class Lib { }"),
            src("dev.spillway.library.Book", "public class Book { }"),
            src("dev.spillway.rogue.Rogue", "public class Rogue { }"),
            src("dev.spillway.other.internal.Foo", "public class Foo { }"));
    }

    @AfterEach
    void closeLoader() throws IOException {
        if (loader != null) {
            loader.close();
        }
    }

    @Test
    void cleanLayoutPasses() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Api", """
                public class Api {
                    private final dev.spillway.fixture.internal.Impl impl = new dev.spillway.fixture.internal.Impl();
                    private final Helper helper = new Helper(this);
                    public dev.spillway.lib.Lib lib() { return impl.lib(); }
                    public java.util.List<? extends dev.spillway.lib.Lib> libs() { return java.util.List.of(); }
                    dev.spillway.fixture.internal.Impl packagePrivate() { return impl; }
                    private dev.spillway.fixture.internal.Impl hidden() { return impl; }
                }
                class Helper {
                    Helper(Api api) { }
                    public dev.spillway.fixture.internal.Impl notApi() { return null; }
                }"""),
            src(ROOT + ".spi.Plugin", "public interface Plugin { dev.spillway.fixture.Api api(); }"),
            src(ROOT + ".internal.Impl", """
                public class Impl {
                    public dev.spillway.lib.Lib lib() { return new dev.spillway.lib.Lib(); }
                }""")).api(ROOT, ROOT + ".spi");

        surface.assertAll("dev.spillway.lib");
    }

    @Test
    void packageCycleIsFound() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".a.A", "public class A { public dev.spillway.fixture.b.B b; }"),
            src(ROOT + ".b.B", "public class B { dev.spillway.fixture.internal.C c; }"),
            src(ROOT + ".internal.C", "public class C { Object a = new dev.spillway.fixture.a.A(); }"))
            .api(ROOT + ".a", ROOT + ".b");

        final String message = failure(surface::assertNoPackageCycle);
        assertEquals("1 surface violation(s):\n  package cycle: dev.spillway.fixture.a"
            + " -> dev.spillway.fixture.b (dev.spillway.fixture.a.A -> dev.spillway.fixture.b.B)"
            + " -> dev.spillway.fixture.internal (dev.spillway.fixture.b.B -> dev.spillway.fixture.internal.C)"
            + " -> dev.spillway.fixture.a (dev.spillway.fixture.internal.C -> dev.spillway.fixture.a.A)", message);
    }

    @Test
    void everyWayOfLeakingAnInternalTypeIsFound() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Leaky", """
                import dev.spillway.fixture.internal.*;
                public class Leaky extends Base implements Marker {
                    public Secret field;
                    public Leaky(Secret s) { }
                    public Secret returns() { return null; }
                    public void takes(Secret[] s) { }
                    public void raises() throws Oops { }
                    public java.util.List<? extends Secret> generic() { return null; }
                    public <T extends Secret> void bounded(T t) { }
                    protected Secret forSubclasses() { return null; }
                    public static class Nested { public Secret nested() { return null; } }
                    Secret packagePrivate() { return null; }
                    private Secret hidden() { return null; }
                    private static class Closed { public Secret closed() { return null; } }
                }
                class NotPublic { public Secret notPublic() { return null; } }"""),
            src(ROOT + ".internal.Secret", "public class Secret { }"),
            src(ROOT + ".internal.Base", "public class Base { }"),
            src(ROOT + ".internal.Marker", "public interface Marker { }"),
            src(ROOT + ".internal.Oops", "public class Oops extends Exception { }")).api(ROOT);

        final String message = failure(surface::assertNoInternalTypeInApi);
        assertTrue(message.startsWith("11 surface violation(s)"), message);
        for (String leak : List.of(
            "class dev.spillway.fixture.Leaky extends non-API dev.spillway.fixture.internal.Base",
            "class dev.spillway.fixture.Leaky implements non-API dev.spillway.fixture.internal.Marker",
            "Leaky.field field type non-API dev.spillway.fixture.internal.Secret",
            "Leaky(dev.spillway.fixture.internal.Secret) parameter non-API dev.spillway.fixture.internal.Secret",
            "Leaky.returns() returns non-API dev.spillway.fixture.internal.Secret",
            "Leaky.takes(dev.spillway.fixture.internal.Secret[]) parameter non-API",
            "Leaky.raises() throws dev.spillway.fixture.internal.Oops throws non-API dev.spillway.fixture.internal.Oops",
            "Leaky.generic() returns non-API dev.spillway.fixture.internal.Secret",
            "Leaky.bounded(dev.spillway.fixture.internal.Secret) bounds T by non-API",
            "Leaky.forSubclasses() returns non-API",
            "Leaky$Nested.nested() returns non-API")) {
            assertTrue(message.contains(leak), () -> leak + " in " + message);
        }
        for (String hidden : List.of("packagePrivate", "hidden", "closed", "notPublic")) {
            assertFalse(message.contains(hidden), () -> hidden + " in " + message);
        }
    }

    @Test
    void useOfAnotherModulesInternalsIsFound() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Api", "public class Api { Object impl = new dev.spillway.fixture.internal.Uses(); }"),
            src(ROOT + ".internal.Uses", "public class Uses { Object foo = new dev.spillway.other.internal.Foo(); }"))
            .api(ROOT);

        assertEquals("1 surface violation(s):\n  dev.spillway.fixture.internal.Uses uses dev.spillway.other.internal.Foo,"
            + " internal to another module", failure(surface::assertUsesNoOtherModulesInternals));
        surface.assertDependsOnlyOn("dev.spillway.other");
    }

    @Test
    void packageNeitherApiNorInternalIsFound() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Api", "public class Api { }"),
            src(ROOT + ".misc.M", "public class M { }"),
            src(ROOT + ".internalish.N", "public class N { }"),
            src(ROOT + ".internal.deep.D", "public class D { }"),
            src(ROOT + ".x.internal.E", "public class E { }"))
            .api(ROOT, ROOT + ".gone");

        final String message = failure(surface::assertEveryPackageIsApiOrInternal);
        assertEquals("3 surface violation(s):"
            + "\n  package dev.spillway.fixture.internalish (dev.spillway.fixture.internalish.N) is neither API nor"
            + " internal: export it deliberately, or name it internal"
            + "\n  package dev.spillway.fixture.misc (dev.spillway.fixture.misc.M) is neither API nor internal:"
            + " export it deliberately, or name it internal"
            + "\n  API package dev.spillway.fixture.gone has no classes in " + dir.resolve("classes"), message);
    }

    @Test
    void dependencyOutsideTheAllowedRootsIsFound() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Api", """
                public class Api {
                    public dev.spillway.lib.Lib lib;
                    public dev.spillway.library.Book book;
                    public dev.spillway.rogue.Rogue rogue;
                }""")).api(ROOT);

        assertEquals("2 surface violation(s):"
            + "\n  dev.spillway.fixture.Api uses dev.spillway.library.Book: dev.spillway.fixture may depend only on"
            + " [dev.spillway.lib]"
            + "\n  dev.spillway.fixture.Api uses dev.spillway.rogue.Rogue: dev.spillway.fixture may depend only on"
            + " [dev.spillway.lib]", failure(() -> surface.assertDependsOnlyOn("dev.spillway.lib")));
        surface.assertDependsOnlyOn("dev.spillway.lib", "dev.spillway.library", "dev.spillway.rogue");
    }

    @Test
    void assertAllReportsEveryViolationTogether() throws IOException {
        final ModuleSurface surface = module(
            src(ROOT + ".Api", "public class Api { public dev.spillway.fixture.internal.Impl impl; }"),
            src(ROOT + ".internal.Impl", "public class Impl { public dev.spillway.fixture.Api api; }"),
            src(ROOT + ".misc.M", "public class M { Object foo = new dev.spillway.other.internal.Foo(); }"))
            .api(ROOT);

        final String message = failure(surface::assertAll);
        assertTrue(message.startsWith("5 surface violation(s)"), message);
        for (String problem : List.of("package dev.spillway.fixture.misc", "Api.impl field type non-API",
            "package cycle: dev.spillway.fixture -> dev.spillway.fixture.internal",
            "M uses dev.spillway.other.internal.Foo, internal to another module",
            "M uses dev.spillway.other.internal.Foo: dev.spillway.fixture may depend only on []")) {
            assertTrue(message.contains(problem), () -> problem + " in " + message);
        }
    }

    @Test
    void misuseIsRejectedAtOnce() throws IOException {
        final ModuleSurface surface = module(src(ROOT + ".Api", "public class Api { }"));
        assertThrows(IllegalArgumentException.class, () -> surface.api("dev.spillway.elsewhere"));
        assertThrows(IllegalArgumentException.class, () -> surface.api(ROOT + ".internal"));
        assertThrows(IllegalArgumentException.class, () -> ModuleSurface.of(dir.resolve("missing"), ROOT));
    }

    /** Compiles the module's classes to {@code dir/classes} against the other modules; loads them through {@link #loader}. */
    private ModuleSurface module(Source... sources) throws IOException {
        final Path classes = compile(dir, others, sources);
        loader = new URLClassLoader(new URL[] {url(classes), url(others)}, ClassLoader.getPlatformClassLoader());
        return ModuleSurface.of(classes, ROOT, loader);
    }

    private static Path compile(Path dir, Path classPath, Source... sources) throws IOException {
        final Path classes = Files.createDirectories(dir.resolve("classes"));
        final List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-proc:none",
            "-classpath", classPath == null ? classes.toString() : classPath.toString()));
        for (Source s : sources) {
            final int dot = s.className.lastIndexOf('.');
            final Path file = dir.resolve("src").resolve(s.className.replace('.', '/') + ".java");
            Files.createDirectories(file.getParent());
            Files.writeString(file, "package " + s.className.substring(0, dot) + ";\n" + s.code, StandardCharsets.UTF_8);
            args.add(file.toString());
        }
        final ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow(() -> new AssertionError("no javac"));
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);
        final int rc = javac.run(print, print, args.toArray(String[]::new));
        assertEquals(0, rc, () -> "fixture does not compile: " + out.toString(StandardCharsets.UTF_8));
        return classes;
    }

    private static String failure(Executable check) {
        return assertThrows(AssertionError.class, check).getMessage();
    }

    private static URL url(Path p) {
        try {
            return p.toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Source src(String className, String code) {
        return new Source(className, code);
    }

    private record Source(String className, String code) {
    }
}
