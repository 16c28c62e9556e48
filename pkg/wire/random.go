package wire

import (
	"crypto/rand"
	"encoding/binary"
)

// RandomID returns 64 random bits: a sealer's sender id (new per process, so
// a restarted sender's datagrams are not taken for replays), a discovery
// nonce, a fresh node id. crypto/rand.Read never fails on supported
// platforms (since Go 1.24 it aborts the program instead), so there is no
// error to return.
func RandomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
