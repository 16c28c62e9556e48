package wire

import "testing"

// AppendFrame into a buffer with room allocates nothing: it frames every
// message sent.
func TestAppendFrameAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 1024)
	f := Frame{Type: TypeHeartbeat, Corr: 7, Body: make([]byte, 100)}
	if n := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], f) }); n != 0 {
		t.Fatalf("%.1f allocations per AppendFrame, want 0", n)
	}
	if got, _, err := DecodeFrame(buf, 1024); err != nil || got.Corr != 7 || len(got.Body) != 100 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
