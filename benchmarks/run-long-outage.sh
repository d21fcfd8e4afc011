#!/usr/bin/env bash
# Issue #19's goal, for real: a 30-minute PostgreSQL outage at 4,000 lines/s, 5 % of lines on series first seen
# during it, --ack accept and --ack commit side by side (each its own database and collector process).
#   benchmarks/run-long-outage.sh                      # --outage 1800, both modes: about 35-40 minutes
#   benchmarks/run-long-outage.sh --outage 120         # a short rehearsal
#   benchmarks/run-long-outage.sh --modes commit       # one mode alone
# Builds the jars if missing (without tests), runs LongOutageHarness (any of its options pass through), logs to
# target/long-outage.log (relative to the repository) and writes $SPILLWAY_RESULTS_DIR/long-outage.md
# (default benchmarks/results). Not part of `mvn verify`. Meant to be started in the background:
#   nohup benchmarks/run-long-outage.sh > /dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=benchmarks/target/benchmarks.jar
COLLECTOR=collector-app/target/spillway-collector.jar
if [[ ! -f "$BENCH" || ! -f "$COLLECTOR" ]]; then
  mvn -B -q -pl benchmarks -am package -DskipTests
fi
# Run from copies: a build during the run (which rewrites the jars in target/) cannot touch the running processes.
COPIES=$(mktemp -d /tmp/spillway-long-outage-jars.XXXXXX)
cp "$BENCH" "$COPIES/benchmarks.jar"
cp "$COLLECTOR" "$COPIES/spillway-collector.jar"
BENCH=$COPIES/benchmarks.jar
COLLECTOR=$COPIES/spillway-collector.jar
mkdir -p target
WORK=$(mktemp -d /tmp/spillway-long-outage.XXXXXX)
echo "+ java -cp $BENCH dev.spillway.benchmarks.spool.LongOutageHarness --jar $COLLECTOR --work $WORK $*" \
  | tee target/long-outage.log
status=0
java -cp "$BENCH" dev.spillway.benchmarks.spool.LongOutageHarness --jar "$COLLECTOR" --work "$WORK" "$@" \
  >> target/long-outage.log 2>&1 || status=$?
# The work directory holds two databases and two spools; the collectors' logs are kept next to the harness log.
for d in "$WORK"/*/; do
  [[ -f "$d/collector.log" ]] && cp "$d/collector.log" "target/long-outage-$(basename "$d")-collector.log"
done
rm -rf "$WORK" "$COPIES"
exit $status
