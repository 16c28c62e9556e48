package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleIsReproducible(t *testing.T) {
	a, b := Schedule(42, 5, 5*time.Minute), Schedule(42, 5, 5*time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	if reflect.DeepEqual(a, Schedule(43, 5, 5*time.Minute)) {
		t.Fatal("different seeds, same schedule")
	}
	kinds := map[Kind]bool{}
	var end time.Duration
	for _, f := range a {
		if f.At < end {
			t.Fatalf("fault %v starts before the previous one ended", f)
		}
		if len(f.Targets) > 2 || (f.Kind == Wipe && len(f.Targets) != 1) {
			t.Fatalf("fault %v hits more than a minority of five", f)
		}
		end = f.At + f.Length
		kinds[f.Kind] = true
	}
	if !kinds[KillRestart] || !kinds[Pause] || !kinds[Cut] || !kinds[KillAll] || !kinds[Wipe] {
		t.Fatalf("five minutes of faults use only %v", kinds)
	}
}
