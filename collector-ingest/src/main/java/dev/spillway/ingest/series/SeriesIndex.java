package dev.spillway.ingest.series;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The known series by key bytes: an open-addressing hash table read without locks or allocation by every ingest
 * thread, written under a lock by the threads that load or create series. Entries are never removed (a series
 * id, once known, stays valid), so a reader needs no more than an acquiring read per slot: it sees each entry
 * whole or not at all, and a reader still on the table a resize replaced at worst misses a just-added series and
 * takes the (correct, slower) path of {@link SeriesRegistry#resolve}.
 */
public final class SeriesIndex {

    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Entry[].class);
    private static final int INITIAL_CAPACITY = 1024;

    private record Entry(SeriesKey key, Series series) {
    }

    private volatile Entry[] table = new Entry[INITIAL_CAPACITY];
    private int size; // guarded by this

    /** An empty index. */
    public SeriesIndex() {
    }

    /** The series whose key the builder holds, or null; allocates nothing. */
    public Series get(SeriesKeyBuilder key) {
        return get(key.bytes(), key.length(), key.hash());
    }

    /** The series whose key is {@code key[0, length)} with that hash, or null. */
    Series get(byte[] key, int length, int hash) {
        final Entry[] t = table;
        final int mask = t.length - 1;
        for (int i = hash & mask; ; i = (i + 1) & mask) {
            final Entry e = (Entry) SLOT.getAcquire(t, i);
            if (e == null) {
                return null;
            }
            if (e.key.matches(key, length, hash)) {
                return e.series;
            }
        }
    }

    Series get(SeriesKey key) {
        final Entry[] t = table;
        final int mask = t.length - 1;
        for (int i = key.hash() & mask; ; i = (i + 1) & mask) {
            final Entry e = (Entry) SLOT.getAcquire(t, i);
            if (e == null) {
                return null;
            }
            if (e.key.equals(key)) {
                return e.series;
            }
        }
    }

    /** Adds the key unless present; returns the series now stored under it. */
    public synchronized Series putIfAbsent(SeriesKey key, Series series) {
        final Series known = get(key);
        if (known != null) {
            return known;
        }
        Entry[] t = table;
        if ((size + 1) * 2 > t.length) { // load factor 1/2 keeps probes short
            t = grow(t);
        }
        insert(t, new Entry(key, series));
        size++;
        return series;
    }

    /** How many keys are stored. */
    public synchronized int size() {
        return size;
    }

    private Entry[] grow(Entry[] old) {
        final Entry[] t = new Entry[old.length * 2];
        for (Entry e : old) {
            if (e != null) {
                insert(t, e);
            }
        }
        table = t; // publishes the filled table
        return t;
    }

    private static void insert(Entry[] t, Entry e) {
        final int mask = t.length - 1;
        int i = e.key.hash() & mask;
        while (SLOT.getAcquire(t, i) != null) {
            i = (i + 1) & mask;
        }
        SLOT.setRelease(t, i, e);
    }
}
