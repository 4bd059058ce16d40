package bridge

import (
	"bytes"
	"slices"
	"testing"
)

// TestGoneOwnUpElsewhere: TestRefusedDoneElsewhere with u sent by a1,
// the gateway that pauses and whose history wins when it comes back. a2's
// term gets u ordered with b in a configuration that continues the one
// a1 sent it in (a failover: r:12:a continues r:4:a, no round), and a2
// and b1 deliver it there. Back, a1 is refused, takes u for done
// elsewhere and drops it (Site.doneElsewhere). Its stream had neither
// u's EntrySend nor u: the View above told its group layer nothing, and
// groups.Node held u as on its way, handed it again once a send it
// handed later was told (a second copy wherever the first was
// delivered: a View that had a1 in the domain's membership, with no
// round since r:4:a, delivers it there), or, u the last it handed
// before a merge, never handed another. Now a1's stream tells u gone, delivered in a
// configuration a1 went through and left (Entry.Gone, Elsewhere): its
// group layer drops it.
func TestGoneOwnUpElsewhere(t *testing.T) {
	h, u := refusedElsewhere(t, "a1")
	a1, b1 := h.node("a1"), h.node("b1")
	p, conf := deliveredAt(b1, u)
	if st := a1.b.Stats(); st.Gaps != 1 || st.DoneElsewhere != 1 {
		t.Fatalf("a1 stats %+v: want its catch-up refused, u taken for done", st)
	}
	i := slices.IndexFunc(a1.stream, func(e Entry) bool { return e.Kind == EntrySend && e.Origin == u })
	if i < 0 {
		t.Fatalf("a1's stream says nothing of its own Up u, which b1 delivered at %s in %s", p, conf)
	}
	if e := a1.stream[i]; !e.Gone || !e.Elsewhere || !bytes.Equal(e.Payload, []byte("u")) {
		t.Errorf("a1's EntrySend of u %+v: want it gone, delivered elsewhere, with its payload", e)
	}
	if st := a1.b.Stats(); st.GoneTold != 1 || st.GoneElsewhere != 1 {
		t.Errorf("a1 stats %+v: want u told gone, elsewhere", st)
	}
	h.live(func(s *hsite, n *hnode) {
		if n != a1 && slices.ContainsFunc(n.stream, func(e Entry) bool { return e.Gone }) {
			t.Errorf("%s told a send gone, want only u's sender", n.id)
		}
	})
}
