package bridge

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestInDoubtLeftBeside: a's gateway submits a2's Up u and dies as the
// federation ring splits three ways: c's component gets u (in its
// transitional configuration), b's does not. b goes on alone, ahead;
// in a ring of b and c, b answers c, whose position is in c's own
// component, and refuses: c leaves the configuration alone, having
// delivered u there. a's new term, u in doubt, meets both in the next
// ring: b answers a from a's position, through b's own transitional
// configuration out of the ring u was ordered in, which lacks c as well
// as a. c came out of it another way, and delivered u there: the answer
// does not end a's doubt (Site.leftBeside), and a delivers u in doubt in
// its own transitional configuration, a2 told it sent u where c
// delivered it. Taken for the domain's word, a submitted u again,
// ordered in the new ring, a2 told it sent it there (EVS 1.3 at c:
// hiersim's partial cut at seed 28 with packets=all, sin-1/1/4 that fra
// delivered in site:fra:t:196664:ams/65544:ams, and ams's answer to sin
// left out).
func TestInDoubtLeftBeside(t *testing.T) {
	h := newDomain(t, 0, 2, 2, 2)
	h.sendSettled("w", "a1", "b1", "c1")
	h.send("a2", "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // pending at a1 and a2, submitted by a1
	ga := h.site("a").gw
	h.frozen[ga] = true
	k := len(h.fedQ) - 1
	h.fedSplit(map[int][]int{1: {k}}, []string{"a"}, []string{"b"}, []string{"c"})
	h.crash(string(ga.id))
	h.settle()
	// The regular configuration u was sent in, as c1 delivered it in
	// the transitional one after it.
	var wantConf, reg string
	for _, e := range h.node("c1").stream {
		switch {
		case e.Kind == EntryConfig && e.Conf.Kind == localring.Regular:
			reg = e.Conf.ID
		case e.Kind == EntryConfig:
			if wantConf == "" {
				wantConf = reg
			}
		case e.Kind == EntryMessage && e.Origin == u && wantConf == "":
			t.Fatalf("c1 delivered u in %s, not in its transitional configuration", reg)
		}
	}
	if at, _ := deliveredAt(h.node("c1"), u); at.IsZero() {
		t.Fatal("c1 did not deliver u")
	}
	if at, _ := deliveredAt(h.node("b1"), u); !at.IsZero() {
		t.Fatal("b1 delivered u: the run does not make the case")
	}
	for range 3 {
		h.sendSettled("b-alone", "b2")
	}
	h.fedConfig("b", "c")
	h.settle()
	if st := h.node("c1").b.Stats(); st.Gaps != 1 {
		t.Fatalf("c1 stats %+v: want its catch-up refused", st)
	}
	h.localConfig(h.site("a")) // a2 takes over, u in doubt
	h.settle()
	h.fedConfig("a", "b", "c")
	h.settle()
	a2 := h.node("a2")
	if st := a2.b.Stats(); st.InDoubtSplit != 1 || st.CatchUps != 1 || st.InDoubt != 1 {
		t.Errorf("a2 stats %+v: want one answer that left u in doubt, delivered in doubt", st)
	}
	sentIn := sentConf(a2, u)
	if sentIn != wantConf {
		t.Errorf("a2 was told it sent u in %q, want %q, c having delivered it in the transitional configuration after it", sentIn, wantConf)
	}
}

// sentConf returns the configuration n's stream last told it it sent o
// in (EntrySend), "" for none.
func sentConf(n *hnode, o Origin) string {
	conf := ""
	for _, e := range n.stream {
		if e.Kind == EntrySend && e.Origin == o {
			conf = e.Conf.ID
		}
	}
	return conf
}
