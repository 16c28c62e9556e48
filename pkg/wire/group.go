package wire

import (
	"bytes"
	"fmt"
	"regexp"
)

// GroupKind says what one record of the reserved offsets topic
// (cluster.OffsetsTopic) means.
type GroupKind uint8

const (
	// GroupCommit: the group has processed every record of Topic below Next.
	GroupCommit GroupKind = 1
	// GroupDelete: the group is deleted; every position it had is forgotten
	// (Topic and Next are empty).
	GroupDelete GroupKind = 2
)

// groupVersion is the first byte of every GroupPosition encoding.
const groupVersion = 1

// MaxGroupName bounds a group name (and a member id) in a GroupPosition.
const MaxGroupName = 200

var groupNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// ValidGroupName checks a consumer group's name: 1–200 characters of
// A-Z a-z 0-9 . _ - (the topic alphabet).
func ValidGroupName(s string) error {
	if !groupNameRE.MatchString(s) {
		return fmt.Errorf("group name %q: want 1-200 characters of A-Z a-z 0-9 . _ -", s)
	}
	return nil
}

// GroupPosition is the payload of one record of the offsets topic: a
// group's acknowledged position in one topic, or the deletion of a group.
// The newest record per (Group, Topic) in log order is the group's position
// (groups.Table rebuilds it).
type GroupPosition struct {
	Kind  GroupKind
	Group string
	Topic string
	Next  uint64 // the offset of the first record not yet acknowledged
	// At is when the position was acknowledged (Unix ns, the writer's
	// clock); a refresh (the broker re-writing a position so retention
	// does not remove it) keeps it, so an idle group's age is known.
	At int64
	// Member is the consumer that acknowledged (informational).
	Member string
	// Refresh marks a copy written by the offsets topic's owner to keep a
	// position inside the retention window.
	Refresh bool
}

// Marshal encodes p (version byte first).
func (p GroupPosition) Marshal() []byte {
	e := Enc{B: make([]byte, 0, 32+len(p.Group)+len(p.Topic)+len(p.Member))}
	e.U8(groupVersion)
	e.U8(uint8(p.Kind))
	e.String(p.Group)
	e.String(p.Topic)
	e.Uvarint(p.Next)
	e.Varint(p.At)
	e.String(p.Member)
	e.Bool(p.Refresh)
	return e.B
}

// UnmarshalGroupPosition decodes and checks one offsets-topic payload.
func UnmarshalGroupPosition(b []byte) (GroupPosition, error) {
	d := NewDec(b)
	if v := d.U8(); d.Err() == nil && v != groupVersion {
		return GroupPosition{}, fmt.Errorf("%w: group position version %d", ErrMalformed, v)
	}
	p := GroupPosition{Kind: GroupKind(d.U8()), Group: d.String(), Topic: d.String(), Next: d.Uvarint(),
		At: d.Varint(), Member: d.String(), Refresh: d.Bool()}
	if err := d.Finish(); err != nil {
		return GroupPosition{}, err
	}
	if err := ValidGroupName(p.Group); err != nil {
		return GroupPosition{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(p.Member) > MaxGroupName {
		return GroupPosition{}, fmt.Errorf("%w: member id of %d bytes", ErrMalformed, len(p.Member))
	}
	switch p.Kind {
	case GroupCommit:
		if !groupNameRE.MatchString(p.Topic) {
			return GroupPosition{}, fmt.Errorf("%w: group position without a valid topic", ErrMalformed)
		}
	case GroupDelete:
		if p.Topic != "" || p.Next != 0 {
			return GroupPosition{}, fmt.Errorf("%w: group deletion names a topic", ErrMalformed)
		}
	default:
		return GroupPosition{}, fmt.Errorf("%w: group record kind %d", ErrMalformed, p.Kind)
	}
	if !bytes.Equal(p.Marshal(), b) {
		// Over-long varints: one position has one encoding.
		return GroupPosition{}, fmt.Errorf("%w: non-canonical group position", ErrMalformed)
	}
	return p, nil
}
