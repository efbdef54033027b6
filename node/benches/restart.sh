#!/bin/bash
# Restart figure of issue 18 (BENCHMARKS.md, "Restart"). Usage: restart.sh BINARY HOME
# Starts `BINARY node` on HOME (a home with many listings, e.g. the one the ui bench keeps with
# SWAPMEET_BENCH_KEEP) and prints the time from start to the first search answered, to the
# store's lookups built (storing possible), and the node's RSS at each. Uses HOME's API port.
BIN=$1; HOME_DIR=$2
start=$(date +%s.%N)
$BIN node --home $HOME_DIR --no-mdns --listen /ip4/127.0.0.1/tcp/0 2>/tmp/restart-node.log &
pid=$!
until $BIN --home $HOME_DIR search bike --json >/dev/null 2>&1; do sleep 0.05; done
end=$(date +%s.%N)
echo "first search answered after $(echo "$end - $start" | bc) s; $(grep VmRSS /proc/$pid/status)"
$BIN --home $HOME_DIR status 2>&1 | grep -E 'listings|starting'
until $BIN --home $HOME_DIR status --json 2>/dev/null | grep -q '"lookups":"ready"'; do sleep 0.2; done
end=$(date +%s.%N)
echo "lookups built after $(echo "$end - $start" | bc) s; $(grep VmRSS /proc/$pid/status)"
for i in 1 2 3 4; do
  $BIN --home $HOME_DIR search "road bike" --json >/dev/null 2>&1
  $BIN --home $HOME_DIR search sofa --max-price 300 --json >/dev/null 2>&1
done
sleep ${HOLD:-10}; echo "after searches: $(grep -E "VmRSS|RssAnon|RssFile" /proc/$pid/status | tr -s "\t\n" "  ")"
$BIN --home $HOME_DIR status 2>&1 | grep -E 'listings'
s0=$(date +%s.%N); kill $pid; wait $pid; echo "stopped in $(echo "$(date +%s.%N) - $s0" | bc) s"
grep -E 'lookups built|store and index' /tmp/restart-node.log
