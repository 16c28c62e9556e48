#!/usr/bin/env bash
# Issue 15's scale series: how cost grows with topics, with clients and with
# brokers. One broker process on loopback inside a private network namespace
# (deleted on every way out), a fresh data directory per run, `logstream
# bench` as the load; ROUNDS rounds with the configurations interleaved, then
# one table of medians. Needs root (ip netns) and a built binary.
#
#   make bench-scale                          # or:
#   sudo scripts/bench-scale.sh bin/logstream
#   ROUNDS=3 TOTAL=1000000 CLIENT_TOTAL=200000 CLUSTER=0 scripts/bench-scale.sh bin/logstream
#
# Series (100-byte records):
#   topics T = 1, 10, 100, 1000: T producers, one per topic, TOTAL records in
#     all, no consumer: acknowledged records/s, the broker's peak RSS and its
#     open files at the end.
#   clients P = 1, 10, 100: P producers and P consumers on one topic,
#     CLIENT_TOTAL records in all, every consumer reads all of them:
#     acknowledged and consumed records/s (consumed counts every consumer's
#     records), peak RSS, open files.
#   brokers N = 3, 5, 7 (CLUSTER=1, the default): go test -bench ClusterScale
#     in pkg/e2e, each broker on its own namespace host: acknowledged
#     records/s batched and one-at-a-time ack latency; one run per round.
set -euo pipefail

BIN=$(realpath "${1:-bin/logstream}")
ROUNDS=${ROUNDS:-3}
TOTAL=${TOTAL:-1000000}
CLIENT_TOTAL=${CLIENT_TOTAL:-200000}
CLUSTER=${CLUSTER:-1}
TOPICS=${TOPICS:-"1 10 100 1000"}
CLIENTS=${CLIENTS:-"1 10 100"}
HERE=$(cd "$(dirname "$0")" && pwd)

SCRIPT_NAME=bench-scale
. "$HERE/netns/lib.sh"
netns_require_root
[ -x "$BIN" ] || die "no LogStream binary at $BIN (make build)"

NS=lsscale-$$
WORK=$(mktemp -d /tmp/bench-scale.XXXXXX)
SERVER=""
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
netns_add "$NS"
RESULTS=$WORK/results.txt
: >"$RESULTS"

# json_num FIELD: the number after "FIELD": in the JSON on stdin.
json_num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"; }

# run_broker_bench LABEL BENCH-ARGS...: a fresh broker, one bench run, one
# result line: LABEL acked/s consumed/s peak-RSS-MB open-files.
run_broker_bench() {
	local label=$1; shift
	local d=$WORK/data log=$WORK/broker.log addr=127.0.0.1:8001
	rm -rf "$d"; mkdir -p "$d"
	netns_spawn "$NS" env MAX_RECORDS_PER_TOPIC=0 MAX_CONNECTIONS=4096 MAX_CONNECTIONS_PER_IP=4096 \
		"$BIN" broker --address $addr --data-dir "$d" --log-level warn >"$log" 2>&1
	SERVER=$!
	in_ns "$NS" "$BIN" bench --leader $addr --topic warm --count 1 --consumers 0 --reconnect-attempts 100 --log-level error >/dev/null ||
		die "broker did not come up: $(tail -3 "$log")"
	local out
	out=$(in_ns "$NS" "$BIN" bench --leader $addr --format json --log-level error "$@") || die "$label: bench failed"
	local hwm fds
	hwm=$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' /proc/"$SERVER"/status)
	fds=$(ls /proc/"$SERVER"/fd | wc -l)
	kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
	local consumed
	consumed=$(json_num consume_records_per_second <<<"$out")
	case "$consumed" in "" | 0) consumed=- ;; esac
	echo "$label $(json_num produce_records_per_second <<<"$out") $consumed $hwm $fds" | tee -a "$RESULTS" >&2
}

for round in $(seq "$ROUNDS"); do
	echo "round $round of $ROUNDS" >&2
	for t in $TOPICS; do
		run_broker_bench "topics=$t" --producers "$t" --topics "$t" --count $((TOTAL / t)) --consumers 0
	done
	for p in $CLIENTS; do
		run_broker_bench "clients=$p" --producers "$p" --consumers "$p" --topics 1 --count $((CLIENT_TOTAL / p))
	done
	if [ "$CLUSTER" = 1 ]; then
		# Each broker its own namespace host (pkg/internal/testnet), the
		# load generator on one more; the test deletes its namespaces.
		(cd "$HERE/.." && go test -run XXX -bench ClusterScale -benchtime 1x ./pkg/e2e) 2>&1 |
			awk '/^BenchmarkClusterScale/ {
				split($1, a, "/"); sub(".*=", "", a[2]); mode = a[3]; sub("-[0-9]+$", "", mode)
				for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
				if (mode == "throughput") print "brokers=" a[2] " " m["acked-rec/s"] " - - -"
				else print "brokers=" a[2] "/sync " m["ack-p50-µs"] " " m["ack-p99-µs"] " - -"
			}' | tee -a "$RESULTS" >&2
	fi
done

# Medians per label, in the order first seen.
echo
echo "| setup | acknowledged records/s | consumed records/s | broker peak RSS (MB) | broker open files |"
echo "|---|---|---|---|---|"
awk "$AWK_MEDIAN"'
{
	if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
	for (f = 2; f <= 5; f++) if ($f != "-" && $f != "") vals[$1, f] = vals[$1, f] " " $f
}
END {
	for (i = 1; i <= k; i++) {
		l = order[i]; line = "| " l
		for (f = 2; f <= 5; f++) {
			if ((l, f) in vals) { m = median(vals[l, f]); line = line " | " (f <= 3 && l !~ /sync/ ? sprintf("%.0f k", m / 1000) : sprintf("%.0f", m)) }
			else line = line " | –"
		}
		print line " |"
	}
}' "$RESULTS"
echo
echo "(brokers=N/sync: the two number columns are one-at-a-time ack p50 and p99 in µs; medians of $ROUNDS rounds)"
