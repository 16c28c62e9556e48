package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is a kind of fault.
type Kind string

const (
	KillRestart Kind = "kill-restart" // kill -9, restart later on the same data directory
	Pause       Kind = "pause"        // SIGSTOP, SIGCONT later (longer than the failure timeout)
	Cut         Kind = "cut"          // detach the host from the bridge, reattach later
	// KillAll kills every broker at once (a power cut) and restarts them
	// all on their data directories, one after another.
	KillAll Kind = "kill-all"
	// Wipe kills one broker and restarts it with an empty data directory (a
	// replaced disk). Faults never overlap, so the others hold the logs.
	Wipe Kind = "wipe-restart"
)

// Target says which broker a fault hits. Leader and Owner are resolved when
// the fault fires (they depend on the run); Index names a broker directly.
type Target struct {
	Role  string // "leader", "owner", or "index"
	Index int
}

func (t Target) String() string {
	if t.Role == "index" {
		return fmt.Sprintf("broker%d", t.Index+1)
	}
	return t.Role
}

// Fault is one scheduled fault: at At after the start, Kind hits Targets
// (one, or two at once) for Length.
type Fault struct {
	At      time.Duration
	Length  time.Duration
	Kind    Kind
	Targets []Target
}

func (f Fault) String() string {
	return fmt.Sprintf("t=%6.1fs %-12s %v for %.1fs", f.At.Seconds(), f.Kind, f.Targets, f.Length.Seconds())
}

// Schedule returns the fault schedule for seed: faults one after another,
// each hitting at most two of the n brokers (a minority of five), with a
// settling gap between them, until total.
func Schedule(seed uint64, n int, total time.Duration) []Fault {
	rng := rand.New(rand.NewPCG(seed, 0x10957))
	kinds := []Kind{KillRestart, Pause, Cut}
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	var out []Fault
	at := between(3*time.Second, 6*time.Second)
	for at < total {
		f := Fault{At: at, Kind: kinds[rng.IntN(len(kinds))]}
		switch rng.IntN(10) { // the whole-life faults, rarer
		case 0:
			f.Kind = KillAll
		case 1:
			f.Kind = Wipe
		}
		switch f.Kind {
		case KillRestart, KillAll, Wipe:
			f.Length = between(time.Second, 6*time.Second)
		default: // longer than FAILURE_TIMEOUT, so the others act without it
			f.Length = between(4*time.Second, 9*time.Second)
		}
		pick := func() Target {
			switch r := rng.IntN(10); {
			case r < 3:
				return Target{Role: "leader"}
			case r < 6:
				return Target{Role: "owner"}
			default:
				return Target{Role: "index", Index: rng.IntN(n)}
			}
		}
		f.Targets = []Target{pick()}
		if f.Kind == KillAll {
			f.Targets = nil // every broker
		}
		if rng.IntN(4) == 0 && f.Kind != KillAll && f.Kind != Wipe { // two faults at once
			f.Targets = append(f.Targets, Target{Role: "index", Index: rng.IntN(n)})
		}
		out = append(out, f)
		at += f.Length + between(2*time.Second, 6*time.Second)
	}
	return out
}
