// The order of Ups in doubt (see the package comment, "The order of Ups
// in doubt is the predecessor's"): a new gateway term delivers the Ups it holds in doubt in
// the order its predecessor first had them (Site.doubtOrder), not in its
// own pending order, where an Up it got only from its sender's Again is
// appended (addPending) after later Ups of other senders. Both tests
// below failed with the pending order, site a delivering u2 before u1
// and b1 u1 before u2 (EVS 6); they were kept as known-gap reproductions
// behind a build tag until the order was fixed.
package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestInDoubtOrderFromAgain: a1, a's active gateway, delivers a3's Up u1
// and then a2's Up u2 on its local ring and submits them in that order;
// the federation orders both (b and c deliver u1 before u2), and a1 dies
// before it injects them. a2 missed
// u1 (deaf to it, as hiersim's Options.hide), and a3 is cut off from its
// site at the kill (Options.isolate): a2 takes over with u2 pending, and
// u1 comes to it only in a3's Again at the merge, appended after u2. a's
// first federation ring is one of its site alone: a delivers the Ups in
// doubt, in a1's order: u1 where a1 first delivered it (a3's Seen says
// where), before u2, as b and c did.
func TestInDoubtOrderFromAgain(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a2, a3 := h.node("a2"), h.node("a3")
	h.send("a3", "u1")
	u1 := h.sent[len(h.sent)-1]
	a2.out = true // a2 misses u1
	h.localStep(h.site("a"))
	a2.out = false
	h.send("a2", "u2")
	u2 := h.sent[len(h.sent)-1]
	h.localStep(h.site("a")) // a1 submitted u1, then u2
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a1 submitted %d Ups, want 2", n)
	}
	h.frozen[h.node("a1")] = true
	h.fedStep() // ordered: u1, u2
	h.crash("a1")
	h.fedConfig("b", "c")
	h.settle()
	a3.out = true // a3 cut off at the kill
	h.localConfig(h.site("a"))
	if !a2.b.Active() {
		t.Fatal("a2 is not the active gateway")
	}
	h.settle()
	a3.out = false // the merge: a3 announces u1 again
	h.localConfig(h.site("a"))
	h.settle()
	t.Logf("a2 pending: %v", pendingOrigins(a2))
	h.fedAlone("a")
	h.settle()
	want := streamOrder(h.node("b1"), u1, u2)
	if !slices.Equal(want, []Origin{u1, u2}) {
		t.Fatalf("b1 delivered %v, want u1 then u2", want)
	}
	t.Logf("a2 stats: %+v", a2.b.Stats())
	for _, n := range []*hnode{a2, a3} {
		if got := streamOrder(n, u1, u2); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v (in doubt), b1 %v: EVS 6", n.id, got, want)
		}
	}
}

// TestInDoubtOrderFromAgains: a1 is away (paused) while a2 is a's active gateway; a3's Up u1 and then a2's
// u2 go up from a2 in that order, and b and c order them. a1 comes back
// before a2's member delivered them (a2's term ends at the install: a1 is
// the first of a's gateways), and gets both only in their senders'
// Agains, a2's first: its pending order is u2, u1. a's first ring is
// one of its site alone: a delivers the two in doubt in a2's order, u1
// before u2 as b and c did: a1 learns from a2's and a3's Seens that a2
// was the gateway before its term and where a2 first delivered each.
func TestInDoubtOrderFromAgains(t *testing.T) {
	h := newDomain(t, 0, 3, 2, 2)
	h.sendSettled("before", "a2", "b1")
	a1, a2 := h.node("a1"), h.node("a2")
	a1.out = true
	h.localConfig(h.site("a"))
	if !a2.b.Active() {
		t.Fatal("a2 is not the active gateway")
	}
	u1, u2 := h.u1ThenU2() // a2 submits u1, then u2
	if n := len(h.fedQ); n != 2 {
		t.Fatalf("a2 submitted %d Ups, want 2", n)
	}
	a1.b.FedStopped() // its member was fenced while it was away
	h.collect(a1)
	a1.out = false
	h.localConfig(h.site("a")) // a1 back: a new term; a2's ends
	if !a1.b.Active() || a2.b.Active() {
		t.Fatal("a1 did not take over")
	}
	h.settle() // b and c order u1, u2; a's Have phase, the Agains
	t.Logf("a1 pending: %v, doubt %v", pendingOrigins(a1), a1.b.doubt)
	h.fedAlone("a")
	h.settle()
	want := streamOrder(h.node("b1"), u1, u2)
	if !slices.Equal(want, []Origin{u1, u2}) {
		t.Fatalf("b1 delivered %v, want u1 then u2", want)
	}
	t.Logf("a1 stats: InDoubt %d AgainsInDoubt %d", a1.b.Stats().InDoubt, a1.b.Stats().AgainsInDoubt)
	for _, n := range []*hnode{a1, a2, h.node("a3")} {
		if got := streamOrder(n, u1, u2); !slices.Equal(got, want) {
			t.Errorf("%s delivered %v, b1 %v: EVS 6", n.id, got, want)
		}
	}
}

// streamOrder returns the order in which node n's stream holds the
// messages of origins.
func streamOrder(n *hnode, origins ...Origin) []Origin {
	var o []Origin
	for _, e := range n.stream {
		if e.Kind == EntryMessage && slices.Contains(origins, e.Origin) {
			o = append(o, e.Origin)
		}
	}
	return o
}

// pendingOrigins returns the origins of node n's pending Ups, in order.
func pendingOrigins(n *hnode) []Origin {
	var o []Origin
	for _, p := range n.b.pending {
		o = append(o, p.origin)
	}
	return o
}

// TestDoubtOrder: the Ups in doubt go in the order the predecessor first
// delivered them (firsts), an Up inserted before a later one of its
// origin as addPending inserts it (the predecessor got a3/3 from an Again
// after a3/5), then those the predecessor never had as far as the node
// knows, in pending order; Ups not in doubt are not delivered.
func TestDoubtOrder(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	up := func(sender string, seq uint64, doubt bool, firsts ...first) pendingUp {
		return pendingUp{fedUp: fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: localring.NodeID(sender), Inc: 1, Seq: seq}}}, doubt: doubt, firsts: firsts}
	}
	at := func(seq uint64) localring.Order { return localring.Order{Ring: 8, Seq: seq} }
	s.pred = "a1"
	s.pending = []pendingUp{
		up("a4", 1, true, first{"a2", at(1), false}),                               // a1 never had it
		up("a2", 7, true, first{"a1", at(9), false}, first{"a2", at(2), false}),    // own: a2 had it before a1
		up("a3", 5, true, first{"a1", at(3), false}, first{"a2", at(3), false}),    //
		up("a3", 3, true, first{"a1", at(8), false}, first{"a2", at(4), false}),    // a1 got it after a3/5, from an Again
		up("a2", 8, false, first{"a1", at(10), false}, first{"a2", at(10), false}), // not in doubt
		up("a5", 2, true, first{"a1", at(1), false}, first{"a2", at(5), false}),
		up("a4", 4, true), // nobody's place known
	}
	var got []string
	for _, p := range s.doubtOrder() {
		got = append(got, fmt.Sprintf("%s/%d", p.origin.ID.Sender, p.origin.ID.Seq))
	}
	if want := []string{"a5/2", "a3/3", "a3/5", "a2/7", "a4/1", "a4/4"}; !slices.Equal(got, want) {
		t.Errorf("Ups in doubt delivered %v, want %v", got, want)
	}
	if st := s.Stats(); st.InDoubtMoved != 4 {
		t.Errorf("InDoubtMoved %d, want 4 (a5/2, a3/3, a2/7 and a4/1 at other places than in pending order)", st.InDoubtMoved)
	}
	s.pred = ""
	got = nil
	for _, p := range s.doubtOrder() {
		got = append(got, fmt.Sprintf("%s/%d", p.origin.ID.Sender, p.origin.ID.Seq))
	}
	if want := []string{"a4/1", "a2/7", "a3/3", "a3/5", "a5/2", "a4/4"}; !slices.Equal(got, want) {
		t.Errorf("with no predecessor known, Ups in doubt delivered %v, want %v: pending order, a3/3 before a3/5", got, want)
	}
}

// TestFirstsLeft: a node notes, for every member of the configuration it
// delivers in, where it first had an Up; a transitional configuration
// marks those of the regular one's members it does not have as left, and
// a place seen in a configuration the member did not leave is taken over
// a left one, even a later place; of two of one kind the earlier. The
// Seen carries them.
func TestFirstsLeft(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	s.LocalInstall(&localring.Configuration{ID: "r:8:a1", Kind: localring.Regular, Ring: localring.RingID{Seq: 8, Rep: "a1"}, Members: incOne("a1", "a2", "a3")}, false)
	u := fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: 4}}, svc: localring.Agreed, payload: []byte("u")}
	s.LocalDeliver(&localring.Message{ID: u.origin.ID, Payload: encodeUp(s.tag, localring.Agreed, u.payload), Order: localring.Order{Ring: 8, Seq: 5}})
	s.LocalInstall(&localring.Configuration{ID: "t:12:a2/8:a1", Kind: localring.Transitional, Ring: localring.RingID{Seq: 12, Rep: "a2"}, Members: incOne("a2", "a3")}, false)
	s.LocalInstall(&localring.Configuration{ID: "r:12:a2", Kind: localring.Regular, Ring: localring.RingID{Seq: 12, Rep: "a2"}, Members: incOne("a1", "a2", "a3")}, false)
	firsts := func() string { return fmt.Sprint(s.pending[0].firsts) }
	if got, want := firsts(), "[{a1 {8 5 0} true} {a2 {8 5 0} false} {a3 {8 5 0} false}]"; got != want {
		t.Fatalf("firsts %s, want %s: a1 left ring 8", got, want)
	}
	s.LocalDeliver(&localring.Message{ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: 9}, Payload: encodeAgain(s.tag, &u), Order: localring.Order{Ring: 12, Seq: 2}})
	if got, want := firsts(), "[{a1 {12 2 0} false} {a2 {8 5 0} false} {a3 {8 5 0} false}]"; got != want {
		t.Fatalf("after the Again in ring 12, firsts %s, want %s", got, want)
	}
	s.LocalDeliver(&localring.Message{ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: 10}, Payload: encodeSeen(s.tag, &seenMsg{ups: []seenUp{{inc: 1, seq: 4, firsts: []first{
		{"a1", localring.Order{Ring: 4, Seq: 1}, true}, {"a2", localring.Order{Ring: 4, Seq: 1}, false}, {"a4", localring.Order{Ring: 4, Seq: 1}, true}}}}}), Order: localring.Order{Ring: 12, Seq: 3}})
	if got, want := firsts(), "[{a1 {12 2 0} false} {a2 {4 1 0} false} {a3 {8 5 0} false} {a4 {4 1 0} true}]"; got != want {
		t.Fatalf("after a3's Seen, firsts %s, want %s", got, want)
	}
}
