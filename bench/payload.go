package bench

import (
	"encoding/binary"
	"errors"
)

// PayloadHeaderLen is the size of the header every benchmark message
// starts with; the rest of the message is zero. The layout is shared with
// the Corosync load client (tests/bench/cpgload/cpgload.c):
//
//	off len field (little-endian)
//	  0   4 magic "ATLB"
//	  4   4 sender index
//	  8   8 sequence number of the sender, from 1
//	 16   8 send time, CLOCK_MONOTONIC nanoseconds
const PayloadHeaderLen = 24

const payloadMagic = 0x424c5441 // "ATLB" little-endian

// ErrNotBenchPayload is returned by ParsePayload for a message that is not
// a benchmark message (too short or without the magic).
var ErrNotBenchPayload = errors.New("bench: not a benchmark message")

// Payload is the header of a benchmark message.
type Payload struct {
	Sender uint32
	Seq    uint64
	SentNs int64 // CLOCK_MONOTONIC
}

// AppendTo writes the header into b, which must be at least
// PayloadHeaderLen bytes long.
func (p Payload) AppendTo(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], payloadMagic)
	binary.LittleEndian.PutUint32(b[4:], p.Sender)
	binary.LittleEndian.PutUint64(b[8:], p.Seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(p.SentNs))
}

// ParsePayload reads the header of a benchmark message.
func ParsePayload(b []byte) (Payload, error) {
	if len(b) < PayloadHeaderLen || binary.LittleEndian.Uint32(b) != payloadMagic {
		return Payload{}, ErrNotBenchPayload
	}
	return Payload{
		Sender: binary.LittleEndian.Uint32(b[4:]),
		Seq:    binary.LittleEndian.Uint64(b[8:]),
		SentNs: int64(binary.LittleEndian.Uint64(b[16:])),
	}, nil
}
