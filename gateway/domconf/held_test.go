package domconf

import (
	"testing"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
)

// TestHeldAfterContinues: a regular configuration of the federation that
// continues the domain's (a gateway failover) comes into the stream while
// a site's bridge still holds a Safe message of the ring before it (the
// bridge keeps held messages for a mark of the new ring: bridge,
// continued); the message comes after the entry, with the old ring's
// position. Site a had its mark before the failover and delivered the
// message before the entry. The message is no sign of a configuration the
// node missed: b-1 must deliver it in the configuration it was sent in,
// as a-2 did, and not open a round (follow), which discarded it at b-1,
// its sender, told it was not sent, while a-2 delivered it (EVS 1.1), and
// discarded a-2's next message at b-1 too. gateway/hiersim's domconf
// layer found it at every seed of its gateway crash, pause and local cut
// (sites opened their round at the first held message, each at another
// place).
func TestHeldAfterContinues(t *testing.T) {
	a2, b1 := member("a-2", 1), member("b-1", 1)
	va := newView(t, "a", a2)
	vb := newView(t, "b", b1)
	s := newStream(va, vb)
	s.conf("a", "b")
	s.announce("a", a2)
	s.announce("b", b1)
	s.reform("a", "b")
	before := va.Current().ID
	ring, seq := s.ring, s.seq

	held := bridge.Entry{Kind: bridge.EntryMessage, Pos: localring.DomainOrder{Seq: seq + 1, Ring: ring}, Svc: localring.Safe, Origin: origin(b1, 100), Payload: payload(100)}
	heldSend := held
	heldSend.Kind, heldSend.Pos = bridge.EntrySend, localring.DomainOrder{}
	cont := bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: seq + 3, Ring: ring + 1},
		Conf: bridge.DomainConf{ID: "r:failover", Kind: localring.Regular, Sites: []string{"a", "b"}, Continues: "r"}}
	next := bridge.Entry{Kind: bridge.EntryMessage, Pos: localring.DomainOrder{Seq: seq + 4, Ring: ring + 1}, Svc: localring.Agreed, Origin: origin(a2, 101), Payload: payload(101)}
	nextSend := next
	nextSend.Kind, nextSend.Pos = bridge.EntrySend, localring.DomainOrder{}
	apply := func(v *View, es ...bridge.Entry) {
		for i := range es {
			v.Entry(&es[i])
			s.evs[v] = append(s.evs[v], v.Ready().Events...)
		}
	}
	apply(va, held, cont, nextSend, next)
	apply(vb, cont, heldSend, held, next)

	for _, v := range s.views {
		if c := v.Current(); v.InRound() || c.ID != before || v.Stats().Missed != 0 || v.Stats().Discarded != 0 {
			t.Errorf("%s: in %s, in round %v, stats %+v; want %s, no round, nothing missed or discarded", v.cfg.Self.ID, c.ID, v.InRound(), v.Stats(), before)
		}
		var n int
		for _, e := range s.evs[v] {
			if e.Kind == localring.EventDeliver && e.Msg.Conf == before {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s delivered %d messages in %s, want 2", v.cfg.Self.ID, n, before)
		}
	}
	s.checkAll(t)
}

// TestRoundCompletesAfterTransitional: a round is open and every site has
// announced when the federation ring ends; the bridge's transitional
// entry comes, then the Safe messages it still held, among them the
// entry of a ring formed again that continues the domain's configuration
// (it holds such an entry behind the messages before it: bridge,
// continued), then the federation's transitional messages. The round
// completes at that entry, inside the transitional section: the messages
// after it are delivered in a transitional configuration of the regular
// one it installs, where their senders are told they were sent. b-2's
// site had its mark before the ring ended and has the held messages and
// the entry before the transitional one. Told unsent at the
// transitional entry (the round was open there), b-1's and a-1's
// messages were delivered in the regular configuration the round
// installed (EVS 1.1 at node level: gateway/hiersim partial-cut, seed
// 394, 17 messages that their senders never recorded as sent).
func TestRoundCompletesAfterTransitional(t *testing.T) {
	a1, b1, b2 := member("a-1", 1), member("b-1", 1), member("b-2", 1)
	va := newView(t, "a", a1)
	vb1 := newView(t, "b", b1)
	vb2 := newView(t, "b", b2)
	s := newStream(va, vb1, vb2)
	s.conf("a", "b")
	s.announce("a", a1)
	s.announce("b", b1, b2)
	for _, v := range s.views {
		if !v.InRound() {
			t.Fatalf("%s: no round open", v.cfg.Self.ID)
		}
	}
	ring, seq := s.ring, s.seq
	if ring == 0 {
		ring = 7
	}
	msg := func(from localring.Member, n, at, r uint64, svc localring.Service) (send, m bridge.Entry) {
		m = bridge.Entry{Kind: bridge.EntryMessage, Pos: localring.DomainOrder{Seq: seq + at, Ring: r}, Svc: svc, Origin: origin(from, n), Payload: payload(n)}
		send = m
		send.Kind, send.Pos = bridge.EntrySend, localring.DomainOrder{}
		return send, m
	}
	oldSend, old := msg(a1, 100, 1, ring, localring.Safe) // of the ring the round opened in
	cont := bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: seq + 2, Ring: ring + 1},
		Conf: bridge.DomainConf{ID: "r:reformed", Kind: localring.Regular, Sites: []string{"a", "b"}, Continues: "r"}}
	heldSend, held := msg(b1, 101, 3, ring+1, localring.Agreed) // held behind old
	trans := bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: seq + 4, Ring: ring + 1},
		Conf: bridge.DomainConf{ID: "t", Kind: localring.Transitional, Sites: []string{"a", "b"}}}
	lateSend, late := msg(a1, 102, 5, ring+1, localring.Agreed) // in the federation's transitional configuration
	next := bridge.Entry{Kind: bridge.EntryConfig, Pos: localring.DomainOrder{Seq: seq + 6, Ring: ring + 2},
		Conf: bridge.DomainConf{ID: "r:next", Kind: localring.Regular, Sites: []string{"a", "b"}}}
	apply := func(v *View, es ...bridge.Entry) {
		for i := range es {
			v.Entry(&es[i])
			s.evs[v] = append(s.evs[v], v.Ready().Events...)
		}
	}
	apply(va, oldSend, lateSend, trans, old, cont, held, late, next)
	apply(vb1, heldSend, trans, old, cont, held, late, next)
	apply(vb2, old, cont, held, trans, late, next)

	for _, v := range s.views {
		var n int
		for _, e := range s.evs[v] {
			if e.Kind == localring.EventDeliver {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s delivered %d messages, want 2 (b-1's 101 and a-1's 102; a-1's 100 discarded in the round)", v.cfg.Self.ID, n)
		}
	}
	s.checkAll(t)
}

// TestOutFollowsRound: site a announces its ring without a-1 (a moment
// out of it), and the domain goes on without a-1 at the federation's next
// configuration; a-1, out, is in a transitional configuration of itself
// alone. a-3 joins a: the domain opens a round at the next one, and a
// announces a-1 back before it completes (a-1 has its site's ring again),
// b too, so the round completes with a-1 at the one after. a-1 must
// install that configuration with the others and be told that its
// message after it was sent there. Deciding from itself alone, it opened
// no round where the others did (it was in no configuration and not
// announced), and opened its own where they completed theirs with it:
// they delivered its messages in that configuration, and it, in its
// round, was told that they were not sent (node-level EVS 1.1 at 8 of
// gateway/hiersim's seeds 1-100 of TestStarvationLong's regional-one
// case, seed 16: a-1 back in site a's ring after a split of it).
func TestOutFollowsRound(t *testing.T) {
	a1, a2, a3, b1 := member("a-1", 1), member("a-2", 1), member("a-3", 1), member("b-1", 1)
	va1 := newView(t, "a", a1)
	va2 := newView(t, "a", a2)
	vb := newView(t, "b", b1)
	s := newStream(va1, va2, vb)
	s.conf("a", "b")
	s.announce("a", a1, a2)
	s.announce("b", b1)
	s.reform("a", "b")
	s.wantInstalled(t, vb.Current().ID, a1, a2, b1)

	// a-1 out of a's ring: the domain goes on without it.
	s.announce("a", a2)
	s.reform("a", "b")
	if c := va1.Current(); c.Kind != localring.Transitional || va1.InRound() {
		t.Fatalf("a-1 announced out: in %+v, in round %v; want its transitional configuration of itself, no round", c, va1.InRound())
	}

	// a-3 joins: a round opens at the next configuration, at every node.
	s.announce("a", a2, a3)
	s.reform("a", "b")
	for _, v := range s.views {
		if !v.InRound() {
			t.Errorf("%s: no round open where the domain opened one", v.cfg.Self.ID)
		}
	}

	// a-1 back, and b: the round completes with a-1 in it.
	s.announce("a", a1, a2, a3)
	s.announce("b", b1)
	s.reform("a", "b")
	s.wantInstalled(t, vb.Current().ID, a1, a2, a3, b1)
	s.sent(va1, 60)
	s.deliver(va1, 60)
	for _, v := range s.views {
		if e := s.evs[v][len(s.evs[v])-1]; e.Kind != localring.EventDeliver || e.Msg.Conf != vb.Current().ID {
			t.Errorf("%s: last event %+v, want a-1's message delivered in %s", v.cfg.Self.ID, e, vb.Current().ID)
		}
	}
	s.checkAll(t)
}
