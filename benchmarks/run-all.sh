#!/usr/bin/env bash
# Every Spillway benchmark in one command: builds if needed, runs issue #2's JMH suite (ingest vs baselines) and
# issue #4's end-to-end harness (embedded PostgreSQL unless SPILLWAY_BENCH_JDBC_URL is set; every grid point with
# more than one worker in arrival order and routed by source, back to back: table "1b"), issue #13's idle-spool
# overhead (SpoolBench --idle-only), issue #25's line-protocol race (IngestRace: the collector in both storage layouts,
# InfluxDB and VictoriaMetrics on the same bodies, interleaved rounds; a server that is not installed is skipped with a
# message, nothing is installed here) and its query benchmark (QueryBench: rows vs blocks), issue #24's monitors at
# scale (MonitorBench beside an empty check loop), heartbeat pings (PingRateBench beside a bare /ping) and status page
# with its rollup refresh (StatusPageBench), then writes benchmarks/results/RESULTS.md.
#   benchmarks/run-all.sh           # full: about 75 minutes on 2 idle cores (JMH ~7 min, end to end ~7 min,
#                                   # race ~8 min, queries ~5 min (~50 min more the first time: the 100 M load),
#                                   # monitors ~15 min, pings ~5 min, page ~15 min)
#   benchmarks/run-all.sh --quick   # about 12 minutes
# Environment: SPILLWAY_BENCH_JDBC_URL / _USER / _PASSWORD (external PostgreSQL), SPILLWAY_RESULTS_DIR (output),
# JMH_OPTS (override the JMH options), REBUILD=1 (force the Maven build), SPILLWAY_BENCH_DATA (where the query and
# page benchmarks keep their loaded databases between runs; default benchmarks/target/bench-data).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=""
if [[ "${1:-}" == "--quick" ]]; then QUICK="--quick"; fi
JAR=benchmarks/target/benchmarks.jar
OUT=${SPILLWAY_RESULTS_DIR:-benchmarks/results}
export SPILLWAY_RESULTS_DIR="$OUT"
mkdir -p "$OUT"
if [[ ! -f "$JAR" || "${REBUILD:-0}" == "1" ]]; then
  mvn -B -q install -DskipTests
fi
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_AT_START=$(awk '{print $1" / "$2" / "$3}' /proc/loadavg)
SECONDS=0

benchmarks/run-ingest-bench.sh $QUICK
# Issue #14: the collector's per-line hot path, current vs the frozen pre-#14 code, same JMH run.
HOT_OPTS="-f 1 -wi 3 -i 5 -w 2s -r 2s"
if [[ -n "$QUICK" ]]; then HOT_OPTS="-f 1 -wi 2 -i 3 -w 1s -r 1s"; fi
HOT_CMD="java -jar $JAR CollectorHotPathBenchmark $HOT_OPTS -prof gc -rf json -rff $OUT/hotpath.json"
echo "+ $HOT_CMD"
$HOT_CMD > benchmarks/target/hotpath-jmh.log 2>&1
java -cp "$JAR" dev.spillway.benchmarks.report.HotPathReport "$OUT/hotpath.json" "$OUT/hotpath.md" "$HOT_CMD"
E2E_CMD="java -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp $JAR dev.spillway.benchmarks.e2e.EndToEndBench $QUICK --out $OUT"
echo "+ $E2E_CMD"
$E2E_CMD 2>&1 | tee benchmarks/target/e2e.log | grep -E '^\[e2e\]' || true
test -f "$OUT/e2e.md"
# Issue #13: an idle spool's cost against PostgreSQL (spool off vs on, ABBA pairs; ~1-2 min idle, ~45 s quick).
SPOOL_CMD="java -cp $JAR dev.spillway.benchmarks.spool.SpoolBench --idle-only $QUICK --out $OUT"
echo "+ $SPOOL_CMD"
$SPOOL_CMD > benchmarks/target/spool-idle.log 2>&1
test -f "$OUT/spool-idle.md"
# Issue #25: line protocol into the collector (its default layout), InfluxDB 1.x and VictoriaMetrics, same bodies,
# same load process, interleaved rounds (medians of 3; --quick: 1 round of 200,000 lines). The collector runs as
# deployed: one kept running through 12 untimed warm-up runs and the rounds (--keep-collector), so the timed rounds
# do not pay the JIT's warm-up. The layouts side by side: --targets default/default,rows/default,rows/brin-time.
RACE_OPTS="--rounds 3 --warmup 12 --keep-collector --targets default/default,influxdb,victoriametrics"
if [[ -n "$QUICK" ]]; then RACE_OPTS="--rounds 1 --rows 200000 --warmup 3 --keep-collector --targets default/default,influxdb,victoriametrics"; fi
RACE_CMD="java -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp $JAR dev.spillway.benchmarks.e2e.IngestRace $RACE_OPTS --out $OUT"
echo "+ $RACE_CMD"
$RACE_CMD 2>&1 | tee benchmarks/target/race.log | grep -E '^\[race\]|SKIPPED' || true
test -f "$OUT/ingest-race.md"
# Issue #25: queries on the blocks and rows layouts (10,000 series, 30 days = 100 M points per layout, loaded on the
# server once into $BENCH_DATA/queries100m, ~50 min the first time, then only the queries are timed; --quick: 1 day).
BENCH_DATA=${SPILLWAY_BENCH_DATA:-benchmarks/target/bench-data}
QUERY_OPTS="--series 10000 --days 30 --runs 11 --data-dir $BENCH_DATA/queries100m --report queries.md"
if [[ -n "$QUICK" ]]; then QUERY_OPTS="--days 1 --runs 7"; fi
QUERY_CMD="java -cp $JAR dev.spillway.benchmarks.e2e.QueryBench $QUERY_OPTS --out $OUT"
echo "+ $QUERY_CMD"
$QUERY_CMD > benchmarks/target/queries.log 2>&1
test -f "$OUT/queries.md"
# Issue #25: the blocks layout's low-rate case, what compacting rows into blocks costs (1,000 series, 1 h at 1 Hz).
COMPACT_OPTS=""
if [[ -n "$QUICK" ]]; then COMPACT_OPTS="--minutes 10"; fi
COMPACT_CMD="java -cp $JAR dev.spillway.benchmarks.e2e.CompactionBench $COMPACT_OPTS --out $OUT"
echo "+ $COMPACT_CMD"
$COMPACT_CMD > benchmarks/target/compaction.log 2>&1
test -f "$OUT/compaction.md"
# Issue #23: checks per second per check type, one probe thread each, against loopback targets in the same JVM.
CHECK_SECONDS=10
if [[ -n "$QUICK" ]]; then CHECK_SECONDS=3; fi
CHECK_CMD="java -cp $JAR dev.spillway.benchmarks.monitor.CheckTypesBench --seconds $CHECK_SECONDS"
echo "+ $CHECK_CMD"
{ echo "# Check types: checks per second, one thread each"; echo; echo "\`$CHECK_CMD\`"; echo; echo '```';
  $CHECK_CMD 2>&1; echo '```'; } > "$OUT/check-types.md"
# Issue #24: monitors at scale: 100,000 HTTP monitors at 60 s and 10,000 at 30 s of which 3,000 never answer, each
# beside an empty check loop at the same rate (EmptyCheckLoop: the timer wheel and pool with no work) (~15 min;
# --quick: 1,000 monitors at 10 s, ~2 min).
MON_OPTS="--scenarios 100000@60s,10000@30s/3000hang --windows 2"
if [[ -n "$QUICK" ]]; then MON_OPTS="--scenarios 1000@10s,1000@10s/300hang --windows 1"; fi
MON_CMD="java -Xmx2g -cp $JAR dev.spillway.benchmarks.monitor.MonitorBench $MON_OPTS --out $OUT"
echo "+ $MON_CMD"
$MON_CMD > benchmarks/target/monitors.log 2>&1
test -f "$OUT/monitors.md"
# Issue #24: heartbeat pings from a separate load process, open loop (10,000/s for 60 s over 10,000 services, beside
# a bare /ping at the same rate; every ping checked stored once) (~5 min; --quick: 2,000/s for 10 s, 1-3 min).
PING_OPTS=""
if [[ -n "$QUICK" ]]; then PING_OPTS="--quick"; fi
PING_CMD="java -cp $JAR dev.spillway.benchmarks.heartbeat.PingRateBench $PING_OPTS --out $OUT"
echo "+ $PING_CMD"
$PING_CMD > benchmarks/target/ping-rate.log 2>&1
test -f "$OUT/ping-rate.md"
# Issue #24: the status page and its rollup refresh at 10,000 monitors (hours for 30 days, 0.1 day of raw checks; the
# seeded database is kept in $BENCH_DATA for later runs) (~15 min the first time; --quick: 1,000 monitors).
PAGE_OPTS="--monitors 10000 --days 0.1 --data-dir $BENCH_DATA/page10k"
if [[ -n "$QUICK" ]]; then PAGE_OPTS="--monitors 1000 --days 0.05 --rollup-days 2 --requests 10 --data-dir $BENCH_DATA/page1k"; fi
PAGE_CMD="java -Xmx2g -cp $JAR dev.spillway.benchmarks.page.StatusPageBench $PAGE_OPTS"
echo "+ $PAGE_CMD"
$PAGE_CMD > benchmarks/target/status-page.log 2>&1
{ echo "# Status page and rollup refresh"; echo; echo "\`$PAGE_CMD\`"; echo;
  grep -E '^(\[page\]|\||$)' benchmarks/target/status-page.log || true; } > "$OUT/status-page.md"

{
  echo "# Spillway benchmark results"
  echo
  echo "- command: \`benchmarks/run-all.sh $QUICK\` (started $START, took ${SECONDS} s; load average at start $LOAD_AT_START)"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- JDK: $(java -version 2>&1 | head -1)"
  echo "- PostgreSQL: $(grep -m1 '^- PostgreSQL:' "$OUT/e2e.md" | cut -d' ' -f3-)"
  echo "- raw results: \`ingest.json\`, \`hotpath.json\` (JMH), \`e2e.csv\`, \`e2e-overload.csv\`; tables: \`ingest.md\`, \`hotpath.md\`, \`e2e.md\` (same content as below)"
  echo "- this machine is shared with other sessions' builds and tests: a load average above 2 means noisy numbers"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/ingest.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/hotpath.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/e2e.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/spool-idle.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/ingest-race.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/queries.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/check-types.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/compaction.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/monitors.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/ping-rate.md"
  echo
  sed -e 's/^## /### /' -e t -e 's/^# /## /' "$OUT/status-page.md"
} > "$OUT/RESULTS.md"
echo "wrote $OUT/RESULTS.md in ${SECONDS} s"
