package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Options shape a Network.
type Options struct {
	// Hosts is the number of host namespaces, at least 1.
	Hosts int
	// Subnet is an IPv4 prefix such as "10.77.3.0/24"; host i gets
	// network+10+i. Empty picks a 10.77.N.0/24 not used by the machine.
	Subnet string
}

// Network is a switch namespace with a bridge and the hosts joined to it.
type Network struct {
	set    *nsSet
	subnet netip.Prefix
	sw     string // switch namespace
	hosts  []*Host
}

// Names inside the switch namespace. They only need to be unique within
// that namespace, which is unique per run, so they stay far below the
// 15-character interface name limit.
const (
	bridgeName = "br0"
	hostIface  = "eth0"
)

// portName is the switch-side end of host i's veth pair.
func portName(i int) string { return "p" + strconv.Itoa(i) }

// skipPrefix starts every skip message, so callers can grep for it.
const skipPrefix = "testnet: needs root and iproute2 (ip netns): "

// missingRequirement says why namespaces cannot be made here, or "" when
// they can. A variable so tests can exercise the skip path as root.
var missingRequirement = defaultMissingRequirement

func defaultMissingRequirement() string {
	if v := os.Getenv("TESTNET_DISABLE"); v != "" {
		return "disabled by TESTNET_DISABLE=" + v
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("not root (euid %d)", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "`ip` not found in PATH"
	}
	if !hasCaps() {
		return "missing CAP_SYS_ADMIN or CAP_NET_ADMIN"
	}
	return ""
}

// hasCaps reads the effective capability mask: root inside a restricted
// container may lack the two capabilities `ip netns` needs.
func hasCaps() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return false
		}
		const capNetAdmin, capSysAdmin = 12, 21
		return mask&(1<<capNetAdmin) != 0 && mask&(1<<capSysAdmin) != 0
	}
	return false
}

// New builds a sealed network of opts.Hosts hosts and deletes it when the
// test ends (also when it fails). It skips the test when namespaces cannot
// be made here and fails it when building goes wrong.
func New(t testing.TB, opts Options) *Network {
	t.Helper()
	if why := missingRequirement(); why != "" {
		t.Skip(skipPrefix + why)
	}
	n, err := build(opts, t.Logf)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("testnet: close: %v", err)
		}
	})
	return n
}

// build makes the namespaces and links; on error it removes whatever it had
// already made.
func build(opts Options, logf func(string, ...any)) (_ *Network, err error) {
	if opts.Hosts < 1 {
		return nil, fmt.Errorf("Options.Hosts is %d, want at least 1", opts.Hosts)
	}
	var subnet netip.Prefix
	if opts.Subnet != "" {
		if subnet, err = parseSubnet(opts.Subnet, opts.Hosts); err != nil {
			return nil, err
		}
	} else {
		seed := uint64(os.Getpid())*31 + nameSeq.Load()
		if subnet, err = pickSubnet(seed, rootSubnets()); err != nil {
			return nil, err
		}
		if _, err := hostAddr(subnet, opts.Hosts-1); err != nil {
			return nil, err
		}
	}
	cleanStale(logf)

	base := newBaseName()
	n := &Network{set: &nsSet{}, subnet: subnet, sw: base + "-sw"}
	registerSet(n.set)
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()

	if err := n.set.add(n.sw); err != nil {
		return nil, err
	}
	// No STP (ports forward at once, also after Heal) and no IGMP snooping:
	// with no querier on the segment, snooping would end up dropping
	// multicast. addrgenmode none keeps the switch itself silent.
	if err := ipBatch(n.sw,
		"link set lo up",
		"link add "+bridgeName+" type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
		"link set "+bridgeName+" addrgenmode none",
		"link set "+bridgeName+" up",
	); err != nil {
		return nil, err
	}

	brd := broadcastOf(subnet)
	for i := range opts.Hosts {
		addr, err := hostAddr(subnet, i)
		if err != nil {
			return nil, err
		}
		h := &Host{
			Name:      base + "-h" + strconv.Itoa(i),
			IP:        addr,
			Prefix:    netip.PrefixFrom(addr, subnet.Bits()),
			Broadcast: brd,
			Iface:     hostIface,
		}
		if err := n.set.add(h.Name); err != nil {
			return nil, err
		}
		// The veth is born with one end in the host and the other directly
		// in the switch namespace: neither end ever exists in the machine's
		// own namespace.
		if err := ipBatch(h.Name,
			"link set lo up",
			"link add "+hostIface+" type veth peer name "+portName(i)+" netns "+n.sw,
			"addr add "+h.Prefix.String()+" broadcast "+brd.String()+" dev "+hostIface,
			"link set "+hostIface+" up",
			// Multicast with no explicit interface leaves through eth0.
			"route add 224.0.0.0/4 dev "+hostIface,
		); err != nil {
			return nil, err
		}
		if err := ipBatch(n.sw,
			"link set "+portName(i)+" addrgenmode none",
			"link set "+portName(i)+" master "+bridgeName,
			"link set "+portName(i)+" up",
		); err != nil {
			return nil, err
		}
		n.hosts = append(n.hosts, h)
	}
	return n, nil
}

// Hosts returns the hosts, host 0 first.
func (n *Network) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Host returns host i (0-based); it panics on a bad index like a slice would.
func (n *Network) Host(i int) *Host { return n.hosts[i] }

// Subnet returns the network's prefix, e.g. 10.77.3.0/24.
func (n *Network) Subnet() netip.Prefix { return n.subnet }

// SwitchName returns the namespace holding the bridge, for debugging
// (`ip -n NAME link`).
func (n *Network) SwitchName() string { return n.sw }

// Cut detaches host i's port from the bridge: every frame to and from the
// host is dropped until Heal. The host's own link stays up, so its sockets
// see silence rather than errors, as with a pulled cable behind a switch.
func (n *Network) Cut(i int) error {
	if i < 0 || i >= len(n.hosts) {
		return fmt.Errorf("testnet: Cut: no host %d (have %d)", i, len(n.hosts))
	}
	_, err := ip("-n", n.sw, "link", "set", portName(i), "nomaster")
	return err
}

// Heal reattaches host i's port to the bridge.
func (n *Network) Heal(i int) error {
	if i < 0 || i >= len(n.hosts) {
		return fmt.Errorf("testnet: Heal: no host %d (have %d)", i, len(n.hosts))
	}
	_, err := ip("-n", n.sw, "link", "set", portName(i), "master", bridgeName)
	return err
}

// Close kills processes still running in the namespaces and deletes every
// namespace (which deletes their links). It is idempotent.
func (n *Network) Close() error { return n.set.close() }

// Namespaces returns the names of all namespaces of the network, switch
// first.
func (n *Network) Namespaces() []string {
	n.set.mu.Lock()
	defer n.set.mu.Unlock()
	return append([]string(nil), n.set.names...)
}
