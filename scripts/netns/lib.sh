# Sourced by the scripts that run LogStream (or its peers) inside network
# namespaces: the one home of namespace setup and teardown. Every namespace
# made with netns_add (or netns_switch_lab) is remembered, and netns_cleanup
# kills what still runs inside it (by PID) and deletes it. Callers install
# the trap themselves:
#
#   . "$HERE/netns/lib.sh"
#   netns_require_root
#   trap 'netns_cleanup; rm -rf "$WORK"' EXIT
#   trap 'exit 130' INT TERM
#
# Nothing made here reaches the machine's own network: a private namespace
# has only loopback; a switch lab's bridge lives in a namespace of its own
# (as pkg/internal/testnet does in Go). The manual's lab (setup-netns.sh,
# cleanup.sh), whose bridge the manual inspects from the root namespace,
# keeps its names here too (LAB_*), so the two scripts cannot disagree.
# shellcheck shell=bash

# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# The namespaces this script created, in creation order.
NETNS_CREATED=()

# netns_require_root: die unless root with iproute2 (ip netns needs both).
netns_require_root() {
	[ "$(id -u)" = 0 ] || die "needs root for network namespaces (ip netns; try: sudo $0)"
	command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found in PATH"
}

ns_exists() { [[ -e /var/run/netns/$1 ]]; }
link_exists() { [[ -e /sys/class/net/$1 ]]; }

# netns_add NS: create namespace NS with loopback up; netns_cleanup deletes it.
netns_add() {
	ip netns add "$1"
	NETNS_CREATED+=("$1")
	ip -n "$1" link set lo up
}

# in_ns NS CMD...: run CMD inside NS, in the foreground.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# netns_spawn NS CMD...: start CMD inside NS in the background; afterwards
# $! is CMD's own pid (ip netns exec execs CMD, as env does), so a kill
# reaches the process itself. (`in_ns NS CMD &` would not do: a function put
# in the background runs in a subshell, and $! would be that shell's pid.)
# Redirections on the call apply to CMD.
netns_spawn() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
}

# netns_pids NS: the PIDs inside NS, never this shell's.
netns_pids() { ip netns pids "$1" 2>/dev/null | grep -vx "$$" || true; }

# netns_kill NS [SIGNAL]: stop every process inside NS: SIGNAL (default TERM),
# up to 2 s for them to go, then SIGKILL and up to 5 s for the kernel to reap
# them. Fails, silently, if one survives that. Run it with 2>/dev/null to
# keep bash's "Killed" notices for our own children off the terminal.
netns_kill() {
	local ns=$1 sig=${2:-TERM} p
	for p in $(netns_pids "$ns"); do kill -"$sig" "$p" 2>/dev/null || true; done
	for _ in $(seq 20); do
		[ -z "$(netns_pids "$ns")" ] && return 0
		sleep 0.1
	done
	for p in $(netns_pids "$ns"); do kill -KILL "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		[ -z "$(netns_pids "$ns")" ] && return 0
		sleep 0.1
	done
	return 1
}

# netns_cleanup [SIGNAL]: kill what runs in (netns_kill), then delete, every
# namespace this script created, the newest first; then reap our children.
# Safe to call twice or on a half-built network.
netns_cleanup() {
	local i ns
	for ((i = ${#NETNS_CREATED[@]} - 1; i >= 0; i--)); do
		ns=${NETNS_CREATED[i]}
		ns_exists "$ns" || continue
		netns_kill "$ns" "${1:-TERM}" 2>/dev/null ||
			echo "${SCRIPT_NAME}: PIDs $(netns_pids "$ns" | xargs) in $ns survived SIGKILL" >&2
		ip netns del "$ns" 2>/dev/null || true
	done
	NETNS_CREATED=()
	wait 2>/dev/null || true # reap our children (killed above)
}

# netns_switch_lab STEM SUBNET N: a private LAN of N hosts. Namespace STEM-sw
# holds bridge br0; hosts STEM-h0 … STEM-h(N-1) each get eth0 at
# SUBNET.(10+i)/24, broadcast SUBNET.255, and a multicast route. Each veth is
# born with one end in the host and the other in the switch namespace, so
# nothing touches the root namespace. The hosts' names end up in NETNS_HOSTS.
netns_switch_lab() {
	local stem=$1 subnet=$2 n=$3 sw="$1-sw" i h
	NETNS_HOSTS=()
	netns_add "$sw"
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
	ip -n "$sw" link set br0 up
	for ((i = 0; i < n; i++)); do
		h="$stem-h$i"
		netns_add "$h"
		NETNS_HOSTS+=("$h")
		ip -n "$h" link add eth0 type veth peer name "p$i" netns "$sw"
		ip -n "$h" addr add "$subnet.$((10 + i))/24" broadcast "$subnet.255" dev eth0
		ip -n "$h" link set eth0 up
		ip -n "$h" route add 224.0.0.0/4 dev eth0
		ip -n "$sw" link set "p$i" master br0
		ip -n "$sw" link set "p$i" up
	done
}

# The manual's lab: setup-netns.sh builds it, cleanup.sh removes it.
LAB_BRIDGE=br-logstream
LAB_NAMESPACES=(logstream-a logstream-b logstream-c)
LAB_ADDRESSES=(172.20.0.10 172.20.0.20 172.20.0.30)
LAB_PREFIX_LEN=24
LAB_BROADCAST=172.20.0.255
# The root-namespace ends of the lab's veth pairs; the namespace end is eth0.
LAB_VETHS=(veth-ls-a veth-ls-b veth-ls-c)
