package agent

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestAppendMsgID: a delivery's id is written as MessageID.String writes
// it, without the string.
func TestAppendMsgID(t *testing.T) {
	for _, id := range []localring.MessageID{
		{Sender: "n1", Inc: 1, Seq: 0},
		{Sender: "fra-node-12", Inc: 1796185368159702, Seq: 18446744073709551615},
	} {
		if got, want := string(appendMsgID([]byte("x"), id)), "x"+id.String(); got != want {
			t.Errorf("appendMsgID(%v) = %q, want %q", id, got, want)
		}
	}
	b := make([]byte, 0, 64)
	id := localring.MessageID{Sender: "n2", Inc: 77, Seq: 123456}
	if allocs := testing.AllocsPerRun(100, func() { b = appendMsgID(b[:0], id) }); allocs != 0 {
		t.Errorf("%.1f allocations per id, want 0", allocs)
	}
}
