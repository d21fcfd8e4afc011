package dev.spillway.ingest.series;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What a writer needs to file a series of a NATS-only edge: the edge's local id for it and its key. Published by the
 * edge once per series (before any event carries the id) and read by a writer the first time a batch needs it.
 *
 * <p>Encoded as {@code u8 version (1) | i32 local id | string measurement | i32 n | n strings (tag key, value
 * alternating) | string field}, strings {@code i32 length | UTF-8}, big-endian.
 *
 * @param localId the edge's id for the series (negative)
 * @param measurement the measurement
 * @param tags alternating key, value, sorted by key
 * @param field the field
 */
public record SeriesDefinition(int localId, String measurement, List<String> tags, String field) {

    private static final byte VERSION = 1;
    private static final int MAX_STRING = 1 << 20;

    public SeriesDefinition {
        tags = List.copyOf(tags);
    }

    /** The series' key, as the catalogue indexes it. */
    public SeriesKey key() {
        return SeriesKey.of(measurement, tags, field);
    }

    /** The tags as the catalogue stores them ({@code telemetry_sources.tags}). */
    String tagsJson() {
        return SeriesKey.tagsJson(tags);
    }

    /** The bytes published for this series. */
    public byte[] encode() {
        final List<byte[]> strings = new ArrayList<>(tags.size() + 2);
        strings.add(measurement.getBytes(StandardCharsets.UTF_8));
        for (String t : tags) {
            strings.add(t.getBytes(StandardCharsets.UTF_8));
        }
        strings.add(field.getBytes(StandardCharsets.UTF_8));
        int len = 1 + 4 + 4;
        for (byte[] s : strings) {
            len += 4 + s.length;
        }
        final ByteBuffer b = ByteBuffer.allocate(len);
        b.put(VERSION).putInt(localId);
        b.putInt(strings.get(0).length).put(strings.get(0));
        b.putInt(tags.size());
        for (int i = 1; i <= tags.size(); i++) {
            b.putInt(strings.get(i).length).put(strings.get(i));
        }
        final byte[] f = strings.get(strings.size() - 1);
        b.putInt(f.length).put(f);
        return b.array();
    }

    /**
     * Reads a published definition.
     *
     * @throws IllegalArgumentException when the bytes are not one (unknown version, truncated, bad lengths)
     */
    public static SeriesDefinition decode(byte[] bytes) {
        try {
            final ByteBuffer b = ByteBuffer.wrap(bytes);
            final byte version = b.get();
            if (version != VERSION) {
                throw new IllegalArgumentException("unknown series definition version " + version);
            }
            final int id = b.getInt();
            final String m = string(b);
            final int n = b.getInt();
            if (n < 0 || n % 2 != 0 || n > b.remaining() / 4) {
                throw new IllegalArgumentException("bad tag count " + n);
            }
            final List<String> tags = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                tags.add(string(b));
            }
            final String f = string(b);
            if (b.hasRemaining()) {
                throw new IllegalArgumentException(b.remaining() + " bytes after the definition");
            }
            return new SeriesDefinition(id, m, tags, f);
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("truncated series definition", e);
        }
    }

    private static String string(ByteBuffer b) {
        final int len = b.getInt();
        if (len < 0 || len > MAX_STRING || len > b.remaining()) {
            throw new IllegalArgumentException("bad string length " + len);
        }
        final byte[] bytes = new byte[len];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
