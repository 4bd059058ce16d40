package bridge

import (
	"slices"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestAgainBeforeLaterUp: a sender's Up that went out in a configuration
// of its site's ring without the gateway comes to the gateway in an
// Again at the next configuration, after a later Up of the same sender
// (queued during that configuration's membership round, it went out
// first). The gateway keeps its pending Ups in each origin's order, so
// it submits the earlier first: appended, the later one went up first,
// and when it came down every node took the earlier for done and
// dropped it as a duplicate when it came down after (gateway/hiersim
// TestCrashThenStall: lost at every node). Another sender's Up does not
// move.
func TestAgainBeforeLaterUp(t *testing.T) {
	site := func(node localring.NodeID) *Site {
		s, err := New(Config{Domain: "fed/test", Site: "a", Node: node})
		if err != nil {
			t.Fatal(err)
		}
		s.LocalInstall(&localring.Configuration{ID: "r:8:a1", Kind: localring.Regular, Ring: localring.RingID{Seq: 8, Rep: "a1"},
			Members: []localring.Member{{ID: "a1", Inc: 1}, {ID: "a2", Inc: 1}, {ID: "a3", Inc: 1}}}, node == "a1")
		return s
	}
	gw, a2, a3 := site("a1"), site("a2"), site("a3")
	id := func(n localring.NodeID, seq uint64) localring.MessageID {
		return localring.MessageID{Sender: n, Inc: 1, Seq: seq}
	}
	gw.LocalDeliver(&localring.Message{ID: id("a2", 30), Svc: localring.Agreed, Payload: a2.EncodeUp(localring.Agreed, []byte("first"))})
	gw.LocalDeliver(&localring.Message{ID: id("a3", 40), Svc: localring.Agreed, Payload: a3.EncodeUp(localring.Agreed, []byte("other sender"))})
	gw.LocalDeliver(&localring.Message{ID: id("a2", 44), Svc: localring.Agreed, Payload: a2.EncodeUp(localring.Safe, []byte("later"))})
	earlier := fedUp{origin: Origin{Site: "a", ID: id("a2", 34)}, svc: localring.Safe, payload: []byte("earlier")}
	gw.LocalDeliver(&localring.Message{ID: id("a2", 45), Svc: localring.Agreed, Payload: encodeAgain(gw.tag, &earlier)})
	var got []string
	for _, p := range gw.pending {
		got = append(got, string(p.payload))
	}
	if want := []string{"first", "other sender", "earlier", "later"}; !slices.Equal(got, want) {
		t.Fatalf("pending Ups %q, want %q", got, want)
	}
}
