/**
 * Spillway's telemetry core: a never-blocking, exactly-accounted ingestion pipeline and its TimescaleDB sink.
 *
 * <p>Exported: the pipeline API ({@code dev.spillway.telemetry}), the sink contract
 * ({@code dev.spillway.telemetry.sink}), the TimescaleDB sink ({@code dev.spillway.telemetry.timescale}) and the
 * NATS JetStream edge sink and writer ({@code dev.spillway.telemetry.nats}, needs {@code io.nats.jnats}). The
 * interior ({@code dev.spillway.telemetry.internal}: ring, pump, workers, counters) is not exported: nothing
 * outside can touch the counters the accounting invariant is made of. {@code ApiSurfaceTest} fails the build on a
 * new exported package or a package cycle.
 */
module dev.spillway.telemetry {
    requires com.lmax.disruptor;
    requires transitive org.agrona;
    requires transitive micrometer.core;
    requires transitive java.sql;
    requires org.slf4j;
    requires org.postgresql.jdbc;
    requires com.zaxxer.hikari;
    // Optional (an <optional> Maven dependency): needed only by dev.spillway.telemetry.nats, so users who do not
    // scale out through NATS JetStream neither get nor need it.
    requires static io.nats.jnats;

    exports dev.spillway.telemetry;
    exports dev.spillway.telemetry.sink;
    exports dev.spillway.telemetry.timescale;
    exports dev.spillway.telemetry.nats;
}
