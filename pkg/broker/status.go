package broker

import (
	"bufio"
	"context"
	"fmt"
	"github.com/logstream/logstream/pkg/cluster"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// validTopic checks a client's topic name; names starting with "__" are the
// cluster's own, but for the offsets topic, which consumers in a group read
// and write (its records are checked: checkOffsetsRecords).
func validTopic(name string) error {
	if strings.HasPrefix(name, "__") && name != cluster.OffsetsTopic {
		return fmt.Errorf("topic %q: names starting with __ are reserved", name)
	}
	return topiclog.ValidTopicName(name)
}

func (b *Broker) registerSub(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[*subscription]struct{}{}
	}
	b.subs[s] = struct{}{}
}

func (b *Broker) unregisterSub(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

// metadata describes the broker, its cluster and its topics.
func (b *Broker) metadata() wire.MetadataResponse {
	st := b.cluster.status.Load()
	resp := wire.MetadataResponse{
		NodeID: idString(st.ID), Addr: b.cfg.Advertise.String(), View: st.View.Number, Name: b.cfg.Name,
		Brokers: brokerInfos(st), Counters: b.counters.snapshot(), Cluster: cluster.ClusterName(st.Cluster),
	}
	if m, ok := st.View.Member(st.Leader); ok {
		resp.LeaderID, resp.LeaderAddr = idString(m.ID), m.Addr
	}
	if b.discovery != nil {
		for k, v := range b.discovery.Counters() {
			resp.Counters["discovery_"+k] = v
		}
	}
	for _, x := range st.Detections {
		resp.Detections = append(resp.Detections, wire.DetectionInfo{PeerID: idString(x.Peer.ID), PeerAddr: x.Peer.Addr,
			Role: x.Role, Verdict: x.Verdict, SilentMs: uint64(x.Silent.Milliseconds()), AtUnixMs: uint64(x.At.UnixMilli())})
	}
	damage, count := b.store.Damaged()
	resp.Counters["damaged_ranges"] = count
	for _, d := range damage {
		resp.Damage = append(resp.Damage, wire.DamageInfo{Topic: d.Topic, File: d.File, Kind: d.Kind,
			From: d.From, To: d.To, Pos: uint64(d.Pos), End: uint64(d.End), Action: d.Action})
	}
	for _, t := range st.Topics {
		info := wire.TopicInfo{Name: t.Topic, Owner: idString(t.Owner), NextOffset: t.Next, Committed: t.Committed}
		if m, ok := st.View.Member(t.Owner); ok {
			info.OwnerAddr = m.Addr
		}
		if log, ok := b.store.Lookup(t.Topic); ok {
			info.StartOffset = log.StartOffset()
		}
		resp.Topics = append(resp.Topics, info)
	}
	b.mu.Lock()
	for s := range b.subs {
		pos := s.position()
		committed, _ := b.cluster.Committed(s.topic)
		resp.Consumers = append(resp.Consumers, wire.ConsumerInfo{ConsumerID: s.consumer, Topic: s.topic,
			Offset: pos, Lag: committed - min(pos, committed)})
	}
	b.mu.Unlock()
	resp.Groups = b.shares.snapshot()
	sort.Slice(resp.Consumers, func(i, j int) bool { return resp.Consumers[i].ConsumerID < resp.Consumers[j].ConsumerID })
	return resp
}

// ServeConsole reads the manual's broker terminal commands (status,
// election, help) from in until it ends or ctx is done. A non-interactive
// stdin (/dev/null, a closed pipe) simply ends it.
func (b *Broker) ServeConsole(ctx context.Context, in io.Reader, out io.Writer) {
	lines := make(chan string)
	go func() { // ends at EOF; stdin cannot be interrupted, so it is not waited for
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			switch line {
			case "":
			case "status":
				b.printStatus(out)
			case "election":
				b.TriggerElection("console")
			case "help":
				fmt.Fprintln(out, "commands: status, election, help")
			default:
				fmt.Fprintf(out, "unknown command %q (commands: status, election, help)\n", line)
			}
		}
	}
}

func (b *Broker) printStatus(w io.Writer) {
	m := b.metadata()
	fmt.Fprintf(w, "ClusterState view=%d leader=%s uptime=%s\n", m.View, b.displayBroker(m.LeaderID, m.LeaderAddr),
		time.Since(b.started).Round(time.Second))
	for _, br := range m.Brokers {
		fmt.Fprintf(w, "  broker %-40s %-9s id %s\n", b.displayBroker(br.ID, br.Addr), br.State, br.ID)
	}
	for _, t := range m.Topics {
		fmt.Fprintf(w, "  topic  %-20s owner=%s offsets=[%d,%d) committed=%d\n", t.Name, b.displayBroker(t.Owner, t.OwnerAddr), t.StartOffset, t.NextOffset, t.Committed)
	}
	for _, c := range m.Consumers {
		fmt.Fprintf(w, "  consumer %-18s topic=%s offset=%d lag=%d\n", c.ConsumerID, c.Topic, c.Offset, c.Lag)
	}
	for _, d := range m.Damage {
		fmt.Fprintf(w, "  damaged %-19s %s %s offsets=[%d,%d) bytes=%d-%d: %s\n", d.Topic, d.File, d.Kind, d.From, d.To, d.Pos, d.End, d.Action)
	}
}

// displayBroker names a broker on the terminal as log lines do: this one by
// its name and address, others by address, each with its id's tail.
func (b *Broker) displayBroker(id, addr string) string {
	nid, ok := parseID(id)
	if !ok {
		return addr
	}
	name := ""
	if addr == b.cfg.Advertise.String() {
		name = b.cfg.Name
	}
	return cluster.Display(nid, name, addr)
}
