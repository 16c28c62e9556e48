package ctl

import (
	"fmt"
	"net"
	"strconv"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/netaddr"
)

// brokerAddress resolves --address into NODE_ADDRESS and the address we
// display and query. Omitted: the first port from defaults.BrokerPort that no managed
// broker claims and nothing listens on locally.
func brokerAddress(e *env, v string, m map[string]stateEntry) (nodeAddr, display string, err error) {
	claimed := map[int]string{}
	for _, en := range m {
		if en.Type == "broker" && isOurs(en.PID, en.StartTicks) {
			if _, p, err := splitHostPort(en.Address); err == nil {
				claimed[p] = en.Name
			}
		}
	}
	var port int
	switch {
	case v == "":
		for p := defaults.BrokerPort; p < defaults.BrokerPort+100; p++ {
			if _, taken := claimed[p]; !taken && e.portFree(p) {
				port = p
				break
			}
		}
		if port == 0 {
			return "", "", fmt.Errorf("no free broker port in %d-%d; use --address", defaults.BrokerPort, defaults.BrokerPort+99)
		}
		return strconv.Itoa(port), net.JoinHostPort(e.localIP(), strconv.Itoa(port)), nil
	case isDigits(v):
		if err := portRange("address", false)(v); err != nil {
			return "", "", err
		}
		port, _ = strconv.Atoi(v)
		display = net.JoinHostPort(e.localIP(), v)
	default:
		if _, port, err = splitHostPort(v); err != nil {
			return "", "", usageErrorf("invalid value %q for --address: want IP:PORT, PORT, or nothing (%v)", v, err)
		}
		display = v
	}
	if other, taken := claimed[port]; taken {
		return "", "", fmt.Errorf("port %d is already used by broker %s; choose another --address", port, other)
	}
	return v, display, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// portFreeLocally reports whether nothing listens on TCP port, on loopback
// or on all interfaces.
func portFreeLocally(port int) bool {
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		l, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// primaryIPv4 is the address an auto-addressed broker advertises: the same
// choice the broker itself makes (netaddr.AutoIP). It only looks at
// interfaces; nothing is sent.
func primaryIPv4() string {
	ip, err := netaddr.AutoIP()
	if err != nil {
		return "127.0.0.1"
	}
	return ip.String()
}
