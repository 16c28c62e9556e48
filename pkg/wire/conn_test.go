package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

// connPair returns two Conns joined by an in-memory pipe, with a generous
// read deadline so a lost frame fails the test instead of hanging it.
func connPair(t *testing.T, maxBody int) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	for _, c := range []net.Conn{a, b} {
		if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	ca, cb := NewConn(a, maxBody), NewConn(b, maxBody)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

// Many goroutines send at once; every frame arrives intact, exactly once and
// in each sender's order, with no explicit flush.
func TestConnConcurrentSend(t *testing.T) {
	const senders, each = 8, 300
	tx, rx := connPair(t, 0)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := binary.BigEndian.AppendUint32(nil, uint32(i))
				body = append(body, make([]byte, (s*each+i)%700)...)
				if err := tx.Send(Frame{Type: TypeRecords, Corr: uint64(s), Body: body}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	next := make([]uint32, senders)
	for range senders * each {
		f, err := rx.Recv()
		if err != nil {
			t.Fatal(err)
		}
		s, i := f.Corr, binary.BigEndian.Uint32(f.Body)
		if s >= senders || i != next[s] {
			t.Fatalf("sender %d: frame %d, want %d", s, i, next[s])
		}
		next[s]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConnMessages(t *testing.T) {
	tx, rx := connPair(t, 0)
	ms := samples()
	go func() {
		for i, m := range ms {
			if err := tx.SendMessage(m, uint64(i)); err != nil {
				return // the receiving side reports the missing frame
			}
		}
	}()
	for i, want := range ms {
		f, err := rx.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Message()
		if err != nil || f.Corr != uint64(i) || !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d: %+v, %v", i, got, err)
		}
	}
}

func TestConnSendTooLarge(t *testing.T) {
	tx, rx := connPair(t, 100)
	if err := tx.Send(Frame{Type: TypeProduce, Body: make([]byte, 101)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized send: %v", err)
	}
	go tx.Send(Frame{Type: TypeProduce, Body: make([]byte, 100)})
	if f, err := rx.Recv(); err != nil || len(f.Body) != 100 {
		t.Fatalf("after a refused send: %d bytes, %v", len(f.Body), err)
	}
}

func TestConnWriteErrorSticky(t *testing.T) {
	tx, rx := connPair(t, 0)
	rx.Close()
	err1 := tx.Send(testFrame())
	err2 := tx.Send(testFrame())
	if !errors.Is(err1, io.ErrClosedPipe) || err2 != err1 {
		t.Fatalf("sends to a closed peer: %v then %v", err1, err2)
	}
}
