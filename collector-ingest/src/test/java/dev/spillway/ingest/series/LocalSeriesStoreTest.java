package dev.spillway.ingest.series;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The local series store on its own: what a run leaves is read back, a torn tail is cut, one owner at a time. */
class LocalSeriesStoreTest {

    @TempDir
    Path dir;

    @Test
    void whatARunLeavesIsReadBackAndATornTailIsCut() throws IOException {
        final String instance;
        try (LocalSeriesStore s = LocalSeriesStore.open(dir)) {
            instance = s.instance();
            assertThrows(IOException.class, () -> LocalSeriesStore.open(dir), "one owner at a time");
            s.appendLimits(new int[] {3, 4}, new long[] {2048, 5000}, 2);
            s.appendCreate(-1, 1024, "cpu", List.of("host", "a", "zone", "é"), "usage");
            s.appendLimits(new int[] {3, -1}, new long[] {4096, 3072}, 2);
        }
        final long good = Files.size(dir.resolve(LocalSeriesStore.FILE));
        try (FileChannel ch = FileChannel.open(dir.resolve(LocalSeriesStore.FILE), StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap(new byte[] {40, 0, 0, 0, 1, 2, 3})); // a crash mid-append
        }
        try (LocalSeriesStore s = LocalSeriesStore.open(dir)) {
            assertEquals(instance, s.instance(), "the instance id stays with the directory");
            assertEquals(good, Files.size(dir.resolve(LocalSeriesStore.FILE)), "the torn tail is cut");
            assertEquals(Map.of(3, 4096L, 4, 5000L, -1, 3072L), s.contents().limits(), "the highest limit per id");
            assertEquals(List.of(new LocalSeriesStore.Created(-1, 1024, "cpu", List.of("host", "a", "zone", "é"),
                "usage")), s.contents().created());
            s.clear();
            assertTrue(s.isEmpty());
        }
        try (LocalSeriesStore s = LocalSeriesStore.open(dir)) {
            assertTrue(s.contents().limits().isEmpty() && s.contents().created().isEmpty());
        }
    }

    /** A NATS-only edge's catalogue is never emptied: its limit records are folded at start, one record a series. */
    @Test
    void anEdgeCatalogueIsFoldedToOneRecordPerSeriesAtStart() throws IOException {
        try (LocalSeriesStore s = LocalSeriesStore.openCatalogue(dir)) {
            s.appendCreate(-1, 1024, "cpu", List.of("host", "a"), "usage");
            s.appendCreate(-2, 1024, "cpu", List.of("host", "b"), "usage");
            for (int i = 1; i <= 50; i++) {
                s.appendLimits(new int[] {-1, -2}, new long[] {1024L + i * 100, 1024L + i * 10}, 2);
            }
        }
        final long before = Files.size(dir.resolve(LocalSeriesStore.FILE));
        try (LocalSeriesStore s = LocalSeriesStore.openCatalogue(dir)) {
            assertEquals(Map.of(-1, 6024L, -2, 1524L), s.contents().limits(), "the highest limit per series");
            assertEquals(2, s.contents().created().size());
            assertTrue(Files.size(dir.resolve(LocalSeriesStore.FILE)) < before / 10, "folded");
            s.appendLimits(new int[] {-1}, new long[] {7000}, 1);
        }
        try (LocalSeriesStore s = LocalSeriesStore.open(dir)) {
            assertEquals(Map.of(-1, 7000L, -2, 1524L), s.contents().limits(), "appends after the fold are kept");
            assertEquals(List.of(new LocalSeriesStore.Created(-1, 6024, "cpu", List.of("host", "a"), "usage"),
                new LocalSeriesStore.Created(-2, 1524, "cpu", List.of("host", "b"), "usage")), s.contents().created());
        }
    }
}
