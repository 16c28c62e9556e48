package client

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// MetadataKeyed asks the broker at addr who leads, which brokers there are
// and what topics they hold, in a cluster with key (nil: an open cluster).
// Frames that are not the answer (a heartbeat) are skipped. A key mismatch
// is an error wrapping wire.ErrAuth.
func MetadataKeyed(ctx context.Context, addr string, maxFrame int, key *wire.Key) (*wire.MetadataResponse, error) {
	conn, err := dialAdmin(ctx, addr, maxFrame, key)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return metadataOn(ctx, conn)
}

// Request sends one administrative request (METADATA, an election trigger)
// to the broker at addr on a connection of its own and returns the frame that
// answers it. A key mismatch is an error wrapping wire.ErrAuth.
func Request(ctx context.Context, addr string, maxFrame int, key *wire.Key, m wire.Message) (wire.Frame, error) {
	conn, err := dialAdmin(ctx, addr, maxFrame, key)
	if err != nil {
		return wire.Frame{}, err
	}
	defer conn.Close()
	return requestOn(ctx, conn, m)
}

func dialAdmin(ctx context.Context, addr string, maxFrame int, key *wire.Key) (*framed.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return framed.NewWith(nc, framed.Options{MaxBody: maxFrame, Queue: 4, WriteTimeout: 5 * time.Second, Key: key}), nil
}

// requestCorr marks our request among other traffic on the connection.
const requestCorr = ^uint64(0)

// maxSkipped bounds the unrelated frames (heartbeats) read while waiting.
const maxSkipped = 64

// requestOn sends m and returns the frame answering it, within 5 s or ctx.
func requestOn(ctx context.Context, conn *framed.Conn, m wire.Message) (wire.Frame, error) {
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	defer conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.Send(wire.Encode(m, requestCorr)); err != nil {
		return wire.Frame{}, err
	}
	for i := 0; i < maxSkipped; i++ {
		f, err := conn.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return wire.Frame{}, ctx.Err()
			}
			return wire.Frame{}, err
		}
		// An ERROR with no correlation answers no request of ours: the
		// broker refuses the whole connection (a connection limit).
		if f.Corr == requestCorr || (f.Type == wire.TypeError && f.Corr == 0) {
			return f, nil
		}
	}
	return wire.Frame{}, fmt.Errorf("no answer from %s after %d unrelated frames", conn.RemoteAddr(), maxSkipped)
}

func metadataOn(ctx context.Context, conn *framed.Conn) (*wire.MetadataResponse, error) {
	f, err := requestOn(ctx, conn, &wire.Metadata{})
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case wire.TypeMetadataResponse:
		var m wire.MetadataResponse
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return &m, nil
	case wire.TypeError:
		var m wire.Error
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return nil, &refusal{code: m.Code, msg: m.Message}
	}
	return nil, fmt.Errorf("unexpected answer %s to metadata", f.Type)
}

// refusal is a broker's ERROR answer to a request: it is there and said no.
type refusal struct {
	code wire.ErrCode
	msg  string
}

func (r *refusal) Error() string { return r.code.String() + ": " + r.msg }
