package bridge

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestRefusedDoneElsewhere: a2's Up u is pending at a1, a's gateway, and
// at a2 when a1 pauses: its member's copy of u is lost, and its member
// settles a ring of its site alone that no other node of a ever applies
// (a1's Downs stay queued in its local ring). a2 takes over, u in doubt,
// joins b, is answered, and gets u ordered with b. a1 comes back, applies
// its ring alone (its own Downs), and is the active gateway when a's ring
// is whole again: its history wins, a2 restarts, and a1's term, u in doubt
// again, asks b from its ring alone. b refuses (its log does not hold that
// position), and names u as ordered there (catchUp.done, Site.doneUps):
// a1 takes it for done (Site.doneElsewhere), and neither it nor any node
// of a delivers it in doubt. Before, a1 delivered u in doubt in its own
// transitional configuration out of its ring alone, a2 told it sent it
// there, while b and a2 had delivered it in the domain's configuration
// (EVS 1.3: hiersim's gateway pause with a persistent victim, seeds 11
// and 13 with packets=no-local-loss; sin-2 was a1, sin-1 a2).
func TestRefusedDoneElsewhere(t *testing.T) {
	h, u := refusedElsewhere(t, "a2")
	a, a1 := h.site("a"), h.node("a1")
	b1 := h.node("b1")
	if st := a1.b.Stats(); st.Gaps != 1 || st.DoneElsewhere != 1 {
		t.Errorf("a1 stats %+v: want its catch-up refused, u taken for done", st)
	}
	if st := b1.b.Stats(); st.Diverged != 1 || st.DoneNamed != 1 {
		t.Errorf("b1 stats %+v: want one refusal of another history, naming u", st)
	}
	h.live(func(s *hsite, n *hnode) {
		for _, e := range n.stream {
			if e.Kind == EntryMessage && e.Origin == u && e.InDoubt {
				t.Errorf("%s delivered u in doubt (configurations %s), which b delivered in the domain's configuration", n.id, confs(n))
			}
		}
		if n.site == a && n.b.Pending() != 0 {
			t.Errorf("%s holds %d Ups pending, want none", n.id, n.b.Pending())
		}
	})
	if slices.ContainsFunc(a1.stream, func(e Entry) bool { return e.Kind == EntryMessage && e.Origin == u }) {
		t.Errorf("a1 delivered u (configurations %s)", confs(a1))
	}
	// Its site's transitional configuration names u gone (DomainConf.Gone).
	if !slices.ContainsFunc(a1.stream, func(e Entry) bool {
		return e.Kind == EntryConfig && e.Conf.Kind == localring.Transitional && slices.Equal(e.Conf.Gone, []Origin{u})
	}) {
		t.Errorf("no transitional configuration of a1's names u gone (configurations %s)", confs(a1))
	}
}

// refusedElsewhere plays TestRefusedDoneElsewhere's case with u sent by
// sender (a1 or a2), up to the ring of a and b after a1's refusal, and
// returns the harness and u.
func refusedElsewhere(t *testing.T, sender string) (*harness, Origin) {
	t.Helper()
	h := newDomain(t, 0, 2, 2)
	a, a1, a2, b1 := h.site("a"), h.node("a1"), h.node("a2"), h.node("b1")
	h.sendSettled("before", sender, "b1")
	h.send(sender, "u")
	u := h.sent[len(h.sent)-1]
	h.localStep(a) // u pending at a1 and a2; a1's member has it
	// a1 pauses: its member's copy of u is lost, and its member settles a
	// ring of a alone, whose Downs a1 injects but no node of a applies.
	h.fedQ = slices.DeleteFunc(h.fedQ, func(m hmsg) bool { return m.id.Sender == "a" })
	h.fedAlone("a")
	for h.fedStep() {
	}
	alone := a1.b.fed.id
	paused := a.queue
	a.queue = nil
	a1.out = true
	a1.b.FedStopped() // fenced by a2's member as it resumes

	h.localConfig(a) // a2's term, u in doubt
	h.fedConfig("a", "b")
	h.settle()
	if p, conf := deliveredAt(b1, u); p.IsZero() {
		t.Fatalf("b1 did not deliver u (a2's term: %+v)", a2.b.Stats())
	} else {
		t.Logf("b1 delivered u at %s in %s", p, conf)
	}
	h.sendSettled("main", "a2", "b1")

	// a1 back: in a ring of its own first, where it applies its Downs of
	// its ring alone, then with a2, the active gateway.
	a1.out, a2.out = false, true
	h.localConfig(a)
	a.queue = append(paused, a.queue...)
	h.settle()
	if got := a1.b.Conf(); got.ID != alone {
		t.Fatalf("a1 is in %s, want its ring alone %s", got.ID, alone)
	}
	a2.out = false
	h.localConfig(a)
	h.settle()
	h.afterRing([]string{"a", "b"}, "a1", "a2", "b1")
	return h, u
}

// A refusal names the Ups in doubt done elsewhere (catchUp.done), and a
// transitional configuration entry the Ups gone (DomainConf.Gone): each
// decodes as encoded, and neither decodes cut short; a refusal without
// them has the layout of the bridges before them.
func TestDoneElsewhereCodec(t *testing.T) {
	ups := []Origin{{Site: "a", ID: localring.MessageID{Sender: "a2", Inc: 1, Seq: 7}}, {Site: "a", ID: localring.MessageID{Sender: "a1", Inc: 2, Seq: 9}}}
	c := &catchUp{to: "a", from: localring.DomainOrder{Seq: 8, Ring: 4}, gap: true,
		done: []doneUp{{origin: ups[0], confs: []string{"r:12:b", "r:8:b"}}, {origin: ups[1], confs: []string{"r:16:b"}}}}
	b := encodeCatchUp(c)
	if got, err := decodeFed(b); err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Errorf("refusal %+v decoded as %+v, %v", c, got, err)
	}
	for i := range len(b) {
		if got, err := decodeFed(b[:i]); err == nil && fmt.Sprint(got) == fmt.Sprint(c) {
			t.Errorf("a refusal cut at %d of %d bytes decoded as the whole", i, len(b))
		}
	}
	plain := &catchUp{to: "a", from: c.from, gap: true}
	if got := encodeCatchUp(plain); got[len(got)-1] != 1 || !bytes.HasPrefix(b, got) {
		t.Errorf("a refusal naming nothing encodes as %x, one naming Ups done as %x", got, b)
	}
	e := Entry{Pos: localring.DomainOrder{Seq: 20, Ring: 12}, Kind: EntryConfig, Conf: DomainConf{ID: "site:a:t:16:b/12:a~0123456789abcdef",
		Kind: localring.Transitional, Sites: []string{"a"}, Gone: ups}}
	prev := localring.DomainOrder{Seq: 19, Ring: 12}
	d := encodeDown(7, prev, &e)
	if gt, got, err := decodeLocal(d); err != nil || gt != 7 || got.down == nil || fmt.Sprint(got.down.entry) != fmt.Sprint(e) {
		t.Errorf("Down of %+v decoded as %+v, %v", e, got.down, err)
	}
	for i := range len(d) {
		if _, got, err := decodeLocal(d[:i]); err == nil && got.down != nil && fmt.Sprint(got.down.entry) == fmt.Sprint(e) {
			t.Errorf("a Down cut at %d of %d bytes decoded as the whole", i, len(d))
		}
	}
	reg := e
	reg.Conf.Kind = localring.Regular
	if _, _, err := decodeLocal(encodeDown(7, prev, &reg)); err == nil {
		t.Error("a regular configuration naming Ups gone decoded")
	}
}
