package discovery

import (
	"fmt"

	"github.com/logstream/logstream/pkg/wire"
)

// Body limits for discovery datagrams. A JOIN is a few short strings; a
// JOIN_RESPONSE carries the broker list, which must fit one datagram anyway.
const (
	maxJoinBody     = 4 << 10
	maxResponseBody = 60 << 10
)

func appendJoin(dst []byte, j wire.Join) []byte { return appendJoinKeyed(dst, j, nil) }

func appendJoinKeyed(dst []byte, j wire.Join, ks *keyState) []byte {
	return ks.append(dst, wire.Frame{Type: wire.TypeJoin, Corr: j.Nonce, Body: j.AppendTo(nil)})
}

func appendJoinResponse(dst []byte, r wire.JoinResponse, corr uint64) []byte {
	return appendJoinResponseKeyed(dst, r, corr, nil)
}

func appendJoinResponseKeyed(dst []byte, r wire.JoinResponse, corr uint64, ks *keyState) []byte {
	return ks.append(dst, wire.Frame{Type: wire.TypeJoinResponse, Corr: corr, Body: r.AppendTo(nil)})
}

// errWrongType marks a well-formed frame that is not what this socket
// serves; it is dropped like garbage but counted apart.
type errWrongType struct{ got, want wire.Type }

func (e errWrongType) Error() string { return fmt.Sprintf("got %v, want %v", e.got, e.want) }

// parseJoin decodes one datagram that must hold exactly one JOIN frame.
func parseJoin(b []byte) (wire.Join, uint64, error) { return parseJoinKeyed(b, nil) }

func parseJoinKeyed(b []byte, ks *keyState) (wire.Join, uint64, error) {
	f, err := ks.open(b, maxJoinBody, wire.TypeJoin)
	if err != nil {
		return wire.Join{}, 0, err
	}
	var j wire.Join
	if err := j.Unmarshal(f.Body); err != nil {
		return wire.Join{}, 0, err
	}
	return j, f.Corr, nil
}

// parseJoinResponse decodes one datagram that must hold exactly one
// JOIN_RESPONSE frame.
func parseJoinResponse(b []byte) (wire.JoinResponse, error) { return parseJoinResponseKeyed(b, nil) }

func parseJoinResponseKeyed(b []byte, ks *keyState) (wire.JoinResponse, error) {
	f, err := ks.open(b, maxResponseBody, wire.TypeJoinResponse)
	if err != nil {
		return wire.JoinResponse{}, err
	}
	var r wire.JoinResponse
	if err := r.Unmarshal(f.Body); err != nil {
		return wire.JoinResponse{}, err
	}
	return r, nil
}
