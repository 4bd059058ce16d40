// An Up held behind an earlier Up of its origin in doubt goes up where
// that one's Down in doubt came round the local ring, and a later term
// orders it there (Site.heldBehindDoubt; see the package comment, "Two
// parts of a site and the order of its Ups in doubt").
package bridge

import (
	"slices"
	"testing"
)

// TestHeldBehindDoubtOrder: a3's u1 is in doubt at a2's term (a1 died
// before its member ordered it); a3's u2 and then a2's v are sent after
// the term began. a2's member joins b and holds the ring's base: the site
// leaves its configuration with u1 in doubt, and a2 submits v at once
// and u2 only once it applied u1's Down in doubt (afterDoubt): b orders
// v, then u2. a2 dies before its site's ring delivers their Downs; a3's
// term holds both in doubt, its member forms a ring of its site alone,
// and a3 delivers them in doubt in a2's order (its predecessor). By the
// places where a2 first had them, u2 went before v (EVS 6 against b:
// hiersim stray-gateway seed 26 with packets=no-local-loss); u2's place
// for a2 is now the one where u1's Down came round, after v's.
func TestHeldBehindDoubtOrder(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a3", "b1")
	a, a2, a3 := h.site("a"), h.node("a2"), h.node("a3")
	h.crash("a1")
	h.send("a3", "u1")
	u1 := h.sent[len(h.sent)-1]
	h.localStep(a)
	h.localConfig(a) // a2, a3: a2's term, u1 in doubt
	h.send("a3", "u2")
	u2 := h.sent[len(h.sent)-1]
	h.send("a2", "v")
	v := h.sent[len(h.sent)-1]
	h.settle()
	h.fedConfig("a", "b")
	for h.fedStep() {
	}
	if st := a2.b.Stats(); st.InDoubt != 1 {
		t.Fatalf("a2 delivered %d Ups in doubt, want u1", st.InDoubt)
	}
	// u1's Down in doubt comes round: u2 goes up; a2 dies before its
	// Down of v, and what it sends after, are sent.
	i := slices.IndexFunc(a.queue, func(m hmsg) bool {
		x, err := decodeLocalBody(m.payload[0], m.payload[1+tagLen:])
		return err == nil && x.down != nil && x.down.entry.Origin == v
	})
	if i < 0 {
		t.Fatal("a2 did not inject v's Down")
	}
	a.queue = a.queue[:i]
	h.localStep(a)
	h.frozen[a2] = true
	for h.fedStep() { // b orders v, then u2
	}
	h.crash("a2")
	a.queue = slices.DeleteFunc(a.queue, func(m hmsg) bool { return m.id.Sender == a2.id })
	h.settle()
	want := streamOrder(h.node("b1"), u2, v)
	if !slices.Equal(want, []Origin{v, u2}) {
		t.Fatalf("b1 delivered %v of u2 and v, want v then u2", want)
	}
	h.localConfig(a) // a3's term, u2 and v in doubt
	if !a3.b.Active() {
		t.Fatal("a3 is not the active gateway")
	}
	t.Logf("a3 pending: %v", pendingOrigins(a3))
	h.fedAlone("a")
	h.settle()
	t.Logf("a3 stream: %v", h.messages(a3))
	if got := streamOrder(a3, u1, u2, v); !slices.Equal(got, []Origin{u1, v, u2}) {
		t.Errorf("a3 delivered %v of u1, u2 and v, want u1, v, u2 (b1 %v: EVS 6)", got, want)
	}
	if st := a3.b.Stats(); st.HeldBehindDoubt == 0 || st.InDoubt != 2 {
		t.Errorf("a3 stats %+v: want u2 moved and u2 and v delivered in doubt", st)
	}
}
