#!/usr/bin/env bash
# Builds the manual's multi-broker lab: namespaces logstream-a/-b/-c with
# 172.20.0.10/.20/.30 on one bridge, br-logstream.
#
# The manual inspects the bridge from the machine's own namespace
# (`ip link show br-logstream`, `tcpdump -i br-logstream`), so the bridge lives
# there. It is sealed: no address, no uplink, not enslaved, IPv6 off (so the
# machine sends nothing into the lab), and no forwarding, ARP answers or
# reverse path for lab traffic (so the lab cannot reach the machine or the
# real network). Running it again is harmless; it repairs a half-built lab.
set -euo pipefail

# The lab's names (LAB_*), log, die and the namespace helpers.
. "$(dirname "$0")/lib.sh"

# seal_root_dev locks down a device of the machine's own namespace before it
# comes up: without IPv6 it never sends router solicitations, DAD or MLD;
# with forwarding 0, strict rp_filter and arp_ignore 8 nothing arriving from
# the lab is routed, answered or accepted by the machine's stack.
seal_root_dev() {
	local dev=$1
	if [[ -d /proc/sys/net/ipv6/conf/${dev} ]]; then
		echo 1 >"/proc/sys/net/ipv6/conf/${dev}/disable_ipv6"
	fi
	echo 0 >"/proc/sys/net/ipv4/conf/${dev}/forwarding"
	echo 1 >"/proc/sys/net/ipv4/conf/${dev}/rp_filter"
	echo 8 >"/proc/sys/net/ipv4/conf/${dev}/arp_ignore"
}

# check_sealed fails if the bridge could touch anything but the lab.
check_sealed() {
	[[ -d /sys/class/net/${LAB_BRIDGE}/bridge ]] || die "${LAB_BRIDGE} exists but is not a bridge; run cleanup.sh or rename it"
	if [[ -e /sys/class/net/${LAB_BRIDGE}/master ]]; then
		die "${LAB_BRIDGE} is enslaved to $(basename "$(readlink "/sys/class/net/${LAB_BRIDGE}/master")"); refusing to use it"
	fi
	if [[ -n "$(ip -o addr show dev "${LAB_BRIDGE}")" ]]; then
		die "${LAB_BRIDGE} has an address, it must have none: $(ip -o addr show dev "${LAB_BRIDGE}" | awk '{print $4}' | xargs)"
	fi
	local port ok v
	for port in /sys/class/net/"${LAB_BRIDGE}"/brif/*; do
		[[ -e ${port} ]] || continue
		port=${port##*/}
		ok=no
		for v in "${LAB_VETHS[@]}"; do
			if [[ ${port} == "${v}" ]]; then ok=yes; fi
		done
		[[ ${ok} == yes ]] || die "${LAB_BRIDGE} has foreign port ${port} (an uplink?); refusing to use it"
	done
	if [[ -n "$(ip route show table all dev "${LAB_BRIDGE}" 2>/dev/null | grep -v '^multicast\|^local\|^broadcast' || true)" ]]; then
		die "the machine has routes via ${LAB_BRIDGE}; it must have none"
	fi
}

netns_require_root

if link_exists "${LAB_BRIDGE}"; then
	check_sealed
	log "bridge ${LAB_BRIDGE}: exists, reusing"
else
	ip link add name "${LAB_BRIDGE}" type bridge stp_state 0 forward_delay 0 mcast_snooping 0 mcast_querier 0
	log "bridge ${LAB_BRIDGE}: created (no address, no uplink)"
fi
# No IGMP snooping (with no querier it would end up dropping multicast) and
# no STP delay, also on a bridge reused from an earlier run.
ip link set "${LAB_BRIDGE}" type bridge stp_state 0 forward_delay 0 mcast_snooping 0 mcast_querier 0
seal_root_dev "${LAB_BRIDGE}"

for i in "${!LAB_NAMESPACES[@]}"; do
	ns=${LAB_NAMESPACES[i]}
	addr=${LAB_ADDRESSES[i]}
	veth=${LAB_VETHS[i]}

	if ns_exists "${ns}"; then
		log "namespace ${ns}: exists, reusing"
	else
		ip netns add "${ns}"
		log "namespace ${ns}: created"
	fi
	ip -n "${ns}" link set lo up

	# eth0 must be the peer of our veth; rebuild the pair otherwise.
	peer_ok=no
	if link_exists "${veth}" && ip -n "${ns}" link show eth0 >/dev/null 2>&1; then
		eth0_index=$(ip -n "${ns}" -o link show eth0 | cut -d: -f1)
		if [[ $(<"/sys/class/net/${veth}/iflink") == "${eth0_index}" ]]; then peer_ok=yes; fi
	fi
	if [[ ${peer_ok} == no ]]; then
		if link_exists "${veth}"; then ip link del "${veth}"; fi
		ip -n "${ns}" link del eth0 2>/dev/null || true
		# The namespace end is born inside the namespace.
		ip link add "${veth}" type veth peer name eth0 netns "${ns}"
		log "link ${veth} <-> ${ns}/eth0: created"
	fi
	seal_root_dev "${veth}"
	ip link set "${veth}" master "${LAB_BRIDGE}"
	ip link set "${veth}" up

	ip -n "${ns}" addr replace "${addr}/${LAB_PREFIX_LEN}" broadcast "${LAB_BROADCAST}" dev eth0
	ip -n "${ns}" link set eth0 up
	# Multicast (239.0.0.1:9999) leaves through eth0 without naming it.
	ip -n "${ns}" route replace 224.0.0.0/4 dev eth0
	log "namespace ${ns}: eth0 ${addr}/${LAB_PREFIX_LEN} brd ${LAB_BROADCAST}, multicast route 224.0.0.0/4"
done

ip link set "${LAB_BRIDGE}" up
check_sealed
log "lab ready: ${LAB_NAMESPACES[*]} on ${LAB_BRIDGE} (sealed: no address, no uplink)"
log "try: ip netns exec ${LAB_NAMESPACES[0]} ping -c 2 ${LAB_ADDRESSES[1]}"
