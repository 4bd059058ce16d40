package localring

import (
	"cmp"
	"strconv"
)

// Order is a delivered message's place in its ring's total order: the ring
// it was sent in, its packet's sequence number and its index in the
// packet. The zero Order is not a place (send events carry it).
type Order struct {
	Ring  uint64 // RingID.Seq of the ring the message was sent in
	Seq   uint64 // the packet's sequence number in that ring, from 1
	Index uint32 // the message's index in the packet, below 1023
}

// Compare returns -1, 0 or +1 as o is before, at or after p.
func (o Order) Compare(p Order) int {
	if c := cmp.Compare(o.Ring, p.Ring); c != 0 {
		return c
	}
	if c := cmp.Compare(o.Seq, p.Seq); c != 0 {
		return c
	}
	return cmp.Compare(o.Index, p.Index)
}

// Less reports whether o is before p.
func (o Order) Less(p Order) bool { return o.Compare(p) < 0 }

// IsZero reports whether o is the zero Order (no place).
func (o Order) IsZero() bool { return o == Order{} }

// String renders o as "ring:seq.index", e.g. "12:4097.3".
func (o Order) String() string {
	b := strconv.AppendUint(nil, o.Ring, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, o.Seq, 10)
	b = append(b, '.')
	return string(strconv.AppendUint(b, uint64(o.Index), 10))
}

// orderIndexBits is the room Position leaves for Index: the wire format
// packs at most maxEntries (1023) messages into a packet.
const orderIndexBits = 10

// MaxExactPosition is the largest integer a JSON reader with 53-bit
// numbers reads exactly.
const MaxExactPosition = 1<<53 - 1

// Position returns o's position within its ring, Seq·1024 + Index: the
// number EVS traces write as `order` for a ring domain (see the package
// comment). It reports false when that number would exceed
// MaxExactPosition (Seq ≥ 2^43), or for the zero Order.
func (o Order) Position() (uint64, bool) {
	if o.Seq == 0 || o.Seq > MaxExactPosition>>orderIndexBits || o.Index >= 1<<orderIndexBits {
		return 0, false
	}
	return o.Seq<<orderIndexBits | uint64(o.Index), true
}

// DomainOrder is a message's place in a federation domain's total order,
// which survives federation ring reconfigurations (see the package
// comment). The zero DomainOrder is not a place.
type DomainOrder struct {
	// Seq is the domain-wide sequence number the federation assigned, from
	// 1. A new federation ring continues after the highest Seq any of its
	// members assigned or delivered.
	Seq uint64
	// Ring is RingID.Seq of the federation ring that assigned Seq. Two
	// components of a partitioned federation may assign the same Seq; Ring
	// tells those apart. It breaks ties only.
	Ring uint64
}

// Compare returns -1, 0 or +1 as o is before, at or after p.
func (o DomainOrder) Compare(p DomainOrder) int {
	if c := cmp.Compare(o.Seq, p.Seq); c != 0 {
		return c
	}
	return cmp.Compare(o.Ring, p.Ring)
}

// Less reports whether o is before p.
func (o DomainOrder) Less(p DomainOrder) bool { return o.Compare(p) < 0 }

// IsZero reports whether o is the zero DomainOrder (no place).
func (o DomainOrder) IsZero() bool { return o == DomainOrder{} }

// String renders o as "seq@ring", e.g. "10412@8".
func (o DomainOrder) String() string {
	return strconv.FormatUint(o.Seq, 10) + "@" + strconv.FormatUint(o.Ring, 10)
}

// Position returns the number EVS traces write as `order` for a federation
// domain: Seq. It reports false when Seq exceeds MaxExactPosition, or for
// the zero DomainOrder.
func (o DomainOrder) Position() (uint64, bool) {
	if o.Seq == 0 || o.Seq > MaxExactPosition {
		return 0, false
	}
	return o.Seq, true
}
