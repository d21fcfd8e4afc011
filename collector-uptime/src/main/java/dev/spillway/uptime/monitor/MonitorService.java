package dev.spillway.uptime.monitor;

import dev.spillway.runtime.lifecycle.ServiceThreads;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.Deadline;
import com.fasterxml.jackson.databind.JsonNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.log.LogText;
import dev.spillway.ingest.FieldKinds;
import dev.spillway.ingest.Point;
import dev.spillway.ingest.PointWriter;
import dev.spillway.uptime.transitions.StateTransitions;
import dev.spillway.uptime.transitions.Transition;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Uptime monitors: definitions in {@code monitors}, a {@link MonitorScheduler} that only decides when checks are
 * due, a {@link ProbeExecutor} that bounds how many run at once, and one result thread that turns each
 * {@link CheckResult} into a point (measurement {@code monitor}, through the {@link PointWriter} like line
 * protocol) and into the monitor's {@link MonitorState}, persisted together with its {@code monitor_transitions}
 * row in one transaction.
 *
 * <p>Changes through the API are written to the database first and take effect at once; the table's fingerprint
 * is compared every lease round (so changes made through another collector's API, or with SQL, are picked up within
 * a round) and the table is re-read every reload interval as well.
 *
 * <p>Any number of collectors may share one database: each checks only the monitors whose lease it holds
 * ({@link MonitorLeases}: a fair share each, moved when collectors join or leave, taken over within a liveness
 * check and a round when one dies, or after the TTL when its liveness lock is not released), and every state write is a compare-and-set on the state row's version, so a transition is recorded once
 * whichever collector sees it, and never from a stale state. Without leases (the monitors duty off) the service
 * serves the API only and checks nothing.
 *
 * <p>A monitor that lists locations is checked here only if this collector's {@code --location} is one of them
 * (its lease is per monitor and location); its results carry the {@code location} tag and are recorded by
 * {@link LocationResults}: the location's own state, then the monitor's state by the {@link Quorum}, under the
 * monitor's state row lock, so each change of the combined state is one transition whichever location sees it.
 */
public final class MonitorService implements AutoCloseable, Service {

    /** Measurement of the result series. */
    public static final String MEASUREMENT = "monitor";
    /** Checks whose failure reasons are kept in memory per monitor (for {@code /checks}). */
    static final int RECENT = 100;
    private static final List<String> HTTP_FIELDS = List.of("up", "duration_ms", "status_code", "dns_ms",
        "connect_ms", "ttfb_ms");
    /** Extra result fields written as booleans. */
    private static final Set<String> BOOLEAN_EXTRA = Set.of("chain_valid", "host_name_match");

    private static final Logger LOG = LoggerFactory.getLogger(MonitorService.class);

    private final MonitorStore store;
    private final StateTransitions transitions;
    private final PointWriter.Producer points;
    private final PointWriter writer;
    private final Probes probes;
    private final MonitorMetrics perMonitor;
    private final ProbeExecutor executor;
    private final MonitorScheduler scheduler;
    private final Map<String, Runtime> runtimes = new ConcurrentHashMap<>();
    private final Map<String, Instant> invalidLogged = new ConcurrentHashMap<>();
    private final LinkedBlockingQueue<Done> results = new LinkedBlockingQueue<>();
    private final Thread resultThread;
    private final ScheduledExecutorService reloader;
    private final ScheduledExecutorService sync;
    private final MonitorLeases leases;
    private final java.time.Clock clock;
    /** This collector's location ({@code --location}), or null. */
    private final String location;
    /** The lease TTL of the staleness rule of locations ({@link Quorum#staleAfter}). */
    private final Duration leaseTtl;
    private final MonitorLeases.Listener leaseListener = new LeaseListener();
    private final Counter stateConflicts;
    private final Counter resultsAfterLease;
    private final Counter leasesAcquired;
    private final Counter leasesReleased;
    private volatile String fingerprint;
    private final java.util.concurrent.atomic.AtomicBoolean syncRequested = new java.util.concurrent.atomic.AtomicBoolean();
    private long lastSyncErrorLogMillis;
    private final Counter successes;
    private final Counter failures;
    private final Counter transitionsCounter;
    private final Counter stateWriteFailures;
    private final LongAdder deniedAtApi = new LongAdder();
    private final AddressPolicy policy;
    private final AtomicLong pointFailures = new AtomicLong();
    private volatile boolean running = true;
    private volatile boolean closing;
    // Serialises state writes (result batches and API pause/resume), so the database and memory agree.
    private final Object stateWrites = new Object();
    private static final int MAX_BATCH = 1000;
    private final Set<java.util.concurrent.CompletableFuture<?>> pendingWrites = ConcurrentHashMap.newKeySet();

    /** Per-monitor live state; {@link #state} and the rest are guarded by the instance. */
    static final class Runtime {
        volatile MonitorSpec spec;
        MonitorState state;
        /** The state row's version as last read or written (0: no row); compare-and-set on every write. */
        long version;
        Instant lastCheckAt;
        String lastError;
        CheckResult last;
        /** Failure reasons of the last {@link #RECENT} checks (passed checks take no room). */
        final RecentErrors recent = new RecentErrors(RECENT);

        Runtime(MonitorSpec spec, MonitorState state) {
            this.spec = spec;
            this.state = state;
        }

        /** Takes a state row read from the database unless a newer one is already here. Caller holds the lock. */
        void adopt(MonitorStore.StateRow row) {
            if (row.version() >= version) {
                state = row.state();
                version = row.version();
                if (row.lastCheckAt() != null && (lastCheckAt == null || row.lastCheckAt().isAfter(lastCheckAt))) {
                    lastCheckAt = row.lastCheckAt();
                    lastError = row.lastError();
                }
            }
        }
    }

    private record Done(MonitorScheduler.Entry entry, MonitorSpec spec, CheckResult result) {
    }

    /**
     * Loads the monitors and their states and starts checking the monitors whose leases it gets.
     *
     * @param settings concurrency, keep-alive, reload interval
     * @param leases who checks which monitor, shared with the other collectors on the database; null to check
     *     nothing (the API still works: states are read from the database)
     * @param clock the wall clock of leases and of the schedule's grid
     */
    public MonitorService(javax.sql.DataSource ds, PointWriter writer, StateTransitions transitions,
                          MeterRegistry meters, Settings settings, MonitorLeases leases, java.time.Clock clock)
        throws SQLException {
        this.store = new MonitorStore(ds);
        this.leases = leases;
        this.clock = clock;
        this.location = leases == null ? null : leases.location();
        this.leaseTtl = leases == null ? DEFAULT_LEASE_TTL : leases.ttl();
        this.transitions = transitions;
        this.writer = writer;
        this.points = writer.producer("monitor");
        this.policy = settings.policy();
        this.probes = new Probes(settings.keepAlive(), settings.concurrency(), policy);
        this.perMonitor = new MonitorMetrics(meters);
        this.executor = new ProbeExecutor(settings.concurrency(), meters);
        this.successes = Counter.builder("spillway.monitor.checks").tag("result", "success")
            .description("checks run, by result").register(meters);
        this.failures = Counter.builder("spillway.monitor.checks").tag("result", "failure")
            .description("checks run, by result").register(meters);
        this.transitionsCounter = Counter.builder("spillway.monitor.transitions")
            .description("confirmed state changes recorded in monitor_transitions").register(meters);
        this.stateWriteFailures = Counter.builder("spillway.monitor.state.write.failures")
            .description("state changes that could not be persisted (retried with the next check)")
            .register(meters);
        final String denials = "refused by the probe address policy: monitors at the API (at=api, a denied IP "
            + "literal, 400) and checks (at=check)";
        FunctionCounter.builder("spillway.monitor.address.denied", deniedAtApi, LongAdder::sum).tag("at", "api")
            .description(denials).register(meters);
        FunctionCounter.builder("spillway.monitor.address.denied", probes, Probes::deniedChecks).tag("at", "check")
            .description(denials).register(meters);
        FunctionCounter.builder("spillway.monitor.body.capped", probes, Probes::cappedChecks)
            .description("checks whose response bodies were cut at " + HttpProbe.MAX_BODY + " bytes").register(meters);
        FunctionCounter.builder("spillway.monitor.probe.received", probes, Probes::receivedBytes).baseUnit("bytes")
            .description("bytes read from probe connections (headers, bodies, TLS)").register(meters);
        for (MonitorState.Status s : MonitorState.Status.values()) {
            Gauge.builder("spillway.monitor.state", runtimes, m -> count(m, s)).tag("state", s.name())
                .description("monitors by state").register(meters);
        }
        this.stateConflicts = Counter.builder("spillway.monitor.state.conflicts")
            .description("state writes refused because another collector had changed the state row (the result is "
                + "kept as a point; the state is re-read)").register(meters);
        this.resultsAfterLease = Counter.builder("spillway.monitor.results.after.lease")
            .description("results of checks that ended after this collector lost the monitor's lease: kept as points, "
                + "never applied to the state (the new holder's checks decide it)").register(meters);
        this.leasesAcquired = Counter.builder("spillway.monitor.leases.acquired")
            .description("monitor leases this collector claimed").register(meters);
        this.leasesReleased = Counter.builder("spillway.monitor.leases.released")
            .description("monitor leases this collector gave up or lost").register(meters);
        if (leases != null) {
            Gauge.builder("spillway.monitor.leases.held", leases, l -> l.held().size())
                .description("monitor leases held by this collector").register(meters);
            Gauge.builder("spillway.monitor.collectors.live", leases, MonitorLeases::liveCollectors)
                .description("collectors sharing the monitors (live heartbeat rows), this one included")
                .register(meters);
        }
        this.resultThread = ServiceThreads.single("monitor-results").newThread(this::processResults);
        this.scheduler = new MonitorScheduler(this::due, meters, clock);
        fingerprint = store.fingerprint();
        final Map<String, MonitorStore.StateRow> states = store.loadStates();
        reload(states);
        resultThread.start();
        this.reloader = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("monitor-reload"));
        final long every = settings.reloadInterval().toMillis();
        reloader.scheduleWithFixedDelay(this::reloadQuietly, every, every, TimeUnit.MILLISECONDS);
        // Lease rounds (and the fingerprint check): the first at once, so a lone collector starts checking now.
        this.sync = Executors.newSingleThreadScheduledExecutor(ServiceThreads.single("monitor-leases"));
        final long round = (leases != null ? leases.renewEvery() : SYNC_WITHOUT_LEASES).toMillis();
        sync.scheduleWithFixedDelay(this::syncQuietly, 0, round, TimeUnit.MILLISECONDS);
        if (leases != null) {
            // Between rounds, on the same thread: this collector's liveness lock, and the others' deaths.
            final long check = MonitorLeases.LIVENESS_EVERY.toMillis();
            sync.scheduleWithFixedDelay(this::livenessQuietly, check, check, TimeUnit.MILLISECONDS);
        }
        LOG.info("monitors: {} loaded, probe concurrency {}, {}", runtimes.size(), settings.concurrency(),
            leases == null ? "not checked here (monitors duty off)"
                : "checked under leases as collector " + leases.collectorId()
                    + (location == null ? "" : " at location " + location) + " (lease TTL "
                    + dev.spillway.runtime.config.Units.formatDuration(leases.ttl()) + ", renewed every "
                    + dev.spillway.runtime.config.Units.formatDuration(leases.renewEvery()) + ")");
    }

    /** The lease TTL assumed by a collector without the monitors duty when it judges locations stale. */
    private static final Duration DEFAULT_LEASE_TTL = Duration.ofSeconds(10);

    /** The header that tells a target which location a check of a monitor with locations comes from. */
    public static final String LOCATION_HEADER = "X-Spillway-Location";

    /** How often a service without leases compares the table's fingerprint. */
    private static final Duration SYNC_WITHOUT_LEASES = Duration.ofSeconds(2);

    /**
     * Monitor settings from the command line.
     *
     * @param concurrency most checks in flight ({@code --probe-concurrency})
     * @param keepAlive reuse connections between checks
     * @param reloadInterval how often the table is re-read ({@code --monitor-reload-interval})
     * @param policy where checks may connect ({@code --probe-allow}, {@code --probe-deny})
     */
    public record Settings(int concurrency, boolean keepAlive, Duration reloadInterval, AddressPolicy policy) {

        /** With the built-in address policy. */
        public Settings(int concurrency, boolean keepAlive, Duration reloadInterval) {
            this(concurrency, keepAlive, reloadInterval, AddressPolicy.defaults());
        }
    }

    private static double count(Map<String, Runtime> m, MonitorState.Status s) {
        int n = 0;
        for (Runtime r : m.values()) {
            synchronized (r) {
                if (r.state.state() == s) {
                    n++;
                }
            }
        }
        return n;
    }

    // ---- definitions -------------------------------------------------------------------------------------

    /** Upserts specs from a {@code --monitors} file (already validated) before start-up loading. */
    public static void applyFile(javax.sql.DataSource ds, List<MonitorSpec> specs) throws SQLException {
        applyFile(ds, specs, "--monitors");
    }

    /**
     * Upserts specs from a {@code --monitors} file (already validated) before start-up loading, after checking their
     * parents against the file and the database (a parent may be a monitor of the file, or a monitor or service
     * already stored).
     *
     * @param label how messages name the file, e.g. {@code --monitors monitors.yaml}
     * @throws dev.spillway.runtime.config.ConfigException {@code "<label>: monitor 'x': parent: ..."}, and nothing
     *     is applied, when a parent is unknown or makes a cycle
     */
    public static void applyFile(javax.sql.DataSource ds, List<MonitorSpec> specs, String label) throws SQLException {
        final Map<String, String> parents = new HashMap<>();
        for (MonitorSpec spec : specs) {
            parents.put(spec.name(), spec.parent());
        }
        try (java.sql.Connection c = ds.getConnection()) {
            for (MonitorSpec spec : specs) {
                try {
                    dev.spillway.uptime.transitions.Dependencies.check(c,
                        dev.spillway.uptime.transitions.Dependencies.MONITOR, spec.name(), spec.parent(), parents);
                } catch (ApiException e) {
                    throw new dev.spillway.runtime.config.ConfigException(label + ": monitor '" + spec.name() + "': "
                        + e.getMessage());
                }
            }
        }
        final MonitorStore s = new MonitorStore(ds);
        for (MonitorSpec spec : specs) {
            s.upsert(spec);
        }
    }

    private void reloadQuietly() {
        try {
            reload(null);
        } catch (SQLException | RuntimeException e) {
            LOG.warn("monitor reload failed (keeping the current schedule; next try in one reload interval): {}",
                e.toString());
        }
    }

    /** Re-reads the table: new and changed rows are (re)scheduled, removed rows stop. */
    synchronized void reload(Map<String, MonitorStore.StateRow> states) throws SQLException {
        final Set<String> seen = new HashSet<>();
        final List<MonitorSpec> valid = new ArrayList<>();
        for (MonitorStore.Row row : store.loadAll()) {
            seen.add(row.name());
            final MonitorSpec spec;
            try {
                spec = MonitorValidator.parse(row.json(), null);
            } catch (ApiException e) {
                seen.add(row.name()); // keep whatever valid version was running
                if (!row.updatedAt().equals(invalidLogged.put(row.name(), row.updatedAt()))) {
                    LOG.warn("monitors row '{}' is invalid and is not (re)scheduled: {}", LogText.escape(row.name()),
                        LogText.escape(e.getMessage()));
                }
                continue;
            }
            invalidLogged.remove(row.name());
            valid.add(spec);
        }
        preloadSeries(valid);
        Map<String, MonitorStore.StateRow> loaded = states;
        if (loaded == null) {
            // Monitors new to this collector may have been checked by another one already: start from their row.
            final List<String> fresh = new ArrayList<>();
            for (MonitorSpec spec : valid) {
                if (!runtimes.containsKey(spec.name())) {
                    fresh.add(spec.name());
                }
            }
            loaded = store.loadStates(fresh);
        }
        for (MonitorSpec spec : valid) {
            apply(spec, loaded.get(spec.name()));
        }
        for (String name : new ArrayList<>(runtimes.keySet())) {
            if (!seen.contains(name)) {
                forget(name);
            }
        }
    }

    /**
     * Creates the result series of monitors not seen before in bulk, so thousands of monitors loaded at once do
     * not each wait for six single-row inserts on their first check. Failure only costs that speed-up.
     */
    private void preloadSeries(List<MonitorSpec> specs) {
        final List<Point> templates = new ArrayList<>();
        for (MonitorSpec spec : specs) {
            final Runtime rt = runtimes.get(spec.name());
            if (rt == null || !rt.spec.tags().equals(spec.tags())) {
                final Point.Builder b = Point.builder(MEASUREMENT).tag("monitor", spec.name()).tags(spec.tags()).time(0);
                if (spec.located() && location != null && spec.locations().contains(location)) {
                    b.tag("location", location);
                }
                for (String field : spec.type() == CheckType.HTTP && !spec.https() ? HTTP_FIELDS
                    : spec.type().fields()) {
                    b.field(field, FieldKinds.FLOAT, 0);
                }
                templates.add(b.build());
            }
        }
        if (templates.isEmpty()) {
            return;
        }
        try {
            final long t0 = System.nanoTime();
            final int created = writer.preload(templates);
            if (created > 0) {
                LOG.info("created {} result series for {} monitors in {} ms", created, templates.size(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            }
        } catch (SQLException | RuntimeException e) {
            LOG.warn("could not create result series in bulk (they are created on first use): {}", e.toString());
        }
    }

    /** Brings one spec into effect: schedule, reschedule or pause. */
    private synchronized void apply(MonitorSpec spec, MonitorStore.StateRow loaded) {
        Runtime rt = runtimes.get(spec.name());
        if (rt == null) {
            rt = new Runtime(spec, MonitorState.initial(Instant.now()));
            if (loaded != null) {
                rt.adopt(loaded);
            }
            runtimes.put(spec.name(), rt);
        } else if (rt.spec.equals(spec)) {
            return;
        }
        rt.spec = spec;
        // Lock order everywhere: this service, stateWrites, then the runtime.
        synchronized (stateWrites) {
            // A new monitor's initial PENDING needs no row: no row means "never checked".
            persistDerived(spec.name(), rt, current -> spec.enabled()
                ? (current.state() == MonitorState.Status.PAUSED ? current.resumed() : current)
                : current.paused());
        }
        schedule(spec);
    }

    /** Checks a monitor here only while this collector holds its lease. Caller holds this service's lock. */
    private void schedule(MonitorSpec spec) {
        schedule(spec, null);
    }

    /**
     * As {@link #schedule(MonitorSpec)}, for a monitor just taken over ({@link MonitorScheduler#upsert(MonitorSpec, Instant)}).
     * Kept on the schedule while its lease is held, trusted or not ({@link MonitorLeases#leased}): each tick asks
     * {@link MonitorLeases#holds} before checking. (Scheduling only trusted leases dropped, for good, every monitor
     * acquired by a round slower than the trust window: nothing scheduled them again while the lease stayed held.)
     */
    private void schedule(MonitorSpec spec, Instant uncheckedSince) {
        if (spec.enabled() && leases != null && leases.leased(spec.name())) {
            scheduler.upsert(spec, uncheckedSince);
        } else {
            scheduler.remove(spec.name());
        }
    }

    private synchronized void forget(String name) {
        runtimes.remove(name);
        scheduler.remove(name);
        perMonitor.remove(name);
    }

    // ---- leases ------------------------------------------------------------------------------------------

    /** Starts and stops checks as leases come and go; both under this service's lock, like {@link #apply}. */
    private final class LeaseListener implements MonitorLeases.Listener {
        @Override
        public void acquired(Set<String> monitors) {
            acquired(monitors, Map.of());
        }

        @Override
        public void acquired(Set<String> monitors, Map<String, Instant> uncheckedSince) {
            leasesAcquired.increment(monitors.size());
            synchronized (MonitorService.this) {
                // Another collector may have checked them since this one last did: start from their rows.
                synchronized (stateWrites) {
                    try {
                        final Map<String, MonitorStore.StateRow> rows = store.loadStates(monitors);
                        for (String name : monitors) {
                            final Runtime rt = runtimes.get(name);
                            final MonitorStore.StateRow row = rows.get(name);
                            if (rt != null && row != null) {
                                synchronized (rt) {
                                    rt.adopt(row);
                                }
                            }
                        }
                    } catch (SQLException e) {
                        // Checking from the state in memory is still safe: a stale write is refused (version).
                        LOG.warn("could not read the state of {} newly leased monitors (a stale state is refused at "
                            + "its first write and read again): {}", monitors.size(), e.toString());
                    }
                }
                for (String name : monitors) {
                    final Runtime rt = runtimes.get(name);
                    if (rt != null) {
                        // A due time its previous holder certainly missed is checked at once.
                        schedule(rt.spec, uncheckedSince.get(name));
                    }
                }
            }
            LOG.debug("leased {} monitors: {}", monitors.size(), monitors);
        }

        @Override
        public void released(Set<String> monitors) {
            leasesReleased.increment(monitors.size());
            synchronized (MonitorService.this) {
                for (String name : monitors) {
                    scheduler.remove(name);
                    perMonitor.remove(name);
                }
            }
            LOG.debug("released {} monitor leases: {}", monitors.size(), monitors);
        }
    }

    /** Runs a lease round (and the fingerprint check) soon, on the lease thread: after a change through the API. */
    private void syncSoon() {
        if (!syncRequested.compareAndSet(false, true)) {
            return; // one is queued already: it will see this change too
        }
        try {
            sync.execute(() -> {
                syncRequested.set(false);
                syncQuietly();
            });
        } catch (RejectedExecutionException e) {
            LOG.trace("lease round not run: shutting down");
        }
    }

    private void syncQuietly() {
        if (closing) {
            return;
        }
        try {
            refreshDefinitions();
            if (leases != null) {
                final Map<String, String> leasable = new java.util.HashMap<>();
                for (Runtime rt : runtimes.values()) {
                    final String at = leases.leaseLocation(rt.spec);
                    if (rt.spec.enabled() && at != null) {
                        leasable.put(rt.spec.name(), at); // monitors listing other locations only: not here
                    }
                }
                final MonitorLeases.Round r = leases.round(leasable, leaseListener);
                if (!r.acquired().isEmpty() || !r.released().isEmpty()) {
                    LOG.info("monitor leases: +{} -{}, holding {} (fair share {} of {} monitors over {} collectors)",
                        r.acquired().size(), r.released().size(), r.held(), r.share(), leasable.size(),
                        r.liveCollectors());
                }
            }
        } catch (SQLException | RuntimeException e) {
            final long now = System.currentTimeMillis();
            if (now - lastSyncErrorLogMillis > 60_000) {
                lastSyncErrorLogMillis = now;
                LOG.warn("monitor lease round failed (retried every round; leases not renewed stop being checked "
                    + "before they expire; logged at most once a minute): {}", e.toString());
            }
        }
    }

    /** A liveness check; a round at once when this collector's lock was lost or another collector died. */
    private void livenessQuietly() {
        if (closing) {
            return;
        }
        try {
            if (leases.checkLiveness(leaseListener)) {
                syncQuietly();
            }
        } catch (RuntimeException e) {
            final long now = System.currentTimeMillis();
            if (now - lastSyncErrorLogMillis > 60_000) {
                lastSyncErrorLogMillis = now;
                LOG.warn("monitor liveness check failed (logged at most once a minute): {}", e.toString());
            }
        }
    }

    /**
     * Re-reads the definitions if the table's fingerprint changed: a change made through another collector's API
     * (or with SQL) is seen here at the next lease round, or at once by this collector's API.
     */
    private void refreshDefinitions() throws SQLException {
        final String now = store.fingerprint();
        if (!now.equals(fingerprint)) {
            reload(null);
            fingerprint = now;
        }
    }

    /** {@link #refreshDefinitions} for the API: on failure it answers from memory. */
    private void refreshDefinitionsQuietly() {
        try {
            refreshDefinitions();
        } catch (SQLException | RuntimeException e) {
            LOG.debug("monitor definitions not re-read (answering from memory): {}", e.toString());
        }
    }

    /** The state of each monitor not checked here, from the database (its holder's last write). */
    private void refreshUnleased(List<String> names) {
        final List<String> others = new ArrayList<>();
        for (String name : names) {
            final Runtime rt = runtimes.get(name);
            // A monitor with locations: other locations' results change its combined state too.
            if (leases == null || !leases.holds(name) || (rt != null && rt.spec.located())) {
                others.add(name);
            }
        }
        if (others.isEmpty()) {
            return;
        }
        try {
            final Map<String, MonitorStore.StateRow> rows = store.loadStates(others);
            for (Map.Entry<String, MonitorStore.StateRow> e : rows.entrySet()) {
                final Runtime rt = runtimes.get(e.getKey());
                if (rt != null) {
                    synchronized (rt) {
                        rt.adopt(e.getValue());
                    }
                }
            }
        } catch (SQLException e) {
            LOG.debug("state of monitors checked elsewhere not read (answering from memory): {}", e.toString());
        }
    }

    /** Creates a monitor; 409 when the name exists. */
    public MonitorView create(JsonNode body) throws ApiException, SQLException {
        final MonitorSpec spec = MonitorValidator.parse(body, null); // nothing stored to unmask from
        checkAddress(spec);
        checkParent(spec);
        if (!store.insert(spec)) {
            throw ApiException.conflict("monitor '" + spec.name() + "' exists; use PUT /api/v1/monitors/"
                + spec.name() + " to change it");
        }
        preloadSeries(List.of(spec));
        apply(spec, null);
        syncSoon();
        return ownView(spec.name());
    }

    /**
     * Creates or replaces a monitor.
     *
     * @return the view and whether it was created
     */
    public Map.Entry<MonitorView, Boolean> put(String name, JsonNode body) throws ApiException, SQLException {
        final MonitorSpec spec = MonitorValidator.parse(unmasked(name, body), name);
        checkAddress(spec);
        checkParent(spec);
        final boolean created = store.upsert(spec);
        preloadSeries(List.of(spec));
        apply(spec, null);
        syncSoon();
        return Map.entry(ownView(name), created);
    }

    /** The parent exists and makes no cycle (400 naming {@code parent}). */
    private void checkParent(MonitorSpec spec) throws ApiException, SQLException {
        if (spec.parent() == null) {
            return;
        }
        try (java.sql.Connection c = store.dataSource().getConnection()) {
            dev.spillway.uptime.transitions.Dependencies.check(c, dev.spillway.uptime.transitions.Dependencies.MONITOR,
                spec.name(), spec.parent(), Map.of());
        }
    }

    private void checkAddress(MonitorSpec spec) throws ApiException {
        try {
            MonitorValidator.checkAddress(spec, policy);
        } catch (ApiException e) {
            deniedAtApi.increment();
            throw e;
        }
    }

    /**
     * A PUT body with the secrets an answer masked ({@link MonitorView#MASK}) put back from the stored monitor: a
     * header whose value is the mask keeps its stored value, a URL equal to the stored one as masked keeps the
     * stored one. So a GET body sent back with PUT changes nothing it did not mean to.
     */
    private JsonNode unmasked(String name, JsonNode body) {
        final Runtime rt = runtimes.get(name);
        if (rt == null || body == null || !body.isObject()) {
            return body;
        }
        final MonitorSpec stored = rt.spec;
        final com.fasterxml.jackson.databind.node.ObjectNode copy = body.deepCopy();
        final JsonNode url = copy.get("url");
        if (url != null && url.isTextual() && url.asText().equals(MonitorView.maskUrl(stored.url()))) {
            copy.put("url", stored.url().toString());
        }
        final JsonNode headers = copy.get("headers");
        if (headers != null && headers.isObject()) {
            final com.fasterxml.jackson.databind.node.ObjectNode h = (com.fasterxml.jackson.databind.node.ObjectNode) headers;
            final List<String> names = new ArrayList<>();
            h.fieldNames().forEachRemaining(names::add);
            for (String n : names) {
                final JsonNode v = h.get(n);
                final String old = stored.headers().get(n);
                if (v.isTextual() && v.asText().equals(MonitorView.MASK) && old != null) {
                    h.put(n, old);
                }
            }
        }
        return copy;
    }

    /** Deletes a monitor; 404 when unknown. */
    public void delete(String name) throws ApiException, SQLException {
        if (!store.delete(name)) {
            throw ApiException.notFound("no monitor '" + name + "'");
        }
        forget(name);
    }

    /** Pauses or resumes a monitor; 404 when unknown. */
    public MonitorView setEnabled(String name, boolean enabled) throws ApiException, SQLException {
        refreshDefinitionsQuietly();
        final Runtime rt = runtimes.get(name);
        if (rt == null) {
            throw ApiException.notFound("no monitor '" + name + "'");
        }
        final MonitorSpec spec = rt.spec.withEnabled(enabled);
        store.upsert(spec);
        apply(spec, null);
        syncSoon();
        return ownView(name);
    }

    /** One monitor with its state; 404 when unknown. */
    public MonitorView view(String name) throws ApiException {
        refreshDefinitionsQuietly();
        if (!runtimes.containsKey(name)) {
            throw ApiException.notFound("no monitor '" + name + "'");
        }
        refreshUnleased(List.of(name));
        return viewFromMemory(name, locationsOf(List.of(name)));
    }

    /** The view after this collector's own change: the definition is in memory already. */
    private MonitorView ownView(String name) throws ApiException {
        refreshUnleased(List.of(name));
        return viewFromMemory(name, locationsOf(List.of(name)));
    }

    private MonitorView viewFromMemory(String name, Map<String, Map<String, MonitorLocation>> locations)
        throws ApiException {
        final Runtime rt = runtimes.get(name);
        if (rt == null) {
            throw ApiException.notFound("no monitor '" + name + "'");
        }
        synchronized (rt) {
            final List<MonitorLocation> at = new ArrayList<>();
            final Map<String, MonitorLocation> rows = locations.getOrDefault(name, Map.of());
            for (String l : rt.spec.locations()) {
                at.add(rows.getOrDefault(l, new MonitorLocation(l, null, null, null, null, false)));
            }
            return new MonitorView(rt.spec, rt.state, rt.lastCheckAt, rt.lastError, rt.last, at);
        }
    }

    /** The per-location states of those of {@code names} that list locations (empty when unreadable). */
    private Map<String, Map<String, MonitorLocation>> locationsOf(List<String> names) {
        final List<String> located = new ArrayList<>();
        for (String n : names) {
            final Runtime rt = runtimes.get(n);
            if (rt != null && rt.spec.located()) {
                located.add(n);
            }
        }
        if (located.isEmpty()) {
            return Map.of();
        }
        final Instant now = clock.instant();
        final Map<String, Map<String, MonitorLocation>> out = new java.util.HashMap<>();
        try (Connection c = store.dataSource().getConnection()) {
            for (String n : located) {
                out.put(n, LocationResults.load(c, n, now, Quorum.staleAfter(runtimes.get(n).spec, leaseTtl)));
            }
        } catch (SQLException | RuntimeException e) {
            LOG.debug("location states not read (answering without them): {}", e.toString());
        }
        return out;
    }

    /** Every monitor, by name. */
    public List<MonitorView> list() {
        final List<MonitorView> out = new ArrayList<>();
        refreshDefinitionsQuietly();
        final List<String> names = new ArrayList<>(new java.util.TreeSet<>(runtimes.keySet()));
        refreshUnleased(names);
        final Map<String, Map<String, MonitorLocation>> locations = locationsOf(names);
        for (String name : names) {
            try {
                out.add(viewFromMemory(name, locations));
            } catch (ApiException e) {
                // deleted between listing the names and reading it: not part of the answer
                LOG.trace("monitor {} vanished while listing", name);
            }
        }
        return out;
    }

    /** Failure reasons of the last {@link #RECENT} checks by start time (microseconds), oldest first. */
    Map<Instant, String> recentErrors(String name) throws ApiException {
        final Runtime rt = runtimes.get(name);
        if (rt == null) {
            throw ApiException.notFound("no monitor '" + name + "'");
        }
        synchronized (rt) {
            return rt.recent.byStart();
        }
    }

    /** The data source (for the checks query). */
    javax.sql.DataSource dataSource() {
        return store.dataSource();
    }

    // ---- checks ------------------------------------------------------------------------------------------

    private boolean due(MonitorScheduler.Entry entry, long deadlineNanos) {
        if (leases == null || !leases.holds(entry.name)) {
            return false; // the lease was not renewed in time (or is going): another collector may check it
        }
        try {
            final MonitorSpec queued = entry.spec;
            if (probes.nonBlocking(queued)) {
                // Holds a connection, not a thread, while it waits: the slot is released when the future completes.
                executor.submitAsync(deadlineNanos, entry.slow, queued.timeout(),
                    () -> probes.start(withLocationHeader(queued)),
                    (r, e) -> finished(entry, queued, e == null ? r : failed(queued, e)));
            } else {
                executor.submit(deadlineNanos, entry.slow, () -> {
                    final MonitorSpec spec = entry.spec; // as it is when the check starts
                    CheckResult r;
                    try {
                        r = probes.check(withLocationHeader(spec));
                    } catch (RuntimeException | Error e) {
                        r = failed(spec, e);
                    }
                    finished(entry, spec, r);
                });
            }
        } catch (RejectedExecutionException e) {
            entry.running.set(false); // shutting down
        }
        return true;
    }

    /** The result of a check whose probe threw, or that the executor ended (safety net, shutdown). */
    private static CheckResult failed(MonitorSpec spec, Throwable e) {
        final Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
            ? e.getCause() : e;
        if (cause instanceof java.util.concurrent.TimeoutException) {
            return new CheckResult(Probes.now(), false, -1, spec.timeout().toMillis(), Double.NaN, Double.NaN,
                Double.NaN, Double.NaN, Double.NaN, cause.getMessage());
        }
        if (!(cause instanceof java.util.concurrent.CancellationException)) {
            LOG.error("check of monitor '{}' failed unexpectedly", spec.name(), cause);
        }
        return new CheckResult(Instant.now(), false, -1, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
            Double.NaN, "internal: " + cause);
    }

    /** Hands a check's result to the result thread (any thread; does not block). */
    private void finished(MonitorScheduler.Entry entry, MonitorSpec spec, CheckResult r) {
        entry.slow = timedOut(spec, r);
        if (closing) {
            entry.running.set(false); // interrupted by shutdown: not a real result, not recorded
            return;
        }
        results.add(new Done(entry, spec, r));
    }

    /**
     * Whether a check used (nearly) its whole timeout: a target that does not answer. Its monitor's next check
     * goes to the executor's slow lane, so such targets cannot hold every probe slot.
     */
    static boolean timedOut(MonitorSpec spec, CheckResult r) {
        return r.durationMs() >= SLOW_SHARE_OF_TIMEOUT * spec.timeout().toMillis();
    }

    /** The share of its timeout a check may take and still count as answered (not slow). */
    private static final double SLOW_SHARE_OF_TIMEOUT = 0.9;

    /**
     * A check of a monitor with locations tells the target where it comes from ({@link #LOCATION_HEADER}), unless
     * the monitor sets that header itself; like the monitor's headers it is sent only to the URL's origin.
     */
    private MonitorSpec withLocationHeader(MonitorSpec spec) {
        if (!spec.located() || location == null || spec.type() != CheckType.HTTP
            || spec.headers().containsKey(LOCATION_HEADER)) {
            return spec;
        }
        final Map<String, String> h = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        h.putAll(spec.headers());
        h.put(LOCATION_HEADER, location);
        return new MonitorSpec(spec.name(), spec.url(), spec.method(), java.util.Collections.unmodifiableMap(h),
            spec.body(), spec.interval(), spec.timeout(), spec.expectedStatus(), spec.keyword(), spec.keywordInvert(),
            spec.followRedirects(), spec.tlsVerify(), spec.failureThreshold(), spec.successThreshold(),
            spec.enabled(), spec.tags(), spec.locations(), spec.quorum(), spec.check(), spec.parent());
    }

    private void processResults() {
        final List<Done> batch = new ArrayList<>();
        while (running || !results.isEmpty()) {
            final Done d;
            try {
                d = results.poll(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (d == null) {
                continue;
            }
            batch.add(d);
            results.drainTo(batch, MAX_BATCH - 1);
            try {
                recordAll(batch);
            } catch (RuntimeException | Error e) {
                LOG.error("recording {} check results failed", batch.size(), e);
            } finally {
                for (Done x : batch) {
                    x.entry.running.set(false);
                }
                batch.clear();
            }
        }
    }

    /**
     * A state change waiting for its transaction.
     *
     * @param from the state it was computed from (the runtime's, at the start of a batch's chain of results)
     * @param expectedVersion the version of the row {@code from} was read from (0: no row)
     */
    private record Change(String name, Runtime rt, MonitorState from, long expectedVersion, MonitorState next,
                          MonitorState.Status transition, CheckResult result) {
    }

    /**
     * Records a batch of results: points first, then every state change of the batch in one transaction (group
     * commit: when 10,000 monitors get their first result together, that is a few transactions, not 10,000).
     */
    private void recordAll(List<Done> batch) {
        final Map<String, Change> changes = new java.util.LinkedHashMap<>();
        final List<Done> located = new ArrayList<>();
        synchronized (stateWrites) {
            for (Done d : batch) {
                final MonitorSpec spec = d.spec;
                final CheckResult r = d.result;
                (r.up() ? successes : failures).increment();
                writePoint(spec, r);
                final Runtime rt = runtimes.get(spec.name());
                if (rt == null) {
                    continue; // deleted while the check ran
                }
                final boolean held = leases == null || leases.holds(spec.name());
                if (leases != null && held) {
                    perMonitor.export(spec.name(), rt);
                }
                if (!held && !spec.located()) {
                    // The check started while this collector held the lease and ended after it moved: the new
                    // holder may already have recorded a later result, and this older one must not undo it (a
                    // flip back and forth, announced twice). Located monitors keep per-location rows instead.
                    resultsAfterLease.increment();
                    continue;
                }
                synchronized (rt) {
                    rt.last = r;
                    rt.lastCheckAt = r.startedAt();
                    rt.lastError = r.error();
                    rt.recent.add(r.startedAt(), r.error());
                    if (spec.located()) {
                        located.add(d); // the quorum of its locations decides, in the database (below)
                        continue;
                    }
                    final Change earlier = changes.get(spec.name());
                    final MonitorState base = earlier != null ? earlier.next : rt.state;
                    final MonitorState.Step step = base.after(r.up(), r.startedAt(), spec.failureThreshold(),
                        spec.successThreshold());
                    if (step.next().differs(base)) {
                        final MonitorState.Status to = step.transition() != null ? step.transition()
                            : earlier != null ? earlier.transition : null;
                        changes.put(spec.name(), new Change(spec.name(), rt,
                            earlier != null ? earlier.from : rt.state, earlier != null ? earlier.expectedVersion
                                : rt.version, step.next(), to, r));
                    }
                }
            }
            if (!changes.isEmpty()) {
                persistAll(new ArrayList<>(changes.values()));
            }
            if (!located.isEmpty()) {
                persistLocated(located);
            }
        }
    }

    /**
     * Records results of monitors with locations in one transaction ({@link LocationResults}: this location's
     * state, then the combined state by the quorum, under the combined row's lock), in name order so collectors
     * recording the same monitors lock them in the same order. On failure nothing is kept: the location's next
     * result is recorded from its row as it is. Holds {@link #stateWrites}.
     */
    private void persistLocated(List<Done> batch) {
        if (location == null) {
            return; // not checked here (a check in flight when --location changed cannot happen: it is per run)
        }
        final List<Done> ordered = new ArrayList<>(batch);
        ordered.sort(java.util.Comparator.comparing((Done d) -> d.spec.name()).thenComparing(d -> d.result.startedAt()));
        final List<Map.Entry<Runtime, LocationResults.Outcome>> outcomes = new ArrayList<>();
        try (Connection c = store.dataSource().getConnection()) {
            c.setAutoCommit(false);
            try {
                final Instant now = clock.instant();
                for (Done d : ordered) {
                    final Runtime rt = runtimes.get(d.spec.name());
                    if (rt == null) {
                        continue;
                    }
                    outcomes.add(Map.entry(rt, LocationResults.record(c, transitions, d.spec, location,
                        leases == null ? null : leases.collectorId(), d.result, now,
                        Quorum.staleAfter(d.spec, leaseTtl))));
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException | RuntimeException e) {
            stateWriteFailures.increment(batch.size());
            LOG.warn("results of {} monitors with locations not recorded (their next results are): {}", batch.size(),
                e.toString());
            return;
        }
        for (Map.Entry<Runtime, LocationResults.Outcome> e : outcomes) {
            final LocationResults.Outcome o = e.getValue();
            if (o.combined() != null) {
                synchronized (e.getKey()) {
                    e.getKey().adopt(o.combined());
                }
            }
            if (o.transition() != null) {
                transitionsCounter.increment();
                final var t = o.transition();
                if (t.fromState() == null) {
                    LOG.debug("monitor '{}' first result: {}", t.subject(), t.toState());
                } else {
                    LOG.info("monitor '{}' is {} (was {}): {}", t.subject(), t.toState(), t.fromState(),
                        LogText.escape(t.reason()));
                }
            }
        }
    }

    private void writePoint(MonitorSpec spec, CheckResult r) {
        final Instant t = r.startedAt();
        final Point.Builder b = Point.builder(MEASUREMENT).tag("monitor", spec.name()).tags(spec.tags())
            .time(t.getEpochSecond() * 1_000_000_000L + t.getNano())
            .field("up", FieldKinds.BOOLEAN, r.up() ? 1 : 0)
            .field("duration_ms", FieldKinds.FLOAT, r.durationMs());
        if (r.statusCode() >= 0) {
            b.field("status_code", FieldKinds.INTEGER, r.statusCode());
        }
        optional(b, "dns_ms", r.dnsMs());
        optional(b, "connect_ms", r.connectMs());
        optional(b, "tls_ms", r.tlsMs());
        optional(b, "ttfb_ms", r.ttfbMs());
        optional(b, "cert_expiry_days", r.certExpiryDays());
        if (spec.located() && location != null) {
            b.tag("location", location);
        }
        if (r.bodyCapped()) {
            b.field("body_capped", FieldKinds.BOOLEAN, 1);
        }
        for (Map.Entry<String, Double> e : r.extra().entrySet()) {
            if (BOOLEAN_EXTRA.contains(e.getKey())) {
                b.field(e.getKey(), FieldKinds.BOOLEAN, e.getValue() != 0 ? 1 : 0);
            } else {
                optional(b, e.getKey(), e.getValue());
            }
        }
        final java.util.concurrent.CompletableFuture<dev.spillway.ingest.WriteResult> f =
            points.write(b.build());
        if (!f.isDone()) {
            // Waits on a new series: shutdown waits for it so the result reaches the pipeline before it closes.
            pendingWrites.add(f);
            f.whenComplete((w, e) -> pendingWrites.remove(f));
        }
        f.thenAccept(w -> {
            // Counted by the PointWriter per outcome; logged here once per hundred so an operator sees why.
            if (!w.written() && pointFailures.getAndIncrement() % 100 == 0) {
                LOG.warn("result of monitor '{}' not stored: {} ({} so far)", spec.name(), w.message(),
                    pointFailures.get());
            }
        });
    }

    private static void optional(Point.Builder b, String field, double v) {
        if (!Double.isNaN(v)) {
            b.field(field, FieldKinds.FLOAT, v);
        }
    }

    /**
     * Persists a change that follows from the current state rather than from a result (pause, resume): computed
     * from the state in memory and, if another collector changed the row meanwhile, again from the row as re-read
     * (a few times). Holds {@link #stateWrites}.
     */
    private void persistDerived(String name, Runtime rt, java.util.function.UnaryOperator<MonitorState> want) {
        synchronized (stateWrites) {
            for (int attempt = 0; attempt < 3; attempt++) {
                final MonitorState current;
                final long version;
                synchronized (rt) {
                    current = rt.state;
                    version = rt.version;
                }
                final MonitorState next = want.apply(current);
                if (!next.differs(current)
                    || persistAll(List.of(new Change(name, rt, current, version, next, null, null))).isEmpty()) {
                    return;
                }
            }
        }
    }

    /**
     * Persists states (and their transitions) in one transaction; on failure the in-memory states stay as they
     * were, so the next check computes the same changes again and nothing is lost. Each state row is written only
     * if its version is still the one the change was computed from; a change whose row moved on (another
     * collector recorded a result meanwhile) writes nothing, records no transition, and its monitor's state is
     * re-read. Holds {@link #stateWrites}.
     *
     * @return the monitors whose rows had moved on (re-read), empty when all were written or the write failed
     */
    private Set<String> persistAll(List<Change> changes) {
        synchronized (stateWrites) {
            final Set<String> conflicts = new java.util.TreeSet<>();
            // In name order: two collectors writing the same rows (a lease moving) lock them in the same order.
            final List<Change> ordered = new ArrayList<>(changes);
            ordered.sort(java.util.Comparator.comparing(Change::name));
            try (Connection c = store.dataSource().getConnection()) {
                c.setAutoCommit(false);
                final List<Change> saved = new ArrayList<>();
                final List<Long> versions = new ArrayList<>();
                try {
                    for (Change ch : ordered) {
                        final long version = MonitorStore.saveState(c, ch.name, ch.next, ch.rt.lastCheckAt,
                            ch.rt.lastError, ch.expectedVersion);
                        if (version == 0) {
                            conflicts.add(ch.name); // changed elsewhere, or deleted meanwhile
                            continue;
                        }
                        saved.add(ch);
                        versions.add(version);
                        if (ch.transition != null) {
                            final MonitorState.Status from = ch.from.confirmed();
                            transitions.record(c, Transition.of(Transition.KIND_HTTP, ch.name,
                                from == null ? null : from.name(), ch.transition.name(), ch.next.since(),
                                reason(ch.transition, from, ch.result)));
                        }
                    }
                    c.commit();
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw e;
                }
                for (int i = 0; i < saved.size(); i++) {
                    final Change ch = saved.get(i);
                    synchronized (ch.rt) {
                        if (versions.get(i) >= ch.rt.version) {
                            ch.rt.state = ch.next;
                            ch.rt.version = versions.get(i);
                        }
                    }
                    if (ch.transition != null) {
                        transitionsCounter.increment();
                        final MonitorState.Status was = ch.from.confirmed();
                        if (was == null) {
                            LOG.debug("monitor '{}' first result: {}", ch.name, ch.transition);
                        } else {
                            LOG.info("monitor '{}' is {} (was {}){}", ch.name, ch.transition, was,
                                ch.result != null && ch.result.error() != null ? ": " + LogText.escape(ch.result.error()) : "");
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                stateWriteFailures.increment(changes.size());
                LOG.warn("state of {} monitors not persisted (retried with their next check): {}", changes.size(),
                    e.toString());
                return Set.of();
            }
            if (!conflicts.isEmpty()) {
                stateConflicts.increment(conflicts.size());
                reread(conflicts);
            }
            return conflicts;
        }
    }

    /** After a refused write: the rows as they are now (no row: never checked, or the monitor is gone). */
    private void reread(Set<String> names) {
        try {
            final Map<String, MonitorStore.StateRow> rows = store.loadStates(names);
            for (String name : names) {
                final Runtime rt = runtimes.get(name);
                if (rt == null) {
                    continue;
                }
                final MonitorStore.StateRow row = rows.get(name);
                synchronized (rt) {
                    if (row != null) {
                        rt.version = Math.min(rt.version, row.version());
                        rt.adopt(row);
                    } else {
                        rt.state = MonitorState.initial(Instant.now());
                        rt.version = 0;
                    }
                }
            }
            LOG.debug("state of {} monitors changed elsewhere; re-read: {}", names.size(), names);
        } catch (SQLException e) {
            LOG.warn("state of {} monitors changed elsewhere and could not be re-read (retried at their next "
                + "write): {}", names.size(), e.toString());
        }
    }

    private static String reason(MonitorState.Status to, MonitorState.Status from, CheckResult r) {
        if (r == null) {
            return null;
        }
        if (to == MonitorState.Status.DOWN) {
            return r.error();
        }
        return (from == null ? "first check: " : "recovered: ") + (r.statusCode() >= 0 ? "status " + r.statusCode()
            : "up") + " in " + Math.round(r.durationMs()) + " ms";
    }

    // ---- status ------------------------------------------------------------------------------------------

    /** The counters of {@code GET /api/v1/status}. */
    public MonitorStatus status() {
        final var late = executor.lateness().takeSnapshot();
        final var wait = executor.queueWait().takeSnapshot();
        final var healthyLate = executor.lateness(false).takeSnapshot();
        final var slowLate = executor.lateness(true).takeSnapshot();
        int paused = 0;
        for (Runtime r : runtimes.values()) {
            if (!r.spec.enabled()) {
                paused++;
            }
        }
        return new MonitorStatus(runtimes.size(), scheduler.active(), paused, executor.inFlight(), executor.queued(),
            executor.concurrency(), executor.maxInFlight(), (long) (successes.count() + failures.count()),
            (long) successes.count(), (long) failures.count(), scheduler.ticks(), scheduler.skipped(),
            percentileMs(late, 0.5), percentileMs(late, 0.99), late.max(TimeUnit.MILLISECONDS),
            percentileMs(healthyLate, 0.5), percentileMs(healthyLate, 0.99), healthyLate.max(TimeUnit.MILLISECONDS),
            percentileMs(slowLate, 0.5), percentileMs(slowLate, 0.99), slowLate.max(TimeUnit.MILLISECONDS),
            percentileMs(wait, 0.5), percentileMs(wait, 0.99), (long) transitionsCounter.count(),
            (long) stateWriteFailures.count(), leases == null ? null : leases.collectorId(),
            leases == null ? 0 : leases.held().size(), leases == null ? 0 : leases.share(),
            leases == null ? 0 : leases.liveCollectors(), (long) stateConflicts.count());
    }

    private static double percentileMs(io.micrometer.core.instrument.distribution.HistogramSnapshot s, double p) {
        for (var v : s.percentileValues()) {
            if (v.percentile() == p) {
                return v.value(TimeUnit.MILLISECONDS);
            }
        }
        return Double.NaN;
    }

    /** Stops scheduling, lets running checks end, records their results, then stops. */
    @Override
    public void close() {
        stop(Deadline.in(java.time.Duration.ofSeconds(20)));
    }

    @Override
    public String name() {
        return "monitors";
    }

    /**
     * Stops scheduling, lets running checks end, records their results, then stops; every wait shares the
     * deadline.
     */
    @Override
    public boolean stop(Deadline deadline) {
        if (closing) {
            return true;
        }
        closing = true;
        reloader.shutdownNow();
        sync.shutdown();
        boolean ended = scheduler.stop(deadline) & executor.stop(deadline);
        running = false;
        try {
            ended &= deadline.join(resultThread);
            java.util.concurrent.CompletableFuture.allOf(pendingWrites.toArray(new java.util.concurrent.CompletableFuture<?>[0]))
                .get(Math.max(1, deadline.remaining().toMillis()), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ended = false;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warn("shutdown: {} monitor results still waiting for their series: {}", pendingWrites.size(),
                e.toString());
            ended = false;
        }
        probes.close();
        try {
            ended &= deadline.await(sync);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ended = false;
        }
        if (leases != null) {
            // After the last result is recorded: the others take over at their next round, not after the TTL.
            try {
                leases.releaseAll(leaseListener);
            } catch (SQLException | RuntimeException e) {
                LOG.warn("monitor leases not released (the other collectors take them over when they expire, "
                    + "within {}): {}", dev.spillway.runtime.config.Units.formatDuration(leases.ttl()), e.toString());
            }
        }
        return ended;
    }

    /** Who checks what: this collector's leases, or null when it checks nothing (the monitors duty is off). */
    public MonitorLeases leases() {
        return leases;
    }

    /**
     * Where a monitor's checks fall: at the wall-clock instants {@code epoch + phase + k * interval}, whichever
     * collector holds its lease.
     */
    public static Duration schedulePhase(String name, Duration interval) {
        return Duration.ofNanos(MonitorScheduler.phase(name, interval.toNanos()));
    }
}
