package ctl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

func TestGroupStatusesJoinLag(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ps := []groups.Position{
		{Key: groups.Key{Group: "g", Topic: "logs"}, Entry: groups.Entry{Next: 40, At: at.UnixNano(), Member: "c1"}},
		{Key: groups.Key{Group: "g", Topic: "gone"}, Entry: groups.Entry{Next: 5, At: at.UnixNano()}},
		{Key: groups.Key{Group: "h", Topic: "logs"}, Entry: groups.Entry{Next: 200, At: at.UnixNano()}},
	}
	topics := []statusreport.Topic{{Name: "logs", Committed: 100}}
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

func TestGroupStatusesShowLiveMembers(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ps := []groups.Position{{Key: groups.Key{Group: "g", Topic: "logs"}, Entry: groups.Entry{Next: 40, At: at.UnixNano(), Member: "c1"}}}
	topics := []statusreport.Topic{{Name: "logs", Committed: 100}}
	live := []wire.GroupInfo{
		{Group: "g", Topic: "logs", Position: 70, Members: []wire.GroupMemberInfo{
			{ConsumerID: "c1-ab#3", Addr: "10.0.0.5:4000", Leased: 10}, {ConsumerID: "c2-cd#4", Addr: "10.0.0.6:4000", Acked: 30}}},
		{Group: "new", Topic: "logs", Position: 0, Members: []wire.GroupMemberInfo{{ConsumerID: "c3#5", Addr: "10.0.0.7:4000"}}},
	}
	brokers := []statusreport.Broker{
		{Reachable: true, Meta: &statusreport.Cluster{LiveGroups: live}},
		{Reachable: false},
	}
	gs := withLive(groupStatuses(ps, topics), brokers, topics)
	if len(gs) != 2 {
		t.Fatalf("groups: %+v", gs)
	}
	if g := gs[0]; g.Group != "g" || g.Position != 70 || g.Lag != 30 || len(g.Members) != 2 || g.Members[0].Leased != 10 || g.LastMember != "c1" {
		t.Fatalf("live group: %+v", g)
	}
	if g := gs[1]; g.Group != "new" || g.Lag != 100 || len(g.Members) != 1 {
		t.Fatalf("group with nothing stored yet: %+v", g)
	}
	var b bytes.Buffer
	if err := renderGroups(&b, gs, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MEMBERS", "2: c1-ab#3@10.0.0.5:4000, c2-cd#4@10.0.0.6:4000", "1: c3#5@10.0.0.7:4000"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
