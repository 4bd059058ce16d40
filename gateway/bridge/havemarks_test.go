package bridge

import (
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// marksApart gives site a (a1, a2) two histories that hold the same
// positions in the same configuration and differ only in the marks
// applied, as gateway/hiersim's stray gateway at seed 94 with
// packets=all did: a1, a's gateway, is cut off, and a2's term goes on
// with b and c (ring R1). b2's Safe message M is ordered in R1, and the
// Acks of a, b and c and b1's message N after them reach a2's member
// alone in R1's regular configuration: a2 applies the marks there and
// delivers M in R1. Then a2 is cut off (its member fenced: FedStopped),
// a1 is back and its new term joins R2 with b (not c: R2 changes the
// domain's configuration), b coming through R2's transitional
// configuration with the Acks and N in it. a1 catches up from b: the
// answer has the marks after b's transitional configuration, which let
// out nothing there (caughtUp drops them), and a1 delivers M in a's own
// transitional configuration out of R1, and N in R1 before it
// (Entry.FedTrans). a2's position, N's, is in a1's log in the same
// configuration; only the marks tell the histories apart. It returns the
// harness with a2 still cut off, and M.
func marksApart(t *testing.T) (*harness, Origin) {
	h := newDomain(t, 0, 2, 2, 1)
	h.sendSettled("before", "a2", "b1")
	a1, a2 := h.node("a1"), h.node("a2")

	a1.out = true
	a1.b.FedStopped()
	h.localConfig(h.site("a")) // a2 active
	h.fedConfig("a", "b", "c")
	h.settle()

	m := h.sendSvc("b2", localring.Safe, "M")
	h.settleHolding(acksOf("a", "b", "c"))
	for _, n := range h.liveNodes() {
		if ok, _ := delivered(n, m); ok {
			t.Fatalf("%s delivered M before the Acks", n.id)
		}
	}
	h.send("b1", "N")
	h.localStep(h.site("b"))
	n := len(h.fedQ)
	if n < 4 {
		t.Fatalf("%d federation messages queued, want the three Acks and N", n)
	}
	h.aloneDelivers(a2, n)
	for range 4 {
		h.localStep(h.site("a"))
	}
	if ok, conf := delivered(a2, m); !ok || conf != "reg[a b c]" {
		t.Fatalf("a2 delivered M: %v, in %q; want it in the regular configuration", ok, conf)
	}

	a2.out, a1.out = true, false
	a2.b.FedStopped()
	h.collect(a2)
	h.localConfig(h.site("a")) // a1 active
	h.fedConfigAfter(n, "a", "b")
	h.settle()
	if ok, conf := delivered(a1, m); !ok || conf != "trans[a]" {
		t.Fatalf("a1 delivered M: %v, in %q; want it in a's transitional configuration (a1 %s, a2 %s, b1 %s)", ok, conf, render(a1, m), render(a2, m), render(h.node("b1"), m))
	}
	if a, b := a1.b.Last(), a2.b.Last(); !b.Less(a) {
		t.Fatalf("a1 at %s, a2 at %s: the run does not make the case", a, b)
	}
	if m2, m1 := lastMark(a2.b, a2.b.Last()), lastMark(a1.b, a2.b.Last()); m2.IsZero() || m1 == m2 {
		t.Fatalf("a2's last mark %s, a1's at a2's position %s: the run does not make the case", m2, m1)
	}
	if a1.b.follows(a2.b.Last(), a2.b.conf.ID) < 0 {
		t.Fatalf("a1's log does not hold a2's position %s in %s: the run does not make the case", a2.b.Last(), a2.b.conf.ID)
	}
	return h, m
}

// lastMark returns the position of the last mark (EntrySafe) at or
// before p in b's log, zero when it holds none.
func lastMark(b *Site, p localring.DomainOrder) localring.DomainOrder {
	var m localring.DomainOrder
	for _, e := range b.log {
		if p.Less(e.Pos) {
			break
		}
		if e.Kind == EntrySafe {
			m = e.Pos
		}
	}
	return m
}

// TestHaveNamesMarks: a2, back in a's ring with a1 active, must be
// apart from a1's history, apply nothing of it (a1's transitional
// configuration, where a1 delivered M, above all), and restart at the
// next federation ring's regular configuration, after which every node
// delivers the same messages at the same places. a1's log holds a2's
// position in its configuration: only a2's Have naming its marks
// (have.marked, Site.marksApart) tells that a2 let out M in R1, which a1's
// log holds back there. Taken for a1's history, a2 applied a1's Downs
// from its position on and installed a's transitional configuration out
// of R1 after it delivered M in R1, where a1 delivered M (EVS 4 at the
// site level; hiersim TestMarksApartSeed).
func TestHaveNamesMarks(t *testing.T) {
	h, m := marksApart(t)
	a1, a2 := h.node("a1"), h.node("a2")
	before := len(a2.stream)
	a2.out = false
	h.localConfig(h.site("a"))
	h.settle()
	for _, e := range a2.stream[before:] {
		if e.Kind == EntryConfig && e.Conf.Kind == localring.Transitional && strings.HasPrefix(e.Conf.ID, "site:a:") {
			t.Fatalf("a2 installed a1's %s after it delivered M in R1: one history taken for the other", e.Conf.ID)
		}
	}
	if st := a1.b.Stats(); st.Aparts == 0 || st.Strays == 0 {
		t.Errorf("a1 found no member apart (Aparts %d, Strays %d)", st.Aparts, st.Strays)
	}
	h.fedConfig("a", "b")
	h.settle()
	from := len(h.sent)
	h.sendSettled("after", "a1", "a2", "b1")
	h.checkOrder()
	if st := a2.b.Stats(); st.Restarted != 1 {
		t.Errorf("a2 restarted %d times, want once", st.Restarted)
	}
	for _, n := range h.liveNodes("a", "b") {
		got := h.messages(n)
		for _, o := range h.sent[from:] {
			if !slices.Contains(got, o) {
				t.Errorf("%s did not deliver %s", n.id, o)
			}
		}
	}
	if ok, _ := delivered(a2, m); !ok {
		t.Error("a2 lost M")
	}
}

// TestMarksApartLetOut: a member whose position the log holds in its
// configuration is apart by its marks only where they let out other
// messages than the log's there (Site.marksApart): a Safe message between
// the two. Marks that differ and let out the same messages, or marks of
// a configuration before the last one that continues none, do not make
// two histories (hiersim's regional starvation at seed 106 with the rule
// that compared the last marks' positions: a member put apart never
// restarted, and its message was lost at every node).
func TestMarksApartLetOut(t *testing.T) {
	pos := func(seq, ring uint64) localring.DomainOrder { return localring.DomainOrder{Seq: seq, Ring: ring} }
	reg := func(p localring.DomainOrder, id, cont string) Entry {
		return Entry{Pos: p, Kind: EntryConfig, Conf: DomainConf{ID: id, Kind: localring.Regular, Sites: []string{"a", "b"}, Continues: cont}}
	}
	msg := func(p localring.DomainOrder, seq uint64, svc localring.Service) Entry {
		return Entry{Pos: p, Kind: EntryMessage, Svc: svc, Origin: Origin{Site: "b", ID: localring.MessageID{Sender: "b1", Inc: 1, Seq: seq}}}
	}
	mark := func(p, through localring.DomainOrder) Entry { return Entry{Pos: p, Kind: EntrySafe, Through: through} }
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	s.log = []Entry{
		reg(pos(1, 4), "r:4:a", ""),
		msg(pos(2, 4), 1, localring.Safe),
		mark(pos(3, 4), pos(2, 4)),
		msg(pos(4, 4), 2, localring.Agreed),
		mark(pos(5, 4), pos(4, 4)),       // lets out nothing the one before did not
		reg(pos(6, 8), "r:8:a", "r:4:a"), // continues r:4:a: the marks go on
		msg(pos(7, 8), 3, localring.Safe),
		reg(pos(9, 12), "r:12:a", ""), // continues none: no mark yet
		msg(pos(10, 12), 4, localring.Agreed),
	}
	for _, c := range []struct {
		last, marked localring.DomainOrder
		conf         string
		apart        bool
	}{
		{pos(5, 4), pos(4, 4), "r:4:a", false},
		{pos(5, 4), pos(2, 4), "r:4:a", false}, // another mark, the same messages let out
		{pos(5, 4), pos(1, 4), "r:4:a", true},  // it holds 2@4 back, the log let it out
		{pos(7, 8), pos(2, 4), "r:8:a", false},
		{pos(7, 8), pos(7, 8), "r:8:a", true},                // it let out 7@8, the log holds it back
		{pos(7, 8), localring.DomainOrder{}, "r:8:a", false}, // no marks named: its position may be one it injected
		{pos(10, 12), pos(2, 4), "r:12:a", false},            // the marks of r:4:a and r:8:a end at r:12:a
	} {
		h := have{last: c.last, conf: c.conf, marked: c.marked}
		if i := s.follows(h.last, h.conf); i < 0 {
			t.Fatalf("the log does not hold %s in %s: the case does not test the marks", h.last, h.conf)
		}
		if got := s.followsHave(h) < 0; got != c.apart {
			t.Errorf("a member at %s in %s with marks through %s: apart %v, want %v", c.last, c.conf, c.marked, got, c.apart)
		}

	}
}
