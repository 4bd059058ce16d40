package localring

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// samplePackets returns one valid packet of every type.
func samplePackets() [][]byte {
	me := Member{ID: "n1", Inc: 7}
	ring := RingID{Seq: 12, Rep: "n1"}
	m := &mcast{ring: ring, seq: 5, sender: me, entries: []entry{
		{msgID: 1, svc: Agreed, data: []byte("hello")},
		{msgID: 2, svc: Safe, flags: fragMore, data: bytes.Repeat([]byte{9}, 100)},
	}}
	raw := m.append(nil)
	rec := &mcast{ring: RingID{Seq: 16, Rep: "n1", RepInc: 300}, seq: 1, sender: me, flags: mcastRecovery, inner: raw}
	return [][]byte{
		raw,
		rec.append(nil),
		(&token{ring: ring, to: "n2", tokSeq: 9, seq: 5, aru: 3, aruID: "n3", fcc: 4, backlog: 2, rtr: []uint64{4, 5}}).append(nil),
		(&token{ring: ring, to: "n2", tokSeq: 9, seq: 5, aru: 3, aruID: "n3", arus: []uint64{5, 3, 3},
			evict: &eviction{by: "n2", cause: causeMute, seq: 4, rotations: 50, millis: 512, members: []Member{me}}}).append(nil),
		(&join{sender: me, ringSeq: 12, proc: []Member{me, {ID: "n2", Inc: 1}, {ID: "n4", Inc: 1}}, fail: []Member{{ID: "n3", Inc: 2}}, unheard: []Member{{ID: "n4", Inc: 1}}}).append(nil),
		(&commit{ring: ring, to: "n2", rotation: 1, tokSeq: 3, entries: []commitEntry{{member: me, filled: true, oldRing: RingID{Seq: 8, Rep: "n1", RepInc: 7}, aru: 4, highSeq: 6, highDelivered: 4}}}).append(nil),
		(&merge{ring: ring, sender: me}).append(nil),
		(&fenceNotice{sender: me, newest: Member{ID: "n2", Inc: 9}}).append(nil),
		(&nack{ring: RingID{Seq: 16, Rep: "n1", RepInc: 300}, sender: me, seqs: []uint64{4, 6, 1 << 40}}).append(nil),
		(&merge{ring: ring, sender: me}).appendTo(nil, ptTokenNack),
	}
}

// reencode parses a packet of any type and encodes it again.
func reencode(b []byte) ([]byte, error) {
	t, err := peekType(b)
	if err != nil {
		return nil, err
	}
	switch t {
	case ptMcast:
		m, err := parseMcast(b, nil)
		if err != nil {
			return nil, err
		}
		return m.append(nil), nil
	case ptToken:
		tok, err := parseToken(b, nil)
		if err != nil {
			return nil, err
		}
		return tok.append(nil), nil
	case ptJoin:
		j, err := parseJoin(b)
		if err != nil {
			return nil, err
		}
		return j.append(nil), nil
	case ptCommit:
		c, err := parseCommit(b)
		if err != nil {
			return nil, err
		}
		return c.append(nil), nil
	case ptMerge:
		m, err := parseMerge(b)
		if err != nil {
			return nil, err
		}
		return m.append(nil), nil
	case ptFence:
		f, err := parseFence(b)
		if err != nil {
			return nil, err
		}
		return f.append(nil), nil
	case ptTokenNack:
		m, err := parseMerge(b)
		if err != nil {
			return nil, err
		}
		return m.appendTo(nil, ptTokenNack), nil
	case ptNack:
		k, err := parseNack(b)
		if err != nil {
			return nil, err
		}
		return k.append(nil), nil
	}
	return nil, ErrMalformed
}

func TestWireRoundTrip(t *testing.T) {
	for _, p := range samplePackets() {
		got, err := reencode(p)
		if err != nil {
			t.Fatalf("%v: %v", packetType(p[1]), err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("%v: re-encoding differs", packetType(p[1]))
		}
	}
}

// TestWireRejectsDamage truncates and flips every byte of every sample
// packet: each damaged packet must be rejected (the checksum covers all)
// and never panic.
func TestWireRejectsDamage(t *testing.T) {
	for _, p := range samplePackets() {
		for i := range p {
			if _, err := reencode(p[:i]); err == nil {
				t.Fatalf("%v truncated to %d bytes was accepted", packetType(p[1]), i)
			}
			d := bytes.Clone(p)
			d[i] ^= 0x40
			if _, err := reencode(d); err == nil {
				t.Fatalf("%v with byte %d flipped was accepted", packetType(p[1]), i)
			}
		}
	}
}

// TestStepCountsMalformed feeds garbage to a node: errors, counters, no
// state change.
func TestStepCountsMalformed(t *testing.T) {
	n := testNode(t, "a")
	n.Start(t0)
	n.Ready()
	for _, b := range [][]byte{nil, {1}, {9, 9, 9, 9, 9, 9}, {1, 2, 0, 0, 0, 0, 0, 0}} {
		if err := n.Step(t0, b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Step(%x) = %v, want ErrMalformed", b, err)
		}
	}
	if got := n.Stats().Malformed; got != 4 {
		t.Fatalf("malformed = %d, want 4", got)
	}
	if n.HasReady() {
		t.Fatalf("garbage produced output")
	}
}

// FuzzParse: any bytes either fail to parse or re-encode to a packet that
// parses to the same encoding; a node fed the bytes never panics.
func FuzzParse(f *testing.F) {
	for _, p := range samplePackets() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 6 {
			// Give the checksum a chance: most mutations are about fields.
			body := b[:len(b)-4]
			b = appendCRC(bytes.Clone(body))
		}
		first, err := reencode(b)
		if err == nil {
			second, err := reencode(first)
			if err != nil || !bytes.Equal(first, second) {
				t.Fatalf("re-encoding is not stable: %v", err)
			}
		}
		n := testNode(t, "n2")
		n.Start(t0)
		_ = n.Step(t0.Add(time.Millisecond), b)
		n.Tick(t0.Add(time.Second))
	})
}

// TestWireRefusesOtherVersion: a well-formed packet (checksum intact) of
// another wire version is refused with both versions named, never parsed
// with this version's layout.
func TestWireRefusesOtherVersion(t *testing.T) {
	for _, p := range samplePackets() {
		old := bytes.Clone(p[:len(p)-4])
		old[0] = wireVersion - 1
		old = appendCRC(old)
		_, err := reencode(old)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("wire version %d, this node speaks %d", wireVersion-1, wireVersion)) {
			t.Fatalf("%v of wire version %d: err %v, want a refusal naming both versions", packetType(p[1]), wireVersion-1, err)
		}
	}
}

// TestParseKnownIDs checks that parseMcast and parseToken name the members
// of known by their own id strings, allocating none for them (a message
// packet of up to two entries is then one allocation, its mcast, and a
// token without lists its token), and ids not known by new strings that
// spell them.
func TestParseKnownIDs(t *testing.T) {
	known := []Member{{ID: "node-b"}, {ID: "node-d"}, {ID: "node-f"}, {ID: "node-h"}, {ID: "node-j"}}
	same := func(a, b NodeID) bool { return unsafe.StringData(string(a)) == unsafe.StringData(string(b)) }
	for _, id := range []NodeID{"node-a", "node-b", "node-c", "node-d", "node-f", "node-g", "node-j", "node-k", "node-", "node-dd"} {
		i, isKnown := slices.BinarySearchFunc(known, id, func(m Member, id NodeID) int { return strings.Compare(string(m.ID), string(id)) })
		ring := RingID{Seq: 12, Rep: id, RepInc: 3}
		pkt := (&mcast{ring: ring, seq: 5, sender: Member{ID: id, Inc: 7}, entries: []entry{
			{msgID: 1, svc: Agreed, flags: fragCont, data: []byte("the end of a message")},
			{msgID: 2, svc: Agreed, flags: fragMore, data: []byte("the start of the next")},
		}}).append(nil)
		m, err := parseMcast(pkt, known)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := parseToken((&token{ring: ring, to: id, tokSeq: 9, seq: 5, aru: 5, aruID: id}).append(nil), known)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []NodeID{m.ring.Rep, m.sender.ID, tok.ring.Rep, tok.to, tok.aruID} {
			if got != id {
				t.Fatalf("parsed id %q, want %q", got, id)
			}
			if isKnown && !same(got, known[i].ID) {
				t.Errorf("known id %q parsed into a string of its own", id)
			}
		}
		if !isKnown {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = parseMcast(pkt, known) }); n != 1 {
			t.Errorf("parseMcast of a packet of known member %s: %v allocations, want 1 (the mcast)", id, n)
		}
		raw := tok.append(nil)
		if n := testing.AllocsPerRun(100, func() { _, _ = parseToken(raw, known) }); n != 1 {
			t.Errorf("parseToken of a token of known members %s: %v allocations, want 1 (the token)", id, n)
		}
	}
}

// TestMcastSize keeps an mcast, which every node allocates for every
// packet it sends or receives, at 224 bytes: 240 (the next size class)
// when delivered had a word of its own.
func TestMcastSize(t *testing.T) {
	if got := unsafe.Sizeof(mcast{}); got > 224 {
		t.Errorf("an mcast is %d bytes, want at most 224", got)
	}
}
