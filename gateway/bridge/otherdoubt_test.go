package bridge

import "testing"

// TestAnswerOtherDoubtRefused: a1 dies with a2's Up u pending, a3 cut off
// before it had u; a2's new term holds u in doubt, and its ring of a and
// b (c away) does not continue the domain's configuration: a2, at its
// base, leaves alone right before its regular configuration R, delivering
// u in doubt there, and R names a in doubt (DomainConf.Doubt). a2 is cut
// off in turn, and a3 takes over at the same place with no Up in doubt;
// its catch-up from b runs over R. a3's part cannot leave where a2's did
// (it does not hold u, and would deliver another set in a transitional
// configuration of one name), and left plainly into R (resolved), the
// site's nodes installed two transitional configurations of the site out
// of one regular configuration into the same next one (EVS 2.4 at the
// site level: hiersim's regional starvation at seeds 219 and 279 of
// 101-300 at 4a7dd8f). The answer is a refusal (Stats.OtherDoubtRefused):
// a3's part leaves alone into the next ring, and never installs R.
func TestAnswerOtherDoubtRefused(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 1)
	a, a2, a3 := h.site("a"), h.node("a2"), h.node("a3")
	h.sendSettled("w", "a1", "b1", "c1")
	h.crash("a1")
	a3.out = true
	h.send("a2", "u")
	h.localStep(a)             // u pending at a2 alone
	r := h.inDoubtThenA3(t, a) // a3's term: nothing in doubt
	h.checkOrder()
	if st := a3.b.Stats(); st.OtherDoubtRefused != 1 || st.Gaps != 1 || st.InDoubtFollowed != 0 {
		t.Errorf("a3 stats %+v: want its answer over R taken for a refusal", st)
	}
	if tr := transInto(a3, r.ID); tr.Conf.ID != "" {
		want := transInto(a2, r.ID)
		t.Errorf("a3 went into %s through %q at %s, a2 through %q at %s: two transitional configurations of a into one", r.ID, tr.Conf.ID, tr.Pos, want.Conf.ID, want.Pos)
	}
}
