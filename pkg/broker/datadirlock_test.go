package broker

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// One data directory, one broker: a second lock on it is refused naming the
// holder, and once released the directory can be taken again.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "in use by another broker (PID "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second lock: %v; want it refused naming this process", err)
	}
	l.release()
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.release()
}
