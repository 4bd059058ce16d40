package bridge

import (
	"slices"
	"testing"
)

// TestPartAloneUnseen: the federation splits into a ring of site a alone
// and one of b alone, and a's local ring splits as a1, its gateway, is in
// a's: a3 has its Up u pending and is cut off before that ring's Downs
// come round. a3's part takes over with a term of its own (u in doubt),
// whose member joins b's next ring: b answers its catch-up ("answer": b
// settled its ring alone), or the ring continues the domain's
// configuration ("continued": b's ring ended before it settled), and the
// term takes u for unordered either way (no other site has a's ring).
// Before, a1 submitted u in a's ring as it settled, and a1 and a2
// delivered it there, a3 and b1 at another place (hiersim's regional
// starvation with
// domconf's round for a held change that waited for every site's
// announcement, seeds 38 and 27 of 1-100 at a475924: bridge-level EVS 1.3
// and 6). a1 submits no Up in a ring of its site alone before every
// member of its local ring said it applied that ring's configuration
// (Site.parted): u is ordered once, in a3's ring with b. Each case fails
// without it.
//
// "lost": a's ring then forms again without a3 before a3's part takes
// over. a1 and a2 said they applied a's ring's configuration, but a3,
// which left first, never did: a1 still submits nothing there
// (Site.partLost), as a3's part may get u ordered elsewhere.
func TestPartAloneUnseen(t *testing.T) {
	t.Run("answer", func(t *testing.T) { partAloneUnseen(t, false, false) })
	t.Run("continued", func(t *testing.T) { partAloneUnseen(t, true, false) })
	t.Run("lost", func(t *testing.T) { partAloneUnseen(t, false, true) })
}

func partAloneUnseen(t *testing.T, continued, lost bool) {
	h, u := partAlone(t, continued, false, lost)
	a3 := h.node("a3")
	if st := a3.b.Stats(); continued && st.Continuing != 1 || !continued && st.CatchUps != 1 {
		t.Errorf("a3 stats %+v: want its term's ring to continue the domain's configuration (%v), else a catch-up answer", st, continued)
	}
	for _, id := range []string{"a3", "b1", "b2"} {
		if !slices.Contains(h.messages(h.node(id)), u) {
			t.Errorf("%s did not deliver u", id)
		}
	}
}

// TestPartAloneApplied is TestPartAloneUnseen ("answer") with a3 cut off
// once it applied a's ring's configuration and said so: a1 submits u
// there, and a3's term, its position in a ring no other site has, is
// refused its catch-up, and delivers u in doubt in its own transitional
// configuration, after the regular configuration a1 and a2 delivered it
// in, not submitted again.
func TestPartAloneApplied(t *testing.T) {
	h, u := partAlone(t, false, true, false)
	a3 := h.node("a3")
	if st := a3.b.Stats(); st.Gaps != 1 || st.InDoubt != 1 {
		t.Errorf("a3 stats %+v: want its catch-up refused and u delivered in doubt", st)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if !slices.Contains(h.messages(h.node(id)), u) {
			t.Errorf("%s did not deliver u", id)
		}
	}
	for _, id := range []string{"b1", "b2"} {
		if slices.Contains(h.messages(h.node(id)), u) {
			t.Errorf("%s delivered u: submitted again", id)
		}
	}
}

// partAlone runs TestPartAloneUnseen's split, with a3 cut off once it
// applied a's ring's Downs and said so if applied, and a's ring formed
// again without a3 before a3's part takes over if lost, and returns the
// harness, after a3 and b1 sent "after" (order checked), and u.
func partAlone(t *testing.T, continued, applied, lost bool) (*harness, Origin) {
	t.Helper()
	h := newDomain(t, 0, 3, 2)
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	h.sendSettled("w", "a1", "b1")

	h.fedSplit(nil, []string{"a"}, []string{"b"})
	if continued {
		h.fedQ = slices.DeleteFunc(h.fedQ, func(m hmsg) bool { return m.id.Sender == "b" })
	}
	h.send("a3", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // every node of a has u pending
	if applied {
		h.fedStep()              // a's ring settles
		h.localStep(h.site("a")) // its Downs come round
		h.localStep(h.site("a")) // every node said it applied them
	}
	a3.out = true
	h.settle()
	if lost {
		h.localConfig(h.site("a"))
		h.settle()
	}

	a1.out, a2.out, a3.out = true, true, false
	a1.b.FedStopped()
	h.localConfig(h.site("a")) // a3 takes over, u in doubt
	h.afterRing([]string{"a", "b"}, "a3", "b1")
	return h, u
}
