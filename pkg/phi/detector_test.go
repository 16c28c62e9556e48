package phi

import (
	"math"
	"testing"
	"time"
)

// firstVerdicts returns the silences (since the last heartbeat, at t0) at
// which d first judges h Suspected and Failed, scanning in 10 ms steps up to
// limit; -1 if never.
func firstVerdicts(t *testing.T, d Detector, h *History, limit time.Duration) (suspect, fail time.Duration) {
	t.Helper()
	suspect, fail = -1, -1
	last, _ := h.Last()
	prev := Alive
	for e := time.Duration(0); e <= limit; e += 10 * time.Millisecond {
		v := d.Judge(h, last.Add(e))
		if v < prev {
			t.Fatalf("verdict went from %v back to %v at %v without a heartbeat", prev, v, e)
		}
		prev = v
		if v >= Suspected && suspect < 0 {
			suspect = e
		}
		if v == Failed && fail < 0 {
			fail = e
		}
	}
	return suspect, fail
}

// jittery returns a History whose 100 intervals alternate 3 s and 7 s:
// mean 5 s, deviation exactly 2 s.
func jittery() *History {
	h := NewHistory(100, 5*time.Second)
	now := t0.Add(-500 * time.Second)
	h.Heartbeat(now)
	for i := range 100 {
		now = now.Add(time.Duration(3+4*(i%2)) * time.Second)
		h.Heartbeat(now)
	}
	return h
}

func TestSilenceVerdicts(t *testing.T) {
	const s = time.Second
	manual := Detector{SuspicionTimeout: 10 * s, FailureTimeout: 15 * s}
	loose := Detector{SuspicionTimeout: 60 * s, FailureTimeout: 120 * s}
	tests := []struct {
		name          string
		d             Detector
		h             func() *History
		suspect, fail time.Duration
	}{
		{
			// Regular 5 s beats: phi crosses 5 and 8 at about 7.1 s
			// and 7.6 s, but the floors hold out to 2 and 3 means,
			// which here equal the manual's timeouts.
			name: "regular beats, manual timeouts",
			d:    manual, h: func() *History { return regular(5*s, 200) },
			suspect: 10 * s, fail: 15 * s,
		},
		{
			name: "regular beats, loose timeouts: floors decide",
			d:    loose, h: func() *History { return regular(5*s, 200) },
			suspect: 10 * s, fail: 15 * s,
		},
		{
			// 3 s beats, --suspicion-timeout 6 --failure-timeout 10
			// (the manual's "faster failure detection" example): the
			// failure floor of 9 s is under the timeout.
			name:    "manual's fast example",
			d:       Detector{SuspicionTimeout: 6 * s, FailureTimeout: 10 * s},
			h:       func() *History { return regular(3*s, 200) },
			suspect: 6 * s, fail: 9 * s,
		},
		{
			// Jitter (mean 5 s, sd 2 s): phi reaches 5 at about
			// 5+4.12·2 s and 8 at 5+5.23·2 s, after the floors; with
			// loose timeouts phi decides.
			name: "jittery beats, loose timeouts: phi decides",
			d:    loose, h: jittery,
			suspect: 13_240 * time.Millisecond, fail: 15_460 * time.Millisecond,
		},
		{
			// The same jitter under the manual's timeouts: the
			// timeouts are the outer bounds.
			name: "jittery beats, manual timeouts bound phi",
			d:    manual, h: jittery,
			suspect: 10 * s, fail: 15 * s,
		},
		{
			name:    "phi off: timeouts only",
			d:       Detector{SuspectPhi: math.Inf(1), FailPhi: math.Inf(1), SuspicionTimeout: 12 * s, FailureTimeout: 20 * s},
			h:       func() *History { return regular(5*s, 200) },
			suspect: 12 * s, fail: 20 * s,
		},
		{
			name: "no timeouts: phi and floors only",
			d:    Detector{}, h: jittery,
			suspect: 13_240 * time.Millisecond, fail: 15_460 * time.Millisecond,
		},
		{
			// 100 ms beats would fail a node after 300 ms of GC
			// pause; MinTimeout holds both verdicts to 1 s.
			name:    "minimum timeout under fast beats",
			d:       Detector{MinTimeout: s, SuspicionTimeout: 10 * s, FailureTimeout: 15 * s},
			h:       func() *History { return regular(100*time.Millisecond, 200) },
			suspect: s, fail: s,
		},
		{
			// Fresh from NewHistory, one heartbeat: the seeds (mean
			// 5 s, sd 1.25 s) put phi 5 at about 10.15 s, 8 at 11.54 s.
			name: "seeded history only",
			d:    manual, h: func() *History { h := NewHistory(0, 5*s); h.Heartbeat(t0); return h },
			suspect: 10 * s, fail: 15 * s,
		},
		{
			name: "seeded history only, loose timeouts",
			d:    loose, h: func() *History { h := NewHistory(0, 5*s); h.Heartbeat(t0); return h },
			suspect: 10_150 * time.Millisecond, fail: 15 * s,
		},
		{
			// A timeout shorter than the floor wins.
			name:    "timeouts under the floors",
			d:       Detector{SuspicionTimeout: 4 * s, FailureTimeout: 6 * s},
			h:       func() *History { return regular(5*s, 200) },
			suspect: 4 * s, fail: 6 * s,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.d.Validate(); err != nil {
				t.Fatal(err)
			}
			suspect, fail := firstVerdicts(t, tt.d, tt.h(), 200*time.Second)
			if suspect != tt.suspect || fail != tt.fail {
				t.Errorf("suspected at %v, failed at %v; want %v, %v", suspect, fail, tt.suspect, tt.fail)
			}
		})
	}
}

// A beat that is merely late — even very improbably late for a regular
// history — leaves the member Alive until the floor.
func TestLateBeatBelowFloor(t *testing.T) {
	h := regular(time.Second, 200) // sd floored to 100 ms
	d := Detector{}
	now := t0.Add(1900 * time.Millisecond)
	if p := h.Phi(now); p < defaultFailPhi {
		t.Fatalf("phi %v; the case needs phi over the failure threshold", p)
	}
	if v := d.Judge(h, now); v != Alive {
		t.Errorf("%v at 1.9 means of silence; want alive", v)
	}
	if v := d.Judge(h, t0.Add(2*time.Second)); v != Suspected {
		t.Errorf("%v at 2 means; want suspected", v)
	}
	if v := d.Judge(h, t0.Add(3*time.Second)); v != Failed {
		t.Errorf("%v at 3 means; want failed", v)
	}
	// The late beat arrives: alive again, and the history barely moves.
	h.Heartbeat(t0.Add(3 * time.Second))
	if v := d.Judge(h, t0.Add(3*time.Second+500*time.Millisecond)); v != Alive {
		t.Errorf("%v after the late beat; want alive", v)
	}
}

func TestNeverHeardIsAlive(t *testing.T) {
	h := NewHistory(0, time.Second)
	d := Detector{SuspicionTimeout: time.Second, FailureTimeout: 2 * time.Second}
	if v := d.Judge(h, t0.Add(time.Hour)); v != Alive {
		t.Errorf("%v before any heartbeat", v)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		d  Detector
		ok bool
	}{
		{Detector{}, true},
		{Detector{SuspectPhi: 3, FailPhi: 3, SuspicionTimeout: time.Second, FailureTimeout: time.Second}, true},
		{Detector{SuspectPhi: math.Inf(1), FailPhi: math.Inf(1)}, true},
		{Detector{SuspectPhi: 9}, false}, // above the default fail phi
		{Detector{SuspectPhi: -1}, false},
		{Detector{FailPhi: math.NaN()}, false},
		{Detector{SuspicionTimeout: 15 * time.Second, FailureTimeout: 10 * time.Second}, false},
		{Detector{FailureTimeout: -time.Second}, false},
		{Detector{SuspicionTimeout: -time.Second}, false},
		{Detector{MinTimeout: -time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.d.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v", tt.d, err)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Alive: "alive", Suspected: "suspected", Failed: "failed", 7: "Verdict(7)"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int(v), got, want)
		}
	}
}
