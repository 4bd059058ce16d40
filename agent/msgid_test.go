package agent

import (
	"fmt"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestMsgIDs: a delivery's id is written as MessageID.String writes it,
// without the string, whatever the heads kept: a sender's new
// incarnation, more senders than heads kept, the largest numbers.
func TestMsgIDs(t *testing.T) {
	var w msgIDs
	check := func(id localring.MessageID) {
		t.Helper()
		if got, want := string(w.write(id)), id.String(); got != want {
			t.Fatalf("write(%#v) = %q, want %q", id, got, want)
		}
	}
	check(localring.MessageID{Sender: "n1", Inc: 1, Seq: 0})
	check(localring.MessageID{Sender: "fra-node-12", Inc: 1796185368159702, Seq: 18446744073709551615})
	check(localring.MessageID{Sender: "n1", Inc: 2, Seq: 7})  // n1 again
	check(localring.MessageID{Sender: "n10", Inc: 2, Seq: 7}) // another sender, the same incarnation
	for round := range 3 {
		for i := range 2*maxIDHeads + 1 {
			check(localring.MessageID{Sender: localring.NodeID(fmt.Sprintf("n%d", i)), Inc: uint64(1000 + i%3), Seq: uint64(round*100 + i)})
		}
	}
	ids := []localring.MessageID{{Sender: "n1", Inc: 1796185368159702, Seq: 123456}, {Sender: "n2", Inc: 77, Seq: 5}, {Sender: "n3", Inc: 9, Seq: 1 << 40}}
	if allocs := testing.AllocsPerRun(100, func() {
		for _, id := range ids {
			w.write(id)
		}
	}); allocs != 0 {
		t.Errorf("%.1f allocations per three ids, want 0", allocs)
	}
}
