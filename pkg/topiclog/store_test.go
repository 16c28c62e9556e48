package topiclog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestValidTopicName(t *testing.T) {
	good := []string{"a", "logs", "A.b_c-9", strings.Repeat("x", 200), "...", ".hidden"}
	bad := []string{"", ".", "..", "a/b", "a b", "é", strings.Repeat("x", 201), "a\x00", `a\b`}
	for _, n := range good {
		if err := ValidTopicName(n); err != nil {
			t.Errorf("ValidTopicName(%q): %v", n, err)
		}
	}
	for _, n := range bad {
		err := ValidTopicName(n)
		if err == nil || !strings.Contains(err.Error(), "[A-Za-z0-9._-]") {
			t.Errorf("ValidTopicName(%q) = %v, want an error stating the rule", n, err)
		}
	}
}

func TestStoreTopics(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "not a topic"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, testOpts(t))
	if _, ok := s.Lookup("b"); ok {
		t.Fatal("Lookup found a topic never created")
	}
	if _, err := s.Topic("../escape"); err == nil {
		t.Fatal("Topic accepted a path")
	}
	// Concurrent first use yields one Log.
	var wg sync.WaitGroup
	logs := make([]*Log, 8)
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.Topic("b")
			if err != nil {
				t.Error(err)
			}
			logs[i] = l
		}()
	}
	wg.Wait()
	for _, l := range logs[1:] {
		if l != logs[0] {
			t.Fatal("concurrent Topic calls returned different logs")
		}
	}
	appendN(t, logs[0], 5, 5)
	topic(t, s, "a")
	if got := s.Topics(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Topics %v", got)
	}
	if l, ok := s.Lookup("b"); !ok || l.Name() != "b" {
		t.Fatal("Lookup(b) failed")
	}
	mustClose(t, s)
	if _, err := s.Topic("c"); err == nil {
		t.Fatal("Topic on closed store succeeded")
	}
	if _, err := logs[0].Append(genBatch(5, 1)); err == nil {
		t.Fatal("Append on closed log succeeded")
	}

	s = openStore(t, dir, testOpts(t))
	defer mustClose(t, s)
	if got := s.Topics(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Topics after reopen %v", got)
	}
	l, _ := s.Lookup("b")
	readAll(t, l, 0, 0, 0)
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{MaxRecords: -1}, {SegmentBytes: -5}, {SegmentBytes: MaxSegmentBytes + 1}, {Flush: 9}, {FlushEvery: -1}} {
		if _, err := OpenStore(t.TempDir(), o); err == nil {
			t.Errorf("OpenStore accepted %+v", o)
		}
	}
}
