package groups

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A stub stands for a multicast or point-to-point message at a node that
// has no use for its data: the bridge of a federation domain brings a
// message down as a stub to a site with no member of its groups (and
// that neither sent it nor holds its recipient: Needs), so that the
// site's ring does not carry the data. The node delivers it at its place
// in the order as it delivers the message itself, to no client: its
// trace has the "deliver" line of the message, with the hash of its data.
//
// Wire form: magic, kindStub, the message's kind, the CRC-32C of its
// data (4 bytes, big-endian), the data's length (uvarint), then the
// message's encoding between its kind and its data (epoch, seq, client,
// type, groups or recipient).

// kindStub follows kindReport.
const kindStub = kindReport + 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stub returns the stub of a multicast or point-to-point message, and
// false for any other payload.
func Stub(payload []byte) ([]byte, bool) {
	if !IsGroupPayload(payload) {
		return nil, false
	}
	if k := kind(payload[1]); k != kindMulticast && k != kindUnicast {
		return nil, false
	}
	w, err := parseWire(payload)
	if err != nil {
		return nil, false
	}
	head := payload[2 : len(payload)-len(w.data)]
	b := make([]byte, 0, 3+4+binary.MaxVarintLen64+len(head))
	b = append(b, wireMagic, byte(kindStub), payload[1])
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(w.data, castagnoli))
	b = binary.AppendUvarint(b, uint64(len(w.data)))
	return append(b, head...), true
}

// IsData reports whether a payload is a multicast, a point-to-point
// message or a stub of one: a message that changes no group state.
func IsData(payload []byte) bool {
	if !IsGroupPayload(payload) {
		return false
	}
	k := kind(payload[1])
	return k == kindMulticast || k == kindUnicast || k == kindStub
}

// parseStub decodes a stub: the message without its data, and the hash
// of its data (its CRC-32C in the upper 32 bits, its length in the lower:
// the trace's hash, internal/tracemap.Hash).
func parseStub(p []byte, known func([]byte) (string, bool)) (wireMsg, uint64, error) {
	if len(p) < 3+4+1 || p[0] != wireMagic || kind(p[1]) != kindStub {
		return wireMsg{}, 0, fmt.Errorf("%w: not a stub", ErrMalformed)
	}
	k := kind(p[2])
	if k != kindMulticast && k != kindUnicast {
		return wireMsg{}, 0, fmt.Errorf("%w: a stub of a %s", ErrMalformed, k)
	}
	sum := binary.BigEndian.Uint32(p[3:])
	n, c := binary.Uvarint(p[7:])
	if c <= 0 || n > 1<<32-1 {
		return wireMsg{}, 0, fmt.Errorf("%w: a stub's data length", ErrMalformed)
	}
	head := p[7+c:]
	m := make([]byte, 0, 2+len(head))
	m = append(append(m, wireMagic, byte(k)), head...)
	w, err := parseWireIntern(m, known, nil)
	if err != nil {
		return wireMsg{}, 0, err
	}
	if len(w.data) != 0 {
		return wireMsg{}, 0, fmt.Errorf("%w: a stub with data", ErrMalformed)
	}
	return w, uint64(sum)<<32 | n, nil
}
