#!/usr/bin/env bash
# make demo: a newcomer's first look at a LogStream cluster, in under a
# minute. Three brokers in a private network of namespaces find each other
# by UDP broadcast; a producer and a consumer (with live analytics) stream
# through them; the leader is killed (kill -9) mid-stream; you see the
# election and the consumer carrying on, then one summary line: records
# sent, acknowledged, received, lost.
#
# The network is namespaces this script creates and always deletes: a bridge
# in its own namespace and one veth per host, born with one end in the host
# namespace and the other in the switch namespace (netns_switch_lab in
# scripts/netns/lib.sh; pkg/internal/testnet does the same in Go), so
# no broadcast or multicast ever reaches the machine's own network.
# Needs root (ip netns); without it the demo says so and skips.
# Usage: scripts/demo.sh path/to/logstream
set -euo pipefail
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
bindir="$(dirname "$bin")"
count=1000 rate=50 # 20 s of records; the leader dies after about 5 s

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
	echo "demo: skipped: it builds a private network of namespaces with 'ip netns', which needs root and iproute2 (try: sudo make demo)"
	exit 0
fi

SCRIPT_NAME=demo
. "$(dirname "$0")/netns/lib.sh"
work="$(mktemp -d)"
# kill -9 what still runs (a consumer or producer waiting on a dead cluster
# has nothing to finish), then delete the namespaces
trap 'netns_cleanup KILL; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# network: a switch namespace with a bridge, five hosts on 10.231.77.0/24
subnet=10.231.77
netns_switch_lab "lsdemo-$$" "$subnet" 5
hosts=("${NETNS_HOSTS[@]}")

# run_in NS CMD... &: run a LogStream process in host namespace NS. exec, so
# that $! is the process itself (ip netns exec and env exec too): kill -9
# then kills the broker, not a shell around it.
run_in() { local ns="$1"; shift; exec ip netns exec "$ns" env LOGSTREAM_HOME="$work" LOG_FORMAT=console "$@"; }
# fast failure detection so the demo fits in a minute (defaults: 5/2/10/15 s)
timing=(BROKER_HB_INTERVAL=1 FOLLOWER_HB_INTERVAL=1 SUSPICION_TIMEOUT=2 FAILURE_TIMEOUT=3 BROKER_TIMEOUT=6 CLIENT_HB_INTERVAL=1)

# brief: a console log line without its fields (they follow the message,
# sorted; those before component= are the only ones to take out by name)
brief() { sed -E 's/ (cluster=[^ ]* )?component=.*$//'; }

# on_wait_timeout: what wait_for shows when a step never comes
on_wait_timeout() { echo "logs:"; tail -n 5 "$work"/*.log; }
view_size() { # the members of a broker log's latest ClusterState line
	grep -o 'members=\[[^]]*\]' "$work/$1.log" 2>/dev/null | tail -n 1 | tr ',' '\n' | grep -c '#' || true
}
all_see() { for n in node1 node2 node3; do [ "$(view_size "$n")" = "$1" ] || return 1; done; }

echo "== three brokers (node1..3 on $subnet.10-12), started together; they find each other by UDP broadcast"
for i in 0 1 2; do
	run_in "${hosts[$i]}" env NODE_NAME=node$((i + 1)) "${timing[@]}" "$bin" 2>"$work/node$((i + 1)).log" &
	broker_pid[i]=$!
done
wait_for 30 "cluster of three" all_see 3
grep -h 'ClusterState' "$work"/node*.log | grep 'role=leader' | tail -n 1 | brief | sed 's/^/   /'

echo "== producer ($rate records/s, $count records) and consumer (analytics every 2 s) on two more hosts"
run_in "${hosts[3]}" "$bindir/producer" -topic demo -rate "$rate" -count "$count" -message "demo record {n}" \
	-reconnect-delay 1 -reconnect-attempts 30 2>"$work/producer.log" &
prod=$!
run_in "${hosts[4]}" "$bindir/consumer" -topic demo -window 10 -interval 2000 -count "$count" \
	-reconnect-delay 1 -reconnect-attempts 30 >"$work/consumer.out" 2>"$work/consumer.log" &
cons=$!
received() { grep -o 'demo record [0-9]*' "$work/consumer.out" 2>/dev/null | sort -u | wc -l; }
at_least() { [ "$(received)" -ge "$1" ]; }
show_stats() { grep '^\[stats' "$work/consumer.out" 2>/dev/null | tail -n 1 | sed 's/^/   consumer: /' || true; }
wait_for 30 "records at the consumer" at_least 250
show_stats

leader=""
for n in node1 node2 node3; do
	if grep 'ClusterState' "$work/$n.log" | tail -n 1 | grep -q 'role=leader'; then leader=$n; fi
done
[ -n "$leader" ] || { echo "demo: no broker says it leads" >&2; exit 1; }
i=$((${leader#node} - 1))
echo "== kill -9 $leader, the leader, with $(received) records received"
kill -9 "${broker_pid[$i]}"
wait "${broker_pid[$i]}" 2>/dev/null || true # no "Killed" notice from bash
survivors=()
for n in node1 node2 node3; do [ "$n" = "$leader" ] || survivors+=("$n"); done
new_view() { for n in "${survivors[@]}"; do [ "$(view_size "$n")" = 2 ] || return 1; done; }
wait_for 30 "new view of the two survivors" new_view
echo "== the survivors' logs: failure detected, ELECTION, I WIN, COORDINATOR, new view"
for n in "${survivors[@]}"; do
	grep -E 'LEADER FAILURE|ELECTION started|I WIN|COORDINATOR (sent|received)|ClusterState VIEW_INSTALL' "$work/$n.log" |
		tail -n 4 | brief | sed "s/^/   $n: /"
done

echo "== the stream carries on"
for _ in 1 2 3; do
	sleep 2
	show_stats
done
wait_for 60 "end of the producer" sh -c "! kill -0 $prod 2>/dev/null"
wait_for 30 "all records at the consumer" at_least "$count"
wait "$prod" && prod_ok=1 || prod_ok=0
acked=$(grep -o 'acknowledged=[0-9]*' "$work/producer.log" | tail -n 1 | cut -d= -f2)
got=$(received)
lost=$((${acked:-0} - got))
[ "$lost" -lt 0 ] && lost=0
echo
echo "SUMMARY: sent=$count acknowledged=${acked:-0} received=$got lost=$lost (leader $leader killed mid-stream)"
[ "$prod_ok" = 1 ] && [ "$lost" = 0 ] && [ "${acked:-0}" = "$count" ]
