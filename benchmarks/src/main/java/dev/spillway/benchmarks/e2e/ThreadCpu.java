package dev.spillway.benchmarks.e2e;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Per-thread CPU of this JVM from {@code /proc/self/task/*}: every native thread (Java threads, GC, JIT, VM), its
 * name ({@code comm}, 15 characters at most), its run time in nanoseconds ({@code schedstat}, first field) and its
 * voluntary and involuntary context switches ({@code status}). A snapshot before and after a run, grouped by the
 * name with its digits folded to {@code #}, tells which threads own the process's CPU and how often they slept.
 * Linux only; elsewhere the snapshot is empty.
 */
final class ThreadCpu {

    /** One thread at one moment. */
    record Sample(String name, long runNanos, long voluntary, long involuntary) {
    }

    /** One group's difference over a run. */
    record Group(String name, int threads, long runNanos, long voluntary, long involuntary) {
    }

    private final Map<Long, Sample> byTid;

    private ThreadCpu(Map<Long, Sample> byTid) {
        this.byTid = byTid;
    }

    static ThreadCpu snapshot() {
        final Map<Long, Sample> m = new HashMap<>();
        final Path tasks = Path.of("/proc/self/task");
        if (!Files.isDirectory(tasks)) {
            return new ThreadCpu(m);
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(tasks)) {
            for (Path t : ds) {
                try {
                    final String name = Files.readString(t.resolve("comm")).trim();
                    final long run = Long.parseLong(Files.readString(t.resolve("schedstat")).trim().split(" ")[0]);
                    long vol = 0;
                    long invol = 0;
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            vol = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            invol = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    m.put(Long.parseLong(t.getFileName().toString()), new Sample(name, run, vol, invol));
                } catch (IOException | RuntimeException gone) {
                    // the thread ended while it was read
                }
            }
        } catch (IOException e) {
            return new ThreadCpu(m);
        }
        return new ThreadCpu(m);
    }

    /** Groups of threads by name (digits folded), largest CPU first; a thread born during the run counts from 0. */
    List<Group> since(ThreadCpu before) {
        final Map<String, long[]> acc = new TreeMap<>();
        for (Map.Entry<Long, Sample> e : byTid.entrySet()) {
            final Sample now = e.getValue();
            final Sample then = before.byTid.getOrDefault(e.getKey(), new Sample(now.name(), 0, 0, 0));
            final long[] a = acc.computeIfAbsent(now.name().replaceAll("[0-9]+", "#"), k -> new long[4]);
            final long run = now.runNanos() - then.runNanos();
            final long vol = now.voluntary() - then.voluntary();
            final long invol = now.involuntary() - then.involuntary();
            if (run == 0 && vol == 0 && invol == 0) {
                continue;
            }
            a[0]++;
            a[1] += run;
            a[2] += vol;
            a[3] += invol;
        }
        final List<Group> out = new ArrayList<>();
        acc.forEach((k, a) -> {
            if (a[0] > 0) {
                out.add(new Group(k, (int) a[0], a[1], a[2], a[3]));
            }
        });
        out.sort((x, y) -> Long.compare(y.runNanos(), x.runNanos()));
        return out;
    }

    /** A table of the groups: CPU ms, CPU ns per line, context switches per 1,000 lines. */
    static String table(List<Group> groups, long lines) {
        final StringBuilder sb = new StringBuilder();
        long total = 0;
        long vol = 0;
        long invol = 0;
        sb.append(String.format(Locale.ROOT, "  %-18s %7s %9s %8s %12s %14s%n", "thread group", "threads", "CPU ms",
            "ns/line", "vol. cs", "invol. cs"));
        for (Group g : groups) {
            total += g.runNanos();
            vol += g.voluntary();
            invol += g.involuntary();
            sb.append(String.format(Locale.ROOT, "  %-18s %7d %9.1f %8.1f %12d %14d%n", g.name(), g.threads(),
                g.runNanos() / 1e6, (double) g.runNanos() / lines, g.voluntary(), g.involuntary()));
        }
        sb.append(String.format(Locale.ROOT, "  %-18s %7s %9.1f %8.1f %12d %14d%n", "total", "", total / 1e6,
            (double) total / lines, vol, invol));
        return sb.toString();
    }
}
