package durabletest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logstream/logstream/pkg/durable"
)

// TestCrashFSKeepsOnlySynced checks the model: unsynced writes and
// un-dir-synced names are lost, synced ones kept.
func TestCrashFSKeepsOnlySynced(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "old")
	if err := os.WriteFile(old, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenFile(filepath.Join(root, "new"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("data"), 0)
	if _, ok := c.Snapshot()["new"]; ok {
		t.Fatal("a file created without a directory fsync survived")
	}
	c.SyncDir(root)
	if b := c.Snapshot()["new"]; len(b) != 0 {
		t.Fatalf("unsynced contents %q survived", b)
	}
	f.Sync()
	f.Truncate(1)
	if b := c.Snapshot()["new"]; string(b) != "data" {
		t.Fatalf("synced contents %q, want data (the truncation was not synced)", b)
	}
	f.Close()
	c.Remove(old)
	if string(c.Snapshot()["old"]) != "before" {
		t.Fatal("a removal survived without a directory fsync")
	}
	c.SyncDir(root)
	if _, ok := c.Snapshot()["old"]; ok {
		t.Fatal("a synced removal was undone")
	}
}

// TestWriteFileAtEveryCrashPoint: a power cut anywhere in durable.WriteFile
// leaves the old contents or the new, never none or a mix.
func TestWriteFileAtEveryCrashPoint(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "meta")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	var snaps []map[string][]byte
	c.OnOp = func(string) { snaps = append(snaps, c.Snapshot()) }
	if err := durable.WriteFile(c, path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, s := range snaps {
		if got := string(s["meta"]); got != "old contents" && got != "new" {
			t.Fatalf("power cut after %q leaves meta %q\nops:\n%s", c.Ops()[i], got, c)
		}
	}
	if got := string(snaps[len(snaps)-1]["meta"]); got != "new" {
		t.Fatalf("after WriteFile returned a power cut leaves %q", got)
	}
}
