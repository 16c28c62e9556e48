package ctl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// Failure verdicts a broker reports reach status, as a table and in JSON,
// with how long the peer had been silent.
func TestStatusShowsDetections(t *testing.T) {
	m := statusreport.FromMetadata(&wire.MetadataResponse{NodeID: "1", Addr: "10.0.0.1:8001",
		Detections: []wire.DetectionInfo{{PeerID: "2", PeerAddr: "10.0.0.2:8001", Role: "owner", Verdict: "failed",
			SilentMs: 2150, AtUnixMs: 1796000000000}}})
	var out bytes.Buffer
	if err := renderCluster(&out, m, "10.0.0.1:8001"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAILURE DETECTIONS", "10.0.0.2:8001", "owner", "failed", "2.15s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"detections":[{"peer_id":"2","peer_addr":"10.0.0.2:8001","role":"owner","verdict":"failed","silent_seconds":2.15`) {
		t.Errorf("JSON lacks the detection: %s", b)
	}
}
