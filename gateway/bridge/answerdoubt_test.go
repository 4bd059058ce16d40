package bridge

import (
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestAnswerOverInDoubt: site a splits in two parts, each with a
// gateway term, while b's new term leaves the domain's configuration with
// an Up in doubt. a1 dies as its member numbered c1's Up "missed", before
// it injected it: a2 takes over behind it. a2 submits a3's Up x, and a3
// and a4 are cut off from a2 before the rings move on (a's other part).
// b's first ring, of a and b, does not continue the domain's
// configuration (c is not in it): b, at its base, delivers its Up in
// doubt in a transitional configuration of its own, and answers a2's
// catch-up, which brings "missed"; x is ordered there. a2 dies, and a3,
// back with a4, takes over with x in doubt and its position before
// "missed". Its catch-up, from b in a ring of every site, runs over b's
// Up in doubt: b answers without it, as a caught up in the one regular
// configuration with a in the range, and a delivers x where b did. Before,
// b refused every answer over its Ups in doubt, and a delivered x in doubt
// in a transitional configuration of its own after the regular
// configuration before, while b delivered it in the ring a2 got it
// ordered in (EVS 1.3, bridge level: hiersim's regional starvation at
// seed 16 of 1-100 at 55ee4e1; 66 too).
func TestAnswerOverInDoubt(t *testing.T) {
	h := newDomain(t, 0, 4, 2, 1)
	h.sendSettled("before", "a2", "b1", "c1")
	h.gatewayDiesBehind("c1", "a") // a2 takes over
	h.settle()
	h.send("b2", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("b")) // b1 submits it, and dies with it
	h.crash("b1")
	h.localConfig(h.site("b")) // b2 takes over, u in doubt
	h.settle()
	a2, a3, a4, b2 := h.node("a2"), h.node("a3"), h.node("a4"), h.node("b2")
	h.send("a3", "x")
	x := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // every node of a has x pending
	a3.out, a4.out = true, true
	h.fedConfig("a", "b")
	h.settle()
	if st := b2.b.Stats(); st.InDoubt != 1 {
		t.Fatalf("b2 stats %+v: want u delivered in doubt", st)
	}
	if st := a2.b.Stats(); st.CatchUps != 1 {
		t.Fatalf("a2 stats %+v: want a catch-up answer", st)
	}
	want, wantConf := deliveredAt(b2, x)
	if want.IsZero() {
		t.Fatal("b2 did not deliver x in a's and b's ring")
	}
	h.frozen[a2] = true
	h.crash("a2")
	a3.out, a4.out = false, false
	h.localConfig(h.site("a")) // a3 takes over, x in doubt
	h.settle()
	h.afterRing([]string{"a", "b", "c"}, "a3", "b2", "c1")
	if st := b2.b.Stats(); st.InDoubtOmitted != 2 || st.InDoubtRefused != 0 {
		t.Errorf("b2 stats %+v: want two answers (a's and c's) without its Up in doubt, none refused", st)
	}
	if st := a3.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.InDoubt != 0 || st.Resubmitted != 0 {
		t.Errorf("a3 stats %+v: want one catch-up answer, nothing delivered in doubt or submitted again", st)
	}
	for _, n := range []*hnode{a3, a4} {
		if got, conf := deliveredAt(n, x); got != want || conf != wantConf {
			t.Errorf("%s delivered x at %s in %s, want %s in %s, as b2", n.id, got, conf, want, wantConf)
		}
		if slices.Contains(h.messages(n), u) {
			t.Errorf("%s delivered b's Up in doubt %s", n.id, u)
		}
	}
}

// TestAnswerOverInDoubtBase: the case the answer over Ups in doubt
// leaves out. a1 dies with a3's Up x submitted, never ordered; a2 takes
// over with x in doubt, and a3 and a4 are cut off from a2 (a's other
// part). a's and b's ring does not continue the domain's configuration:
// a2, at b's base, delivers x in doubt in a transitional configuration of
// its own, as b does its Up in doubt. a2 is cut off from a in turn, and
// a3 takes over with x in doubt; its catch-up from b runs over b's Up in
// doubt and the regular configuration a2 went into at its base, without
// an answer. b refuses it, as before, and a3's part delivers x in doubt
// too, after the regular configuration both parts left. Answered
// without b's Up in doubt, a3's term took x for never ordered and
// submitted it: b delivered it in a configuration a2 had not delivered it
// in (EVS 1.3: hiersim's regional starvation at seeds 40 and 83 of 1-100
// at 55ee4e1, with an answer over Ups in doubt wherever one was asked).
func TestAnswerOverInDoubtBase(t *testing.T) {
	h := newDomain(t, 0, 4, 2, 1)
	h.sendSettled("before", "a2", "b1", "c1")
	h.send("a3", "x")
	x := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // a1 submits it, and dies with it
	h.crash("a1")
	h.send("b2", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("b"))
	h.crash("b1")
	h.localConfig(h.site("b")) // b2 takes over, u in doubt
	h.settle()
	a2, a3, a4, b2 := h.node("a2"), h.node("a3"), h.node("a4"), h.node("b2")
	a3.out, a4.out = true, true
	h.localConfig(h.site("a")) // a2 takes over, x in doubt
	h.settle()
	h.fedConfig("a", "b")
	h.settle()
	if st := a2.b.Stats(); st.InDoubt != 1 || st.CatchUps+st.Gaps != 0 {
		t.Fatalf("a2 stats %+v: want x delivered in doubt at b's base, no catch-up", st)
	}
	a2.out, a3.out, a4.out = true, false, false
	h.localConfig(h.site("a")) // a3 takes over, x in doubt
	h.settle()
	h.fedConfig("a", "b", "c")
	h.settle()
	h.sendSettled("after", "a3", "b2", "c1")
	if st := b2.b.Stats(); st.InDoubtRefused != 1 || st.InDoubtOmitted != 1 {
		t.Errorf("b2 stats %+v: want a's answer refused, c's given without b's Up in doubt", st)
	}
	for _, n := range []*hnode{a2, a3, a4} {
		in := slices.IndexFunc(n.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == x && e.InDoubt }) >= 0
		if !in {
			t.Errorf("%s did not deliver x in doubt", n.id)
		}
	}
	h.live(func(s *hsite, n *hnode) {
		if p, _ := deliveredAt(n, x); !p.IsZero() {
			t.Errorf("%s delivered x at %s, a domain position: a2 delivered it in doubt", n.id, p)
		}
		if s.name != "b" && slices.Contains(h.messages(n), u) {
			t.Errorf("%s delivered b's Up in doubt %s", n.id, u)
		}
	})
}

// deliveredAt returns where node n delivered the message of origin o, and
// the configuration it delivered it in; zero if it did not, or did in
// doubt.
func deliveredAt(n *hnode, o Origin) (localring.DomainOrder, string) {
	conf := ""
	for _, e := range n.stream {
		switch {
		case e.Kind == EntryConfig:
			conf = e.Conf.ID
		case e.Kind == EntryMessage && e.Origin == o && !e.InDoubt:
			return e.Pos, conf
		}
	}
	return localring.DomainOrder{}, ""
}

// TestAnswerEnteredFrom: the federation splits into a ring of site a
// alone and one of b alone, numbered alike, and both settle: each site's
// regular configuration has the same place. a2 and a3 are cut off from
// a1, a's gateway, and a1's member joins b's next ring, both at that
// place; a3's Up u, pending at every node of a, is ordered there. a1 is
// cut off in turn, and a2 takes over with u in doubt. Its catch-up from
// b names a position b's log holds in b's own configuration: b answers
// it from the ring a went into from that very position (Site.entered),
// and a2's part leaves its configuration where a1's did, into that ring,
// and delivers u where b and a1 did. Refused, a2's part delivered u in
// doubt in its own transitional configuration out of a's ring alone,
// while a1 and b delivered it in the ring of a and b (EVS 1.3: hiersim's
// regional starvation at seeds 119 and 202 of 101-300 at 15d89d2).
//
// In the refused case, b goes on past that place before a1's member
// joins b's next ring: a1's catch-up, from a position b's log holds in
// b's own configuration, is refused, and a1's part leaves its
// configuration alone right before that ring's regular one, with no Up
// in doubt, into the ring, where u is ordered. a2's catch-up names the
// position a1's did: b answers it from the ring a1's part went into
// (Site.entered, noted at the refusal: Site.noteRefused). Refused again,
// a2's part delivered u in doubt out of a's ring alone (EVS 1.3: the
// regional starvation's seed 113 of 101-300 at 2fee872).
func TestAnswerEnteredFrom(t *testing.T) {
	for _, c := range []struct {
		name    string
		refused bool
	}{{"at base", false}, {"refused", true}} {
		t.Run(c.name, func(t *testing.T) { testAnswerEnteredFrom(t, c.refused) })
	}
}

func testAnswerEnteredFrom(t *testing.T, refused bool) {
	h := newDomain(t, 0, 3, 2)
	h.splitAlike = true
	a1, a2, a3, b1 := h.node("a1"), h.node("a2"), h.node("a3"), h.node("b1")
	h.sendSettled("w", "a1", "b1")
	h.fedSplit(nil, []string{"a"}, []string{"b"})
	h.settle()
	if refused {
		h.sendSettled("v", "b1") // b goes on past the place of a's ring alone
	}
	h.send("a3", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // every node of a has u pending
	a2.out, a3.out = true, true
	h.fedConfig("a", "b")
	h.settle()
	if st := a1.b.Stats(); (st.Gaps == 1) != refused || st.InDoubt != 0 {
		t.Fatalf("a1 stats %+v: want its catch-up refused (%v), nothing delivered in doubt", st, refused)
	}
	want, wantConf := deliveredAt(b1, u)
	if want.IsZero() {
		t.Fatal("b1 did not deliver u in a's and b's ring")
	}
	a1.out, a2.out, a3.out = true, false, false
	a1.b.FedStopped()
	h.localConfig(h.site("a")) // a2 takes over, u in doubt
	h.afterRing([]string{"a", "b"}, "a2", "b1")
	if st := a2.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.InDoubt != 0 {
		t.Errorf("a2 stats %+v: want one catch-up answer, nothing delivered in doubt", st)
	}
	if st := b1.b.Stats(); st.EnteredAnswers != 1 {
		t.Errorf("b1 stats %+v: want a2's answer given from the ring a1's part went into", st)
	}
	wantTrans := transInto(a1, wantConf)
	for _, n := range []*hnode{a1, a2, a3} {
		if got, conf := deliveredAt(n, u); got != want || conf != wantConf {
			t.Errorf("%s delivered u at %s in %s, want %s in %s, as b1", n.id, got, conf, want, wantConf)
		}
		if tr := transInto(n, wantConf); tr.Conf.ID == "" || tr.Pos != wantTrans.Pos || tr.Conf.ID != wantTrans.Conf.ID {
			t.Errorf("%s went into %s through %q at %s, want %q at %s, as a1", n.id, wantConf, tr.Conf.ID, tr.Pos, wantTrans.Conf.ID, wantTrans.Pos)
		}
	}
}

// transInto returns the transitional configuration node n installed
// right before regular configuration conf, zero if none.
// inDoubtThenA3 goes on from a2's term at site a (a1 crashed, a3 cut
// off, an Up of a pending at a2): a2 delivers it in doubt and goes into a
// regular configuration R with b that names a in doubt; then a2 is cut
// off, a3 is back, and a3's term goes into a ring with b and c. It
// returns R.
func (h *harness) inDoubtThenA3(t *testing.T, a *hsite) DomainConf {
	t.Helper()
	a2, a3 := h.node("a2"), h.node("a3")
	h.localConfig(a) // a2's term, the Up in doubt
	h.fedConfig("a", "b")
	h.settle()
	if st := a2.b.Stats(); st.InDoubt != 1 {
		t.Fatalf("a2 stats %+v: want the Up delivered in doubt", st)
	}
	r := a2.b.Conf()
	if r.Kind != localring.Regular || len(r.Doubt) != 1 {
		t.Fatalf("a2 is in %+v, want a regular configuration that names a in doubt", r)
	}
	a2.out, a3.out = true, false
	a2.b.FedStopped()
	h.localConfig(a) // a3's term
	h.afterRing([]string{"a", "b", "c"}, "a3", "b1", "c1")
	return r
}

func transInto(n *hnode, conf string) Entry {
	var last Entry
	for _, e := range n.stream {
		if e.Kind == EntryConfig && e.Conf.ID == conf {
			return last
		}
		if e.Kind == EntryConfig && e.Conf.Kind == localring.Transitional {
			last = e
		}
	}
	return Entry{}
}

// TestAnswerLeftInto: a1 dies and a2's new term, with no Up in doubt, is
// at the base of a ring of a and b that does not continue the domain's
// configuration (c is not in it): a2 leaves it alone into the ring, and
// a3 is cut off from a2 once it applied a2's transitional configuration
// and nothing after it. a3's Up u, pending at both, is ordered in the
// ring. a2 is cut off in turn, and a3 takes over with u in doubt; its
// catch-up from b names its position, the place of a2's transitional
// configuration, in it: b answers it from the ring's regular
// configuration (Site.leftInto), and a3 goes on into it from the
// transitional configuration it is in, as a2 did, and delivers u where
// b and a2 did. Refused, a3 delivered u in doubt in that transitional
// configuration, which its stream then named after the ring it went into
// next, while a2 and b delivered it in the ring (EVS 1.3: hiersim's
// regional starvation at seed 272 of 101-300 at 2fee872).
func TestAnswerLeftInto(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 1)
	a2, a3, b1 := h.node("a2"), h.node("a3"), h.node("b1")
	h.sendSettled("w", "a1", "b1", "c1")
	h.crash("a1")
	h.localConfig(h.site("a")) // a2 takes over, no Up in doubt
	h.settle()
	h.send("a3", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // u pending at a2 and a3
	h.fedConfig("a", "b")
	// Run the rings until a3 applied a2's transitional configuration,
	// then cut a3 off before the ring's regular configuration.
	sa := h.site("a")
	for range 1000 {
		if c := a3.b.Conf(); c.Kind == localring.Transitional && slices.Equal(c.Sites, []string{"a"}) {
			break
		}
		moved := h.fedStep()
		for _, s := range h.sites {
			if s != sa && h.localStep(s) {
				moved = true
			}
		}
		if len(sa.queue) > 0 {
			rest := slices.Clone(sa.queue[1:])
			sa.queue = sa.queue[:1]
			h.localStep(sa)
			sa.queue = append(rest, sa.queue...)
			moved = true
		}
		if !moved {
			t.Fatal("a3 never applied a transitional configuration of a alone")
		}
	}
	a3.out = true
	h.localConfig(sa)
	h.settle()
	want, wantConf := deliveredAt(b1, u)
	if got, conf := deliveredAt(a2, u); want.IsZero() || got != want || conf != wantConf {
		t.Fatalf("b1 delivered u at %s in %s, a2 at %s in %s: want both in a's and b's ring", want, wantConf, got, conf)
	}
	a2.out, a3.out = true, false
	a2.b.FedStopped()
	h.localConfig(sa) // a3 takes over, u in doubt
	h.afterRing([]string{"a", "b", "c"}, "a3", "b1", "c1")
	if st := a3.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.InDoubt != 0 {
		t.Errorf("a3 stats %+v: want one catch-up answer, nothing delivered in doubt", st)
	}
	if got, conf := deliveredAt(a3, u); got != want || conf != wantConf {
		t.Errorf("a3 delivered u at %s in %s, want %s in %s, as b1 and a2", got, conf, want, wantConf)
	}
	if tr, want := transInto(a3, wantConf), transInto(a2, wantConf); tr.Conf.ID == "" || tr.Pos != want.Pos || tr.Conf.ID != want.Conf.ID {
		t.Errorf("a3 went into %s through %q at %s, want %q at %s, as a2", wantConf, tr.Conf.ID, tr.Pos, want.Conf.ID, want.Pos)
	}
}

// TestAnswerFollowsDoubt: a1 dies with a3's Up u pending, and a2's new
// term, cut off from a3, holds u in doubt; its ring of a and b (c away)
// does not continue the domain's configuration, and a2, at its base,
// leaves alone right before its regular configuration R, delivering u in
// doubt there. a2 is cut off in turn, and a3 takes over with u in doubt,
// at the same place; its catch-up from b runs over R, which names a in
// doubt with the digest of u alone (DomainConf.Doubt), a3's own: a3 keeps
// u in doubt and leaves where a2 did, with the same transitional
// configuration and u in it, into R (Site.followDoubt). Resolved, as
// before, a3 left there without u, and submitted it: b delivered u in
// the ring after, while a2 had delivered it in doubt out of the
// configuration before R (EVS 1.3: hiersim's regional starvation at
// seed 114 of 101-300 at ac2eda3).
func TestAnswerFollowsDoubt(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 1)
	a, a2, a3 := h.site("a"), h.node("a2"), h.node("a3")
	h.sendSettled("w", "a1", "b1", "c1")
	h.crash("a1")
	h.send("a3", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(a) // u pending at a2 and a3
	a3.out = true
	r := h.inDoubtThenA3(t, a)
	if st := a3.b.Stats(); st.CatchUps != 1 || st.InDoubtFollowed != 1 || st.InDoubt != 1 {
		t.Errorf("a3 stats %+v: want one catch-up answer, followed with u in doubt", st)
	}
	want := transInto(a2, r.ID)
	if got := transInto(a3, r.ID); got.Conf.ID == "" || got.Pos != want.Pos || got.Conf.ID != want.Conf.ID {
		t.Errorf("a3 went into %s through %q at %s, want %q at %s, as a2", r.ID, got.Conf.ID, got.Pos, want.Conf.ID, want.Pos)
	}
	for _, n := range []*hnode{a2, a3} {
		if !slices.ContainsFunc(n.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == u && e.InDoubt }) {
			t.Errorf("%s did not deliver u in doubt", n.id)
		}
	}
	h.live(func(s *hsite, n *hnode) {
		if p, _ := deliveredAt(n, u); !p.IsZero() {
			t.Errorf("%s delivered u at %s, a domain position: a2 delivered it in doubt", n.id, p)
		}
	})
}
