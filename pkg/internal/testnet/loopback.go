package testnet

import (
	"net/netip"
	"testing"
)

// Loopback returns a fresh namespace with only lo, up, holding 127.0.0.1/8.
// Broadcast to 127.255.255.255 and multicast (224.0.0.0/4 routes to lo) are
// delivered inside it, so a single-host test can exercise discovery code
// without any packet leaving the namespace. It skips the test when
// namespaces cannot be made here and deletes the namespace at cleanup.
func Loopback(t testing.TB) *Host {
	t.Helper()
	if why := missingRequirement(); why != "" {
		t.Skip(skipPrefix + why)
	}
	cleanStale(t.Logf)
	set := &nsSet{}
	registerSet(set)
	t.Cleanup(func() {
		if err := set.close(); err != nil {
			t.Errorf("testnet: close loopback: %v", err)
		}
	})
	h := &Host{
		Name:      newBaseName() + "-lo",
		IP:        netip.MustParseAddr("127.0.0.1"),
		Prefix:    netip.MustParsePrefix("127.0.0.1/8"),
		Broadcast: netip.MustParseAddr("127.255.255.255"),
		Iface:     "lo",
	}
	if err := set.add(h.Name); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	// lo lacks the MULTICAST flag by default; without it group joins on lo
	// fail and multicast has no way out.
	if err := ipBatch(h.Name,
		"link set lo multicast on",
		"link set lo up",
		"route add 224.0.0.0/4 dev lo",
	); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return h
}
