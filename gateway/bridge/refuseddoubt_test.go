package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestRefusedDoubtElsewhere: site a's Up u, sent by a2, is pending at
// every node of a when a3 is cut off from its site (its stream in a's and
// b's configuration). The federation splits, a goes on alone, a1 dies
// before its member orders u there, and a2's term, u in doubt, joins b:
// b refuses its catch-up (its log does not hold a's configuration of its
// own), and a2 delivers u in doubt in its own transitional configuration
// out of that one, a2 told it sent it there. b names a, refused in doubt
// with u, in its log's entry of the ring's regular configuration
// (Site.noteRefusedDoubt). a3's term, u in doubt, answered by b over that
// configuration later, was never in a2's configuration: it neither
// delivers nor submits u (Site.dropRefusedDoubt). Before, it resolved
// its doubt and submitted u, which b and a3 delivered in a later ring
// (EVS 1.3: hiersim's regional starvation at seed 254 of 101-300 at
// 69fc327).
func TestRefusedDoubtElsewhere(t *testing.T) {
	h := newDomain(t, 0, 3, 2)
	h.splitAlike = true
	a, a2, a3, b1 := h.site("a"), h.node("a2"), h.node("a3"), h.node("b1")
	h.sendSettled("w", "a1", "b1")
	h.fedSplit(nil, []string{"a"}, []string{"b"})
	h.send("a2", "u") // not submitted before a's ring alone settles
	u := h.sent[len(h.sent)-1]
	h.localStep(a) // u pending at every node of a
	a3.out = true
	h.localConfig(a) // a1 and a2, a1 still the active gateway
	for h.fedStep() {
	}
	h.localStep(a) // a2 applies a's configuration alone
	if got := a2.b.Conf(); got.Kind != localring.Regular || !slices.Equal(got.Sites, []string{"a"}) {
		t.Fatalf("a2 is in %+v, want a's regular configuration alone", got)
	}
	h.crash("a1") // its member's copy of u dies with it
	h.localConfig(a)
	h.settle()
	h.sendSettled("v", "b1") // b goes on past the place of a's ring alone
	h.fedConfig("a", "b")
	h.settle()
	if st := a2.b.Stats(); st.Gaps != 1 || st.InDoubt != 1 {
		t.Fatalf("a2 stats %+v: want its catch-up refused, u delivered in doubt", st)
	}
	if !slices.ContainsFunc(a2.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == u && e.InDoubt }) {
		t.Fatal("a2 did not deliver u in doubt")
	}
	if st := b1.b.Stats(); st.RefusedDoubtNamed != 1 {
		t.Errorf("b1 stats %+v: want a named refused in doubt in its log", st)
	}
	a2.out, a3.out = true, false
	a2.b.FedStopped()
	h.localConfig(a) // a3's term, u in doubt
	h.afterRing([]string{"a", "b"}, "a3", "b1")
	if st := a3.b.Stats(); st.CatchUps != 1 || st.Gaps != 0 || st.InDoubt != 0 || st.RefusedDoubtDropped != 1 {
		t.Errorf("a3 stats %+v: want one catch-up answer, u dropped, nothing delivered in doubt", st)
	}
	h.live(func(s *hsite, n *hnode) {
		if p, conf := deliveredAt(n, u); !p.IsZero() {
			t.Errorf("%s delivered u at %s in %s: a2 delivered it in doubt, out of a's configuration alone", n.id, p, conf)
		}
		if n != a2 && slices.ContainsFunc(n.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == u }) {
			t.Errorf("%s delivered u, which a2 delivered in doubt in a configuration it was not in", n.id)
		}
	})
	if a3.b.Pending() != 0 {
		t.Errorf("a3 holds %d Ups pending, want none", a3.b.Pending())
	}
}

// A Sync names the Ups in doubt after their digest and number
// (syncMsg.doubtUps), and a regular configuration entry names a site
// refused in doubt with its Ups (DoubtSite.Refused): each decodes as
// encoded, and neither decodes cut short, nor with a number of Ups that
// is not the number named.
func TestRefusedDoubtCodec(t *testing.T) {
	ups := []Origin{{Site: "a", ID: localring.MessageID{Sender: "a2", Inc: 1, Seq: 7}}, {Site: "a", ID: localring.MessageID{Sender: "a3", Inc: 2, Seq: 9}}}
	s := &syncMsg{site: "a", ring: 8, last: localring.DomainOrder{Seq: 40, Ring: 8}, conf: "r:4:a", doubt: true, doubtID: digest(ups), doubtN: 2, doubtUps: ups}
	b := encodeSync(s)
	if got, err := decodeFed(b); err != nil || fmt.Sprint(got) != fmt.Sprint(s) {
		t.Errorf("Sync %+v decoded as %+v, %v", s, got, err)
	}
	for i := range len(b) {
		if got, err := decodeFed(b[:i]); err == nil && fmt.Sprint(got) == fmt.Sprint(s) {
			t.Errorf("a Sync cut at %d of %d bytes decoded as the whole", i, len(b))
		}
	}
	one := *s
	one.doubtN = 1
	if _, err := decodeFed(encodeSync(&one)); err == nil {
		t.Error("a Sync naming 2 Ups in doubt with a number of 1 decoded")
	}
	e := Entry{Pos: localring.DomainOrder{Seq: 20, Ring: 12}, Kind: EntryConfig, Conf: DomainConf{ID: "r:12:a", Kind: localring.Regular, Sites: []string{"a", "b"},
		Doubt: []DoubtSite{{Site: "b", ID: "~0123456789abcdef", N: 3}, {Site: "a", ID: digest(ups), N: 2, Refused: true, Ups: ups}}}}
	prev := localring.DomainOrder{Seq: 19, Ring: 12}
	if gt, d, err := decodeLocal(encodeDown(7, prev, &e)); err != nil || gt != 7 || d.down == nil || fmt.Sprint(d.down.entry) != fmt.Sprint(e) {
		t.Errorf("Down of %+v decoded as %+v, %v", e, d.down, err)
	}
	c := &catchUp{to: "a", from: localring.DomainOrder{Seq: 8, Ring: 4}, entries: []Entry{e}}
	if got, err := decodeFed(encodeCatchUp(c)); err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Errorf("catch-up %+v decoded as %+v, %v", c, got, err)
	}
	short := e
	short.Conf.Doubt = []DoubtSite{{Site: "a", ID: digest(ups), N: 3, Refused: true, Ups: ups}}
	if _, _, err := decodeLocal(encodeDown(7, prev, &short)); err == nil {
		t.Error("a Down naming 3 Ups of a site refused in doubt, and 2 of them, decoded")
	}
}
