package bridge

import (
	"testing"
)

// TestInDoubtOtherAhead: a and c lose their gateways as the federation
// ring orders a2's Up u (both members numbered it, neither injected it),
// b's gateway injects it. c's new term goes on in a ring of its site
// alone, and numbers past u's place there; then b loses its gateway too.
// a's, b's and c's new terms meet in one ring: c, at its base, answers.
// Its log holds a's position, where c left the ring of a, b and c, but
// not b's, further in that ring, which it refuses: what b's site applied
// after a's position (u) is not in the answer to a. So the answer does
// not end a's doubt (fedState.split, as when a site came through another
// transitional configuration than the answerer's): a delivers u in doubt
// in its own transitional configuration out of the ring b delivered it
// in, and never submits it. Taken for the domain's word, a submitted u
// again: ordered at a second place, a2 told it sent in the new ring, b
// having delivered it in the old one (EVS 1.3 and 9: gateway/hiersim
// TestStarvationLong's three-sites seed 196 of 101-200, ams-2/1/138,
// which fra had applied in r:65552:ams and sin's answer to ams left out).
func TestInDoubtOtherAhead(t *testing.T) {
	h := newDomain(t, 0, 2, 2, 2)
	h.sendSettled("w", "a1", "b1", "c1")
	h.send("a2", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // pending at a1 and a2, submitted by a1
	ga, gc := h.site("a").gw, h.site("c").gw
	h.frozen[ga], h.frozen[gc] = true, true
	h.fedStep() // every member numbers u; b's gateway injects it
	h.crash(string(ga.id))
	h.crash(string(gc.id))
	h.settle()
	at, wantConf := deliveredAt(h.node("b1"), u)
	if at.IsZero() {
		t.Fatal("b1 did not deliver u")
	}
	h.localConfig(h.site("c")) // c2 takes over, and goes on alone
	h.fedAlone("c")
	h.settle()
	for range 3 {
		h.sendSettled("c-alone", "c2")
	}
	h.crash("b1")
	h.localConfig(h.site("b")) // b2 takes over, past a's position
	h.localConfig(h.site("a")) // a2 takes over, u in doubt
	h.settle()
	a2, b2, c2 := h.node("a2"), h.node("b2"), h.node("c2")
	if a, b, c := a2.b.Last(), b2.b.Last(), c2.b.Last(); !a.Less(b) || !b.Less(c) {
		t.Fatalf("a at %s, b at %s, c at %s: the run does not make the case", a, b, c)
	}
	h.afterRing([]string{"a", "b", "c"}, "a2", "b2", "c2")
	if st := a2.b.Stats(); st.InDoubtSplit != 1 || st.CatchUps != 1 || st.InDoubt != 1 {
		t.Errorf("a2 stats %+v: want one answer that left u in doubt, delivered in doubt", st)
	}
	if st := b2.b.Stats(); st.Gaps != 1 {
		t.Errorf("b2 stats %+v: want its catch-up refused", st)
	}
	sentIn := sentConf(a2, u)
	if sentIn != wantConf {
		t.Errorf("a2 was told it sent u in %q, want %q, where b delivered it", sentIn, wantConf)
	}
}
