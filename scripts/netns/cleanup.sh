#!/usr/bin/env bash
# Removes the lab setup-netns.sh builds: kills every process inside the
# namespaces (by PID), deletes the namespaces, their veths and br-logstream.
# Running it again, or on a half-built lab, is harmless.
set -euo pipefail

# The lab's names; cleanup.sh and setup-netns.sh must agree on them.
BRIDGE=br-logstream
NAMESPACES=(logstream-a logstream-b logstream-c)
# The root-namespace ends of the veth pairs; the namespace end is eth0.
VETHS=(veth-ls-a veth-ls-b veth-ls-c)

log() { echo "${0##*/}: $*"; }
die() {
	echo "${0##*/}: error: $*" >&2
	exit 1
}

require_root() {
	[[ ${EUID} -eq 0 ]] || die "must run as root (try: sudo $0)"
	command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found in PATH"
}

ns_exists() { [[ -e /var/run/netns/$1 ]]; }
link_exists() { [[ -e /sys/class/net/$1 ]]; }

require_root

# pids_in prints the PIDs inside a namespace, never this shell's.
pids_in() { ip netns pids "$1" 2>/dev/null | grep -vx "$$" || true; }

for ns in "${NAMESPACES[@]}"; do
	if ! ns_exists "${ns}"; then
		log "namespace ${ns}: not present"
		continue
	fi
	pids=$(pids_in "${ns}")
	if [[ -n ${pids} ]]; then
		log "namespace ${ns}: killing PIDs $(echo "${pids}" | xargs)"
		for pid in ${pids}; do kill -KILL "${pid}" 2>/dev/null || true; done
		for _ in $(seq 50); do # up to 5 s for the kernel to reap them
			if [[ -z $(pids_in "${ns}") ]]; then break; fi
			sleep 0.1
		done
		[[ -z $(pids_in "${ns}") ]] || die "namespace ${ns}: PIDs $(pids_in "${ns}" | xargs) survived SIGKILL"
	fi
	ip netns delete "${ns}"
	log "namespace ${ns}: deleted"
done

# Deleting a namespace destroys its veth pair, but the kernel does it
# asynchronously; delete any end still there and wait (bounded) for it.
for veth in "${VETHS[@]}"; do
	if link_exists "${veth}"; then ip link del "${veth}" 2>/dev/null || true; fi
	for _ in $(seq 50); do
		if ! link_exists "${veth}"; then break; fi
		sleep 0.1
	done
	if link_exists "${veth}"; then die "link ${veth} could not be removed"; fi
done

if link_exists "${BRIDGE}"; then
	[[ -d /sys/class/net/${BRIDGE}/bridge ]] || die "${BRIDGE} is not a bridge; leaving it alone"
	ip link del "${BRIDGE}"
	log "bridge ${BRIDGE}: deleted"
else
	log "bridge ${BRIDGE}: not present"
fi
log "lab removed"
