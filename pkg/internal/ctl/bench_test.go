package ctl

import (
	"fmt"
	"testing"
)

func BenchmarkNormalizeArgs(b *testing.B) {
	lookup := appLookup(newApp(defaultEnv(nil, nil)))
	args := splitWords("logstreamctl start producer --name prod1 --leader 172.28.226.255:8001 --topic logs --port 8002 --rate 10 --count 1000 --message log-entry --background")
	b.ReportAllocs()
	for b.Loop() {
		normalizeArgs(args, lookup)
	}
}

// BenchmarkStoreUpdate measures one locked read-modify-fsync-rename cycle
// of processes.json with 50 entries.
func BenchmarkStoreUpdate(b *testing.B) {
	home := b.TempDir()
	p, _ := resolvePaths(func(k string) string {
		if k == "LOGSTREAM_HOME" {
			return home
		}
		return ""
	})
	st := newStore(p)
	_ = st.Update(func(m map[string]stateEntry) error {
		for i := 0; i < 50; i++ {
			n := fmt.Sprintf("p%d", i)
			m[n] = stateEntry{Name: n, Type: "producer", PID: 1<<22 + i}
		}
		return nil
	})
	i := 0
	for b.Loop() {
		i++
		if err := st.Update(func(m map[string]stateEntry) error {
			m["p0"] = stateEntry{Name: "p0", PID: i}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
