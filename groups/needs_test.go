package groups

import (
	"fmt"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// needsOf returns what Node.Needs answered, per node, for the message
// with payload p delivered at node id (testRing.step records it).
func (r *testRing) needsOf(id, p string) map[string]bool {
	r.t.Helper()
	for _, e := range r.nodes[id].events {
		if e.Kind == EventDeliver && string(e.Msg.Payload) == p {
			if m, ok := r.needsSeen[needsKey{e.Msg.ID, e.Msg.Conf}]; ok {
				return m
			}
		}
	}
	r.t.Fatalf("%s delivered no %q", id, p)
	return nil
}

func wantNeeds(t *testing.T, r *testRing, p string, want map[string]bool) {
	t.Helper()
	got := r.needsOf("a", p)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%q: Needs for %s = %v, want %v (all: %v)", p, id, got[id], w, got)
		}
	}
}

// TestNeeds: a group with members on a and b only does not concern c,
// until a client of c joins: from the join's place in the order on, every
// message to the group concerns c too. The sender's node is always
// concerned; a point-to-point message concerns its sender's and its
// recipient's nodes; requests concern every node. testRing.step checks,
// at every delivery of every test of the package, that no node delivers
// to a client a message Needs said does not concern it, and that the
// nodes answer alike.
func TestNeeds(t *testing.T) {
	r := newTestRing(t, "a", "b", "c", "d")
	r.form([]string{"a", "b", "c", "d"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	r.mcast("a", "x", localring.Agreed, "m1", "g")
	r.mcast("d", "w", localring.Agreed, "m2", "g") // open group: d sends without being a member
	r.run()
	wantNeeds(t, r, "m1", map[string]bool{"a": true, "b": true, "c": false, "d": false})
	wantNeeds(t, r, "m2", map[string]bool{"a": true, "b": true, "c": false, "d": true})
	if got := r.node("c").delivered(); len(got) != 0 {
		t.Fatalf("c delivered %v", got)
	}

	// A message ordered before c's join does not concern c; every one
	// after it does.
	r.mcast("a", "x", localring.Agreed, "m3", "g")
	r.send() // m3 is in the ring before the join
	r.join("c", "z", "g")
	r.run()
	r.mcast("b", "y", localring.Agreed, "m4", "g")
	r.run()
	wantNeeds(t, r, "m3", map[string]bool{"c": false})
	wantNeeds(t, r, "m4", map[string]bool{"a": true, "b": true, "c": true, "d": false})
	wantStrings(t, "c's deliveries", r.node("c").delivered(), []string{"z<-m4"})

	// Point-to-point: the sender's node and the recipient's.
	if _, err := r.node("a").g.Send("x", "c:z", localring.Agreed, 0, []byte("p1")); err != nil {
		t.Fatal(err)
	}
	r.collect(r.node("a"))
	r.run()
	wantNeeds(t, r, "p1", map[string]bool{"a": true, "b": false, "c": true, "d": false})

	// b's only member leaves: b is no longer concerned after the leave.
	r.leave("b", "y", "g")
	r.run()
	r.mcast("a", "x", localring.Agreed, "m5", "g")
	r.run()
	wantNeeds(t, r, "m5", map[string]bool{"a": true, "b": false, "c": true, "d": false})
	if r.notNeeded == 0 || r.needed == 0 {
		t.Fatalf("needed %d, not needed %d", r.needed, r.notNeeded)
	}
}

// TestNeedsPartition: after a partition, a message delivered in a
// transitional configuration concerns the nodes of its transitional view
// only; after the merge (a state exchange) the nodes answer alike again,
// and a message in the exchange concerns everyone.
func TestNeedsPartition(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.mcast("a", "x", localring.Agreed, "m1", "g")
	r.send()
	r.deliverTo(len(r.node("a").ring.sent), "a", "b")
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	wantNeeds(t, r, "m1", map[string]bool{"a": true, "b": false, "c": true})
	r.mcast("a", "x", localring.Agreed, "m2", "g")
	r.run()
	wantNeeds(t, r, "m2", map[string]bool{"a": true, "b": false, "c": false})
	r.form([]string{"a", "b", "c"})
	r.mcast("a", "x", localring.Agreed, "m3", "g")
	r.run()
	wantNeeds(t, r, "m3", map[string]bool{"a": true, "c": true})
}

// TestNeedsSplitAlone: every node goes on alone after a regular
// configuration (as a federation domain's round puts each in a
// transitional configuration of itself: gateway/domconf) and delivers
// the old configuration's last message there, each with its own
// transitional view; every node answers alike for every node (the
// site's gateway decides for the site's other nodes), from the last
// regular view.
func TestNeedsSplitAlone(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	r.mcast("c", "w", localring.Agreed, "m1", "g")
	r.send()
	r.form([]string{"a"}, []string{"b"}, []string{"c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		if got := r.needsOf(id, "m1"); !got["a"] || !got["b"] || !got["c"] {
			t.Errorf("at %s: %v, want every node (a and b have members, c sent it)", id, got)
		}
	}
	wantStrings(t, "b's deliveries", r.node("b").delivered(), []string{"y<-m1"})
}

// TestStub: a node that gets a stub of a multicast (Stub: the site's
// gateway brought the message down without its data) delivers it at its
// place to no client, and its trace line has the hash of the data, as
// the others' have (the EVS checker finds no difference). A stub at a
// node with a member of the group is counted as lost there
// (Stats.StubRecipients).
func TestStub(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	for i, stubAt := range []string{"c", "b"} {
		r.mcast("a", "x", localring.Agreed, fmt.Sprintf("hello %d", i), "g")
		r.send()
		tr := r.node("a").ring
		last := len(tr.sent) - 1
		m := tr.sent[last]
		stub, ok := Stub(m.Payload)
		if !ok {
			t.Fatalf("no stub of %q", m.Payload)
		}
		if !IsData(stub) || !IsData(m.Payload) {
			t.Error("IsData is false for a multicast or its stub")
		}
		for _, id := range []string{"a", "b", "c"} {
			tn := r.node(id)
			r.deliverTo(last, id)
			if id != stubAt {
				r.deliverTo(last+1, id)
				continue
			}
			sm := m
			sm.Payload = stub
			tr.delivered[tn]++
			r.step(tn, localring.Event{Kind: localring.EventDeliver, Msg: sm})
		}
	}
	c := r.node("c")
	ev := c.events[len(c.events)-2:]
	if d := ev[0]; d.Kind != EventDeliver || !d.Msg.Stub || len(d.To) != 0 || len(d.Msg.Payload) != 0 {
		t.Errorf("c's delivery of the stub: %+v", d)
	}
	if st := c.g.Stats(); st.Stubs != 1 || st.StubRecipients != 0 {
		t.Errorf("c's stats %+v", st)
	}
	if st := r.node("b").g.Stats(); st.Stubs != 1 || st.StubRecipients != 1 {
		t.Errorf("b's stats %+v: want its stub with a recipient counted", st)
	}
	hashes := map[string]map[string]bool{}
	for _, l := range r.trace {
		if l.Ev == "deliver" && strings.HasPrefix(l.Msg, "a/") {
			if hashes[l.Msg] == nil {
				hashes[l.Msg] = map[string]bool{}
			}
			hashes[l.Msg][l.Hash] = true
		}
	}
	for msg, hs := range hashes {
		if len(hs) != 1 {
			t.Errorf("%s delivered with hashes %v", msg, hs)
		}
	}
	wantStrings(t, "b's deliveries", r.node("b").delivered(), []string{"y<-hello 0"})
	r.run()
	r.check(true)
}
