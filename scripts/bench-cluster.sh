#!/usr/bin/env bash
# Three brokers, each a process on its own namespace host of a private
# switch lab (bridge in a namespace of its own, nothing on the machine's
# network), `logstream bench` on a fourth host: acknowledged records/s
# batched and one-at-a-time ack latency, ROUNDS rounds, the binaries given
# interleaved round by round (A/B of two builds in the same minutes), then
# one table of medians. Needs root.
#
#   scripts/bench-cluster.sh bin/logstream                  # one binary
#   ROUNDS=5 scripts/bench-cluster.sh /tmp/before /tmp/after
#   PROFILE=/tmp/prof scripts/bench-cluster.sh bin/logstream  # + pprof of each broker
#
# PROFILE=DIR also runs each broker with MONITOR_PPROF and saves the owner's
# and a follower's CPU, block and mutex profiles and a 2 s execution trace
# of each batched run (DIR/<binary>-r<round>-<broker>.{cpu,block,mutex,trace}),
# and a 1 s trace of every broker during the one-at-a-time run
# (DIR/<binary>-r<round>-<broker>.sync.trace; give it SYNC_COUNT=20000 or
# more so the run outlasts the trace). `go tool trace -pprof=sched FILE`
# then says where goroutines waited to be scheduled, by the stack that woke
# them: each such hand-off on a record's path is a wait.
# STRACE=DIR counts each broker's system calls during the batched run
# (strace -c -f; slows the run, so its figures are not comparable).
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
BINS=()
for b in "$@"; do BINS+=("$(realpath "$b")"); done
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-1000000}
SYNC_COUNT=${SYNC_COUNT:-5000}
PROFILE=${PROFILE:-}
STRACE=${STRACE:-}
HERE=$(cd "$(dirname "$0")" && pwd)

SCRIPT_NAME=bench-cluster
. "$HERE/netns/lib.sh"
netns_require_root

WORK=$(mktemp -d /tmp/bench-cluster.XXXXXX)
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
STEM=lsbc$$
SUBNET=10.231.$((RANDOM % 200 + 20))
netns_switch_lab "$STEM" "$SUBNET" 4
RESULTS=$WORK/results.txt
: >"$RESULTS"
[ -z "$PROFILE" ] || mkdir -p "$PROFILE"
[ -z "$STRACE" ] || mkdir -p "$STRACE"

json_num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"; }
json_p() { sed -n "s/.*\"ack_latency_us\":{[^}]*\"$1\":\([0-9.eE+-]*\).*/\1/p"; }

PIDS=()
PROF_PIDS=()
# start_cluster BIN: three brokers on h0..h2, h0 first (it leads).
start_cluster() {
	local bin=$1 i env
	PIDS=()
	for i in 0 1 2; do
		rm -rf "$WORK/d$i"; mkdir -p "$WORK/d$i"
		env=(MAX_RECORDS_PER_TOPIC=0 LOG_LEVEL=info NODE_NAME=node$((i + 1)) DATA_DIR="$WORK/d$i"
			NODE_ADDRESS="$SUBNET.$((10 + i)):8001" LOGSTREAM_HOME="$WORK/home")
		[ -z "$PROFILE" ] || env+=(MONITOR_ADDRESS="$SUBNET.$((10 + i)):9464" MONITOR_PPROF=true)
		[ "$i" = 0 ] || env+=(LEADER_ADDRESS="$SUBNET.10:8001")
		netns_spawn "${NETNS_HOSTS[$i]}" env "${env[@]}" "$bin" broker >"$WORK/b$i.log" 2>&1
		PIDS+=($!)
		if [ "$i" = 0 ]; then
			wait_for 10 "broker 1 up" in_ns "${NETNS_HOSTS[3]}" "$bin" bench --leader "$SUBNET.10:8001" --topic warm0 \
				--count 1 --consumers 0 --log-level error >/dev/null 2>&1
		fi
	done
	wait_for 30 "a view of three" three_members
	in_ns "${NETNS_HOSTS[3]}" "$bin" bench --leader "$SUBNET.10:8001" --topic warm1 --count 1000 --consumers 0 \
		--reconnect-attempts 100 --log-level error >/dev/null
}

# three_members: the leader's latest ClusterState line names three members.
three_members() {
	grep ClusterState "$WORK/b0.log" | tail -1 | grep -q 'members=\[[^],]*,[^],]*,[^],]*\]'
}
on_wait_timeout() { tail -5 "$WORK"/b*.log; }

# brokers_cpu: the three brokers' CPU time so far (user + system), in ms.
brokers_cpu() {
	local p t=0 hz
	hz=$(getconf CLK_TCK)
	for p in "${PIDS[@]}"; do
		t=$((t + $(awk '{ print $14 + $15 }' /proc/"$p"/stat)))
	done
	echo $((t * 1000 / hz))
}

stop_cluster() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}

# profile NAME HOST-INDEX: CPU, block, mutex profiles and a trace of one broker.
profile() {
	local name=$1 i=$2 url="http://$SUBNET.$((10 + $2)):9464/debug/pprof"
	netns_spawn "${NETNS_HOSTS[3]}" curl -s -o "$PROFILE/$name.cpu" "$url/profile?seconds=3"
	PROF_PIDS+=($!)
	netns_spawn "${NETNS_HOSTS[3]}" curl -s -o "$PROFILE/$name.trace" "$url/trace?seconds=1"
	PROF_PIDS+=($!)
}

for round in $(seq "$ROUNDS"); do
	for bin in "${BINS[@]}"; do
		tag=$(basename "$bin")
		start_cluster "$bin"
		if [ -n "$PROFILE" ]; then
			for i in 0 1; do profile "$tag-r$round-b$i" "$i"; done
		fi
		STRACE_PIDS=()
		if [ -n "$STRACE" ]; then
			for i in 0 1 2; do
				strace -c -f -o "$STRACE/$tag-r$round-b$i.txt" -p "${PIDS[$i]}" 2>/dev/null &
				STRACE_PIDS+=($!)
			done
			sleep 1 # attached
		fi
		cpu0=$(brokers_cpu)
		out=$(in_ns "${NETNS_HOSTS[3]}" "$bin" bench --leader "$SUBNET.10:8001" --topic t$round --count "$COUNT" \
			--consumers 0 --format json --log-level error)
		echo "$tag batched $(json_num produce_records_per_second <<<"$out")" | tee -a "$RESULTS" >&2
		echo "$tag cpu $(($(brokers_cpu) - cpu0))" | tee -a "$RESULTS" >&2
		for p in "${STRACE_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
		if [ -n "$PROFILE" ]; then
			for i in 0 1; do
				for k in block mutex; do
					in_ns "${NETNS_HOSTS[3]}" curl -s -o "$PROFILE/$tag-r$round-b$i.$k" "http://$SUBNET.$((10 + i)):9464/debug/pprof/$k"
				done
			done
		fi
		if [ -n "$PROFILE" ]; then
			for i in 0 1 2; do
				(sleep 0.5; in_ns "${NETNS_HOSTS[3]}" curl -s -o "$PROFILE/$tag-r$round-b$i.sync.trace" \
					"http://$SUBNET.$((10 + i)):9464/debug/pprof/trace?seconds=1") &
				PROF_PIDS+=($!)
			done
		fi
		out=$(in_ns "${NETNS_HOSTS[3]}" "$bin" bench --leader "$SUBNET.10:8001" --topic s$round --sync --count "$SYNC_COUNT" \
			--consumers 0 --format json --log-level error)
		echo "$tag sync-p50 $(json_p p50 <<<"$out")" | tee -a "$RESULTS" >&2
		echo "$tag sync-p99 $(json_p p99 <<<"$out")" | tee -a "$RESULTS" >&2
		for p in "${PROF_PIDS[@]}"; do wait "$p" || true; done
		PROF_PIDS=()
		stop_cluster
	done
done

echo
echo "| binary | batched acked records/s | brokers' CPU for the batched run (s, three together) | one at a time ack p50 (µs) | p99 (µs) |"
echo "|---|---|---|---|---|"
awk "$AWK_MEDIAN"'
{ if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }; vals[$1, $2] = vals[$1, $2] " " $3; runs[$1, $2] = runs[$1, $2] " " ($2 == "batched" ? sprintf("%.0fk", $3 / 1000) : ($2 == "cpu" ? sprintf("%.2f", $3 / 1000) : sprintf("%.0f", $3))) }
END {
	for (i = 1; i <= k; i++) {
		b = order[i]
		printf "| %s | %.0f k (runs%s) | %.2f (runs%s) | %.0f (runs%s) | %.0f (runs%s) |\n", b, median(vals[b, "batched"]) / 1000, runs[b, "batched"],
			median(vals[b, "cpu"]) / 1000, runs[b, "cpu"],
			median(vals[b, "sync-p50"]), runs[b, "sync-p50"], median(vals[b, "sync-p99"]), runs[b, "sync-p99"]
	}
}' "$RESULTS"
echo "(medians of $ROUNDS rounds; COUNT=$COUNT SYNC_COUNT=$SYNC_COUNT)"
