// The bridge's local ring messages within the local ring's limit
// (Config.MaxLocalBytes): a Seen and a Relay name every pending Up of
// theirs, and at a backlog of thousands one was larger than the ring
// carries; it is split into as many as fit.
package bridge

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// TestSeenAtMaxPending: a node with MaxPending Ups of its own pending,
// each first delivered by the 3 nodes of its site at places of a ring
// numbered in the millions (firsts as a long-lived site has them), sends
// their Seen in parts within the local ring's default limit, every Up
// once, in order. In one message the Seen is about 3 MiB, three times
// what the ring carries. Another node that knew only its own places
// takes the parts as one: every Up with the sender's 3.
func TestSeenAtMaxPending(t *testing.T) {
	pending := func(node localring.NodeID, nodes ...string) *Site {
		s, err := New(Config{Domain: "fed/test", Site: "fra", Node: node})
		if err != nil {
			t.Fatal(err)
		}
		for i := range DefaultMaxPending {
			at := localring.Order{Ring: 1 << 21, Seq: 5_000_000 + uint64(i)/4, Index: uint32(i % 4)}
			p := pendingUp{fedUp: fedUp{origin: Origin{Site: "fra", ID: localring.MessageID{Sender: "fra-2", Inc: 3, Seq: 1_000_000 + uint64(i)}}, svc: localring.Agreed, payload: []byte("u")}}
			for _, n := range nodes {
				p.firsts = append(p.firsts, first{node: n, at: at})
			}
			s.pending = append(s.pending, p)
		}
		return s
	}
	s, other := pending("fra-2", "fra-1", "fra-2", "fra-3"), pending("fra-1", "fra-1")
	one := len(encodeSeen(s.tag, &seenMsg{ups: func() []seenUp {
		var u []seenUp
		for _, p := range s.pending {
			u = append(u, seenUp{inc: p.origin.ID.Inc, seq: p.origin.ID.Seq, firsts: p.firsts})
		}
		return u
	}()}))
	s.LocalInstall(&localring.Configuration{ID: "r:2097156", Kind: localring.Regular, Ring: localring.RingID{Seq: 1<<21 + 4}, Members: []localring.Member{{ID: "fra-1", Inc: 1}, {ID: "fra-2", Inc: 1}, {ID: "fra-3", Inc: 1}}}, false)
	var seqs []uint64
	seens, largest := 0, 0
	var took time.Duration
	for _, b := range s.Ready().Local {
		largest = max(largest, len(b))
		if len(b) > localring.MaxMessageBytes {
			t.Errorf("a local message (kind %#x) of %d bytes, more than the ring's %d", b[0], len(b), localring.MaxMessageBytes)
		}
		_, l, err := decodeLocal(b)
		if err != nil {
			t.Fatal(err)
		}
		if l.seen != nil {
			start := time.Now()
			other.LocalDeliver(&localring.Message{ID: localring.MessageID{Sender: "fra-2", Inc: 1, Seq: uint64(seens + 1)}, Payload: b, Order: localring.Order{Ring: 1<<21 + 4, Seq: uint64(seens + 1)}})
			took += time.Since(start)
			seens++
			for _, u := range l.seen.ups {
				seqs = append(seqs, u.seq)
			}
		}
	}
	if len(seqs) != DefaultMaxPending || !slices.IsSorted(seqs) || seqs[0] != 1_000_000 || seqs[len(seqs)-1] != 1_000_000+DefaultMaxPending-1 {
		t.Errorf("the Seens carry %d Ups, want the %d pending in order", len(seqs), DefaultMaxPending)
	}
	if st := s.Stats(); st.LocalTooLarge != 0 {
		t.Errorf("LocalTooLarge %d, want 0", st.LocalTooLarge)
	}
	for i := range other.pending {
		if got, want := fmt.Sprint(other.pending[i].firsts), fmt.Sprint(s.pending[i].firsts); got != want {
			t.Fatalf("fra-1 has Up %d first at %s after the Seens, want %s", i, got, want)
		}
	}
	t.Logf("%d Ups: one Seen would be %d bytes; sent as %d Seens, the largest local message %d bytes; another node took them in %v", DefaultMaxPending, one, seens, largest, took)
}

// TestInDoubtOrderBigSeen is TestInDoubtOrderFromAgains with a backlog:
// a1, away, comes back and takes over from a2 after a2 submitted 60 Ups
// of a3 and a2 in turn, and gets them only from their senders' Agains,
// a2's first; the site's first ring is one of its site alone and it
// delivers them in doubt, in a2's order as b and c did, which a1 learns
// from a2's and a3's Seens and Relays. The local rings carry 512 bytes at
// most: each Seen and Relay takes several messages. Sent whole, they are
// refused (as a ring's Submit refuses them), and a1 delivered a2's Ups
// first, then a3's.
func TestInDoubtOrderBigSeen(t *testing.T) {
	const pairs, max = 30, 512
	h := newDomain(t, 0, 3, 2, 2)
	h.limitLocal(max)
	h.sendSettled("before", "a2", "b1")
	a1, a2 := h.node("a1"), h.node("a2")
	a1.out = true
	h.localConfig(h.site("a"))
	if !a2.b.Active() {
		t.Fatal("a2 is not the active gateway")
	}
	h.fedConfig("a", "b", "c")
	h.settle()
	var ups []Origin
	for i := range pairs {
		h.send("a3", fmt.Sprint("u", 2*i))
		h.send("a2", fmt.Sprint("u", 2*i+1))
		ups = append(ups, h.sent[len(h.sent)-2:]...)
	}
	h.localStep(h.site("a")) // a2 submits them in turn
	if n := len(h.fedQ); n != 2*pairs {
		t.Fatalf("a2 submitted %d Ups, want %d", n, 2*pairs)
	}
	a1.b.FedStopped()
	h.collect(a1)
	a1.out = false
	h.localConfig(h.site("a")) // a1 back: a new term; a2's ends
	if !a1.b.Active() || a2.b.Active() {
		t.Fatal("a1 did not take over")
	}
	h.settle()
	h.fedAlone("a")
	h.settle()
	if h.refused != 0 {
		t.Errorf("the local rings refused %d messages larger than %d bytes", h.refused, max)
	}
	want := streamOrder(h.node("b1"), ups...)
	if !slices.Equal(want, ups) {
		t.Fatalf("b1 delivered %v, want %v", want, ups)
	}
	st := a1.b.Stats()
	t.Logf("a1 stats: InDoubt %d InDoubtMoved %d AgainsInDoubt %d LocalTooLarge %d", st.InDoubt, st.InDoubtMoved, st.AgainsInDoubt, st.LocalTooLarge)
	if st.InDoubt != 2*pairs {
		t.Errorf("a1 delivered %d Ups in doubt, want %d", st.InDoubt, 2*pairs)
	}
	for _, n := range []*hnode{a1, a2, h.node("a3")} {
		if got := streamOrder(n, ups...); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v, b1 %v: EVS 6", n.id, got, want)
		}
		if c := n.b.Stats().LocalTooLarge; c != 0 {
			t.Errorf("%s LocalTooLarge %d, want 0", n.id, c)
		}
	}
}

// TestLocalTooLarge: a local message larger than MaxLocalBytes alone (an
// Again of an Up near the limit; a Seen's one Up with more places than
// fit) is not sent, and counted; the rest of the Seen goes.
func TestLocalTooLarge(t *testing.T) {
	const max = 200
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a1", MaxLocalBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	at := localring.Order{Ring: 4, Seq: 1}
	own := func(seq uint64, payload, places int) pendingUp {
		p := pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a1", Inc: 1, Seq: seq}}, svc: localring.Agreed, payload: make([]byte, payload)}}
		for i := range places {
			p.firsts = append(p.firsts, first{node: fmt.Sprintf("node-%02d", i), at: at})
		}
		return p
	}
	// Up 1's Again is too large; Up 2's places do not fit in one Seen.
	s.pending = []pendingUp{own(1, max, 1), own(2, 10, 20), own(3, 10, 2)}
	s.LocalInstall(&localring.Configuration{ID: "r:8", Kind: localring.Regular, Ring: localring.RingID{Seq: 8}, Members: []localring.Member{{ID: "a1", Inc: 1}}}, false)
	var kinds []string
	var seen []uint64
	for _, b := range s.Ready().Local {
		if len(b) > max {
			t.Errorf("a local message of %d bytes, more than %d", len(b), max)
		}
		_, l, err := decodeLocal(b)
		switch {
		case err != nil:
			t.Fatal(err)
		case l.again != nil:
			kinds = append(kinds, fmt.Sprint("again ", l.again.origin.ID.Seq))
		case l.seen != nil:
			kinds = append(kinds, "seen")
			for _, u := range l.seen.ups {
				seen = append(seen, u.seq)
			}
		case l.have != nil:
			kinds = append(kinds, "have")
		}
	}
	if want := []string{"again 2", "again 3", "seen", "have"}; !slices.Equal(kinds, want) {
		t.Errorf("sent %v, want %v", kinds, want)
	}
	if !slices.Equal(seen, []uint64{1, 3}) {
		t.Errorf("the Seen carries Ups %v, want 1 and 3 (2's places do not fit)", seen)
	}
	if st := s.Stats(); st.LocalTooLarge != 2 {
		t.Errorf("LocalTooLarge %d, want 2: Up 1's Again and Up 2 of the Seen", st.LocalTooLarge)
	}
	// Every Up too large: a Seen with none still names the gateway.
	s, err = New(Config{Domain: "fed/test", Site: "a", Node: "a1", MaxLocalBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	s.lastGw, s.lastGwAt = "a2", termAt{ring: 4}
	s.pending = []pendingUp{own(2, 10, 20)}
	s.LocalInstall(&localring.Configuration{ID: "r:8", Kind: localring.Regular, Ring: localring.RingID{Seq: 8}, Members: []localring.Member{{ID: "a1", Inc: 1}}}, false)
	var gws []string
	for _, b := range s.Ready().Local {
		if _, l, err := decodeLocal(b); err == nil && l.seen != nil {
			gws = append(gws, fmt.Sprintf("%s %d", l.seen.gw, len(l.seen.ups)))
		}
	}
	if want := []string{"a2 0"}; !slices.Equal(gws, want) {
		t.Errorf("Seens (gateway, Ups) %v, want %v: the gateway named with no Up", gws, want)
	}
}

// TestDownTooLarge: a message that site a's ring carries and site b's does
// not (b's bridges have a smaller MaxLocalBytes) goes down at b without its
// data, as the stub Config.Stub makes, marked Elided and counted
// (Stats.DownsTooLarge), at its place: b's stream goes on past it, and the
// message after it reaches b in full. Unsent, the Down would stop b's
// stream there for good, every later Down naming its place.
func TestDownTooLarge(t *testing.T) {
	const max = 300
	h := newDomain(t, 0, 2, 2)
	for _, n := range h.site("b").nodes {
		n.b.cfg.MaxLocalBytes = max
		n.b.cfg.Stub = func(p []byte) []byte { return fmt.Appendf(nil, "stub of %d bytes", len(p)) }
	}
	big := string(make([]byte, 2*max))
	h.sendSettled(big, "a1")
	h.sendSettled("after", "a2")
	ups := h.sent[len(h.sent)-2:]
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if got := streamOrder(n, ups...); !slices.Equal(got, ups) {
				t.Fatalf("%s delivered %v, want %v", n.id, got, ups)
			}
			for _, e := range n.stream {
				if e.Kind != EntryMessage || !slices.Contains(ups, e.Origin) {
					continue
				}
				var want string
				elided := false
				switch {
				case e.Origin == ups[1]:
					want = "after"
				case s.name == "a":
					want = big
				default:
					want, elided = fmt.Sprintf("stub of %d bytes", len(big)), true
				}
				if string(e.Payload) != want || e.Elided != elided {
					t.Errorf("%s delivered %s with %d bytes (elided %v), want %q (elided %v)", n.id, e.Origin, len(e.Payload), e.Elided, want[:min(len(want), 20)], elided)
				}
			}
		}
	}
	if st := h.site("b").gw.b.Stats(); st.DownsTooLarge != 1 || st.LocalTooLarge != 0 {
		t.Errorf("b's gateway: DownsTooLarge %d, LocalTooLarge %d, want 1 and 0", st.DownsTooLarge, st.LocalTooLarge)
	}
}
