package dev.spillway.ingest.resend;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The journal's files stay bounded: by the request bound while it runs, by the window when it is opened again. */
class ResendJournalTest {

    @TempDir
    Path dir;

    private static RequestIdentity id(long n) {
        return new RequestIdentity(n, n, n, n, false);
    }

    private long files() throws Exception {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("resend-")).count();
        }
    }

    @Test
    void filesBeyondTheRequestBoundAndOlderThanTheWindowAreDeleted() throws Exception {
        final long window = Duration.ofMinutes(10).toMillis();
        final long t0 = 1_000_000_000L;
        final List<ResendJournal.Entry> loaded = new ArrayList<>();
        try (ResendJournal j = ResendJournal.open(dir, window, 4_000, t0, loaded)) {
            for (int i = 0; i < 12_000; i++) { // 1,000 records a file: 12 files written
                j.append(t0, i, id(i));
            }
            assertEquals(List.of(8L, 9L, 10L, 11L, 12L), j.fileNumbers(), "the request bound plus one file");
            assertEquals(5, files());
        }
        try (ResendJournal j = ResendJournal.open(dir, window, 4_000, t0 + 1, loaded)) {
            assertEquals(5_000, loaded.size(), "what the files still hold");
            assertEquals(7_000, loaded.get(0).nowNanos());
        }
        loaded.clear();
        try (ResendJournal j = ResendJournal.open(dir, window, 4_000, t0 + window + 1, loaded)) {
            assertTrue(loaded.isEmpty(), "older than the window");
            assertEquals(0, files(), "and deleted");
        }
    }
}
