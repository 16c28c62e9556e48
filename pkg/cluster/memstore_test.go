package cluster

import (
	"fmt"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// memLog is an in-memory Log for the simulation; it survives a simulated
// crash because the sim keeps the memStore and hands it to the new Node.
type memLog struct {
	recs []record.Record
	meta []byte
}

func (l *memLog) NextOffset() uint64  { return uint64(len(l.recs)) }
func (l *memLog) StartOffset() uint64 { return 0 }

func cloneRec(r record.Record) record.Record {
	r.Payload = slices.Clone(r.Payload)
	return r
}

func (l *memLog) Append(recs []record.Record) (uint64, error) {
	first := l.NextOffset()
	for i := range recs {
		recs[i].Offset = first + uint64(i)
		l.recs = append(l.recs, cloneRec(recs[i]))
	}
	return first, nil
}

func (l *memLog) AppendAt(recs []record.Record) error {
	for i, r := range recs {
		if r.Offset != l.NextOffset() {
			return fmt.Errorf("memlog: AppendAt offset %d (record %d) but next is %d", r.Offset, i, l.NextOffset())
		}
		l.recs = append(l.recs, cloneRec(r))
	}
	return nil
}

func (l *memLog) Read(from uint64, maxRecords, maxBytes int) ([]record.Record, error) {
	if from > l.NextOffset() {
		return nil, fmt.Errorf("memlog: read from %d beyond %d", from, l.NextOffset())
	}
	var out []record.Record
	size := 0
	for _, r := range l.recs[from:] {
		if len(out) >= maxRecords || (len(out) > 0 && size+r.Size() > maxBytes) {
			break
		}
		size += r.Size()
		out = append(out, cloneRec(r))
	}
	return out, nil
}

func (l *memLog) TruncateTo(next uint64) error {
	if next > l.NextOffset() {
		return fmt.Errorf("memlog: truncate to %d beyond %d", next, l.NextOffset())
	}
	l.recs = l.recs[:next:next]
	return nil
}

func (l *memLog) Meta() []byte { return slices.Clone(l.meta) }
func (l *memLog) SetMeta(b []byte) error {
	l.meta = slices.Clone(b)
	return nil
}

type memStore struct{ topics map[string]*memLog }

func newMemStore() *memStore { return &memStore{topics: map[string]*memLog{}} }

func (s *memStore) Topic(name string) (Log, error) {
	l, ok := s.topics[name]
	if !ok {
		l = &memLog{}
		s.topics[name] = l
	}
	return l, nil
}

func (s *memStore) Topics() []string {
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
