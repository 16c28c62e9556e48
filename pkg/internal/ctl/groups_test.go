package ctl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/groups"
)

func TestGroupStatusesJoinLag(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ps := []groups.Position{
		{Key: groups.Key{Group: "g", Topic: "logs"}, Entry: groups.Entry{Next: 40, At: at.UnixNano(), Member: "c1"}},
		{Key: groups.Key{Group: "g", Topic: "gone"}, Entry: groups.Entry{Next: 5, At: at.UnixNano()}},
		{Key: groups.Key{Group: "h", Topic: "logs"}, Entry: groups.Entry{Next: 200, At: at.UnixNano()}},
	}
	topics := []TopicStatus{{Name: "logs", Committed: 100}}
	gs := groupStatuses(ps, topics)
	if len(gs) != 3 || gs[0].Lag != 60 || gs[1].Lag != 0 || gs[2].Lag != 0 {
		t.Fatalf("lags: %+v", gs)
	}
	if !gs[0].ExpiresAt.Equal(at.Add(groups.DefaultExpiry)) || gs[0].LastMember != "c1" {
		t.Fatalf("entry: %+v", gs[0])
	}
	var b bytes.Buffer
	if err := renderGroups(&b, gs, at.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"GROUP", "LAG", "g      logs", "60", "c1", "3s ago"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	renderGroups(&b, nil, at)
	if !strings.Contains(b.String(), "none") {
		t.Fatalf("empty: %q", b.String())
	}
}
