package bridge

import (
	"slices"
	"testing"
)

// newBehindInContinuing's ring R2 (continuing R1, c behind, a its
// answerer) settles, and a's gateway crashes before its answer to c went
// round: a2 takes over and comes into the next ring R3 with a new
// federation member, through no transitional configuration; b and c come
// through the federation's transitional configuration out of R2, c still
// waiting. b's Sync in R2 named what a's did: b answers c for a at R3's
// installation, before its Sync (Site.answerForAnswerer), and c's Sync
// waits for b's (Site.awaitAnswer): it names no held position, and R3
// continues the domain's configuration, nothing installed at any site.
// Before, c's Sync named its held position, b answered it only once R3
// settled, and R3 changed the domain's configuration at every site
// although every site was in it: hiersim's gateway crash and gateway
// pause at seed 59 with packets=all (ams's answerer member fenced by its
// own site's next term).
func TestAnswerForAnswerer(t *testing.T) {
	h := newBehindInContinuing(t)
	h.crash("a1") // its answer is lost with its federation member
	h.localConfig(h.site("a"))
	h.fedConfig("a", "b", "c")
	h.settle()
	h.sendSettled("after", "a2", "c2")
	h.checkOrder()
	c2, b1 := h.node("c2"), h.node("b1")
	if st := c2.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.Unheld != 1 {
		t.Errorf("c2 stats %+v, want 1 catch-up, no refusal, its Sync built anew after the answer", st)
	}
	if st := b1.b.Stats(); st.ForAnswerer != 1 || st.HeldAnswers != 0 {
		t.Errorf("b1 answered %d sites for another site's gateway and %d held positions, want 1 and none", st.ForAnswerer, st.HeldAnswers)
	}
	want := "reg[a b c] cont[a b c] cont[a b c]"
	for _, n := range h.liveNodes() {
		if got := confs(n); got != want {
			t.Errorf("%s configurations %q, want %q", n.id, got, want)
		}
	}
	if got, want := h.messages(c2), h.messages(b1); !slices.Equal(got, want) {
		t.Errorf("c2 delivered %v, b1 %v", got, want)
	}
}
