package discovery

import (
	"errors"
	"fmt"

	"github.com/logstream/logstream/pkg/wire"
)

// keyState is one discovery socket's cluster-key state: it seals what the
// socket sends and checks what it reads, refusing replayed datagrams. A nil
// *keyState is an open cluster: frames go out unsealed and sealed ones are
// refused. Not safe for concurrent use, except that the sending and the
// reading halves (sealer; opener and replay) may be used by one goroutine
// each.
type keyState struct {
	sealer *wire.Sealer
	opener *wire.Opener
	replay *wire.ReplayWindow
}

func newKeyState(k *wire.Key) *keyState {
	if k == nil {
		return nil
	}
	return &keyState{
		sealer: k.NewSealer(wire.RandomID()),
		opener: k.NewOpener(),
		replay: wire.NewReplayWindow(4096),
	}
}

func (ks *keyState) append(dst []byte, f wire.Frame) []byte {
	if ks == nil {
		return wire.AppendFrame(dst, f)
	}
	return ks.sealer.AppendFrame(dst, f)
}

// refusedError is a peer's unsealed ERROR UNAUTHORIZED: our key does not
// match theirs.
type refusedError struct {
	corr uint64
	msg  string
}

func (e *refusedError) Error() string { return "refused: " + e.msg }
func (e *refusedError) Unwrap() error { return wire.ErrAuth }

// errReplayed is a sealed datagram seen before.
var errReplayed = fmt.Errorf("%w (replayed datagram)", wire.ErrReplayed)

// open decodes a datagram that must hold exactly one frame of type want,
// applying the key policy. A refusal from the peer is a *refusedError.
func (ks *keyState) open(b []byte, maxBody int, want wire.Type) (wire.Frame, error) {
	if ks != nil {
		maxBody += wire.TrailerSize
	}
	f, n, err := wire.DecodeFrame(b, maxBody)
	if err != nil {
		return wire.Frame{}, err
	}
	if n != len(b) {
		return wire.Frame{}, fmt.Errorf("%d bytes after the frame", len(b)-n)
	}
	if msg, ok := wire.IsRefusal(f); ok {
		return wire.Frame{}, &refusedError{corr: f.Corr, msg: msg}
	}
	var o *wire.Opener
	if ks != nil {
		o = ks.opener
	}
	f, st, err := wire.OpenWith(o, f)
	if err != nil {
		return f, err
	}
	if ks != nil && !ks.replay.Accept(st) {
		return wire.Frame{}, errReplayed
	}
	if f.Type != want {
		return wire.Frame{}, errWrongType{f.Type, want}
	}
	return f, nil
}

// isAuth reports whether err is a key mismatch (not garbage).
func isAuth(err error) bool { return errors.Is(err, wire.ErrAuth) }
