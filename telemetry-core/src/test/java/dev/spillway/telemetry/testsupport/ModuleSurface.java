package dev.spillway.telemetry.testsupport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

/**
 * Guards the surface of one Spillway module, on its compiled classes. Without JPMS on the test class path, this is
 * what keeps the modules apart: every package is either exported deliberately ({@link #api}) or named
 * {@code internal}; no public API signature mentions a non-API type of the module; the module's packages form no
 * cycle; the module touches no other module's {@code internal} packages; and it depends only on the modules it is
 * allowed to (so dependencies point one way). Package dependencies come from {@code jdeps -verbose:class}.
 *
 * <pre>{@code
 * ModuleSurface.of(Path.of("target", "classes"), "dev.spillway.ingest")
 *     .api("dev.spillway.ingest", "dev.spillway.ingest.internal.http")
 *     .assertAll("dev.spillway.telemetry", "dev.spillway.runtime");
 * }</pre>
 *
 * Each {@code assert...} method throws an {@link AssertionError} listing every violation it found.
 */
public final class ModuleSurface {

    /** Dependencies on packages under this prefix are the ones checked (the JDK and libraries are not). */
    private static final String PROJECT = "dev.spillway";
    private static final Pattern JDEPS_EDGE = Pattern.compile("^\\s+(\\S+)\\s+->\\s+(\\S+)\\s+\\S.*$");

    private final Path classes;
    private final String root;
    private final ClassLoader loader;
    private final Set<String> api;
    /** Package name to the binary names of its classes (module-info and package-info excluded). */
    private final Map<String, Set<String>> packages;

    private ModuleSurface(Path classes, String root, ClassLoader loader, Set<String> api,
                          Map<String, Set<String>> packages) {
        this.classes = classes;
        this.root = root;
        this.loader = loader;
        this.api = api;
        this.packages = packages;
    }

    /** The module compiled to {@code classes} whose packages all lie under {@code root}; loads through the context class loader. */
    public static ModuleSurface of(Path classes, String root) {
        return of(classes, root, Thread.currentThread().getContextClassLoader());
    }

    /** As {@link #of(Path, String)}, loading the classes (for the signature check) through {@code loader}. */
    public static ModuleSurface of(Path classes, String root, ClassLoader loader) {
        final Map<String, Set<String>> packages = scan(classes);
        if (packages.isEmpty()) {
            throw new IllegalArgumentException("no classes in " + classes.toAbsolutePath()
                + " (run from the module directory, after compile)");
        }
        return new ModuleSurface(classes, root, loader, Set.of(), packages);
    }

    /** The exported packages: each must lie under the root package and must not be internal. */
    public ModuleSurface api(String... packageNames) {
        final Set<String> api = new TreeSet<>(Arrays.asList(packageNames));
        for (String pkg : api) {
            if (!within(pkg, root) || isInternal(pkg)) {
                throw new IllegalArgumentException("API package " + pkg + " must lie under " + root
                    + " and not be internal");
            }
        }
        return new ModuleSurface(classes, root, loader, Set.copyOf(api), packages);
    }

    /** Runs all five checks (jdeps once) and reports every violation together. */
    public void assertAll(String... allowedDependencyRoots) {
        final Map<String, Set<String>> edges = classEdges();
        final List<String> problems = new ArrayList<>();
        problems.addAll(unclassifiedPackages());
        problems.addAll(internalTypesInApi());
        problems.addAll(packageCycles(edges));
        problems.addAll(otherModulesInternalsUsed(edges));
        problems.addAll(dependenciesOutside(edges, allowedDependencyRoots));
        failIfAny(problems);
    }

    /** Each package with classes is in {@link #api} or has an {@code internal} segment; each API package has classes. */
    public void assertEveryPackageIsApiOrInternal() {
        failIfAny(unclassifiedPackages());
    }

    /** No public or protected signature of a public type in an API package mentions a non-API type of this module. */
    public void assertNoInternalTypeInApi() {
        failIfAny(internalTypesInApi());
    }

    /** The dependencies among the {@code dev.spillway} packages of this module form no cycle. */
    public void assertNoPackageCycle() {
        failIfAny(packageCycles(classEdges()));
    }

    /** No class of this module uses a class of another module's {@code internal} package. */
    public void assertUsesNoOtherModulesInternals() {
        failIfAny(otherModulesInternalsUsed(classEdges()));
    }

    /** Every dependency on a {@code dev.spillway} package outside this module lies under one of {@code roots}. */
    public void assertDependsOnlyOn(String... roots) {
        failIfAny(dependenciesOutside(classEdges(), roots));
    }

    private List<String> unclassifiedPackages() {
        final List<String> problems = new ArrayList<>();
        for (String pkg : packages.keySet()) {
            if (!api.contains(pkg) && !isInternal(pkg)) {
                problems.add("package " + (pkg.isEmpty() ? "(default)" : pkg) + " (" + first(packages.get(pkg))
                    + ") is neither API nor internal: export it deliberately, or name it internal");
            }
        }
        for (String pkg : api) {
            if (!packages.containsKey(pkg)) {
                problems.add("API package " + pkg + " has no classes in " + classes);
            }
        }
        return problems;
    }

    private List<String> internalTypesInApi() {
        final List<String> leaks = new ArrayList<>();
        for (String pkg : api) {
            for (String name : packages.getOrDefault(pkg, Set.of())) {
                final Class<?> c = load(name);
                if (!isVisible(c)) {
                    continue;
                }
                checkTypeParameters(leaks, c, c.getTypeParameters());
                check(leaks, c, "extends", c.getGenericSuperclass());
                for (Type i : c.getGenericInterfaces()) {
                    check(leaks, c, "implements", i);
                }
                for (Field f : c.getDeclaredFields()) {
                    if (isVisible(f.getModifiers()) && !f.isSynthetic()) {
                        check(leaks, f, "field type", f.getGenericType());
                    }
                }
                for (Constructor<?> k : c.getDeclaredConstructors()) {
                    if (isVisible(k.getModifiers()) && !k.isSynthetic()) {
                        checkExecutable(leaks, k);
                    }
                }
                for (Method m : c.getDeclaredMethods()) {
                    if (isVisible(m.getModifiers()) && !m.isSynthetic()) {
                        check(leaks, m, "returns", m.getGenericReturnType());
                        checkExecutable(leaks, m);
                    }
                }
            }
        }
        return leaks;
    }

    private List<String> packageCycles(Map<String, Set<String>> edges) {
        // Package graph inside the module, each edge with one class edge that makes it (for the message).
        final Map<String, Map<String, String>> graph = new TreeMap<>();
        edges.forEach((from, tos) -> {
            for (String to : tos) {
                final String p = packageOf(from);
                final String q = packageOf(to);
                if (!p.equals(q) && within(q, root)) {
                    graph.computeIfAbsent(p, k -> new TreeMap<>()).putIfAbsent(q, from + " -> " + to);
                }
            }
        });
        final Set<String> cycles = new TreeSet<>();
        for (String start : graph.keySet()) {
            findCycles(graph, start, start, new ArrayList<>(List.of(start)), new TreeSet<>(), cycles);
        }
        final List<String> problems = new ArrayList<>();
        for (String cycle : cycles) {
            problems.add("package cycle: " + cycle);
        }
        return problems;
    }

    private List<String> otherModulesInternalsUsed(Map<String, Set<String>> edges) {
        final List<String> problems = new ArrayList<>();
        edges.forEach((from, tos) -> {
            for (String to : tos) {
                if (!within(packageOf(to), root) && isInternal(packageOf(to))) {
                    problems.add(from + " uses " + to + ", internal to another module");
                }
            }
        });
        return problems;
    }

    private List<String> dependenciesOutside(Map<String, Set<String>> edges, String... roots) {
        final List<String> problems = new ArrayList<>();
        edges.forEach((from, tos) -> {
            for (String to : tos) {
                final String pkg = packageOf(to);
                if (!within(pkg, root) && Arrays.stream(roots).noneMatch(r -> within(pkg, r))) {
                    problems.add(from + " uses " + to + ": " + root + " may depend only on "
                        + Arrays.toString(roots));
                }
            }
        });
        return problems;
    }

    /** Class-level dependencies from this module's classes to {@code dev.spillway} classes, from jdeps. */
    private Map<String, Set<String>> classEdges() {
        final Path copy;
        try {
            copy = copyWithoutModuleInfo();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        final String out;
        try {
            // -filter:none: the default drops same-package edges, and with them every trace of some classes.
            out = jdeps("-verbose:class", "-filter:none", copy.toString());
        } finally {
            delete(copy);
        }
        final Map<String, Set<String>> edges = new TreeMap<>();
        final Set<String> seen = new TreeSet<>();
        for (String line : out.split("\\R")) {
            // "   a.b.C      -> d.e.F      <where>", <where> being a module, the class directory or "not found": a
            // class of another module, missing here, still gives its edge (and jdeps exits 0), so no
            // --ignore-missing-deps is needed.
            final Matcher m = JDEPS_EDGE.matcher(line);
            if (m.matches()) {
                seen.add(m.group(1));
                if (within(packageOf(m.group(2)), PROJECT) && !m.group(1).equals(m.group(2))) {
                    edges.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(m.group(2));
                }
            }
        }
        // Every class depends at least on java.lang.Object: a class jdeps did not report means it was not read.
        final List<String> unseen = new ArrayList<>();
        packages.values().forEach(names -> names.stream().filter(n -> !seen.contains(n)).forEach(unseen::add));
        if (!unseen.isEmpty()) {
            throw new AssertionError("jdeps reported no dependencies of " + unseen + "; its output:\n" + out);
        }
        return edges;
    }

    /** jdeps reads the classes as a plain class path: without module-info.class it needs no module path. */
    private Path copyWithoutModuleInfo() throws IOException {
        final Path copy = Files.createTempDirectory("modulesurface");
        try (Stream<Path> files = Files.walk(classes)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                final Path target = copy.resolve(classes.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (p.toString().endsWith(".class") && !p.getFileName().toString().equals("module-info.class")) {
                    Files.copy(p, target);
                }
            }
        }
        return copy;
    }

    private static String jdeps(String... args) {
        final ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow(() -> new AssertionError("no jdeps"));
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final int rc = jdeps.run(new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8), args);
        if (rc != 0) {
            throw new AssertionError("jdeps " + String.join(" ", args) + " failed (" + rc + "): "
                + err.toString(StandardCharsets.UTF_8));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** Records each cycle through {@code start} once, written from its smallest package so rotations coincide. */
    private static void findCycles(Map<String, Map<String, String>> graph, String start, String at, List<String> path,
                                   Set<String> seen, Set<String> cycles) {
        for (String next : graph.getOrDefault(at, Map.of()).keySet()) {
            if (next.equals(start)) {
                cycles.add(describeCycle(graph, path));
            } else if (seen.add(next)) {
                path.add(next);
                findCycles(graph, start, next, path, seen, cycles);
                path.remove(path.size() - 1);
            }
        }
    }

    private static String describeCycle(Map<String, Map<String, String>> graph, List<String> path) {
        final int first = path.indexOf(path.stream().min(Comparator.naturalOrder()).orElseThrow());
        final StringBuilder s = new StringBuilder(path.get(first));
        for (int i = 1; i <= path.size(); i++) {
            final String from = path.get((first + i - 1) % path.size());
            final String to = path.get((first + i) % path.size());
            s.append(" -> ").append(to).append(" (").append(graph.get(from).get(to)).append(')');
        }
        return s.toString();
    }

    private Class<?> load(String name) {
        try {
            return Class.forName(name, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new AssertionError("cannot load " + name + " from " + classes + " through " + loader, e);
        }
    }

    private void checkExecutable(List<String> leaks, Executable e) {
        checkTypeParameters(leaks, e, e.getTypeParameters());
        for (Type p : e.getGenericParameterTypes()) {
            check(leaks, e, "parameter", p);
        }
        for (Type x : e.getGenericExceptionTypes()) {
            check(leaks, e, "throws", x);
        }
    }

    private void checkTypeParameters(List<String> leaks, Object where, TypeVariable<?>[] parameters) {
        for (TypeVariable<?> v : parameters) {
            for (Type b : v.getBounds()) {
                check(leaks, where, "bounds " + v.getName() + " by", b);
            }
        }
    }

    private void check(List<String> leaks, Object where, String role, Type type) {
        for (Class<?> t : mentioned(type, new ArrayList<>())) {
            if (within(t.getPackageName(), root) && !api.contains(t.getPackageName())) {
                leaks.add("API " + where + " " + role + " non-API " + t.getName());
            }
        }
    }

    /**
     * The classes a (generic) type mentions: itself or its element type, its type arguments and wildcard bounds. A
     * type variable mentions nothing here: its bounds are checked where it is declared (and may be recursive).
     */
    private static List<Class<?>> mentioned(Type type, List<Class<?>> into) {
        if (type instanceof Class<?> c) {
            Class<?> t = c;
            while (t.isArray()) {
                t = t.getComponentType();
            }
            if (!t.isPrimitive()) {
                into.add(t);
            }
        } else if (type instanceof ParameterizedType p) {
            mentioned(p.getRawType(), into);
            for (Type a : p.getActualTypeArguments()) {
                mentioned(a, into);
            }
        } else if (type instanceof GenericArrayType a) {
            mentioned(a.getGenericComponentType(), into);
        } else if (type instanceof WildcardType w) {
            Stream.concat(Arrays.stream(w.getUpperBounds()), Arrays.stream(w.getLowerBounds()))
                .forEach(b -> mentioned(b, into));
        }
        return into;
    }

    private static Map<String, Set<String>> scan(Path classes) {
        final Map<String, Set<String>> packages = new TreeMap<>();
        if (!Files.isDirectory(classes)) {
            return packages;
        }
        try (Stream<Path> files = Files.walk(classes)) {
            files.map(p -> classes.relativize(p).toString().replace('\\', '/'))
                .filter(s -> s.endsWith(".class") && !s.endsWith("module-info.class") && !s.endsWith("package-info.class"))
                .map(s -> s.substring(0, s.length() - ".class".length()).replace('/', '.'))
                .forEach(name -> packages.computeIfAbsent(packageOf(name), k -> new TreeSet<>()).add(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return packages;
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void failIfAny(List<String> problems) {
        if (!problems.isEmpty()) {
            throw new AssertionError(problems.size() + " surface violation(s):\n  " + String.join("\n  ", problems));
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

    private static boolean isInternal(String pkg) {
        return ("." + pkg + ".").contains(".internal.");
    }

    /** {@code pkg} is {@code prefix} or one of its sub-packages. */
    private static boolean within(String pkg, String prefix) {
        return pkg.equals(prefix) || pkg.startsWith(prefix + ".");
    }

    private static String packageOf(String className) {
        final int dot = className.lastIndexOf('.');
        return dot < 0 ? "" : className.substring(0, dot);
    }

    private static String first(Set<String> names) {
        return names.size() == 1 ? names.iterator().next() : names.iterator().next() + ", ...";
    }
}
