package dev.spillway.collector;

import dev.spillway.collector.config.CollectorConfig;
import dev.spillway.collector.config.PipelineSettings;
import dev.spillway.collector.nats.JetStreamRole;
import dev.spillway.ingest.BadLineLog;
import dev.spillway.ingest.CollectorMetrics;
import dev.spillway.ingest.HeartbeatLines;
import dev.spillway.ingest.LineIngestor;
import dev.spillway.ingest.PointWriter;
import dev.spillway.ingest.ReadinessProbe;
import dev.spillway.ingest.Saturation;
import dev.spillway.ingest.auth.ApiTokens;
import dev.spillway.ingest.listen.IngestListeners;
import dev.spillway.ingest.listen.NetworkIo;
import dev.spillway.ingest.resend.ResendWindow;
import dev.spillway.ingest.series.LocalSeriesStore;
import dev.spillway.ingest.series.SeriesRegistry;
import dev.spillway.runtime.api.ApiRouter;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.runtime.lifecycle.Service;
import dev.spillway.runtime.lifecycle.ServiceStack;
import dev.spillway.telemetry.Pipeline;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import static dev.spillway.collector.Collector.STOP;
import static dev.spillway.collector.DatabaseAssembly.API_MAX_BODY;
import static dev.spillway.collector.DatabaseAssembly.API_QUEUE;
import static dev.spillway.collector.DatabaseAssembly.API_THREADS;
import static dev.spillway.collector.DatabaseAssembly.SEQUENCE_RESERVE_INTERVAL;
import static dev.spillway.collector.DatabaseAssembly.SERIES_THREADS;

/**
 * An edge without a database: series numbered locally (kept in the series store beside the spool) and announced
 * on NATS, batches published to JetStream, writers file and map both. It takes line protocol (HTTP, TCP, UDP)
 * and serves {@code /health}, {@code /ready}, {@code /metrics}; the APIs that live in the database (monitors,
 * services, channels, tokens, the status page) are the writers'. Heartbeat lines are stored as points; the
 * ping itself is recorded only by a collector with a database.
 */
final class NatsOnlyEdgeAssembly {

    private NatsOnlyEdgeAssembly() {
    }

    static Assembled start(CollectorConfig cfg, ServiceStack services) throws Exception {
        final PipelineSettings ps = cfg.pipeline();
        final JetStreamRole jetStream = JetStreamRole.connect(cfg.nats(), "spillway-edge");
        services.push(Service.closing("NATS connection", jetStream), STOP);
        final LocalSeriesStore seriesStore = openSeriesStore(ps.spoolDir());
        services.push(Service.closing("series store", seriesStore), STOP);
        final SeriesRegistry series = SeriesRegistry.edge(seriesStore, cfg.ingest().maxSeries(), SERIES_THREADS,
            SEQUENCE_RESERVE_INTERVAL, jetStream.seriesAnnouncer(seriesStore.instance()));
        services.push(series, STOP);
        final PrometheusMeterRegistry registry = CollectorMeters.create();
        services.push(Service.closing("JVM meters", CollectorMeters.bindJvm(registry)), STOP);
        final CollectorMetrics metrics = new CollectorMetrics(registry, series);
        final NetworkIo io = services.push(new NetworkIo(), Duration.ofSeconds(10));
        final DrainedPipeline drained = DrainedPipeline.start(services, ps,
            jetStream.edgeSink(registry, seriesStore.instance()), registry, STOP);
        final Pipeline pipeline = drained.pipeline();
        final Saturation saturation = new Saturation(pipeline, cfg.ingest().highWaterMark());
        final PointWriter pointWriter = new PointWriter(pipeline, series, saturation, registry);
        final ApiRouter router = new ApiRouter(API_MAX_BODY, API_THREADS, API_QUEUE);
        services.push(Service.closing("API router", router), STOP);
        final ReadinessProbe readiness = new ReadinessProbe(null, pipeline, () -> null, jetStream::edgeProblem);
        services.push(Service.closing("readiness probe", readiness), STOP);
        final ApiTokens tokens = ApiTokens.withoutDatabase();
        services.push(Service.closing("API tokens", tokens), STOP);
        final BadLineLog badLines = new BadLineLog(10_000);
        // Resent bodies store each line once here too: what an earlier run took is looked up through a writer once
        // the stream holds none of that run's batches.
        final ResendWindow resends = cfg.ingest().resendWindow().isZero() ? null
            : ResendWindow.open(ps.spoolDir(), cfg.ingest().resendWindow(), cfg.ingest().resendWindowRequests(),
                cfg.ingest().resendWindowRows(), pipeline::whenResolved,
                jetStream.edgeSettled(() -> pipeline.stats().spooled()), jetStream.edgeLookup(seriesStore.instance()),
                registry);
        if (resends != null) {
            services.push(Service.closing("resend window", resends), STOP);
        }
        final LineIngestor ingestor = new LineIngestor(pointWriter, metrics, badLines, HeartbeatLines.NONE,
            cfg.ingest().ack(), cfg.ingest().ackTimeout(), resends);
        final IngestListeners listeners = services.push(IngestListeners.start(cfg.ingest(), io, ingestor,
            saturation, readiness, metrics, badLines, router, tokens, registry), STOP);
        Banner.logEdge(cfg, listeners, seriesStore);
        return new Assembled(null, jetStream, drained, metrics, pointWriter, router, null, listeners);
    }

    /** The spool directory's series store; a second process on the same directory is told which option to set. */
    private static LocalSeriesStore openSeriesStore(Path dir) throws IOException {
        try {
            return LocalSeriesStore.openCatalogue(dir);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("locked by another process")) {
                throw new ConfigException("the spool directory " + dir
                    + " is in use by another collector; give each collector on this host its own --spool-dir");
            }
            throw e;
        }
    }
}
