package dev.spillway.uptime.monitor;

import dev.spillway.uptime.schema.UptimeSchema;

import javax.sql.DataSource;
import java.net.InetAddress;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Who checks which monitor when any number of collectors share one database: the whole rule, in one place.
 *
 * <p>Two tables (schema steps 102, 126 and 127): {@code monitor_collectors}, one heartbeat row per collector that
 * runs the monitors duty ({@code expires_at}, {@code lock_key}, {@code fenced_at}), and {@code monitor_leases}, one
 * row per monitor ({@code holder}, {@code holder_key}, {@code released_at}). <b>A lease is held while its holder is
 * live</b>: it has no expiry of its own ({@code expires_at = 'infinity'}; rows from before step 127 keep their
 * own), so a round renews one row, the collector's own, however many leases it holds; a lease row is written only
 * when it is claimed, released or taken over. A lease is free when its holder is null, or its {@code holder_key} is
 * a dead collector's (lock gone) or a fenced one's (row expired, below).
 *
 * <p><b>Liveness lock.</b> Each collector holds, for its whole run, a session-level advisory lock
 * {@code pg_try_advisory_lock(LOCK_NAMESPACE, key)} on a connection of its own (the {@link Connector}; not one
 * borrowed from the shared pool), with a key from the sequence {@code monitor_collector_lock} (never shared, unlike a
 * hash of the id), written in its row ({@code lock_key}) and in every lease it claims ({@code holder_key}). When
 * its process dies the kernel closes the socket and PostgreSQL releases the lock at once. A collector is
 * <em>live</em> while its row has not expired nor been fenced <em>and</em> its lock is held ({@code pg_locks}, read
 * after the rows:
 * a row names a key only once it is locked, so a key seen free was held and is gone for good, and a collector that
 * loses its lock takes a new key). Every {@link #LIVENESS_EVERY} {@link #checkLiveness} asks, on the liveness
 * connection, whether this collector's own lock is still held and whether any collector has died; a new death asks
 * for a round at once. A collector that finds its own lock lost stops trusting every lease at once (self-fencing;
 * the listener is told) and its next round takes a new lock under a new key, frees every lease it still has and
 * claims afresh.
 *
 * <p>Each collector runs a {@link #round} every {@link #renewEvery()} (a quarter of the TTL), and at once after a
 * death was seen:
 * <ol>
 *   <li><b>Liveness</b>: its lock is checked, or taken (first round, or after a loss).</li>
 *   <li><b>Heartbeat</b>: its own row gets {@code expires_at = now + ttl}, only if it still names its key and has
 *       not been fenced (under a new key: the row is written afresh, after freeing whatever is still recorded under
 *       this collector). The only row written when nothing moves.</li>
 *   <li><b>Fence</b>: every other row expired by this collector's clock gets {@code fenced_at}; from then on its
 *       leases may be taken, and it never counts as live again under that key. Rows expired for {@link #KEEP_DEAD}
 *       are deleted, their leases freed in the same statement.</li>
 *   <li><b>Live collectors</b>: the rows not expired, not fenced, whose lock is held, ordered by id; this
 *       collector's rank among them. Rows not expired whose lock is gone are dead: their keys are collected, and so
 *       are the fenced rows' keys.</li>
 *   <li><b>Own leases</b>: nothing is written; while its row is renewed unfenced under its key and its lock is
 *       held, nobody else may take its leases, so they are the ones it knows. A count of the rows naming it (a
 *       read of the holder index, no write) guards against a lease changed behind its back; when it disagrees, or
 *       after a failed round, the names are read, and a lease another holds now is dropped here.</li>
 *   <li><b>Fair share</b>: {@code N} leasable monitors (valid and enabled) over {@code k} live collectors:
 *       {@code N / k} each, one more for the first {@code N % k} by id ({@link #share}), so the shares add up to
 *       {@code N} exactly.</li>
 *   <li><b>Release</b>: leases of monitors that are no longer leasable (paused, deleted, invalid) and those above
 *       the share; the {@link Listener} stops checking them first, and {@code released_at} says when.</li>
 *   <li><b>Claim</b>: up to the share, leases that are free or claimed under a dead or fenced key, never a live
 *       collector's one, picked with {@code FOR UPDATE SKIP LOCKED} so collectors claiming at once take
 *       disjoint rows. For each, the listener learns from when its previous holder certainly did not check it any
 *       more ({@link Listener#acquired(Set, java.util.Map)}), so a due time missed in the hand-over is checked at
 *       once ({@link MonitorScheduler}).</li>
 * </ol>
 * A collector joining makes everyone's share smaller: the others release their surplus in their next round and it
 * claims them in its own. A collector stopping releases everything (free at once). A collector killed ({@code kill
 * -9}, a crash) loses its lock with its process: the others see that at their next liveness check and take its
 * monitors in the round that follows, each checked at its next due time. So a killed collector's monitors are
 * checked again at most {@code LIVENESS_EVERY + a round + interval} after the kill: within two intervals for any
 * interval above about a second. When the lock is not released (a network partition leaving the session open, the
 * machine gone without closing its sockets) the TTL rule bounds it: its heartbeat expires {@code ttl} after its
 * last round, the first round of another collector after that fences its row and takes its monitors, so within
 * {@code ttl + ttl/4 + interval}.
 *
 * <p><b>The fence rule.</b> A collector takes the leases of a holder whose row expired only after marking that row
 * fenced (a committed update of the row, before the claim). The holder's heartbeat is an update of the same row
 * conditional on it not being fenced, so the two are ordered: if the heartbeat lands first, the fencer finds the row
 * renewed and takes nothing; if the fence lands first, the heartbeat fails, and the holder, back, starts over
 * exactly as after a lost lock: it drops every lease locally (the listener told to stop, none trusted), closes its
 * lock's connection, takes a new lock under a new key, frees whatever is still recorded under it and claims afresh.
 * A row that expired without anyone fencing it (a collector alone, or every one stalled) is simply renewed: no lease
 * of it can have been taken. A fenced key never becomes live again (the row is written afresh under a new key), so
 * a lease claimed under it stays takeable, and a lease claimed under a new key is never in a claimer's list.
 *
 * <p><b>Locations.</b> A collector may have a location ({@code --location}); a monitor may list locations. Leases
 * are per (monitor, location): a monitor without locations has one lease, location {@code ''}, that any collector
 * may hold (as above); a monitor with locations has one lease per listed location, which only collectors at that
 * location may hold. So the leases fall into pools: pool {@code ''} shared by every live collector, and one pool
 * per location shared by the live collectors at it; a collector's fair share is its share of pool {@code ''} plus
 * its share of its own location's pool, each computed by the rule above over that pool's collectors. A collector
 * sees at most one lease per monitor (the monitor's {@code ''} lease, or its own location's), so its local view
 * stays "which monitors do I check".
 *
 * <p>Locally a lease is trusted ({@link #holds}) only until {@code roundStart + ttl - ttl/4}, where
 * {@code roundStart} is the start of the last round whose heartbeat renewed the collector's row (the fencer's clock
 * must have passed {@code roundStart + ttl}), and only while the liveness lock has not been
 * found lost: a collector whose rounds fail (database unreachable, thread stalled) stops checking before anyone else
 * may take over, as long as the collectors' clocks agree within a quarter of the TTL. Times come from the injected
 * {@link Clock}: run collectors with synchronised clocks (NTP). A lock lost while the collector lives (its session
 * ended, the process alive) is noticed at the next {@link #checkLiveness}: until then another collector may already
 * have taken its leases, so a check may run twice in that window (the state's compare-and-set still records one
 * transition).
 *
 * <p>Leases decide who <em>checks</em>; they do not make state changes safe on their own (a check in flight
 * when a lease moves still finishes). That is the state row's compare-and-set ({@link MonitorStore#saveState}):
 * whichever collector records a result, it records it against the state it read, or not at all.
 *
 * <p>Thread-safe: {@link #round}, {@link #checkLiveness} and {@link #releaseAll} are serialised; {@link #holds} is
 * lock-free.
 */
public final class MonitorLeases {

    /** Told which monitors to start and stop checking; called from the round's thread. */
    public interface Listener {
        /** Leases just claimed: start checking these (load their state first). */
        void acquired(Set<String> monitors);

        /**
         * Leases just claimed, with what is known of their last check: start checking these.
         *
         * @param uncheckedSince per monitor, a time from which its previous holder certainly checked it no more
         *     (it had freed the lease, or stopped trusting it, or was dead); {@link Instant#MIN} for a lease never
         *     held; absent when unknown. A due time at or after it that has already passed was missed: it may be
         *     checked at once ({@link MonitorScheduler}). By default {@link #acquired(Set)}.
         */
        default void acquired(Set<String> monitors, java.util.Map<String, Instant> uncheckedSince) {
            acquired(monitors);
        }

        /** Leases about to be released or already lost: stop checking these. */
        void released(Set<String> monitors);
    }

    /**
     * What a round did.
     *
     * @param acquired leases claimed in this round
     * @param released leases given up (not leasable any more, or above the share) or lost to another collector
     * @param held leases held after the round
     * @param share this collector's fair share
     * @param liveCollectors collectors with a live heartbeat row, this one included
     */
    public record Round(Set<String> acquired, Set<String> released, int held, int share, int liveCollectors) {
    }

    /** Opens the connection that holds a collector's liveness lock for its whole run (not one of a pool's). */
    @FunctionalInterface
    public interface Connector {
        /** A new connection to the shared database. */
        Connection connect() throws SQLException;
    }

    /**
     * How often {@link #checkLiveness} runs: the collectors' own liveness and the other collectors' deaths are seen
     * this often, so a killed collector's leases are taken over within about this (plus a round).
     */
    public static final Duration LIVENESS_EVERY = Duration.ofMillis(250);

    /** The first key of every liveness lock ("SPMC"): {@code pg_try_advisory_lock(LOCK_NAMESPACE, lock_key)}. */
    static final int LOCK_NAMESPACE = 0x53504D43;

    /** Whether the advisory lock {@code (LOCK_NAMESPACE, <key>)} is held by some session of this database. */
    private static String lockHeld(String key) {
        return "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM "
            + "pg_database WHERE datname = current_database()) AND l.classid = " + LOCK_NAMESPACE + "::oid AND "
            + "l.objid = (" + key + ")::oid AND l.objsubid = 2 AND l.granted)";
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(MonitorLeases.class);

    /** Dead collectors' heartbeat rows are kept this long (for people looking at the table), then deleted. */
    static final Duration KEEP_DEAD = Duration.ofHours(1);

    private final DataSource ds;
    private final Connector connector;
    private final String collectorId;
    private final String host;
    private final String location;
    private final Duration ttl;
    private final Clock clock;
    private final Instant startedAt;
    /** The leases held: monitor to lease location ({@code ''} or this collector's location). */
    private final ConcurrentHashMap<String, String> held = new ConcurrentHashMap<>();
    private volatile Instant trustedUntil = Instant.MIN;
    private volatile int liveCollectors;
    private volatile int share;
    // The liveness lock: its connection (held for the run) and key. Guarded by this.
    private Connection liveness;
    private int lockKey;
    /** Whether the liveness lock is known held; false from the moment it is found lost until a new one is taken. */
    private volatile boolean lockHeld;
    /** After a lost lock: the leases recorded under the old key are freed before the next claim. */
    private boolean freeMine;
    /** The key this collector's row names (0: none written yet under the current key). Guarded by this. */
    private int registeredKey;
    /** Whether the next round reads the names of its leases from the database (after a round that failed). */
    private boolean verify = true;
    /** Keys of dead collectors already seen (a new one makes {@link #checkLiveness} ask for a round). */
    private final Set<Integer> deadSeen = new HashSet<>();

    /**
     * @param collectorId this collector's id for this run ({@link #newCollectorId})
     * @param ttl how long a lease and a heartbeat last without renewal (the failover bound's main term)
     * @param clock the time of leases and heartbeats
     */
    public MonitorLeases(DataSource ds, String collectorId, Duration ttl, Clock clock) {
        this(ds, collectorId, null, ttl, clock);
    }

    /**
     * Leases whose liveness lock is held on a connection taken from {@code ds} and kept for the whole run (give a
     * pool one more connection for it, or use {@link #MonitorLeases(DataSource, Connector, String, String, Duration,
     * Clock)} with a connection of its own).
     *
     * @param collectorId this collector's id for this run ({@link #newCollectorId})
     * @param location this collector's location ({@code --location}), or null for none: it then checks only
     *     monitors without locations
     * @param ttl how long a lease and a heartbeat last without renewal (the failover bound's main term)
     * @param clock the time of leases and heartbeats
     */
    public MonitorLeases(DataSource ds, String collectorId, String location, Duration ttl, Clock clock) {
        this(ds, ds::getConnection, collectorId, location, ttl, clock);
    }

    /**
     * @param collectorId this collector's id for this run ({@link #newCollectorId})
     * @param location this collector's location ({@code --location}), or null for none: it then checks only
     *     monitors without locations
     * @param ttl how long a lease and a heartbeat last without renewal (the failover bound when the holder's
     *     liveness lock is not released, e.g. a network partition)
     * @param clock the time of leases and heartbeats
     * @param liveness opens the connection that holds this collector's liveness lock; it is kept open for the
     *     whole run (opened again when lost)
     */
    public MonitorLeases(DataSource ds, Connector liveness, String collectorId, String location, Duration ttl,
                         Clock clock) {
        if (location != null && MonitorValidator.locationError(location) != null) {
            throw new IllegalArgumentException(MonitorValidator.locationError(location));
        }
        this.location = location;
        if (ttl.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("lease TTL must be at least 1s, was " + ttl);
        }
        this.ds = ds;
        this.connector = liveness;
        this.collectorId = collectorId;
        this.host = hostName();
        this.ttl = ttl;
        this.clock = clock;
        this.startedAt = clock.instant();
    }

    /** A new id for this run: the host name (for people) and 8 random hex digits (unique per run). */
    public static String newCollectorId() {
        String h = hostName().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.-]", "-");
        if (h.length() > 48) {
            h = h.substring(0, 48);
        }
        return h + "-" + String.format("%08x", ThreadLocalRandom.current().nextInt());
    }

    private static String hostName() {
        final String env = System.getenv("HOSTNAME");
        if (env != null && !env.isBlank()) {
            return env.trim();
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException | RuntimeException e) {
            return "localhost";
        }
    }

    /** This collector's id. */
    public String collectorId() {
        return collectorId;
    }

    /** This collector's location, or null for none. */
    public String location() {
        return location;
    }

    /** The lease location of a monitor for this collector: {@code ''} (any one), its location, or null (not here). */
    public String leaseLocation(MonitorSpec spec) {
        if (!spec.located()) {
            return ANY;
        }
        return location != null && spec.locations().contains(location) ? location : null;
    }

    /** The lease location of monitors without locations: any one collector. */
    public static final String ANY = "";

    /** The lease TTL. */
    public Duration ttl() {
        return ttl;
    }

    /** How often {@link #round} runs: a quarter of the TTL. */
    public Duration renewEvery() {
        return ttl.dividedBy(4);
    }

    /**
     * Whether this collector may check {@code monitor} now: it holds the lease, the last renewal is recent, and its
     * liveness lock has not been found lost since.
     */
    public boolean holds(String monitor) {
        return lockHeld && held.containsKey(monitor) && clock.instant().isBefore(trustedUntil);
    }

    /**
     * Whether the last round left this collector holding the monitor's lease, trusted now or not: what decides
     * whether the monitor stays on this collector's schedule. Whether it may be checked at this moment is
     * {@link #holds}: a round slower than the trust window (a loaded database at 100,000 monitors) leaves the lease
     * held but untrusted until the next round renews it, and the monitor must still be on the schedule then.
     */
    public boolean leased(String monitor) {
        return held.containsKey(monitor);
    }

    /** The key of this collector's liveness lock (0 before the first round). */
    public synchronized int lockKey() {
        return lockKey;
    }

    /** The leases held (as of the last round). */
    public Set<String> held() {
        return Collections.unmodifiableSet(new TreeSet<>(held.keySet()));
    }

    /** Live collectors seen in the last round. */
    public int liveCollectors() {
        return liveCollectors;
    }

    /** This collector's share in the last round. */
    public int share() {
        return share;
    }

    /**
     * The fair share of collector {@code me}: {@code monitors / k}, plus one for the first {@code monitors % k}
     * collectors by id, where {@code k} counts {@code live} and {@code me}. The shares of all live collectors add
     * up to {@code monitors}.
     *
     * @param live the live collectors' ids, sorted
     */
    static int share(int monitors, List<String> live, String me) {
        int rank = Collections.binarySearch(live, me);
        int k = live.size();
        if (rank < 0) {
            rank = -rank - 1; // not seen yet (its heartbeat row is being written): where it will be
            k++;
        }
        return monitors / k + (rank < monitors % k ? 1 : 0);
    }

    /**
     * One round for monitors without locations only (every one in pool {@code ''}).
     *
     * @param leasable the monitors this collector can check (valid and enabled definitions)
     */
    public Round round(Set<String> leasable, Listener listener) throws SQLException {
        final java.util.Map<String, String> any = new java.util.HashMap<>();
        for (String m : leasable) {
            any.put(m, ANY);
        }
        return round(any, listener);
    }

    /** A lease row this collector holds. */
    private record Key(String monitor, String location) {
    }

    /**
     * One round: heartbeat, renew, release, claim (see the class comment), pool by pool.
     *
     * @param leasable the monitors this collector can check (valid and enabled definitions) with the location of
     *     their lease for it ({@link #leaseLocation}: {@code ''}, or this collector's location)
     * @param listener told to stop checking before a release is written, and to start after a claim
     */
    public synchronized Round round(java.util.Map<String, String> leasable, Listener listener) throws SQLException {
        boolean done = false;
        try {
            final Round r = roundOnce(leasable, listener);
            done = true;
            return r;
        } finally {
            if (!done) {
                verify = true; // a claim may have committed without its answer: read the names next time
            }
        }
    }

    private Round roundOnce(java.util.Map<String, String> leasable, Listener listener) throws SQLException {
        final Set<String> fenced = new TreeSet<>(ensureLiveness(listener));
        Instant now = clock.instant();
        boolean renewedRow;
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            renewedRow = heartbeat(c, now, now.plus(ttl));
        }
        if (!renewedRow) {
            // Fenced by a collector that saw this one's row expired (it may hold this one's leases now), or the row
            // is gone: start over exactly as after a lost lock, under a new key. (The liveness connection is opened
            // with no pooled connection held: the connector may draw from the same pool.)
            fenced.addAll(startOver(listener, "found its heartbeat row fenced by another collector after it expired "
                + "(or gone)"));
            fenced.addAll(ensureLiveness(listener));
            now = clock.instant();
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(true);
                renewedRow = heartbeat(c, now, now.plus(ttl));
            }
            if (!renewedRow) {
                throw new SQLException("heartbeat row of " + collectorId + " not written under its new key");
            }
        }
        final Collectors seen;
        final Set<Key> renewed;
        final Instant deadSeenAt;
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            fence(c, now);
            seen = collectors(c, now);
            // The holders found dead above were dead by now (their locks were read after the rows).
            deadSeenAt = clock.instant();
            renewed = mine(c);
        }
        final List<String[]> live = seen.live();
        final List<Key> free = new ArrayList<>();
        final TreeSet<String> keepAny = new TreeSet<>();
        final TreeSet<String> keepHere = new TreeSet<>();
        for (Key k : renewed) {
            if (k.location().equals(leasable.get(k.monitor()))) {
                (k.location().equals(ANY) ? keepAny : keepHere).add(k.monitor());
            } else {
                free.add(k); // not leasable any more, or its monitor's locations changed
            }
        }
        final List<String> allLive = new ArrayList<>();
        final List<String> liveHere = new ArrayList<>();
        final List<Integer> deadKeys = new ArrayList<>();
        for (String[] l : live) {
            if (l[2] != null) {
                deadKeys.add(Integer.valueOf(l[2])); // its row is not expired, its lock is gone: it died
                continue;
            }
            allLive.add(l[0]);
            if (location != null && location.equals(l[1])) {
                liveHere.add(l[0]);
            }
        }
        int anyCount = 0;
        int hereCount = 0;
        for (String loc : leasable.values()) {
            if (loc.equals(ANY)) {
                anyCount++;
            } else {
                hereCount++;
            }
        }
        final int fairAny = share(anyCount, allLive, collectorId);
        final int fairHere = location == null ? 0 : share(hereCount, liveHere, collectorId);
        while (keepAny.size() > fairAny) {
            final String m = keepAny.pollLast();
            free.add(new Key(m, ANY));
        }
        while (keepHere.size() > fairHere) {
            final String m = keepHere.pollLast();
            free.add(new Key(m, location));
        }
        final Set<String> keep = new HashSet<>(keepAny);
        keep.addAll(keepHere);
        final Set<String> release = new TreeSet<>(held.keySet());
        release.removeAll(keep); // lost to another collector, or given up below
        // Held in the database but not known here (a claim whose answer was lost): start checking them too.
        final java.util.Map<String, String> acquiredAt = new java.util.HashMap<>();
        for (Key k : renewed) {
            if (keep.contains(k.monitor()) && !held.containsKey(k.monitor())) {
                acquiredAt.put(k.monitor(), k.location());
            }
        }
        if (!release.isEmpty()) {
            held.keySet().removeAll(release);
            listener.released(Collections.unmodifiableSet(release));
        }
        if (!free.isEmpty()) {
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(true);
                free(c, free, clock.instant());
            }
        }
        deadSeen.addAll(deadKeys);
        // The heartbeat row renewed (not fenced): every lease held is trusted for another ttl - ttl/4 from the
        // round's start.
        trustedUntil = now.plus(ttl).minus(renewEvery());
        final java.util.Map<String, Instant> uncheckedSince = new java.util.HashMap<>();
        if (keepAny.size() < fairAny || keepHere.size() < fairHere) {
            final Set<String> wantedAny = new HashSet<>();
            final Set<String> wantedHere = new HashSet<>();
            for (java.util.Map.Entry<String, String> e : leasable.entrySet()) {
                if (!keep.contains(e.getKey())) {
                    (e.getValue().equals(ANY) ? wantedAny : wantedHere).add(e.getKey());
                }
            }
            final List<Integer> takeable = new ArrayList<>(deadKeys);
            takeable.addAll(seen.fenced().keySet());
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(true);
                if (keepAny.size() < fairAny && !wantedAny.isEmpty()) {
                    for (String m : claim(c, wantedAny, ANY, fairAny - keepAny.size(), now, takeable, deadKeys,
                        deadSeenAt, seen.fenced(), uncheckedSince)) {
                        acquiredAt.put(m, ANY);
                    }
                }
                if (keepHere.size() < fairHere && !wantedHere.isEmpty()) {
                    for (String m : claim(c, wantedHere, location, fairHere - keepHere.size(), now, takeable,
                        deadKeys, deadSeenAt, seen.fenced(), uncheckedSince)) {
                        acquiredAt.put(m, location);
                    }
                }
            }
        }
        final Set<String> acquired = new TreeSet<>(acquiredAt.keySet());
        if (!acquired.isEmpty()) {
            held.putAll(acquiredAt);
            listener.acquired(Collections.unmodifiableSet(acquired), Collections.unmodifiableMap(uncheckedSince));
        }
        liveCollectors = Math.max(allLive.size(), 1);
        share = fairAny + fairHere;
        release.addAll(fenced);
        return new Round(acquired, release, held.size(), share, liveCollectors);
    }

    /**
     * Stops: the listener stops every check, then the leases are freed and the heartbeat row deleted, so the
     * other collectors take the monitors over in their next round instead of after the TTL.
     */
    public synchronized void releaseAll(Listener listener) throws SQLException {
        final Set<String> all = new TreeSet<>(held.keySet());
        held.clear();
        trustedUntil = Instant.MIN;
        if (!all.isEmpty()) {
            listener.released(Collections.unmodifiableSet(all));
        }
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            freeAll(c);
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + UptimeSchema.MONITOR_COLLECTORS
                + " WHERE id = ?")) {
                timeout(ps);
                ps.setString(1, collectorId);
                ps.executeUpdate();
            }
        } finally {
            // Last: with the leases freed and the row gone, the lock going tells nobody anything new.
            lockHeld = false;
            closeLiveness();
        }
    }

    /** Frees every lease this collector holds in the database (whatever key it was claimed under). */
    private void freeAll(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + UptimeSchema.MONITOR_LEASES
            + " SET holder = NULL, holder_key = NULL, expires_at = '-infinity', acquired_at = NULL, released_at = ? "
            + "WHERE holder = ?")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(clock.instant()));
            ps.setString(2, collectorId);
            ps.executeUpdate();
        }
    }

    // ---- liveness ----------------------------------------------------------------------------------------------

    /**
     * Checks the liveness lock (on its own connection) and looks for collectors that died: a row not expired whose
     * lock is not held. Runs every {@link #LIVENESS_EVERY}; cheap (two small queries on the liveness connection).
     * A lock found lost fences this collector at once: every lease stops being trusted and the listener is told to
     * stop; the next {@link #round} takes a new lock and starts over.
     *
     * @return whether a {@link #round} should run now: this collector's lock was lost, or a collector was found
     *     dead that was not seen dead before (its leases are free at once)
     */
    public synchronized boolean checkLiveness(Listener listener) {
        if (liveness == null) {
            return false; // not established yet, or lost and not taken again: the rounds do that
        }
        if (!ownLockHeld()) {
            lost(listener, "its connection failed or the lock is not held");
            return true;
        }
        final Set<Integer> dead = new HashSet<>();
        try (PreparedStatement ps = liveness.prepareStatement("SELECT c.lock_key FROM "
            + UptimeSchema.MONITOR_COLLECTORS + " c WHERE c.expires_at > ? AND c.fenced_at IS NULL AND c.lock_key IS "
            + "NOT NULL AND NOT "
            + lockHeld("c.lock_key"))) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(clock.instant()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    dead.add(rs.getInt(1));
                }
            }
        } catch (SQLException e) {
            lost(listener, e.toString());
            return true;
        }
        final boolean fresh = !deadSeen.containsAll(dead);
        deadSeen.retainAll(dead);
        deadSeen.addAll(dead);
        return fresh;
    }

    /** Whether the liveness connection answers and holds this collector's lock. */
    private boolean ownLockHeld() {
        try (PreparedStatement ps = liveness.prepareStatement("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE "
            + "locktype = 'advisory' AND classid = " + LOCK_NAMESPACE + "::oid AND objid = (?::integer)::oid AND "
            + "objsubid = 2 AND pid = pg_backend_pid() AND granted)")) {
            timeout(ps);
            ps.setInt(1, lockKey);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getBoolean(1);
            }
        } catch (SQLException e) {
            return false;
        }
    }

    /**
     * The lock is held on a live connection, or taken now (a new key, a new connection).
     *
     * @return the leases given up because the lock was found lost here
     */
    private Set<String> ensureLiveness(Listener listener) throws SQLException {
        Set<String> fenced = Set.of();
        if (liveness != null) {
            if (ownLockHeld()) {
                return fenced;
            }
            fenced = lost(listener, "its connection failed or the lock is not held");
        }
        final Connection c = connector.connect();
        try {
            c.setAutoCommit(true);
            try {
                // A read that hangs (the database's host gone) fails instead of holding the round's thread.
                c.setNetworkTimeout(Runnable::run, (int) Math.max(2_000, ttl.toMillis()));
            } catch (java.sql.SQLFeatureNotSupportedException e) {
                LOG.debug("no network timeout on the liveness connection: {}", e.toString());
            }
            final int key;
            try (PreparedStatement ps = c.prepareStatement("SELECT nextval('" + UptimeSchema.MONITOR_COLLECTOR_LOCK
                + "')::integer")) {
                timeout(ps);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    key = rs.getInt(1);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_lock(?, ?)")) {
                timeout(ps);
                ps.setInt(1, LOCK_NAMESPACE);
                ps.setInt(2, key);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next() || !rs.getBoolean(1)) {
                        throw new SQLException("liveness lock " + key + " is held by another session");
                    }
                }
            }
            liveness = c;
            lockKey = key;
            lockHeld = true;
            return fenced;
        } catch (SQLException | RuntimeException e) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // already failing
            }
            throw e;
        }
    }

    /** Fences this collector: its lock is lost, so its leases may be taken at once by the others. */
    private Set<String> lost(Listener listener, String why) {
        return startOver(listener, "lost its liveness lock (" + why.replace('\n', ' ') + ")");
    }

    /**
     * Fences this collector: its lock was lost, or its row was fenced (another collector may have taken its leases
     * already). Every lease stops being trusted, the listener is told, the lock's connection is closed; the next
     * round takes a new lock under a new key, frees whatever is still recorded under this collector and claims
     * afresh.
     */
    private Set<String> startOver(Listener listener, String what) {
        lockHeld = false;
        registeredKey = 0;
        trustedUntil = Instant.MIN;
        final Set<String> all = new TreeSet<>(held.keySet());
        held.clear();
        freeMine = true;
        closeLiveness();
        LOG.warn("monitor collector {} {}: stopped checking its {} monitors; a new lock is taken at the next lease "
            + "round", collectorId, what, all.size());
        if (!all.isEmpty()) {
            listener.released(Collections.unmodifiableSet(all));
        }
        return all;
    }

    private void closeLiveness() {
        final Connection c = liveness;
        liveness = null;
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.debug("liveness connection close: {}", e.toString());
            }
        }
    }

    /**
     * Renews this collector's own row, the only row a round writes when nothing moves. Under a new key (first
     * round, or starting over) whatever is still recorded under this collector is freed first and the row is
     * written afresh (not fenced, the new key); otherwise it is renewed only if it still names this key and has
     * not been fenced.
     *
     * @return false when the row was fenced or is gone (or names another key): start over
     */
    private boolean heartbeat(Connection c, Instant now, Instant expires) throws SQLException {
        if (registeredKey != lockKey) {
            if (freeMine) {
                // The lock was lost or the row fenced: whatever was claimed under the old key may be another's by
                // now. Start over.
                freeAll(c);
                freeMine = false;
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.MONITOR_COLLECTORS
                + " (id, host, pid, started_at, seen_at, expires_at, location, lock_key) VALUES (?, ?, ?, ?, ?, ?, ?, "
                + "?) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at, expires_at = EXCLUDED.expires_at, "
                + "lock_key = EXCLUDED.lock_key, fenced_at = NULL")) {
                timeout(ps);
                ps.setString(1, collectorId);
                ps.setString(2, host);
                ps.setLong(3, ProcessHandle.current().pid());
                ps.setTimestamp(4, Timestamp.from(startedAt));
                ps.setTimestamp(5, Timestamp.from(now));
                ps.setTimestamp(6, Timestamp.from(expires));
                ps.setString(7, location == null ? ANY : location);
                ps.setInt(8, lockKey);
                ps.executeUpdate();
            }
            registeredKey = lockKey;
            verify = true;
            return true;
        }
        // Serialised with fence() on this one row: either this renewal lands first (and the fencer, re-reading the
        // row, finds it unexpired), or the fence does (and this renewal finds it fenced, and starts over).
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + UptimeSchema.MONITOR_COLLECTORS
            + " SET seen_at = ?, expires_at = ? WHERE id = ? AND lock_key = ? AND fenced_at IS NULL")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(now));
            ps.setTimestamp(2, Timestamp.from(expires));
            ps.setString(3, collectorId);
            ps.setInt(4, lockKey);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Marks fenced every other collector's row that has expired by this collector's clock (its holder's trust in
     * its leases ended a quarter of the TTL before), so its leases may be taken: the holder's next heartbeat fails
     * and it starts over. Then rows expired longer than {@link #KEEP_DEAD} are deleted, their leases freed in the
     * same statement. Usually writes nothing.
     */
    private void fence(Connection c, Instant now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + UptimeSchema.MONITOR_COLLECTORS
            + " SET fenced_at = ? WHERE expires_at <= ? AND fenced_at IS NULL AND id <> ?")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(now));
            ps.setTimestamp(2, Timestamp.from(now));
            ps.setString(3, collectorId);
            final int n = ps.executeUpdate();
            if (n > 0) {
                LOG.info("monitor collector {} fenced {} collector(s) whose heartbeat expired: their leases are free",
                    collectorId, n);
            }
        }
        try (PreparedStatement ps = c.prepareStatement("WITH gone AS (DELETE FROM "
            + UptimeSchema.MONITOR_COLLECTORS + " WHERE expires_at < ? AND fenced_at IS NOT NULL AND id <> ? "
            + "RETURNING lock_key) UPDATE " + UptimeSchema.MONITOR_LEASES + " SET holder = NULL, holder_key = NULL, "
            + "expires_at = '-infinity', acquired_at = NULL, released_at = ? WHERE holder IS NOT NULL AND "
            + "holder_key IN (SELECT lock_key FROM gone)")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(now.minus(KEEP_DEAD)));
            ps.setString(2, collectorId);
            ps.setTimestamp(3, Timestamp.from(now));
            ps.executeUpdate();
        }
    }

    /**
     * The collector rows as one round sees them.
     *
     * @param live rows not expired and not fenced as {id, location, dead lock key or null}, by id
     * @param fenced the keys of fenced rows with their last expiry: their leases may be taken
     */
    private record Collectors(List<String[]> live, java.util.Map<Integer, Instant> fenced) {
    }

    /**
     * Collectors with a row not expired (and not fenced) as {id, location, dead lock key or null}, by id, and the
     * fenced rows' keys. The locks are read after the rows (pg_locks is not part of the statement's snapshot) and a
     * row names a key only once it is locked, so a key found not held here was held and is gone: its collector
     * died (or lost its connection) and never takes that key again.
     */
    private Collectors collectors(Connection c, Instant now) throws SQLException {
        final List<String[]> live = new ArrayList<>();
        final java.util.Map<Integer, Instant> fenced = new java.util.HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id, location, CASE WHEN lock_key IS NULL OR "
            + lockHeld("lock_key") + " THEN NULL ELSE lock_key END, fenced_at IS NOT NULL, lock_key, expires_at FROM "
            + UptimeSchema.MONITOR_COLLECTORS + " WHERE expires_at > ? OR fenced_at IS NOT NULL")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (rs.getBoolean(4)) {
                        final Integer key = (Integer) rs.getObject(5);
                        if (key != null) {
                            fenced.put(key, rs.getTimestamp(6).toInstant());
                        }
                    } else {
                        live.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3)});
                    }
                }
            }
        }
        // In Java, not SQL: the rank must not depend on the database's collation.
        live.sort(java.util.Comparator.comparing(l -> l[0]));
        return new Collectors(live, fenced);
    }

    /**
     * The leases this collector holds. While its row is renewed unfenced under its key and its lock is held, no
     * other collector may take them, so they are the ones it knows; a count (a read of
     * {@code monitor_leases_holder_idx}, no write) guards against a lease changed behind its back (by hand, or a
     * claim committed whose answer was lost): when it disagrees, or after a failed round, the names are read.
     */
    private Set<Key> mine(Connection c) throws SQLException {
        if (!verify) {
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM " + UptimeSchema.MONITOR_LEASES
                + " WHERE holder = ?")) {
                timeout(ps);
                ps.setString(1, collectorId);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getLong(1) == held.size()) {
                        final Set<Key> out = new HashSet<>();
                        for (java.util.Map.Entry<String, String> e : held.entrySet()) {
                            out.add(new Key(e.getKey(), e.getValue()));
                        }
                        return out;
                    }
                }
            }
        }
        final Set<Key> out = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT monitor, location FROM " + UptimeSchema.MONITOR_LEASES
            + " WHERE holder = ? AND holder_key = ?")) {
            timeout(ps);
            ps.setString(1, collectorId);
            ps.setInt(2, lockKey);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Key(rs.getString(1), rs.getString(2)));
                }
            }
        }
        verify = false;
        return out;
    }

    private void free(Connection c, Collection<Key> keys, Instant releasedAt) throws SQLException {
        final List<String> monitors = new ArrayList<>();
        final List<String> locations = new ArrayList<>();
        for (Key k : keys) {
            monitors.add(k.monitor());
            locations.add(k.location());
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + UptimeSchema.MONITOR_LEASES
            + " SET holder = NULL, holder_key = NULL, expires_at = '-infinity', acquired_at = NULL, released_at = ? "
            + "WHERE holder = ? AND (monitor, location) IN (SELECT * FROM unnest(?::text[], ?::text[]))")) {
            timeout(ps);
            ps.setTimestamp(1, Timestamp.from(releasedAt));
            ps.setString(2, collectorId);
            ps.setArray(3, c.createArrayOf("text", monitors.toArray()));
            ps.setArray(4, c.createArrayOf("text", locations.toArray()));
            ps.executeUpdate();
        }
    }

    /**
     * Claims up to {@code most} leases among {@code wanted}: free ones, those claimed under a dead or fenced
     * collector's key ({@code takeable}), and (from before schema step 127) those whose own expiry has passed. Fills
     * {@code uncheckedSince} for each (see {@link Listener#acquired(Set, java.util.Map)}).
     */
    private Set<String> claim(Connection c, Collection<String> wanted, String leaseLocation, int most, Instant now,
                              List<Integer> takeable, List<Integer> deadKeys, Instant deadSeenAt,
                              java.util.Map<Integer, Instant> fenced, java.util.Map<String, Instant> uncheckedSince)
        throws SQLException {
        final java.sql.Array names = c.createArrayOf("text", wanted.toArray());
        // Lease rows are made on demand (monitors created with SQL get one too); a monitor deleted meanwhile
        // simply is not found.
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + UptimeSchema.MONITOR_LEASES
            + " (monitor, location) SELECT name, ? FROM " + UptimeSchema.MONITORS + " WHERE name = ANY(?) "
            + "ON CONFLICT DO NOTHING")) {
            timeout(ps);
            ps.setString(1, leaseLocation);
            ps.setArray(2, names);
            ps.executeUpdate();
        }
        final Set<String> out = new HashSet<>();
        // SKIP LOCKED: rows another collector is claiming right now are left to it. The condition is checked again
        // on the row as locked, so a lease claimed and committed meanwhile is not taken: it names a new, live key,
        // never one in the list. A dead key never comes back, and a fenced one neither (a collector that lost its
        // lock or was fenced takes a new key), so the list cannot go stale. Claimed leases have no expiry of their
        // own ('infinity'): they are held while their holder is live.
        try (PreparedStatement ps = c.prepareStatement("WITH free AS (SELECT monitor, location, holder, holder_key, "
            + "expires_at, released_at FROM " + UptimeSchema.MONITOR_LEASES + " WHERE monitor = ANY(?) AND "
            + "location = ? AND (holder IS NULL OR expires_at <= ? OR holder_key = ANY(?)) ORDER BY monitor LIMIT ? "
            + "FOR UPDATE SKIP LOCKED) UPDATE " + UptimeSchema.MONITOR_LEASES + " l SET holder = ?, holder_key = ?, "
            + "expires_at = 'infinity', acquired_at = ?, released_at = NULL FROM free WHERE l.monitor = free.monitor "
            + "AND l.location = free.location RETURNING l.monitor, free.holder, free.holder_key, free.expires_at, "
            + "free.released_at")) {
            timeout(ps);
            ps.setArray(1, names);
            ps.setString(2, leaseLocation);
            ps.setTimestamp(3, Timestamp.from(now));
            ps.setArray(4, c.createArrayOf("integer", takeable.toArray()));
            ps.setInt(5, most);
            ps.setString(6, collectorId);
            ps.setInt(7, lockKey);
            ps.setTimestamp(8, Timestamp.from(now));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    final String monitor = rs.getString(1);
                    out.add(monitor);
                    final Instant since = uncheckedSince(rs.getString(2), (Integer) rs.getObject(3),
                        rs.getTimestamp(4), rs.getTimestamp(5), now, deadKeys, deadSeenAt, fenced);
                    if (since != null) {
                        uncheckedSince.put(monitor, since);
                    }
                }
            }
        }
        return out;
    }

    /**
     * From when the previous holder of a lease certainly did not check its monitor any more: when it freed the lease
     * (it had stopped first), when its trust ended (its row's last expiry - ttl/4, the holder's rule, same TTL) for
     * a fenced holder, or a lease that expired on its own (from before step 127), or when this collector saw its
     * lock gone (it was dead by then); never held: {@link Instant#MIN}; null when unknown.
     */
    private Instant uncheckedSince(String holder, Integer holderKey, Timestamp expiresAt, Timestamp releasedAt,
                                   Instant now, List<Integer> deadKeys, Instant deadSeenAt,
                                   java.util.Map<Integer, Instant> fenced) {
        if (holder == null) {
            return releasedAt != null ? releasedAt.toInstant() : Instant.MIN;
        }
        Instant since = null;
        if (holderKey != null && fenced.containsKey(holderKey)) {
            since = fenced.get(holderKey).minus(ttl.dividedBy(4));
        } else if (expiresAt != null && !expiresAt.toInstant().isAfter(now)) {
            since = expiresAt.toInstant().minus(ttl.dividedBy(4));
        }
        if (holderKey != null && deadKeys.contains(holderKey) && (since == null || deadSeenAt.isBefore(since))) {
            since = deadSeenAt;
        }
        return since;
    }

    private void timeout(PreparedStatement ps) throws SQLException {
        // A round must not hang past the TTL (the local trust ends anyway; this frees the thread).
        ps.setQueryTimeout((int) Math.max(1, ttl.toSeconds()));
    }
}
