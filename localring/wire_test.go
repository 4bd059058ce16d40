package localring

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
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
		m, err := parseMcast(b)
		if err != nil {
			return nil, err
		}
		return m.append(nil), nil
	case ptToken:
		tok, err := parseToken(b)
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
