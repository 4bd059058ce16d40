package bridge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestFirstsBehindLeft: a2 sees a1 deliver a3's Up u at 8:5 and a2's Up
// v at 8:7 in ring 8, which a1 leaves (both places left); in ring 12,
// which a1 joins again, a3's Again of u comes at 12:2 (a place a1 did
// not leave yet, taken over the left one), and a1 leaves ring 12 too.
// Of two places left the earlier is a1's first: u at 8:5, before v, as
// had the Again come after ring 12 ended (pendingUp.behind). a1, which
// had u at 8:5 itself, orders its Ups in doubt so; taking 12:2, a2, with
// a1 for the predecessor, delivered v before u, and a1 u before v
// (hiersim's partial cut at seed 20 with packets=all: fra-1 and fra-2,
// each alone, left r:65544:ams with fra-1's term for the predecessor,
// fra-2 ordering fra-2/1/29 by fra-1's place in a later ring it left:
// EVS 6).
func TestFirstsBehindLeft(t *testing.T) {
	s, err := New(Config{Domain: "fed/test", Site: "a", Node: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	install := func(id string, kind localring.ConfKind, ring uint64, ids ...localring.NodeID) {
		s.LocalInstall(&localring.Configuration{ID: id, Kind: kind, Ring: localring.RingID{Seq: ring, Rep: "a2"}, Members: incOne(ids...)}, false)
	}
	u := fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: 4}}, svc: localring.Agreed, payload: []byte("u")}
	v := fedUp{origin: Origin{Site: "a", ID: localring.MessageID{Sender: "a2", Inc: 1, Seq: 6}}, svc: localring.Agreed, payload: []byte("v")}
	install("r:8:a2", localring.Regular, 8, "a1", "a2", "a3")
	s.LocalDeliver(&localring.Message{ID: u.origin.ID, Payload: encodeUp(s.tag, localring.Agreed, u.payload), Order: localring.Order{Ring: 8, Seq: 5}})
	s.LocalDeliver(&localring.Message{ID: v.origin.ID, Payload: encodeUp(s.tag, localring.Agreed, v.payload), Order: localring.Order{Ring: 8, Seq: 7}})
	install("t:12:a2/8:a2", localring.Transitional, 12, "a2", "a3")
	install("r:12:a2", localring.Regular, 12, "a1", "a2", "a3")
	s.LocalDeliver(&localring.Message{ID: localring.MessageID{Sender: "a3", Inc: 1, Seq: 9}, Payload: encodeAgain(s.tag, &u), Order: localring.Order{Ring: 12, Seq: 2}})
	a1 := func(i int) string {
		j := slices.IndexFunc(s.pending[i].firsts, func(f first) bool { return f.node == "a1" })
		return fmt.Sprint(s.pending[i].firsts[j])
	}
	if got, want := a1(0), "{a1 {12 2 0} false}"; got != want {
		t.Fatalf("after the Again in ring 12, a1's first of u %s, want %s", got, want)
	}
	install("t:16:a2/12:a2", localring.Transitional, 16, "a2", "a3")
	install("r:16:a2", localring.Regular, 16, "a2", "a3")
	if got, want := a1(0), "{a1 {8 5 0} true}"; got != want {
		t.Errorf("after a1 left ring 12, a1's first of u %s, want %s: the earlier of two places left", got, want)
	}
	if got, want := a1(1), "{a1 {8 7 0} true}"; got != want {
		t.Errorf("a1's first of v %s, want %s", got, want)
	}
	for i := range s.pending {
		s.pending[i].doubt = true
	}
	s.pred = "a1"
	var got []string
	for _, p := range s.doubtOrder() {
		got = append(got, fmt.Sprintf("%s/%d", p.origin.ID.Sender, p.origin.ID.Seq))
	}
	if want := []string{"a3/4", "a2/6"}; !slices.Equal(got, want) {
		t.Errorf("Ups in doubt delivered %v, want %v: a1's order", got, want)
	}
}

// incOne returns the ring members ids, each in incarnation 1.
func incOne(ids ...localring.NodeID) []localring.Member {
	var m []localring.Member
	for _, id := range ids {
		m = append(m, localring.Member{ID: id, Inc: 1})
	}
	return m
}
