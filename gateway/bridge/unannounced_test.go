package bridge

import (
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
// before a-3 was back). a1 holds u2 until a3's Have (Site.unannounced),
// which comes after its Agains: u1 goes up first. Fails without it.
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
			s.queue = append(s.queue, hmsg{localring.MessageID{Sender: n.id, Inc: 1, Seq: n.seq}, p})
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
