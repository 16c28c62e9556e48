package ctl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// Damaged ranges a broker reports reach status, as a table and in JSON.
func TestStatusShowsDamage(t *testing.T) {
	m := statusreport.FromMetadata(&wire.MetadataResponse{NodeID: "1", Addr: "10.0.0.1:8001",
		Counters: map[string]uint64{"damaged_ranges": 1},
		Damage: []wire.DamageInfo{{Topic: "logs", File: "00000000000000000000.log", Kind: "data",
			From: 1502, To: 1511, Pos: 140703, End: 141261, Action: "cut out"}}})
	var out bytes.Buffer
	if err := renderCluster(&out, m, "10.0.0.1:8001"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DAMAGED LOG RANGES", "logs", "[1502, 1511)", "140703-141261", "cut out", "damaged_ranges"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"damage":[{"topic":"logs","file":"00000000000000000000.log","kind":"data","from":1502,"to":1511`) {
		t.Errorf("JSON lacks the damage: %s", b)
	}
}
