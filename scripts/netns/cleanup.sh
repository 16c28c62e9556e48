#!/usr/bin/env bash
# Removes the lab setup-netns.sh builds: kills every process inside the
# namespaces (by PID), deletes the namespaces, their veths and br-logstream.
# Running it again, or on a half-built lab, is harmless.
set -euo pipefail

# The lab's names (LAB_*), log, die and the namespace helpers.
. "$(dirname "$0")/lib.sh"

netns_require_root

for ns in "${LAB_NAMESPACES[@]}"; do
	if ! ns_exists "${ns}"; then
		log "namespace ${ns}: not present"
		continue
	fi
	if [[ -n $(netns_pids "${ns}") ]]; then
		log "namespace ${ns}: killing PIDs $(netns_pids "${ns}" | xargs)"
		netns_kill "${ns}" KILL || die "namespace ${ns}: PIDs $(netns_pids "${ns}" | xargs) survived SIGKILL"
	fi
	ip netns delete "${ns}"
	log "namespace ${ns}: deleted"
done

# Deleting a namespace destroys its veth pair, but the kernel does it
# asynchronously; delete any end still there and wait (bounded) for it.
for veth in "${LAB_VETHS[@]}"; do
	if link_exists "${veth}"; then ip link del "${veth}" 2>/dev/null || true; fi
	for _ in $(seq 50); do
		if ! link_exists "${veth}"; then break; fi
		sleep 0.1
	done
	if link_exists "${veth}"; then die "link ${veth} could not be removed"; fi
done

if link_exists "${LAB_BRIDGE}"; then
	[[ -d /sys/class/net/${LAB_BRIDGE}/bridge ]] || die "${LAB_BRIDGE} is not a bridge; leaving it alone"
	ip link del "${LAB_BRIDGE}"
	log "bridge ${LAB_BRIDGE}: deleted"
else
	log "bridge ${LAB_BRIDGE}: not present"
fi
log "lab removed"
