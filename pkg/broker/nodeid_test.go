package broker

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/logstream/logstream/pkg/durable/durabletest"
)

// TestNodeIDDurableWhenCreated: once loadNodeID has handed out a new id, a
// power cut must not lose it (the broker would come back as a stranger to
// its own cluster): the file is fsynced, then its directory, and the
// directory's own entry in its parent.
func TestNodeIDDurableWhenCreated(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfs, err := durabletest.New(parent)
	if err != nil {
		t.Fatal(err)
	}
	id, err := loadNodeID(cfs, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatUint(uint64(id), 10) + "\n"
	if got := string(cfs.Snapshot()[filepath.Join("data", "node-id")]); got != want {
		t.Fatalf("after a power cut node-id holds %q, want %q\noperations:\n%s", got, want, cfs)
	}
	if ops := cfs.Ops(); !slices.Contains(ops, "syncdir .") {
		t.Fatalf("the data directory's entry in its parent is never fsynced\noperations:\n%s", cfs)
	}
	again, err := loadNodeID(cfs, dir)
	if err != nil || again != id {
		t.Fatalf("reloaded id %d (%v), want %d", again, err, id)
	}
}
