// Package wire is LogStream's one network format, used unchanged over TCP
// streams and inside UDP datagrams.
//
// # Framing
//
// Every frame is a 22-byte big-endian header followed by a body:
//
//	magic(2) version(1) type(1) flags(2) corr(8) length(4) crc32c(4)
//
// The CRC-32C (Castagnoli) covers the first 18 header bytes and the body, so
// a flipped bit anywhere — type, correlation id, length or payload — is
// caught. The body length is checked against a maximum before any memory is
// set aside for it, and a stream Reader grows the body only as bytes actually
// arrive, so a forged 4 GB length costs nothing.
//
// A UDP datagram carries one frame (DecodeFrame). A TCP stream carries frames
// back to back (Reader; pkg/framed runs a connection on top of it). After a framing error on a stream (ErrBadMagic,
// ErrBadVersion, ErrTooLarge, ErrChecksum, ErrTruncated) the position of the
// next frame is unknown: the Reader keeps returning the error and the caller
// must close the connection. A bad datagram is simply dropped.
//
// # Bodies
//
// Message bodies are built with Enc and read with Dec: fixed-width big-endian
// integers, uvarint-length-prefixed strings and byte slices, and lists that
// start with a uvarint count. Every length and count is checked against the
// bytes remaining, so no decoder allocates more than its input justifies.
// Unmarshal rejects trailing bytes.
//
// # Aliasing
//
// Unmarshal copies strings but lets byte payloads (record payloads) alias the
// input. The body returned by Reader.Next is freshly allocated
// and owned by the caller, so decoding it in place is safe. A body returned by
// DecodeFrame aliases the datagram buffer: copy it (or the decoded payloads)
// before reusing that buffer.
package wire
