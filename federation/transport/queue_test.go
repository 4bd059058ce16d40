package transport

import (
	"bytes"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// packetHeader returns the first two bytes (wire version and type) that
// is accepts as a ring packet's header; is is one of localring's own
// predicates (localring.IsMessagePacket, localring.IsToken), so that the
// tests follow localring's wire format.
func packetHeader(t *testing.T, is func([]byte) bool) [2]byte {
	t.Helper()
	for v := range 256 {
		for typ := range 256 {
			if h := [2]byte{byte(v), byte(typ)}; is(h[:]) {
				return h
			}
		}
	}
	t.Fatal("no such packet header")
	return [2]byte{}
}

// ringPacket is a packet of n bytes with a header is accepts, its body
// fill.
func ringPacket(t *testing.T, is func([]byte) bool, n int, fill byte) []byte {
	h := packetHeader(t, is)
	return append(h[:], bytes.Repeat([]byte{fill}, n-2)...)
}

// TestQueueSkipsQueuedCopy: a message packet identical to one still in a
// peer's queue is not queued again (the ring's retransmission of a packet
// that only waits behind the path's backlog), and counts in
// SendDuplicates; once the writer took the original, a copy is queued
// again (it may have been lost on the way). Other packets, and tokens,
// are queued whatever is queued.
func TestQueueSkipsQueuedCopy(t *testing.T) {
	tr := &Transport{cfg: &resolved{}}
	p := newPeer("b", 16)
	p.cur = &conn{}
	m1 := ringPacket(t, localring.IsMessagePacket, 1000, 1)
	m2 := ringPacket(t, localring.IsMessagePacket, 1000, 2)
	tok := ringPacket(t, localring.IsToken, 40, 3)
	for _, pkt := range [][]byte{m1, m2, m1, tok, tok, m1} {
		if !tr.queue(p, pkt) {
			t.Fatal("queue refused a packet to a connected peer")
		}
	}
	if got, want := len(p.out), 2; got != want {
		t.Fatalf("%d message packets queued, want %d (m1 once, m2)", got, want)
	}
	if got := len(p.ctl); got != 2 {
		t.Fatalf("%d control packets queued, want both tokens", got)
	}
	if got := tr.Stats().SendDuplicates; got != 2 {
		t.Fatalf("SendDuplicates %d, want 2", got)
	}
	if got := p.queued.Load(); got != 2000 {
		t.Fatalf("Backlog counts %d bytes, want 2000 (the copies not)", got)
	}
	// The writer takes m1: the next copy goes into the queue.
	p.took(<-p.out)
	if !tr.queue(p, m1) || len(p.out) != 2 {
		t.Fatalf("a copy of a packet no longer queued was not queued (%d queued)", len(p.out))
	}
	if got := tr.Stats().SendDuplicates; got != 2 {
		t.Fatalf("SendDuplicates %d after the original left, want still 2", got)
	}
	// A full queue drops, and forgets what it dropped.
	full := newPeer("c", 1)
	full.cur = &conn{}
	tr.queue(full, m1)
	tr.queue(full, m2) // dropped: the queue holds m1
	full.took(<-full.out)
	tr.queue(full, m2)
	if len(full.out) != 1 || !bytes.Equal(<-full.out, m2) {
		t.Fatal("a packet dropped from a full queue was taken for queued")
	}
}
