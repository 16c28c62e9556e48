package proctest

import "testing"

func TestBufferLastLine(t *testing.T) {
	var b Buffer
	b.Write([]byte(`{"message":"ClusterState view=1","members":"a"}` + "\n" + `{"message":"other"}` + "\n" +
		`{"message":"ClusterState view=2","members":"a,b,c"}` + "\n" + `{"message":"tail"`))
	line := b.LastLine(clusterStateMark)
	if line != `{"message":"ClusterState view=2","members":"a,b,c"}` {
		t.Fatalf("LastLine = %q", line)
	}
	if n := LastViewSize(line); n != 3 {
		t.Fatalf("view size of the last line %d, want 3", n)
	}
	if got := b.LastLine(`"tail"`); got != `{"message":"tail"` {
		t.Fatalf("an unterminated last line: %q", got)
	}
	if got := b.LastLine("absent"); got != "" {
		t.Fatalf("no match: %q", got)
	}
}
