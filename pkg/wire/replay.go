package wire

// replayBits is how far behind the newest number a datagram may arrive and
// still be accepted once: UDP reorders a little, never by thousands.
const replayBits = 64

// ReplayWindow remembers, per sender, the highest sequence number accepted
// and which of the replayBits numbers below it were seen, so each sealed
// datagram is accepted at most once (the IPsec anti-replay scheme). It holds
// at most maxSenders senders and forgets the least recently heard one to
// make room; only frames whose tag verified reach it, so a stranger cannot
// fill it. Not safe for concurrent use.
type ReplayWindow struct {
	max     int
	clock   uint64
	senders map[uint64]*replayState
}

type replayState struct {
	top  uint64 // highest accepted
	seen uint64 // bit i: top-i was accepted
	used uint64 // clock at the last acceptance, for eviction
}

// NewReplayWindow returns a window for up to maxSenders senders (<= 0: 1024).
func NewReplayWindow(maxSenders int) *ReplayWindow {
	if maxSenders <= 0 {
		maxSenders = 1024
	}
	return &ReplayWindow{max: maxSenders, senders: map[uint64]*replayState{}}
}

// Accept reports whether st is new, and records it if so. Sequence 0 is
// never valid (sealers count from 1).
func (w *ReplayWindow) Accept(st Stamp) bool {
	if st.Seq == 0 {
		return false
	}
	w.clock++
	s, ok := w.senders[st.Sender]
	if !ok {
		if len(w.senders) >= w.max {
			w.evict()
		}
		w.senders[st.Sender] = &replayState{top: st.Seq, seen: 1, used: w.clock}
		return true
	}
	switch {
	case st.Seq > s.top:
		shift := st.Seq - s.top
		if shift >= replayBits {
			s.seen = 1
		} else {
			s.seen = s.seen<<shift | 1
		}
		s.top = st.Seq
	case s.top-st.Seq >= replayBits:
		return false // too old to tell: refuse
	default:
		bit := uint64(1) << (s.top - st.Seq)
		if s.seen&bit != 0 {
			return false
		}
		s.seen |= bit
	}
	s.used = w.clock
	return true
}

// Len is the number of senders remembered.
func (w *ReplayWindow) Len() int { return len(w.senders) }

func (w *ReplayWindow) evict() {
	var oldest uint64
	var at uint64 = ^uint64(0)
	for id, s := range w.senders {
		if s.used < at {
			oldest, at = id, s.used
		}
	}
	delete(w.senders, oldest)
}
