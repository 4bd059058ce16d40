// Two parts of a split site, each with its own gateway term, and the order
// of the site's Ups in doubt (see the package comment, "Two parts of a
// site and the order of its Ups in doubt").
package bridge

import (
	"slices"
	"testing"
)

// u1ThenU2 has a federation ring of sites a, b and c form and settle,
// then a3 send u1 and a2 u2, which go round a's local ring once: a's
// active gateway has them in that order, and submits them so.
func (h *harness) u1ThenU2() (u1, u2 Origin) {
	h.fedConfig("a", "b", "c")
	h.settle()
	h.send("a3", "u1")
	u1 = h.sent[len(h.sent)-1]
	h.send("a2", "u2")
	u2 = h.sent[len(h.sent)-1]
	h.localStep(h.site("a"))
	return u1, u2
}

// TestInDoubtOrderOtherPart: the Ups of another part of the site go in
// the order of that part's gateway. a's ring splits: a1, the active
// gateway, alone in a ring 8 (its term goes on, and submits a1's Up
// there; its member is fenced later), a2 and a3 in a ring 8 of their own,
// where
// a2 takes over and its member joins b and c. a3 sends u1, then a2 u2,
// and a2 submits them in that order; a2's member stops before the ring
// delivers them, and b and c deliver them in their transitional
// configuration, u1 before u2. At the merge a1 takes over again, a new
// term: it had neither Up, and gets both only from their senders' Agains,
// a2's first. Its predecessor is its own term of ring 8 (a2's, named in
// a Seen at ring 8 too, is not later), which never had them; its places
// at the merge are its new term's own. a's first ring is one of its site
// alone, and a delivers the two in doubt in a2's order, u1 before u2, as
// b and c did. Before, a1 ordered them by the places where it had their
// Agains, u2 before u1 (hiersim stray-gateway seed 60 with
// packets=no-local-loss: ams-1's term after the merge delivered
// ams-2/1/297 before ams-3/1/63, which ams-2's member had got ordered the
// other way; EVS 6 and 9).
func TestInDoubtOrderOtherPart(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a := h.site("a")
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	ring := a.ring + 4

	a2.out, a3.out = true, true
	h.localConfig(a) // a1's part
	if !a1.b.Active() {
		t.Fatal("a1 is not active in its part")
	}
	h.sendSettled("alone", "a1") // its term submits in its part

	a1.out, a2.out, a3.out = true, false, false
	a1.b.FedStopped() // fenced by a2's member
	a.ring = ring - 4
	h.localConfig(a) // a2's part, its ring numbered as a1's
	if !a2.b.Active() || a.ring != ring {
		t.Fatalf("a2 active %v in ring %d: the run does not make the case", a2.b.Active(), a.ring)
	}
	h.settle()
	u1, u2 := h.u1ThenU2()
	if got := upsFrom(h, "a", 0); !slices.Contains(got, u1) || !slices.Contains(got, u2) {
		t.Fatalf("a2 submitted %v, want u1 and u2", got)
	}
	a2.b.FedStopped() // its member stops before the ring delivers them
	h.collect(a2)
	h.fedConfigAfter(len(h.fedQ), "b", "c")
	h.settle()
	want := streamOrder(h.node("b1"), u1, u2)
	if !slices.Equal(want, []Origin{u1, u2}) {
		t.Fatalf("b1 delivered %v, want u1 then u2", want)
	}

	a1.out = false
	h.localConfig(a) // the merge: a1 takes over again
	if !a1.b.Active() || a2.b.Active() {
		t.Fatal("a1 did not take over at the merge")
	}
	h.settle()
	t.Logf("a1 pending %v, predecessor %s, other part's gateway %s", pendingOrigins(a1), a1.b.predecessor(), a1.b.otherGw)
	h.fedAlone("a")
	h.settle()
	if st := a1.b.Stats(); st.InDoubt < 2 {
		t.Fatalf("a1 delivered %d Ups in doubt, want u1 and u2 among them", st.InDoubt)
	}
	for _, n := range []*hnode{a1, a2, a3} {
		if got := streamOrder(n, u1, u2); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v, b1 %v: EVS 6", n.id, got, want)
		}
	}
}
