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
    record Sample(String name, long runNanos, long voluntary, long involuntary, long userTicks, long systemTicks) {
    }

    /** One group's difference over a run; user and system time in clock ticks (1/100 s), for their ratio only. */
    record Group(String name, int threads, long runNanos, long voluntary, long involuntary, long userTicks,
                 long systemTicks) {
        /** Share of the group's CPU spent in the kernel (system time), from the tick counts. */
        double systemShare() {
            final long all = userTicks + systemTicks;
            return all == 0 ? Double.NaN : (double) systemTicks / all;
        }

        /** Whether this is one of HotSpot's JIT compiler threads ({@code C1/C2 CompilerThreadN}). */
        boolean jit() {
            return name.contains("CompilerThre");
        }
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
                    final String stat = Files.readString(t.resolve("stat"));
                    final String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    m.put(Long.parseLong(t.getFileName().toString()), new Sample(name, run, vol, invol,
                        Long.parseLong(f[11]), Long.parseLong(f[12])));
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
            final Sample then = before.byTid.getOrDefault(e.getKey(), new Sample(now.name(), 0, 0, 0, 0, 0));
            final long[] a = acc.computeIfAbsent(now.name().replaceAll("[0-9]+", "#"), k -> new long[6]);
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
            a[4] += now.userTicks() - then.userTicks();
            a[5] += now.systemTicks() - then.systemTicks();
        }
        final List<Group> out = new ArrayList<>();
        acc.forEach((k, a) -> {
            if (a[0] > 0) {
                out.add(new Group(k, (int) a[0], a[1], a[2], a[3], a[4], a[5]));
            }
        });
        out.sort((x, y) -> Long.compare(y.runNanos(), x.runNanos()));
        return out;
    }

    /** CPU of the JIT compiler threads in the groups, nanoseconds. */
    static long jitNanos(List<Group> groups) {
        return groups.stream().filter(Group::jit).mapToLong(Group::runNanos).sum();
    }

    /** A table of the groups: CPU ms, CPU ns per line, share in the kernel, context switches. */
    static String table(List<Group> groups, long lines) {
        final StringBuilder sb = new StringBuilder();
        long total = 0;
        long vol = 0;
        long invol = 0;
        sb.append(String.format(Locale.ROOT, "  %-18s %7s %9s %8s %6s %9s %10s%n", "thread group", "threads", "CPU ms",
            "ns/line", "sys %", "vol. cs", "invol. cs"));
        for (Group g : groups) {
            total += g.runNanos();
            vol += g.voluntary();
            invol += g.involuntary();
            sb.append(String.format(Locale.ROOT, "  %-18s %7d %9.1f %8.1f %6.0f %9d %10d%n", g.name(), g.threads(),
                g.runNanos() / 1e6, (double) g.runNanos() / lines, 100 * g.systemShare(), g.voluntary(),
                g.involuntary()));
        }
        sb.append(String.format(Locale.ROOT, "  %-18s %7s %9.1f %8.1f %6s %9d %10d%n", "total", "", total / 1e6,
            (double) total / lines, "", vol, invol));
        return sb.toString();
    }
}
