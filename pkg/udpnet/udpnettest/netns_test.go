package udpnettest

import (
	"regexp"
	"testing"
)

func TestRunPattern(t *testing.T) {
	p := RunPattern("TestX/case_1.5+")
	if p != `^TestX$/^case_1\.5\+$` {
		t.Fatalf("RunPattern = %q", p)
	}
	// Each element must match its own name only, not a longer one.
	re := regexp.MustCompile(`^case_1\.5\+$`)
	if re.MatchString("case_1.5+x") || !re.MatchString("case_1.5+") {
		t.Fatal("pattern element not anchored")
	}
}
