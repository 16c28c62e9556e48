package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
)

// # Sealed frames
//
// With a cluster key every frame is sealed: FlagSealed is set in the header
// and the body ends in a trailer
//
//	sender(8) seq(8) tag(32)
//
// where tag is HMAC-SHA256(key, header[:18] ‖ payload ‖ sender ‖ seq) and
// header[:18] is the header as sent (magic, version, type, flags, correlation
// id and the length of the whole body, trailer included). The CRC still
// covers everything, so line noise is told apart from a wrong key. The
// sender id is random per socket and seq counts up from 1, so a receiver can
// refuse a datagram it has already seen (ReplayWindow) and a stream receiver
// can insist on strictly increasing numbers.

// FlagSealed marks a frame whose body ends in a seal trailer.
const FlagSealed uint16 = 1 << 0

// Seal trailer layout.
const (
	TagSize     = sha256.Size
	TrailerSize = 8 + 8 + TagSize
	// MinKeyLen is the shortest secret accepted: a cluster key is a shared
	// password for every broker and client, so it must not be guessable.
	MinKeyLen = 16
	// MaxKeyLen bounds what is read from a key file or the environment.
	MaxKeyLen = 4096
)

// ErrAuth is why a frame is refused for its seal: missing, present where
// no key is configured, or not verifying. It is the protocol's
// ErrUnauthorized, so errors.Is(err, ErrUnauthorized) matches too.
var ErrAuth = fmt.Errorf("%w: the cluster key does not match", ErrUnauthorized)

// Errors wrapped around ErrAuth, for counters and logs.
var (
	ErrUnsealed   = fmt.Errorf("%w (frame carries no key tag)", ErrAuth)
	ErrNotKeyed   = fmt.Errorf("%w (frame is sealed but this process has no cluster key)", ErrAuth)
	ErrBadTag     = fmt.Errorf("%w (key tag does not verify)", ErrAuth)
	ErrReplayed   = errors.New("wire: replayed or stale sequence number")
	ErrShortSeal  = fmt.Errorf("%w (sealed body shorter than its trailer)", ErrAuth)
	errKeyTooWeak = fmt.Errorf("shorter than %d bytes", MinKeyLen)
)

// Key is a cluster key. It is immutable and safe to share; the Sealer and
// Opener made from it are not.
type Key struct{ secret []byte }

// NewKey returns the key for secret, which must hold MinKeyLen to MaxKeyLen
// bytes.
func NewKey(secret []byte) (*Key, error) {
	switch {
	case len(secret) < MinKeyLen:
		return nil, errKeyTooWeak
	case len(secret) > MaxKeyLen:
		return nil, fmt.Errorf("longer than %d bytes", MaxKeyLen)
	}
	return &Key{secret: append([]byte(nil), secret...)}, nil
}

// Sealer seals outgoing frames of one sender. Not safe for concurrent use:
// the goroutine that writes a socket owns its Sealer.
type Sealer struct {
	mac    hash.Hash
	sender uint64
	seq    uint64
}

// NewSealer returns a sealer numbering its frames from 1 under sender (a
// random id per socket, so a receiver's replay window tells senders apart).
func (k *Key) NewSealer(sender uint64) *Sealer {
	return &Sealer{mac: hmac.New(sha256.New, k.secret), sender: sender}
}

// AppendFrame appends f sealed, like the package's AppendFrame. Its only
// allocation is dst growing.
func (s *Sealer) AppendFrame(dst []byte, f Frame) []byte {
	s.seq++
	start := len(dst)
	f.Flags |= FlagSealed
	full := len(f.Body) + TrailerSize
	var h [HeaderSize]byte
	putRawHeader(h[:], f, full)
	dst = append(dst, h[:]...)
	dst = append(dst, f.Body...)
	dst = binary.BigEndian.AppendUint64(dst, s.sender)
	dst = binary.BigEndian.AppendUint64(dst, s.seq)
	s.mac.Reset()
	s.mac.Write(dst[start : start+crcOffset])
	s.mac.Write(dst[start+HeaderSize:])
	dst = s.mac.Sum(dst)
	hdr := dst[start : start+HeaderSize]
	sum := crc32.Update(crc32.Update(0, castagnoli, hdr[:crcOffset]), castagnoli, dst[start+HeaderSize:])
	binary.BigEndian.PutUint32(hdr[crcOffset:], sum)
	return dst
}

// Stamp is who sealed a frame and its number.
type Stamp struct {
	Sender uint64
	Seq    uint64
}

// Opener verifies sealed frames. Not safe for concurrent use: the goroutine
// reading a socket owns its Opener.
type Opener struct {
	mac hash.Hash
	sum [TagSize]byte
	hdr [HeaderSize]byte
}

// NewOpener returns an opener for frames sealed with k.
func (k *Key) NewOpener() *Opener { return &Opener{mac: hmac.New(sha256.New, k.secret)} }

// Open verifies a sealed frame (as returned by DecodeFrame or Reader.Next)
// and returns it with the trailer cut off and FlagSealed cleared. It does
// not allocate.
func (o *Opener) Open(f Frame) (Frame, Stamp, error) {
	if f.Flags&FlagSealed == 0 {
		return Frame{}, Stamp{}, ErrUnsealed
	}
	if len(f.Body) < TrailerSize {
		return Frame{}, Stamp{}, ErrShortSeal
	}
	n := len(f.Body) - TagSize
	putRawHeader(o.hdr[:], f, len(f.Body))
	o.mac.Reset()
	o.mac.Write(o.hdr[:crcOffset])
	o.mac.Write(f.Body[:n])
	if !hmac.Equal(o.mac.Sum(o.sum[:0]), f.Body[n:]) {
		return Frame{}, Stamp{}, ErrBadTag
	}
	st := Stamp{
		Sender: binary.BigEndian.Uint64(f.Body[n-16:]),
		Seq:    binary.BigEndian.Uint64(f.Body[n-8:]),
	}
	f.Body = f.Body[: n-16 : n-16]
	f.Flags &^= FlagSealed
	return f, st, nil
}

// OpenWith applies a process's key policy to a received frame: with a key
// (o non-nil) the frame must be sealed and verify; without one it must not
// be sealed. The returned Stamp is zero for an open cluster.
func OpenWith(o *Opener, f Frame) (Frame, Stamp, error) {
	if o != nil {
		return o.Open(f)
	}
	if f.Flags&FlagSealed != 0 {
		return Frame{}, Stamp{}, ErrNotKeyed
	}
	return f, Stamp{}, nil
}

// putRawHeader fills h[:crcOffset] for f with a body of n bytes. The CRC
// field is left for the caller.
func putRawHeader(h []byte, f Frame, n int) {
	binary.BigEndian.PutUint16(h[0:], Magic)
	h[2] = Version
	h[3] = byte(f.Type)
	binary.BigEndian.PutUint16(h[4:], f.Flags)
	binary.BigEndian.PutUint64(h[6:], f.Corr)
	binary.BigEndian.PutUint32(h[14:], uint32(n))
}

// IsRefusal reports whether f is a peer's unsealed ERROR UNAUTHORIZED, the
// one frame a process sends unsealed to a peer whose key does not match
// (a peer with the wrong key could not read it sealed). It returns the
// peer's message.
func IsRefusal(f Frame) (string, bool) {
	if f.Type != TypeError || f.Flags&FlagSealed != 0 {
		return "", false
	}
	var e Error
	if e.Unmarshal(f.Body) != nil || e.Code != ErrUnauthorized {
		return "", false
	}
	return e.Message, true
}

// Refusal is the frame IsRefusal recognises, answering a frame with corr.
func Refusal(corr uint64, msg string) []byte {
	return AppendFrame(nil, Encode(&Error{Code: ErrUnauthorized, Message: msg}, corr))
}
