#!/usr/bin/env bash
# Issue #2: Spillway Pipeline.ingest vs a mutex ring, ArrayBlockingQueue and the Disruptor, in one JMH run.
#   benchmarks/run-ingest-bench.sh            # full: -f 1 -wi 3 -i 5 -w 2s -r 3s, about 7 minutes on 2 cores
#   benchmarks/run-ingest-bench.sh --quick    # -f 1 -wi 1 -i 2 -w 1s -r 1s, about 2 minutes
#   JMH_OPTS="..." benchmarks/run-ingest-bench.sh   # any other JMH options
# Writes benchmarks/results/ingest.json (JMH JSON) and benchmarks/results/ingest.md (the table, goals marked).
set -euo pipefail
cd "$(dirname "$0")/.."
JAR=benchmarks/target/benchmarks.jar
OUT=${SPILLWAY_RESULTS_DIR:-benchmarks/results}
OPTS=${JMH_OPTS:--f 1 -wi 3 -i 5 -w 2s -r 3s}
if [[ "${1:-}" == "--quick" ]]; then
  OPTS=${JMH_OPTS:--f 1 -wi 1 -i 2 -w 1s -r 1s}
fi
if [[ ! -f "$JAR" ]]; then
  mvn -B -q install -DskipTests
fi
mkdir -p "$OUT" benchmarks/target
CMD="java -jar $JAR 'dev.spillway.benchmarks.Ingest(Throughput|StalledLatency)Benchmark' $OPTS -prof gc -rf json -rff $OUT/ingest.json"
LOAD_AT_START=$(awk '{print $1" / "$2" / "$3" (1/5/15 min)"}' /proc/loadavg)
echo "+ $CMD"
# The JMH log (with the pipelines' own close-time accounting lines) goes to benchmarks/target/ingest-jmh.log.
eval "$CMD" 2>&1 | tee benchmarks/target/ingest-jmh.log | grep -E '^(Benchmark|Ingest|# Run progress|# Benchmark:|# Parameters)' || true
java -cp "$JAR" dev.spillway.benchmarks.report.IngestReport "$OUT/ingest.json" "$OUT/ingest.md" "$CMD" "$LOAD_AT_START"
