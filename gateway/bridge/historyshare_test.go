package bridge

import (
	"slices"
	"testing"
)

// Site a's local ring heals with a1, the active gateway, of one history
// and a2 and a3 of another, where a1's Have names a position both
// histories share: a1, cut off from a2 and a3 with its federation member
// alone, numbered a ring of its site alone and injected its Downs, which
// were still on their way round its local ring when its member was fenced
// (a2's part took over and went on with b, further than a1's ring
// numbered); a1 becomes the active gateway again at the heal, and its
// Have names the last position it applied, before those Downs, which the
// healed ring delivers after it. a2, at the phase's highest position,
// answers: its log holds a1's position, so it injects its own history
// from there, which a1, past that position in its own, cannot follow.
// a1 says that a2 and a3 are apart (Site.answererApart), and every node
// sorts the phase again without them: a2 and a3 restart at a1's next
// regular configuration, and every message sent after the heal is
// delivered everywhere. Before, nobody was found apart in that ring: a1
// never held the phase's highest position (no Sync, no Up submitted), and
// a2's and a3's Ups sent there were pending at a1 as its history's
// (gateway/hiersim TestStarvationLong's regional seed 200 of 101-300: a-1,
// whose term went on in doubt, delivered a-2/1/810 in doubt in its own
// transitional configuration, a-2 its history's in doubt at its restart;
// EVS 1.3, 4 and 6).
func TestApartAtSharedPosition(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	h.sendSettled("before", "a1", "b1")
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	s := h.site("a")
	shared := a1.b.Last()

	// a1 cut off from a2 and a3, its member alone: it numbers a ring of
	// its site alone, whose Downs stay on their way round its local ring.
	a2.out, a3.out = true, true
	h.localConfig(s)
	h.localStep(s)
	h.fedAlone("a")
	for h.fedStep() {
	}
	stash := s.queue
	s.queue = nil
	if len(stash) == 0 || a1.b.Last() != shared {
		t.Fatalf("a1 injected %d Downs, at %s (shared %s): the run does not make the case", len(stash), a1.b.Last(), shared)
	}
	a1.b.FedStopped()

	// a2's part takes over and goes on with b, further than a1's ring.
	a1.out, a2.out, a3.out = true, false, false
	h.localConfig(s)
	h.fedConfig("a", "b")
	h.settle()
	for range 3 {
		h.sendSettled("main", "a2", "b1")
	}

	// The heal: a1 active, its Have naming the shared position, its
	// Downs delivered after it.
	a1.out = false
	h.localConfig(s)
	if a1.b.haves == nil || a1.b.Last() != shared {
		t.Fatalf("a1 at %s, Have phase open %v: the run does not make the case", a1.b.Last(), a1.b.haves != nil)
	}
	s.queue = append(s.queue, stash...)
	h.send("a2", "healed")
	x := h.sent[len(h.sent)-1]
	h.settle()
	if !shared.Less(a1.b.Last()) || !a1.b.Last().Less(a2.b.Last()) {
		t.Fatalf("a1 at %s, a2 at %s (shared %s): the run does not make the case", a1.b.Last(), a2.b.Last(), shared)
	}
	for _, n := range []*hnode{a1, a2, a3} {
		if !n.b.apart["a2"] || !n.b.apart["a3"] {
			t.Errorf("%s took a2 apart %v, a3 %v in the healed ring, want both", n.id, n.b.apart["a2"], n.b.apart["a3"])
		}
	}
	if f := a1.b.fed; f != nil && f.syncSent {
		t.Errorf("a1 sent a Sync before a federation ring formed")
	}

	from := h.afterRing([]string{"a", "b"}, "a1", "a2", "a3", "b1")
	want := append([]Origin{x}, h.sent[from:]...)
	for _, n := range []*hnode{a2, a3} {
		if st := n.b.Stats(); st.Restarted != 1 {
			t.Errorf("%s restarted %d times, want once", n.id, st.Restarted)
		}
	}
	for _, site := range h.sites {
		for _, n := range site.nodes {
			got := h.messages(n)
			for _, o := range want {
				if !slices.Contains(got, o) {
					t.Errorf("%s did not deliver %s (configurations %s)", n.id, o, confs(n))
				}
			}
			checkViews(t, n)
		}
	}
}
