#!/usr/bin/env bash
# LogStream against NATS JetStream and Redis Streams, measured the same way in
# one run: each server a process of its own on loopback inside a private
# network namespace, 100-byte records, one client; ROUNDS rounds with the
# systems interleaved (the order turns every round), then one table of the
# medians. Needs root (ip netns), nats-server and redis-server (Debian:
# apt-get install nats-server redis-server) and Go (the NATS and Redis
# clients live in scripts/benchpeers, a module of its own; the smallest
# LogStream client, the logstream-min column, in scripts/rawclient).
#
#   make bench-peers                          # or:
#   sudo scripts/bench-peers.sh bin/logstream
#   ROUNDS=5 COUNT=1000000 SYNC_COUNT=20000 LINES=500000 scripts/bench-peers.sh bin/logstream
#
# Nothing listens outside the namespace, which is deleted on every way out.
set -euo pipefail

BIN=$(realpath "${1:-bin/logstream}")
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-500000}          # records of the batched/pipelined runs
SYNC_COUNT=${SYNC_COUNT:-5000}  # records sent one at a time
LINES=${LINES:-500000}          # ~95-byte lines piped into `producer`, then read back
HERE=$(cd "$(dirname "$0")" && pwd)

SCRIPT_NAME=bench-peers
. "$HERE/netns/lib.sh"
netns_require_root
[ -x "$BIN" ] || die "no LogStream binary at $BIN (make build)"
for t in nats-server redis-server go; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install -y nats-server redis-server)"
done

NS=lsbench-$$
WORK=$(mktemp -d /tmp/bench-peers.XXXXXX)
SERVER=""
trap 'netns_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
netns_add "$NS"

(cd "$HERE/benchpeers" && go build -o "$WORK/benchpeers" .)
(cd "$HERE/.." && go build -o "$WORK/rawclient" ./scripts/rawclient)
BP=$WORK/benchpeers
RESULTS=$WORK/results.txt
: >"$RESULTS"
awk -v n="$LINES" 'BEGIN { for (i = 0; i < n; i++) printf "%-94s\n", "log line " i }' >"$WORK/lines"

# start_server LOG CMD...: runs CMD in the namespace, its pid in SERVER.
start_server() {
	local log=$1; shift
	netns_spawn "$NS" "$@" >"$log" 2>&1
	SERVER=$!
}
stop_server() {
	kill "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=""
	[ -z "$(netns_pids "$NS")" ] || die "processes left in $NS after stopping the server: $(netns_pids "$NS" | xargs)"
}
wait_port() {
	for _ in $(seq 100); do
		in_ns "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		kill -0 "$SERVER" 2>/dev/null || die "server for port $1 exited: $(tail -3 "$2")"
		sleep 0.1
	done
	die "nothing listens on port $1: $(tail -3 "$2")"
}

run_logstream() {
	local d=$WORK/ls-$1 addr=127.0.0.1:8001
	mkdir -p "$d"
	start_server "$d.log" env MAX_RECORDS_PER_TOPIC=0 "$BIN" broker --address $addr --data-dir "$d" --log-level warn
	wait_port 8001 "$d.log"
	# The broker serves once it has bootstrapped its one-node cluster.
	in_ns "$NS" "$BIN" bench --leader $addr --topic warm --count 1 --consumers 0 --reconnect-attempts 100 --log-level error >/dev/null
	in_ns "$NS" "$BIN" bench --leader $addr --count "$COUNT" --consumers 0 --format json --log-level error | "$BP" fromjson logstream batched >>"$RESULTS"
	in_ns "$NS" "$BIN" bench --leader $addr --sync --count "$SYNC_COUNT" --consumers 0 --format json --log-level error | "$BP" fromjson logstream sync >>"$RESULTS"
	# The same round trips from the smallest client (it reads its own
	# acknowledgement): the broker's share of the figure above.
	in_ns "$NS" "$WORK/rawclient" -addr $addr -count "$SYNC_COUNT" >>"$RESULTS"
	in_ns "$NS" "$BP" timecmd -measure pipe_lines -count "$LINES" -stdin "$WORK/lines" -- \
		"$BIN" producer --leader $addr --topic pipe --log-level warn >>"$RESULTS"
	in_ns "$NS" "$BP" timecmd -measure catchup_read -count "$LINES" -- \
		"$BIN" consumer --leader $addr --topic pipe -analytics=false -exit-at-end --log-level warn >>"$RESULTS"
	in_ns "$NS" "$BP" timecmd -measure catchup_read_json -count "$LINES" -- \
		"$BIN" consumer --leader $addr --topic pipe -analytics=false -exit-at-end --format json --log-level warn >>"$RESULTS"
	stop_server
	# The same with the broker inside the bench's process, for comparison.
	in_ns "$NS" "$BIN" bench --embedded --count "$COUNT" --consumers 0 --format json --log-level error 2>/dev/null | "$BP" fromjson logstream-embedded batched >>"$RESULTS"
	in_ns "$NS" "$BIN" bench --embedded --sync --count "$SYNC_COUNT" --consumers 0 --format json --log-level error 2>/dev/null | "$BP" fromjson logstream-embedded sync >>"$RESULTS"
}

run_nats() {
	local d=$WORK/nats-$1
	mkdir -p "$d"
	# No config file: JetStream with file storage in $d, client port on
	# loopback only, no monitoring or cluster ports.
	start_server "$d.log" nats-server -a 127.0.0.1 -p 4222 -js -sd "$d"
	wait_port 4222 "$d.log"
	in_ns "$NS" "$BP" nats -addr 127.0.0.1:4222 -count "$COUNT" -sync-count "$SYNC_COUNT" >>"$RESULTS"
	stop_server
}

run_redis() {
	local d=$WORK/redis-$1
	mkdir -p "$d"
	# Not /etc/redis/redis.conf (a daemon with files under /var): loopback,
	# in the foreground, AOF fsynced every second, no RDB snapshots.
	start_server "$d.log" redis-server --bind 127.0.0.1 --port 6379 --protected-mode yes --daemonize no \
		--dir "$d" --save '' --appendonly yes --appendfsync everysec --logfile ''
	wait_port 6379 "$d.log"
	in_ns "$NS" "$BP" redis -addr 127.0.0.1:6379 -count "$COUNT" -sync-count "$SYNC_COUNT" >>"$RESULTS"
	stop_server
}

run_tcp() { in_ns "$NS" "$BP" pingpong -sync-count "$SYNC_COUNT" >>"$RESULTS"; }

# A Go echo server in a process of its own: the floor under any Go server
# process's one-at-a-time figure (a broker's included), where tcp is one
# process's.
run_goecho() {
	start_server "$WORK/echo-$1.log" "$BP" echo -addr 127.0.0.1:7000
	wait_port 7000 "$WORK/echo-$1.log"
	in_ns "$NS" "$BP" pingpong -remote -addr 127.0.0.1:7000 -sync-count "$SYNC_COUNT" >>"$RESULTS"
	stop_server
}

systems=(logstream nats redis goecho tcp)
for r in $(seq "$ROUNDS"); do
	for i in "${!systems[@]}"; do
		s=${systems[$(((i + r - 1) % ${#systems[@]}))]}
		echo "bench-peers: round $r/$ROUNDS: $s" >&2
		"run_$s" "$r"
		rm -rf "$WORK/ls-$r" "$WORK/nats-$r" "$WORK/redis-$r"
	done
done

echo "LogStream $("$BIN" version 2>/dev/null | head -1), $(nats-server --version), $(redis-server --version | cut -d' ' -f1-3);" \
	"$ROUNDS rounds, $COUNT records batched, $SYNC_COUNT one at a time, $LINES piped lines, 100-byte records"
"$BP" table "$RESULTS"
