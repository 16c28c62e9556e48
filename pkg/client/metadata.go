package client

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// Metadata asks the broker at addr who leads, which brokers there are and
// what topics they hold. Frames that are not the answer (a heartbeat) are
// skipped.
func Metadata(ctx context.Context, addr string, maxFrame int) (*wire.MetadataResponse, error) {
	return MetadataKeyed(ctx, addr, maxFrame, nil)
}

// MetadataKeyed is Metadata in a cluster with key (nil: an open cluster).
// A key mismatch is an error wrapping wire.ErrAuth.
func MetadataKeyed(ctx context.Context, addr string, maxFrame int, key *wire.Key) (*wire.MetadataResponse, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := framed.NewWith(nc, framed.Options{MaxBody: maxFrame, Queue: 4, WriteTimeout: 5 * time.Second, Key: key})
	defer conn.Close()
	return metadataOn(ctx, conn)
}

// metadataCorr marks our metadata request among other traffic.
const metadataCorr = ^uint64(0)

func metadataOn(ctx context.Context, conn *framed.Conn) (*wire.MetadataResponse, error) {
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	defer conn.SetReadDeadline(time.Time{})
	if err := conn.Send(wire.Encode(&wire.Metadata{}, metadataCorr)); err != nil {
		return nil, err
	}
	for i := 0; i < 64; i++ {
		f, err := conn.Recv()
		if err != nil {
			return nil, err
		}
		if f.Corr != metadataCorr {
			continue
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
			return nil, fmt.Errorf("broker refused metadata: %s: %s", m.Code, m.Message)
		}
	}
	return nil, fmt.Errorf("no metadata answer from %s", conn.RemoteAddr())
}
