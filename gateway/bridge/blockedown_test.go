package bridge

import (
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestBlockedOwnRingResolves: a1, a's gateway, settled the domain's
// configuration R with b; a2 and a3 are cut off from a's ring (a2's Up u
// pending at a1 and a2, a1's v at a1 alone) while b1's Safe message waits
// for them, and a1's member is fenced before it orders u. a1's new term,
// u and v in doubt, joins b at R's base in a ring that would continue R
// but for a1's Sync naming its site blocked. R's member of site a was
// a1's own, and settled no ring after it: nothing of u or v was ordered
// anywhere, and the term resolves its doubt there as in a ring that
// continues R (Site.ownReg, blockedContinuation): a1 and b deliver both
// in the ring. Then a1 is cut off, and a2's term (u in doubt, not v)
// catches up from b; every node that delivers u delivers it at one
// position. Before, a1 delivered u and v in doubt in its own transitional
// configuration out of R, a1 alone, and a2's term, with fewer Ups in doubt
// than the ring's entry named for a (no followDoubt), resolved at the
// answer and submitted u, which b, a2 and a3 delivered in a later ring,
// a2 told it sent it in R (EVS 1.3: hiersim TestStarvationLong's
// regional-one-long seeds 115 and 183 of 101-200 at 81aa25d, each with
// the same node a gateway in R and in the blocked ring).
func TestBlockedOwnRingResolves(t *testing.T) {
	h := awayDomain(t) // a3 out of a's ring
	a, a1, a2, a3 := h.site("a"), h.node("a1"), h.node("a2"), h.node("a3")
	h.sendSvc("b1", localring.Safe, "safe")
	h.settle()
	if !a1.b.blocked() {
		t.Fatal("a1's site is not blocked: the run does not make the case")
	}
	h.send("a2", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(a) // u pending at a1 and a2; a1's copy on its way up
	a2.out = true
	h.localConfig(a) // a1 alone
	h.send("a1", "v")
	v := h.sent[len(h.sent)-1]
	h.localStep(a)
	// a1's member is fenced before the federation delivers its copies.
	h.fedQ = slices.DeleteFunc(h.fedQ, func(m hmsg) bool { return m.id.Sender == "a" })
	a1.b.FedStopped()
	h.collect(a1)
	a.inFed = false
	h.localConfig(a) // a1's new term, u and v in doubt
	if !a1.b.doubt || a1.b.ownReg != a1.b.injReg {
		t.Fatalf("a1 doubt %v, ownReg %s, injReg %s: the run does not make the case", a1.b.doubt, a1.b.ownReg, a1.b.injReg)
	}
	h.fedConfig("a", "b")
	h.settle()
	if st := a1.b.Stats(); st.BlockedSyncs == 0 || st.Continuing != 0 {
		t.Fatalf("a1 stats %+v: want a blocked Sync in a ring that continues none", st)
	}
	for _, n := range []*hnode{a1, h.node("b1"), h.node("b2")} {
		for _, o := range []Origin{u, v} {
			if p, _ := deliveredAt(n, o); p.IsZero() {
				t.Errorf("%s did not deliver %s at a domain position (configurations %s)", n.id, o, confs(n))
			}
		}
	}
	a1.out, a2.out, a3.out = true, false, false
	a1.b.FedStopped()
	h.localConfig(a) // a2's term, u in doubt
	h.domainMembers("a", "a2", "a3")
	h.afterRing([]string{"a", "b"}, "a2", "b1")
	var at localring.DomainOrder
	h.live(func(_ *hsite, n *hnode) {
		for _, e := range n.stream {
			if e.Kind != EntryMessage || e.Origin != u {
				continue
			}
			switch {
			case e.InDoubt:
				t.Errorf("%s delivered u in doubt (configurations %s)", n.id, confs(n))
			case at.IsZero():
				at = e.Pos
			case e.Pos != at:
				t.Errorf("%s delivered u at %s, another node at %s", n.id, e.Pos, at)
			}
		}
	})
}
