package dev.spillway.collector;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's Chromium in headless mode, run once per page: {@code --dump-dom} for the DOM after the page's scripts
 * ran (with a virtual time budget, so timers such as the 10 s refresh fire without waiting in real time) and
 * {@code --screenshot} for a picture. Each run gets a fresh profile directory. Console messages go to the captured
 * stderr, where the caller can look for them.
 */
final class HeadlessChromium {

    /** Environment variable that names the browser binary; default {@code /usr/bin/chromium}. */
    static final String ENV = "SPILLWAY_CHROMIUM";

    private final Path binary;

    private HeadlessChromium(Path binary) {
        this.binary = binary;
    }

    /** The browser, or null when it is not installed. */
    static HeadlessChromium find() {
        final String override = System.getenv(ENV);
        final Path p = Paths.get(override != null && !override.isBlank() ? override : "/usr/bin/chromium");
        return Files.isExecutable(p) ? new HeadlessChromium(p) : null;
    }

    /**
     * Output of one run.
     *
     * @param stdout what the browser printed (the DOM for {@code --dump-dom})
     * @param console the console messages it logged ({@code CONSOLE} lines of its stderr)
     * @param stderr everything on stderr, for failure messages
     */
    record Run(String stdout, List<String> console, String stderr) {
    }

    /** Loads {@code url} and returns the serialised DOM once {@code virtualMillis} of page time have passed. */
    Run dumpDom(String url, int virtualMillis, int width, int height) throws Exception {
        return run(List.of("--dump-dom", "--virtual-time-budget=" + virtualMillis, "--window-size=" + width + "," + height,
            url));
    }

    /**
     * Same, with more command-line flags, e.g. {@code --host-resolver-rules=MAP evil.test 127.0.0.1} to give a test
     * server a name of its own (another site, as far as the browser can tell).
     */
    Run dumpDom(String url, int virtualMillis, int width, int height, List<String> flags) throws Exception {
        final List<String> args = new ArrayList<>(flags);
        args.addAll(List.of("--dump-dom", "--virtual-time-budget=" + virtualMillis, "--window-size=" + width + ","
            + height, url));
        return run(args);
    }

    /** Loads {@code url} and saves a PNG of the viewport after {@code virtualMillis} of page time. */
    Run screenshot(String url, Path png, int virtualMillis, int width, int height) throws Exception {
        Files.createDirectories(png.toAbsolutePath().getParent());
        return run(List.of("--screenshot=" + png.toAbsolutePath(), "--hide-scrollbars",
            "--virtual-time-budget=" + virtualMillis, "--window-size=" + width + "," + height, url));
    }

    private Run run(List<String> extra) throws Exception {
        final Path profile = Files.createTempDirectory("chromium-profile-");
        final Path out = profile.resolveSibling(profile.getFileName() + ".out");
        final Path err = profile.resolveSibling(profile.getFileName() + ".err");
        try {
            final List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
                "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"));
            cmd.addAll(extra);
            final Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("chromium did not finish in 90 s: " + cmd + "\n" + read(err));
            }
            final String stderr = read(err);
            if (p.exitValue() != 0) {
                throw new AssertionError("chromium exited with " + p.exitValue() + ": " + cmd + "\n" + stderr);
            }
            final List<String> console = stderr.lines().filter(l -> l.contains(":CONSOLE")).toList();
            return new Run(read(out), console, stderr);
        } finally {
            delete(profile);
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String read(Path file) throws IOException {
        return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
