#!/usr/bin/env bash
# make demo: a broker, a producer and a consumer talking over loopback inside
# a private network namespace (so no broadcast ever reaches a real network),
# for a few seconds. The consumer's output is what you see.
# Usage: scripts/demo.sh path/to/logstream [seconds]
set -euo pipefail
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
secs="${2:-8}"
bindir="$(dirname "$bin")"

if [ "${LOGSTREAM_DEMO_INSIDE:-}" != 1 ]; then
	# Re-run this script in a fresh network namespace holding only `lo`.
	if [ "$(id -u)" = 0 ]; then
		exec unshare -n env LOGSTREAM_DEMO_INSIDE=1 "$0" "$@"
	elif unshare -rn true 2>/dev/null; then
		exec unshare -rn env LOGSTREAM_DEMO_INSIDE=1 "$0" "$@"
	fi
	echo "demo: needs a private network namespace (run as root, or enable unprivileged user namespaces)" >&2
	exit 1
fi

ip link set lo up
ip route add 224.0.0.0/4 dev lo 2>/dev/null || true
export LOGSTREAM_HOME
LOGSTREAM_HOME="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$LOGSTREAM_HOME"
}
trap cleanup EXIT

echo "== broker (auto-detects: no network here, so loopback), logs in $LOGSTREAM_HOME/broker.log"
LOG_FORMAT=console "$bin" 2>"$LOGSTREAM_HOME/broker.log" &
pids+=($!)
echo "== producer: 20 records/s, discovers the broker by UDP broadcast"
LOG_FORMAT=console "$bindir/producer" -topic demo -rate 20 -count $((secs * 20)) -message "hello from the demo" 2>"$LOGSTREAM_HOME/producer.log" &
pids+=($!)
echo "== consumer (analytics on), for ${secs}s:"
LOG_FORMAT=console timeout "$secs" "$bindir/consumer" -topic demo -window 10 -interval 1000 2>"$LOGSTREAM_HOME/consumer.log" || true
echo
echo "== broker log (last lines):"
tail -n 5 "$LOGSTREAM_HOME/broker.log"
