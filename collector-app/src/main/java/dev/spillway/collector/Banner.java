package dev.spillway.collector;

import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.db.CollectorDatabase;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.runtime.config.OptionValues;
import dev.spillway.runtime.config.Units;
import dev.spillway.uptime.monitor.MonitorLeases;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;

/** The start-up lines: what runs where, and how to look at the data. */
final class Banner {

    private static final Logger LOG = LoggerFactory.getLogger(Collector.class);

    private Banner() {
    }

    static void log(CollectorConfig config, IngestListeners listeners, CollectorDatabase db, MonitorLeases leases) {
        final String http = hostPort(listeners.httpAddress());
        LOG.info("spillway collector ready: {}", config);
        LOG.info("role {}, duties: {} (off: {}){}", OptionValues.spelling(config.nats().role()), config.duties(),
            config.duties().off(), leases == null ? "" : "; monitors shared by lease as collector "
                + leases.collectorId() + " (lease TTL " + Units.formatDuration(leases.ttl())
                + (leases.location() == null ? "" : ", location " + leases.location()) + ")");
        LOG.info("HTTP listening on http://{} (POST /api/v2/write, POST /write, /ping, /health, /ready, /metrics, "
            + "/api/v1/monitors, /api/v1/status){}", http, config.ingest().authRequired() ? "; token required" : "");
        LOG.info("status page: http://{}/{}", http, !config.ingest().authRequired() ? ""
            : config.statusPage().publicPage() ? " (public, read-only)" : " (sign in with the token)");
        if (listeners.tcpAddress() != null) {
            LOG.info("TCP line protocol listening on {}", hostPort(listeners.tcpAddress()));
        }
        if (listeners.udpAddress() != null) {
            LOG.info("UDP line protocol listening on {}", hostPort(listeners.udpAddress()));
        }
        if (db.embedded() != null) {
            LOG.info("query the data: PGPASSFILE={} psql -h 127.0.0.1 -p {} -U {} postgres -c \"SELECT * FROM telemetry "
                    + "ORDER BY time DESC LIMIT 10\" (superuser: -U postgres; both passwords are in that file)",
                db.embedded().passwordFile(), db.embedded().port(), db.embedded().user());
        } else {
            LOG.info("writing to {} as {}; query the view: SELECT * FROM telemetry ORDER BY time DESC LIMIT 10",
                config.database().maskedJdbcUrl(), db.user());
        }
    }

    /** A NATS-only edge's start lines: no database, no monitors, its series store. */
    static void logEdge(CollectorConfig config, IngestListeners listeners,
                        dev.spillway.ingest.series.LocalSeriesStore series) {
        // Its database settings are defaults it never uses.
        LOG.info("spillway collector ready: {}", config.toString().replaceFirst("db=embedded:\\S+ ", "db=none "));
        LOG.info("role edge without a database, duties: {} (off: {}); series numbered here and announced on NATS "
            + "(instance {}, kept in {})", config.duties(), config.duties().off(), series.instance(), series.directory());
        LOG.info("HTTP listening on http://{} (POST /api/v2/write, POST /write, /ping, /health, /ready, /metrics){}",
            hostPort(listeners.httpAddress()), config.ingest().authRequired() ? "; token required" : "");
        if (listeners.tcpAddress() != null) {
            LOG.info("TCP line protocol listening on {}", hostPort(listeners.tcpAddress()));
        }
        if (listeners.udpAddress() != null) {
            LOG.info("UDP line protocol listening on {}", hostPort(listeners.udpAddress()));
        }
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }
}
