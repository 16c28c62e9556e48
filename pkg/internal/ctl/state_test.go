package ctl

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"node1", "prod-sensors", "a", "A.b_c-9", string(make64('x'))} {
		if err := validName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "..", ".", "a/b", "/abs", "-x", ".hidden", "a b", "a\x00b", string(make64('x')) + "y", "ü"} {
		if err := validName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

func testStore(t *testing.T) *stateStore {
	t.Helper()
	home := t.TempDir()
	p, err := resolvePaths(func(k string) string {
		if k == "LOGSTREAM_HOME" {
			return home
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return newStore(p)
}

// TestStoreConcurrentGoroutines: many read-modify-write cycles at once lose
// no entry.
func TestStoreConcurrentGoroutines(t *testing.T) {
	st := testStore(t)
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("g%d-%d", w, i)
				errs <- st.Update(func(m map[string]stateEntry) error {
					m[name] = stateEntry{Name: name, Type: "consumer", PID: 1<<22 + i}
					return nil
				})
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != workers*each {
		t.Fatalf("have %d entries, want %d", len(m), workers*each)
	}
}

// TestStoreConcurrentProcesses: several logstreamctl processes (the test
// binary re-executed) updating at once lose no entry.
func TestStoreConcurrentProcesses(t *testing.T) {
	st := testStore(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "LOGSTREAM_CTL_TEST_HELPER=state-writer",
			"LOGSTREAM_HOME="+st.paths.Home, fmt.Sprintf("LOGSTREAM_CTL_TEST_PREFIX=p%d", i))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	// Meanwhile this process writes too.
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("self-%d", i)
		if err := st.Update(func(m map[string]stateEntry) error {
			m[name] = stateEntry{Name: name}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	m, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := procs*20 + 20; len(m) != want {
		t.Fatalf("have %d entries, want %d", len(m), want)
	}
}

func TestStoreAtomicAndCorrupt(t *testing.T) {
	st := testStore(t)
	if m, err := st.Load(); err != nil || len(m) != 0 {
		t.Fatalf("empty load: %v %v", m, err)
	}
	if err := st.Update(func(m map[string]stateEntry) error { m["a"] = stateEntry{Name: "a", PID: 7}; return nil }); err != nil {
		t.Fatal(err)
	}
	// A failing update writes nothing.
	if err := st.Update(func(m map[string]stateEntry) error { delete(m, "a"); return fmt.Errorf("no") }); err == nil {
		t.Fatal("error lost")
	}
	if m, _ := st.Load(); len(m) != 1 {
		t.Fatalf("failed update changed state: %v", m)
	}
	// No temp files are left behind.
	left, _ := filepath.Glob(filepath.Join(st.paths.Home, ".processes.json.tmp*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	// removeIfSame leaves a newer process of the same name alone.
	if err := st.removeIfSame("a", 8); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.Load(); len(m) != 1 {
		t.Fatal("removed an entry with another PID")
	}
	if err := st.removeIfSame("a", 7); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.Load(); len(m) != 0 {
		t.Fatal("entry not removed")
	}
	if err := os.WriteFile(st.paths.StateFile, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(); err == nil {
		t.Fatal("corrupt state accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	line := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100\n"
	st, err := parseProcStat([]byte(line))
	if err != nil || st.State != 'S' || st.StartTicks != 987654 {
		t.Fatalf("%+v %v", st, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	self, err := readProcStat(os.Getpid())
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if !isOurs(os.Getpid(), self.StartTicks) || isOurs(os.Getpid(), self.StartTicks+1) || isOurs(1<<22+1, 0) {
		t.Fatal("isOurs identity check wrong")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0"))
	f.Add([]byte("1 ()) Z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStat(b)
		if err == nil && !isLetter(st.State) {
			t.Fatalf("accepted state %q", st.State)
		}
	})
}

func FuzzNormalizeArgs(f *testing.F) {
	lookup := appLookup(newApp(defaultEnv(nil, nil)))
	f.Add("logs node1 --follow --lines 5")
	f.Add("start broker --name n -- --x")
	f.Add("stop --grace")
	f.Fuzz(func(t *testing.T, s string) {
		in := append([]string{"logstreamctl"}, splitWords(s)...)
		out := normalizeArgs(in, lookup)
		if len(out) != len(in) {
			t.Fatalf("%q -> %q: length changed", in, out)
		}
		count := map[string]int{}
		for _, a := range in {
			count[a]++
		}
		for _, a := range out {
			count[a]--
		}
		for a, n := range count {
			if n != 0 {
				t.Fatalf("%q -> %q: %q count off by %d", in, out, a, n)
			}
		}
	})
}
