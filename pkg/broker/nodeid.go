package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/durable"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"

	"github.com/logstream/logstream/pkg/wire"
)

// loadNodeID returns the broker's stable cluster id, kept in the data
// directory so a restarted broker is the same member.
func loadNodeID(fsys durable.FS, dir string) (cluster.NodeID, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("%s is corrupt; remove it to give this broker a new identity", path)
		}
		return cluster.NodeID(v), nil
	} else if !os.IsNotExist(err) {
		return 0, err
	}
	var id uint64
	for id == 0 {
		id = wire.RandomID() >> 1 // positive as int64, for tools that read it so
	}
	// Durable before the id is used: a broker that joined under an id and
	// lost it to a power cut would come back as a stranger to its cluster.
	// The parent's fsync covers a data directory created just before.
	if err := durable.WriteFile(fsys, path, []byte(strconv.FormatUint(id, 10)+"\n"), 0o644); err != nil {
		return 0, err
	}
	if err := fsys.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return 0, err
	}
	return cluster.NodeID(id), nil
}

// clusterStore lets the cluster node use the broker's topic logs.
type clusterStore struct{ s *topiclog.Store }

func (c clusterStore) Topic(name string) (cluster.Log, error) {
	l, err := c.s.Topic(name)
	if err != nil {
		return nil, err
	}
	return clusterLog{l}, nil
}

// clusterLog is a topic log as the cluster node sees it: topiclog's own
// types converted to the node's at the one method where they differ.
type clusterLog struct{ *topiclog.Log }

// The writes: a write topiclog could not undo (ErrUnusable) is one of
// uncertain outcome for the node's storage rule (cluster.ErrStorageUncertain).

func (l clusterLog) Append(recs []record.Record) (uint64, error) {
	first, err := l.Log.Append(recs)
	return first, uncertain(err)
}
func (l clusterLog) AppendAt(recs []record.Record) error { return uncertain(l.Log.AppendAt(recs)) }
func (l clusterLog) TruncateTo(next uint64) error        { return uncertain(l.Log.TruncateTo(next)) }
func (l clusterLog) Reset(start uint64) error            { return uncertain(l.Log.Reset(start)) }
func (l clusterLog) SetMeta(b []byte) error              { return uncertain(l.Log.SetMeta(b)) }
func (l clusterLog) SetRetentionFloor(floor uint64) error {
	return uncertain(l.Log.SetRetentionFloor(floor))
}
func (l clusterLog) RepairRange(recs []record.Record) error {
	return uncertain(l.Log.RepairRange(recs))
}

func uncertain(err error) error {
	if errors.Is(err, topiclog.ErrUnusable) {
		return fmt.Errorf("%w: %w", cluster.ErrStorageUncertain, err)
	}
	return err
}

func (l clusterLog) Holes() []cluster.Range {
	hs := l.Log.Holes()
	out := make([]cluster.Range, len(hs))
	for i, h := range hs {
		out[i] = cluster.Range{From: h.From, To: h.To}
	}
	return out
}

func (c clusterStore) Topics() []string { return c.s.Topics() }

func idString(id cluster.NodeID) string { return strconv.FormatUint(uint64(id), 10) }

func parseID(s string) (cluster.NodeID, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	return cluster.NodeID(v), err == nil && v != 0
}
