package cluster

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// traceWriter turns the nodes' JSON log lines into trace lines stamped with
// the simulated time, so the golden file reads as one story.
type traceWriter struct{ s *simnet }

func (w traceWriter) Write(p []byte) (int, error) {
	var e map[string]any
	if err := json.Unmarshal(p, &e); err != nil {
		return 0, err
	}
	var fields []string
	for k, v := range e {
		if k != "level" && k != "node" && k != "message" {
			fields = append(fields, fmt.Sprintf("%s=%v", k, v))
		}
	}
	slices.Sort(fields)
	w.s.events = append(w.s.events, strings.TrimRight(fmt.Sprintf("%8s node %v: %s %s", w.s.now.Sub(simEpoch).Truncate(time.Millisecond),
		e["node"], e["message"], strings.Join(fields, " ")), " "))
	return len(p), nil
}

// TestElectionGolden scripts a 3-node run without randomness — form the
// cluster, commit records, crash the leader — and compares the trace
// (LEADER FAILURE → ELECTION → I WIN → COORDINATOR → STATE_EXCHANGE →
// VIEW_INSTALL) with testdata/election.golden. Regenerate with -update and
// review the diff.
func TestElectionGolden(t *testing.T) {
	s := newSimnet(1, 0, nil)
	s.minDelay, s.maxDelay = 5*time.Millisecond, 5*time.Millisecond
	s.silentCrash = true // detect the crash by timeouts, not by refused connections
	s.logw = traceWriter{s}
	for i := 1; i <= 3; i++ {
		id := NodeID(i)
		s.ids = append(s.ids, id)
		s.nodes[id] = &simNode{id: id, store: newMemStore()}
		s.start(id)
	}
	run := func(d time.Duration) {
		for end := s.now.Add(d); s.now.Before(end); {
			s.step(10 * time.Millisecond)
		}
	}
	var acks []Ack
	s.onReady = func(sn *simNode, rd Ready) { acks = append(acks, rd.Acks...) }

	s.nodes[1].node.Bootstrap(s.now)
	s.flush(s.nodes[1])
	for _, id := range []NodeID{2, 3} {
		s.join(id, 1)
		s.flush(s.nodes[id])
	}
	run(time.Second)

	propose := func(token uint64, seqs ...uint64) {
		owner, ok := s.nodes[2].node.Owner("logs")
		if !ok {
			t.Fatal("no owner for logs")
		}
		var recs []record.Record
		for _, q := range seqs {
			recs = append(recs, record.Record{ProducerID: "p", Seq: q, Payload: []byte{byte(q)}})
		}
		if err := s.nodes[owner.ID].node.Propose(s.now, "logs", recs, token); err != nil {
			t.Fatalf("propose to %d: %v", owner.ID, err)
		}
		s.logf("PROPOSE token %d to node %d", token, owner.ID)
		s.flush(s.nodes[owner.ID])
		run(200 * time.Millisecond)
	}
	propose(1, 1, 2, 3)

	s.crash(1)
	run(2 * time.Second)
	propose(2, 3, 4) // seq 3 is a duplicate of a committed record

	for _, a := range acks {
		s.logf("ACK token %d base %d count %d duplicates %d err %v", a.Token, a.BaseOffset, a.Count, a.Duplicates, a.Err)
	}
	for _, id := range []NodeID{2, 3} {
		s.logf("node %d: committed logs %d, leader %v", id, s.nodes[id].node.Committed("logs"), s.nodes[id].node.view.Leader)
	}
	got := s.trace() + "\n"

	for _, want := range []string{"LEADER FAILURE", "ELECTION started", "I WIN", "COORDINATOR sent", "STATE_EXCHANGE started", "VIEW_INSTALL sent", "ClusterState"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	path := filepath.Join("testdata", "election.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("trace differs from %s (run with -update and review the diff):\n%s", path, got)
	}
}
