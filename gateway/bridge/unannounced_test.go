package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestUpBeforeItsSendersHave: a3, cut off from its site, has its Up u1
// pending alone; back in a's ring, its Up u2, queued during the
// membership round, is delivered before its Again of u1 and its Have,
// and the ring ends there (a3 cut off again). a1, the active gateway
// throughout, goes on in a ring without a3: it has u2 pending and never
// heard of u1. Submitted there, u2 came down first, and u1, its Again
// delivered once a3 was back, came down after it and was dropped as a
// duplicate at every node (hiersim TestStarvationFixed, regional seed
// 16, with localring's Config.Roster: a-1's new federation ring formed
// before a-3 was back). a1 holds u2 until a3's Have
// (pendingUp.unannounced), which comes after its Agains: u1 goes up
// first. Fails without it. a1 and a2 drop u2 at the configuration
// without a3 (Site.dropUnannounced), and take it again from a3's Again,
// after u1's.
func TestUpBeforeItsSendersHave(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	a := h.site("a")
	a3 := h.node("a3")
	h.sendSettled("w", "a1", "b1")

	a3.out = true
	h.localConfig(a) // a1 and a2
	h.settle()
	a3.b.LocalInstall(&localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: a.ring + 2}, ID: "r:alone",
		Members: []localring.Member{{ID: a3.id, Inc: 1}}}, false)
	h.alone(a3)
	h.send("a3", "u1")
	h.alone(a3)
	u1 := h.sent[len(h.sent)-1]

	h.send("a3", "u2") // queued during the membership round
	u2 := h.sent[len(h.sent)-1]
	a3.out = false
	h.localConfig(a) // a1, a2 and a3: u2 first, then the Agains and Haves
	a.queue = a.queue[:1]
	h.localStep(a) // u2 alone
	a3.out = true
	a.queue = slices.DeleteFunc(a.queue, func(m hmsg) bool { return m.id.Sender == a3.id })
	h.localStep(a)   // the others' messages in that ring
	h.localConfig(a) // a1 and a2 again
	h.settle()

	a3.out = false
	h.localConfig(a) // a3 back: its Agains of u1 and u2, then its Have
	h.settle()
	h.sendSettled("after", "a3", "b1")
	h.checkOrder()
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2"} {
		got := h.messages(h.node(id))
		i, j := slices.Index(got, u1), slices.Index(got, u2)
		if i < 0 || j < 0 || j < i {
			t.Errorf("%s delivered u1 (%s) at %d, u2 (%s) at %d of %v: want both, u1 first", id, u1, i, u2, j, got)
		}
	}
	for _, id := range []string{"a1", "a2"} {
		if got := h.node(id).b.Stats().UnannouncedDropped; got != 1 {
			t.Errorf("%s dropped %d Ups unannounced, want 1 (u2, at the configuration without a3)", id, got)
		}
	}
}

// alone delivers what n has to say on its local ring to n alone, as its
// ring of its own delivers it, until it says nothing more: its queued
// messages go too.
func (h *harness) alone(n *hnode) {
	s := n.site
	for {
		r := n.b.Ready()
		n.stream = append(n.stream, r.Stream...)
		for _, p := range r.Local {
			n.seq++
			s.queue = append(s.queue, hmsg{localring.MessageID{Sender: n.id, Inc: n.inc, Seq: n.seq}, p})
		}
		var mine []hmsg
		s.queue = slices.DeleteFunc(s.queue, func(m hmsg) bool {
			if m.id.Sender == n.id {
				mine = append(mine, m)
				return true
			}
			return false
		})
		if len(mine) == 0 {
			return
		}
		for _, m := range mine {
			s.pkt++
			n.b.LocalDeliver(&localring.Message{ID: m.id, Svc: localring.Agreed, Payload: m.payload, Order: localring.Order{Ring: s.ring + 2, Seq: s.pkt}})
		}
	}
}

// upBeforeHave has n send an Up that its site's ring delivers, in a new
// regular configuration, before n's Agains and Have (n submitted it
// during the configuration's membership round), and has n leave the
// configuration right after it (gone: crash it, or cut it off): its
// Agains and Have go with it, the other members' messages of the
// configuration are delivered. It returns the Up's origin.
func (h *harness) upBeforeHave(n *hnode, gone func()) Origin {
	s := n.site
	h.send(string(n.id), "unannounced")
	u := h.sent[len(h.sent)-1]
	h.localConfig(s) // u first, then every member's Agains and Have
	rest := slices.Clone(s.queue[1:])
	s.queue = s.queue[:1]
	h.localStep(s) // u alone
	gone()
	s.queue = slices.DeleteFunc(append(rest, s.queue...), func(m hmsg) bool { return m.id.Sender == n.id })
	h.localStep(s) // the others' messages in that configuration
	return u
}

// checkUnannouncedDropped fails unless each of the nodes ids dropped
// exactly one Up unannounced (Stats.UnannouncedDropped) and holds none
// pending, and unless no live node delivered u.
func (h *harness) checkUnannouncedDropped(u Origin, ids ...string) {
	for _, id := range ids {
		n := h.node(id)
		if got := n.b.Stats().UnannouncedDropped; got != 1 {
			h.t.Errorf("%s dropped %d Ups unannounced, want 1 (%s)", id, got, u)
		}
		if got := n.b.Pending(); got != 0 {
			h.t.Errorf("%s holds %d Ups pending, want 0 (%s was unannounced, its sender gone)", id, got, u)
		}
	}
	h.live(func(_ *hsite, n *hnode) {
		if slices.Contains(h.messages(n), u) {
			h.t.Errorf("%s delivered %s, whose sender's incarnation left before its Have", n.id, u)
		}
	})
}

// TestUnannouncedSenderGone: a3's Up u, queued during a membership
// round of a's ring, is delivered before a3's Agains and Have, and a3
// crashes there, for good: a1 and a2 go on without it. u is unannounced
// (pendingUp.unannounced: submitted, it could go up ahead of earlier Ups
// of a3 whose Agains they never had, TestUpBeforeItsSendersHave) and no
// Have of a3 comes any more. Every node drops it at the first regular
// configuration without a3 (Site.dropUnannounced) and no node delivers
// it; the gateway that a1's crash too makes a2 agrees (it does not take u
// in doubt). Without it, a1 and a2 kept u pending through every later
// configuration, never submitted and delivered nowhere (Pending 1; its
// bytes in the site's backlog, PendingBytes) until Config.MaxPending
// pushed it out.
func TestUnannouncedSenderGone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash []string // crash with a3
		left  []string // the nodes of a that go on
	}{
		{"sender", nil, []string{"a1", "a2"}},
		{"sender and gateway", []string{"a1"}, []string{"a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newDomain(t, 0, 3, 2)
			a := h.site("a")
			h.sendSettled("w", "a1", "b1")
			u := h.upBeforeHave(h.node("a3"), func() {
				h.crash("a3")
				for _, id := range tc.crash {
					h.crash(id)
				}
			})
			h.localConfig(a) // without a3
			if len(tc.crash) > 0 {
				h.fedConfig("a", "b") // a2's term
			}
			h.settle()
			for i := range 3 {
				h.sendSettled(fmt.Sprint("after ", i), append(slices.Clone(tc.left), "b1")...)
				h.localConfig(a)
				h.settle()
			}
			h.checkOrder()
			h.checkUnannouncedDropped(u, tc.left...)
			for _, id := range append(slices.Clone(tc.left), "b1", "b2") {
				if got, want := len(h.messages(h.node(id))), 3*(len(tc.left)+1); got < want {
					t.Errorf("%s delivered %d messages, want at least %d: %v", id, got, want, h.messages(h.node(id)))
				}
			}
		})
	}
}

// TestUnannouncedSenderNewIncarnation: as TestUnannouncedSenderGone,
// but a3 restarts at once, a new incarnation, and the next configuration
// of a's ring has it: no Have of the incarnation that sent u comes any
// more (a Have announces its own incarnation's Ups). Every node drops u
// there; a3's new incarnation's Ups go through. Without it, a1 and a2
// held u for good, as with a3 gone.
func TestUnannouncedSenderNewIncarnation(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	a := h.site("a")
	h.sendSettled("w", "a1", "b1")
	u := h.upBeforeHave(h.node("a3"), func() { h.crash("a3") })
	h.restart("a3")
	h.localConfig(a) // a1, a2 and a3's new incarnation
	h.settle()
	h.sendSettled("after", "a3", "a1", "b1")
	h.checkOrder()
	h.checkUnannouncedDropped(u, "a1", "a2")
	after := h.sent[len(h.sent)-3]
	if after.ID.Inc != 2 {
		t.Fatalf("a3's Up after its restart is %s, want incarnation 2", after)
	}
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2"} {
		if !slices.Contains(h.messages(h.node(id)), after) {
			t.Errorf("%s did not deliver %s, a3's new incarnation's: %v", id, after, h.messages(h.node(id)))
		}
	}
}

// upAlone cuts n off from its site's ring, where the others go on
// without it, and has it send an Up in a ring of its own (not the
// gateway there): the Up is pending at n alone. It returns the Up's
// origin; n stays cut off.
func (h *harness) upAlone(n *hnode) Origin {
	s := n.site
	n.out = true
	h.localConfig(s)
	h.settle()
	n.b.LocalInstall(&localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: s.ring + 2}, ID: "r:alone",
		Members: []localring.Member{{ID: n.id, Inc: n.inc}}}, false)
	h.alone(n)
	h.send(string(n.id), "alone")
	h.alone(n)
	return h.sent[len(h.sent)-1]
}

// TestUnannouncedNotInDoubt: as TestUpBeforeItsSendersHave, a3 has u1
// pending alone, and its u2 comes in a's ring before its Agains and
// Have; a3 is cut off again there, but a1, the active gateway, dies with
// it, and a2 takes over in a ring of its own, where a's federation
// member is cut off from b too: a2's new term cannot learn what a1 got
// ordered, and a leaves its configuration with its Ups in doubt
// (inDoubt). u2 is not one of them: a2 dropped it at its configuration
// without a3 (Site.dropUnannounced), before its term began. Once a3 is
// back its Agains bring u1 and u2, and a delivers both, in order.
// Before, a2's term took u2 in doubt and a delivered it in its
// transitional configuration without u1, which every node, a3 too, then
// took for done (donePending) and dropped as known when a3's Again
// brought it: u1 was lost at every node, its sender alive.
func TestUnannouncedNotInDoubt(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	a := h.site("a")
	a2, a3 := h.node("a2"), h.node("a3")
	h.sendSettled("w", "a1", "b1")
	u1 := h.upAlone(a3)
	a3.out = false
	u2 := h.upBeforeHave(a3, func() {
		a3.out = true
		h.crash("a1")
	})
	h.localConfig(a) // a2 alone, a new term
	h.settle()
	h.fedAlone("a") // a leaves its configuration, its term's doubt unresolved
	h.settle()
	a3.out = false
	h.localConfig(a) // a3 back: its Agains of u1 and u2, then its Have
	h.settle()
	h.afterRing([]string{"a", "b"}, "a3", "b1")
	if st := a2.b.Stats(); st.UnannouncedDropped != 1 || st.InDoubt != 0 {
		t.Errorf("a2 dropped %d Ups unannounced and delivered %d in doubt, want 1 and 0", st.UnannouncedDropped, st.InDoubt)
	}
	for _, n := range []*hnode{a2, a3} {
		got := h.messages(n)
		i, j := slices.Index(got, u1), slices.Index(got, u2)
		if i < 0 || j < 0 || j < i {
			t.Errorf("%s delivered u1 (%s) at %d, u2 (%s) at %d of %v: want both, u1 first", n.id, u1, i, u2, j, got)
		}
		for _, e := range n.stream {
			if e.InDoubt {
				t.Errorf("%s delivered %s in doubt", n.id, e.Origin)
			}
		}
	}
}
