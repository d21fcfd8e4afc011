package dev.spillway.uptime.monitor;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The failure reasons of a monitor's last {@code window} checks, for {@code /checks} (the stored results have no
 * text). Only failed checks take room: a monitor whose last {@code window} checks all passed holds no array at
 * all, one that fails holds at most {@code window} entries (start time in microseconds, reason), and a reason equal
 * to the previous one is stored as the same string, so a monitor failing the same way 100 times keeps one copy of
 * its text. Bound per monitor: ~2 KiB plus its distinct reasons, 0 while it passes.
 *
 * <p>Until 2026-12 the whole {@link CheckResult} of the last 100 checks was kept (about 10 KiB per monitor once
 * 100 checks had run, failed or not). Not thread-safe: the caller holds the monitor's runtime lock.
 */
final class RecentErrors {

    private final int window;
    /** Checks seen (passed or failed). */
    private long checks;
    // A ring of failed checks, oldest at head; arrays grow on demand up to window.
    private long[] seq;
    private long[] micros;
    private String[] reasons;
    private int head;
    private int size;

    RecentErrors(int window) {
        if (window < 1) {
            throw new IllegalArgumentException("window must be at least 1: " + window);
        }
        this.window = window;
    }

    /** Records a check: its start and its failure reason, or null when it passed. */
    void add(Instant startedAt, String error) {
        checks++;
        dropOutside();
        if (error == null) {
            if (size == 0) {
                seq = null; // every failure has left the window: give the arrays back
                micros = null;
                reasons = null;
                head = 0;
            }
            return;
        }
        if (seq == null) {
            seq = new long[Math.min(4, window)];
            micros = new long[seq.length];
            reasons = new String[seq.length];
        } else if (size == seq.length) {
            grow();
        }
        final int newest = size == 0 ? -1 : (head + size - 1) % seq.length;
        final int at = (head + size) % seq.length;
        seq[at] = checks;
        micros[at] = startedAt.getEpochSecond() * 1_000_000L + startedAt.getNano() / 1000;
        reasons[at] = newest >= 0 && error.equals(reasons[newest]) ? reasons[newest] : error;
        size++;
    }

    /** Failures older than the last {@code window} checks leave. */
    private void dropOutside() {
        while (size > 0 && seq[head] <= checks - window) {
            reasons[head] = null;
            head = (head + 1) % seq.length;
            size--;
        }
    }

    private void grow() {
        final int n = Math.min(window, seq.length * 2);
        final long[] s = new long[n];
        final long[] m = new long[n];
        final String[] r = new String[n];
        for (int i = 0; i < size; i++) {
            final int from = (head + i) % seq.length;
            s[i] = seq[from];
            m[i] = micros[from];
            r[i] = reasons[from];
        }
        seq = s;
        micros = m;
        reasons = r;
        head = 0;
    }

    /** The failure reasons of the last {@code window} checks by start time (truncated to microseconds), oldest first. */
    Map<Instant, String> byStart() {
        final Map<Instant, String> out = new LinkedHashMap<>();
        for (int i = 0; i < size; i++) {
            final int at = (head + i) % seq.length;
            out.put(Instant.ofEpochSecond(Math.floorDiv(micros[at], 1_000_000L),
                Math.floorMod(micros[at], 1_000_000L) * 1000), reasons[at]);
        }
        return out;
    }

    /** Failed checks held. */
    int size() {
        return size;
    }

    /** Whether any array is held (false while no failure is in the window). */
    boolean holdsArrays() {
        return seq != null;
    }
}
