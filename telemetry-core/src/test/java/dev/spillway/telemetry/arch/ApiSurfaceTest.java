package dev.spillway.telemetry.arch;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.module.ModuleDescriptor;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Guards the public surface of telemetry-core, on the compiled classes: the module exports exactly the API
 * packages, every other package is an {@code internal} one, no public API signature mentions an internal type,
 * and the package graph (from {@code jdeps}) has no cycle. A new exported package, a new non-internal package, a
 * leaked internal type or a new cycle fails the build here.
 */
class ApiSurfaceTest {

    private static final Set<String> API = Set.of(
        "dev.spillway.telemetry", "dev.spillway.telemetry.sink", "dev.spillway.telemetry.timescale",
        "dev.spillway.telemetry.nats");
    private static final Path CLASSES = Path.of("target", "classes");

    @Test
    void moduleExportsExactlyTheApiPackagesAndEverythingElseIsInternal() throws IOException {
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
        for (String pkg : module.packages()) {
            assertTrue(API.contains(pkg) || pkg.endsWith(".internal") || pkg.contains(".internal."),
                "package " + pkg + " is neither API nor internal: export it deliberately, or name it internal");
        }
    }

    @Test
    void noPublicApiSignatureMentionsAnInternalType() throws Exception {
        final List<String> leaks = new ArrayList<>();
        for (String className : classNames()) {
            final Class<?> c = Class.forName(className, false, getClass().getClassLoader());
            if (!API.contains(c.getPackageName()) || !isVisible(c)) {
                continue;
            }
            for (Method m : c.getDeclaredMethods()) {
                if (isVisible(m.getModifiers()) && !m.isSynthetic()) {
                    check(leaks, m, m.getReturnType());
                    checkParameters(leaks, m);
                }
            }
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (isVisible(k.getModifiers())) {
                    checkParameters(leaks, k);
                }
            }
            for (Field f : c.getDeclaredFields()) {
                if (isVisible(f.getModifiers())) {
                    check(leaks, f, f.getType());
                }
            }
            if (c.getSuperclass() != null) {
                check(leaks, c, c.getSuperclass());
            }
            for (Class<?> i : c.getInterfaces()) {
                check(leaks, c, i);
            }
        }
        assertTrue(leaks.isEmpty(), "internal types in the public API: " + leaks);
    }

    @Test
    void packageGraphHasNoCycle() throws IOException {
        final Map<String, Set<String>> graph = packageGraph();
        assertTrue(graph.containsKey("dev.spillway.telemetry"), "jdeps saw the classes: " + graph);
        final List<List<String>> cycles = new ArrayList<>();
        for (String start : graph.keySet()) {
            findCycle(graph, start, start, new ArrayList<>(List.of(start)), new HashSet<>(), cycles);
        }
        assertTrue(cycles.isEmpty(), "package cycles: " + cycles);
    }

    /** The package-level dependencies among our own packages, from {@code jdeps -verbose:package}. */
    private static Map<String, Set<String>> packageGraph() throws IOException {
        // jdeps reads the classes as a plain class path: without module-info.class it needs no module path.
        final Path copy = Files.createTempDirectory("apisurface");
        try (Stream<Path> files = Files.walk(CLASSES)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                final Path target = copy.resolve(CLASSES.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (p.toString().endsWith(".class") && !p.getFileName().toString().equals("module-info.class")) {
                    Files.copy(p, target);
                }
            }
        }
        final ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow(() -> new AssertionError("no jdeps"));
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final int rc = jdeps.run(new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            "-verbose:package", "-e", "dev\\.spillway\\..*", copy.toString());
        assertEquals(0, rc, () -> "jdeps failed: " + err.toString(StandardCharsets.UTF_8));
        final Pattern edge = Pattern.compile("^\\s+(dev\\.spillway\\.\\S+)\\s+->\\s+(dev\\.spillway\\.\\S+)");
        final Map<String, Set<String>> graph = new HashMap<>();
        for (String line : out.toString(StandardCharsets.UTF_8).split("\\R")) {
            final Matcher m = edge.matcher(line);
            if (m.find() && !m.group(1).equals(m.group(2))) {
                graph.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(m.group(2));
                graph.computeIfAbsent(m.group(2), k -> new TreeSet<>());
            }
        }
        return graph;
    }

    private static void findCycle(Map<String, Set<String>> graph, String start, String at, List<String> path,
                                  Set<String> seen, List<List<String>> cycles) {
        for (String next : graph.getOrDefault(at, Set.of())) {
            if (next.equals(start)) {
                final List<String> cycle = new ArrayList<>(path);
                cycle.add(start);
                cycles.add(cycle);
            } else if (seen.add(next)) {
                path.add(next);
                findCycle(graph, start, next, path, seen, cycles);
                path.remove(path.size() - 1);
            }
        }
    }

    private static List<String> classNames() throws IOException {
        try (Stream<Path> files = Files.walk(CLASSES)) {
            return files.map(p -> CLASSES.relativize(p).toString())
                .filter(s -> s.endsWith(".class") && !s.endsWith("module-info.class"))
                .map(s -> s.substring(0, s.length() - ".class".length()).replace('/', '.').replace('\\', '.'))
                .collect(Collectors.toList());
        }
    }

    private static boolean isVisible(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getDeclaringClass()) {
            if (!isVisible(k.getModifiers())) {
                return false;
            }
        }
        return true;
    }

    private static boolean isVisible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static void checkParameters(List<String> leaks, Executable e) {
        for (Class<?> p : e.getParameterTypes()) {
            check(leaks, e, p);
        }
        for (Class<?> x : e.getExceptionTypes()) {
            check(leaks, e, x);
        }
    }

    private static void check(List<String> leaks, Object where, Class<?> type) {
        Class<?> t = type;
        while (t.isArray()) {
            t = t.getComponentType();
        }
        if (!t.isPrimitive() && t.getPackageName().startsWith("dev.spillway.telemetry")
            && !API.contains(t.getPackageName())) {
            leaks.add(where + " -> " + t.getName());
        }
        if (leaks.size() > 50) {
            fail("too many leaks: " + leaks);
        }
    }
}
