package bridge

import "testing"

// newBehindInContinuing's ring ends before a's answer to c went round,
// and a's federation member carries it into the next ring of every site
// (FedControlClass is not ring-bound), where the ring delivers it before
// a's Sync. c's Sync waits for a's (Site.awaitAnswer): it goes out once
// the answer took c to where the others are, names no held position, and
// the ring continues the domain's configuration, nothing installed at any
// site. Sent at once, as before, c's Sync named its held position (the
// answer had not come yet) and the ring changed the domain's
// configuration at every site: hiersim's gateway crash at seed 18 and
// stray gateway at seed 71 with packets=no-local-loss ("domain
// configurations installed at a failover").
func TestAnswerBeforeSync(t *testing.T) {
	h := newBehindInContinuing(t)
	h.fedConfig("a", "b", "c")
	h.settle()
	h.sendSettled("after", "a1", "c2")
	h.checkOrder()
	c2 := h.node("c2")
	if st := c2.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.Unheld != 1 {
		t.Errorf("c2 stats %+v, want 1 catch-up, no refusal, 1 Sync built anew after the answer", st)
	}
	if st := h.node("a1").b.Stats(); st.HeldAnswers != 0 {
		t.Errorf("a1 answered %d held positions, want none", st.HeldAnswers)
	}
	want := "reg[a b c] cont[a b c] cont[a b c]"
	for _, id := range []string{"a1", "a2", "b1", "b2", "c2"} {
		if got := confs(h.node(id)); got != want {
			t.Errorf("%s configurations %q, want %q", id, got, want)
		}
	}
	if got, want := h.messages(c2), h.messages(h.node("b1")); len(got) != len(want) {
		t.Errorf("c2 delivered %v, b1 %v", got, want)
	}
}
