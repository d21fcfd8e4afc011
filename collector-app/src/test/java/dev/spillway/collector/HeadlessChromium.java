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

    /**
     * Loads {@code url} in a viewport emulated as a phone's ({@code width} x {@code height} CSS pixels, mobile: the
     * page's {@code <meta name="viewport">} applies; a headless window cannot be narrower than 500 px), waits until
     * {@code ready} (a script expression) is true, then returns the string value of {@code expression}. Talks to the
     * browser over the DevTools protocol (its WebSocket, with the JDK's client).
     */
    String evaluateOnPhone(String url, int width, int height, String ready, String expression) throws Exception {
        final Path profile = Files.createTempDirectory("chromium-profile-");
        final Path err = profile.resolveSibling(profile.getFileName() + ".err");
        final List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--headless", "--no-sandbox",
            "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
            "--user-data-dir=" + profile, "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"));
        final Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(err.toFile()).start();
        java.net.http.WebSocket ws = null;
        Cdp client = null;
        try {
            final Path portFile = profile.resolve("DevToolsActivePort");
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(30),
                () -> quietly(() -> Files.exists(portFile) && !Files.readString(portFile).isBlank()),
                "chromium's DevTools port");
            final int port = Integer.parseInt(Files.readString(portFile).lines().findFirst().orElseThrow().trim());
            final java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            final String list = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + port + "/json/list")).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            final java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "\"type\"\\s*:\\s*\"page\"[\\s\\S]*?\"webSocketDebuggerUrl\"\\s*:\\s*\"([^\"]+)\"").matcher(list);
            if (!m.find()) {
                throw new AssertionError("no page target in " + list);
            }
            final Cdp cdp = new Cdp();
            client = cdp;
            ws = http.newWebSocketBuilder().buildAsync(java.net.URI.create(m.group(1)), cdp).get(30, TimeUnit.SECONDS);
            cdp.call(ws, "Emulation.setDeviceMetricsOverride", "{\"width\":" + width + ",\"height\":" + height
                + ",\"deviceScaleFactor\":1,\"mobile\":true}");
            cdp.call(ws, "Page.navigate", "{\"url\":\"" + url + "\"}");
            final java.net.http.WebSocket socket = ws;
            dev.spillway.telemetry.testsupport.Await.until(java.time.Duration.ofSeconds(30),
                () -> quietly(() -> "true".equals(cdp.evaluate(socket, "String(" + ready + ")"))),
                "page ready: " + ready);
            return cdp.evaluate(ws, expression);
        } finally {
            if (ws != null) {
                try {
                    client.call(ws, "Browser.close", "{}"); // a clean exit: its processes stop writing the profile
                } catch (Exception | AssertionError e) {
                    // the browser may close the socket before it answers
                }
                ws.abort();
            }
            final List<ProcessHandle> all = new ArrayList<>(p.descendants().toList());
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            for (ProcessHandle child : all) {
                child.destroyForcibly();
                child.onExit().get(10, TimeUnit.SECONDS);
            }
            delete(profile);
            Files.deleteIfExists(err);
        }
    }

    /** A condition that may fail while the browser starts: false until it holds. */
    private static boolean quietly(java.util.concurrent.Callable<Boolean> condition) {
        try {
            return condition.call();
        } catch (Exception | AssertionError e) { // e.g. the document not there yet while the page navigates
            return false;
        }
    }

    /** A minimal DevTools protocol client: numbered calls, each answered by the message with its id. */
    private static final class Cdp implements java.net.http.WebSocket.Listener {
        private final java.util.concurrent.ConcurrentHashMap<Integer, java.util.concurrent.CompletableFuture<String>>
            pending = new java.util.concurrent.ConcurrentHashMap<>();
        private final java.util.concurrent.atomic.AtomicInteger ids = new java.util.concurrent.atomic.AtomicInteger();
        private final StringBuilder partial = new StringBuilder();

        String call(java.net.http.WebSocket ws, String method, String params) throws Exception {
            final int id = ids.incrementAndGet();
            final java.util.concurrent.CompletableFuture<String> answer = new java.util.concurrent.CompletableFuture<>();
            pending.put(id, answer);
            ws.sendText("{\"id\":" + id + ",\"method\":\"" + method + "\",\"params\":" + params + "}", true)
                .get(30, TimeUnit.SECONDS);
            final String reply = answer.get(30, TimeUnit.SECONDS);
            if (reply.contains("\"error\"")) {
                throw new AssertionError(method + ": " + reply);
            }
            return reply;
        }

        /** The value of a script expression that yields a string of digits, letters, commas and spaces. */
        String evaluate(java.net.http.WebSocket ws, String expression) throws Exception {
            final String reply = call(ws, "Runtime.evaluate", "{\"expression\":\"" + expression.replace("\\", "\\\\")
                .replace("\"", "\\\"") + "\",\"returnByValue\":true}");
            final java.util.regex.Matcher v = java.util.regex.Pattern.compile("\"value\":\"([^\"]*)\"").matcher(reply);
            return v.find() ? v.group(1) : null;
        }

        @Override
        public java.util.concurrent.CompletionStage<?> onText(java.net.http.WebSocket ws, CharSequence data,
                                                              boolean last) {
            partial.append(data);
            if (last) {
                final String msg = partial.toString();
                partial.setLength(0);
                final java.util.regex.Matcher id = java.util.regex.Pattern.compile("^\\{\"id\":(\\d+),").matcher(msg);
                if (id.find()) {
                    final java.util.concurrent.CompletableFuture<String> f = pending.remove(Integer.parseInt(id.group(1)));
                    if (f != null) {
                        f.complete(msg);
                    }
                }
            }
            ws.request(1);
            return null;
        }
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
