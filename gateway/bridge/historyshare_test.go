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
	shared := a1.b.Last()

	// a1 cut off from a2 and a3, its member alone: it numbers a ring of
	// its site alone, whose Downs stay on their way round its local ring;
	// a2's part takes over and goes on with b, further than a1's ring.
	s, stash := a1AloneThenA2(h)
	if len(stash) == 0 || a1.b.Last() != shared {
		t.Fatalf("a1 injected %d Downs, at %s (shared %s): the run does not make the case", len(stash), a1.b.Last(), shared)
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

// TestApartAtSharedPosition's case as hiersim's regional starvation at
// seed 192 has it, and the outcome it wants: a1's Downs are of a term
// that a2's fenced and went on from with b at the same positions, and the
// site goes on in a2's history (the one b shares), not a1's of its site
// alone, with no member apart. Skipped: the bridge lets the active
// gateway's history win, and a1 applied its own term's Downs before the
// Have phase could tell (see hiersim starvelong_test.go, "A fenced term's
// Downs", for the rules tried and what each broke). Its steps are
// TestApartAtSharedPosition's, which wants the other outcome: a rule that
// makes this one pass leaves that one's run without its case (rule (5)
// there did), so seed 200's case needs another way to be made.
func TestFencedTermDownsLaterHistory(t *testing.T) {
	t.Skip("not fixed: a fenced term's Downs queued on the local ring win over a later term's history (hiersim regional starvation 192; starvelong_test.go)")
	h := newDomain(t, 0, 3, 2)
	h.sendSettled("before", "a1", "b1")
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	s, stash := a1AloneThenA2(h)

	a1.out = false
	h.localConfig(s)
	s.queue = append(s.queue, stash...)
	h.send("a2", "healed")
	x := h.sent[len(h.sent)-1]
	h.settle()
	for _, n := range []*hnode{a1, a2, a3} {
		if n.b.Last() != a2.b.Last() || len(n.b.apart) > 0 {
			t.Errorf("%s at %s (a2 at %s), apart %v: want a2's history, no member apart", n.id, n.b.Last(), a2.b.Last(), n.b.apart)
		}
	}
	from := h.afterRing([]string{"a", "b"}, "a1", "a2", "a3", "b1")
	want := append([]Origin{x}, h.sent[from:]...)
	for _, site := range h.sites {
		for _, n := range site.nodes {
			if st := n.b.Stats(); st.Restarted != 0 {
				t.Errorf("%s restarted %d times, want none", n.id, st.Restarted)
			}
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

// As TestApartAtSharedPosition, with a2 away at the heal: the healed ring
// of a1 and a3 finds a3 apart, and ends before a3's restart; the next,
// with a2 back too, finds a2 and a3 apart at the same position, and a3
// keeps the Again of an Up a2 sent alone in its history (pending at a2
// since: no federation ring ordered it). Both restart at one Down, into
// one transitional configuration of their site alone: both deliver that
// Up in doubt there (a3 marks its history's Ups in doubt again at the
// second ring: Site.markHistoryDoubt). Marked only at the first, a3 did
// not, and a2 did: EVS 4 in that configuration, and a3 kept the Up
// pending, to be submitted again by a term of its own (gateway/hiersim
// TestStarvationLong's regional seed 200 of 101-300 before
// Site.answererApart: a-3 found apart in r:40:a-1, a-2 with it in
// r:56:a-1).
func TestApartAgainLater(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	h.sendSettled("before", "a1", "b1")
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	s, stash := a1AloneThenA2(h)

	// a2 alone, its member stopped: its Up stays pending at it.
	a2.b.FedStopped()
	a3.out = true
	h.localConfig(s)
	h.sendSettled("pend", "a2")
	pend := h.sent[len(h.sent)-1]

	// The heal without a2: a3 apart.
	a1.out, a2.out, a3.out = false, true, false
	h.localConfig(s)
	s.queue = append(s.queue, stash...)
	h.settle()
	if !a3.b.apart["a3"] || a3.b.Stats().Restarted != 0 {
		t.Fatalf("a3 apart %v, restarted %d times: the run does not make the case", a3.b.apart["a3"], a3.b.Stats().Restarted)
	}

	// With a2 back, a2 and a3 apart at one position.
	a2.out = false
	h.localConfig(s)
	h.settle()
	if a2.b.phase["a2"].last != a3.b.phase["a3"].last || !a3.b.apart["a2"] || !a3.b.apart["a3"] {
		t.Fatalf("a2 at %s, a3 at %s, apart at a3: %v: the run does not make the case", a2.b.phase["a2"].last, a3.b.phase["a3"].last, a3.b.apart)
	}
	h.fedConfig("a", "b")
	h.settle()
	for _, n := range []*hnode{a2, a3} {
		if st := n.b.Stats(); st.Restarted != 1 {
			t.Errorf("%s restarted %d times, want once", n.id, st.Restarted)
		}
		if e, ok := entryOf(n, pend); !ok || !e.InDoubt {
			t.Errorf("%s delivered %s: %v, in doubt %v; want it in doubt (configurations %s)", n.id, pend, ok, e.InDoubt, confs(n))
		}
	}
	if st2, st3 := a2.b.Stats(), a3.b.Stats(); st2.HistoryDoubts != st3.HistoryDoubts {
		t.Errorf("a2 delivered %d Ups of its history in doubt, a3 %d: want the same", st2.HistoryDoubts, st3.HistoryDoubts)
	}
	h.sendSettled("after", "a1", "a2", "a3", "b1")
	h.checkOrder()
	for _, site := range h.sites {
		for _, n := range site.nodes {
			checkViews(t, n)
		}
	}
}

// entryOf returns the entry of n's stream that delivered o.
func entryOf(n *hnode, o Origin) (Entry, bool) {
	for _, e := range n.stream {
		if e.Kind == EntryMessage && e.Origin == o {
			return e, true
		}
	}
	return Entry{}, false
}

// a1AloneThenA2 is the split of TestApartAtSharedPosition,
// TestApartAgainLater and TestFencedTermDownsLaterHistory: a1, cut off
// from a2 and a3, its member alone, numbers a ring of its site alone,
// whose Downs it returns (taken off their way round its local ring), and
// a2's part goes on (a2GoesOn).
func a1AloneThenA2(h *harness) (*hsite, []hmsg) {
	s := h.site("a")
	h.node("a2").out, h.node("a3").out = true, true
	h.localConfig(s)
	h.localStep(s)
	h.fedAlone("a")
	for h.fedStep() {
	}
	stash := s.queue
	s.queue = nil
	a2GoesOn(h, s)
	return s, stash
}

// a2GoesOn is a1AloneThenA2's second half: a1's member stops, a1 is cut
// off its site's ring, and a2's part (a2, a3) takes over and goes on with
// b in a federation ring of a and b, three rounds of "main" from a2 and
// b1.
func a2GoesOn(h *harness, s *hsite) {
	a1, a2, a3 := h.node("a1"), h.node("a2"), h.node("a3")
	a1.b.FedStopped()
	a1.out, a2.out, a3.out = true, false, false
	h.localConfig(s)
	h.fedConfig("a", "b")
	h.settle()
	for range 3 {
		h.sendSettled("main", "a2", "b1")
	}
}
