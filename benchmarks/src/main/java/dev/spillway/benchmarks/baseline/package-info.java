/**
 * A frozen copy of the collector's line-protocol parser and {@code String} series keys as they were before issue
 * #14 (commit a2e8e61), kept only so {@code CollectorHotPathBenchmark} can measure old and new in the same JMH run.
 * Not used by the collector; do not fix bugs here.
 */
package dev.spillway.benchmarks.baseline;
