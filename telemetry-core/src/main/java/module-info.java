/**
 * Spillway's telemetry core: a never-blocking, exactly-accounted ingestion pipeline and its TimescaleDB sink.
 *
 * <p>Exported: the pipeline API ({@code dev.spillway.telemetry}), the sink contract
 * ({@code dev.spillway.telemetry.sink}) and the TimescaleDB sink ({@code dev.spillway.telemetry.timescale}). The
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

    exports dev.spillway.telemetry;
    exports dev.spillway.telemetry.sink;
    exports dev.spillway.telemetry.timescale;
}
