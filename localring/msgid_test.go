package localring

import (
	"fmt"
	"strings"
	"testing"
)

// TestMessageIDString: "sender/incarnation/seq", as before, in one
// allocation (a trace line's message id), also for a sender name longer
// than the stack buffer.
func TestMessageIDString(t *testing.T) {
	for _, id := range []MessageID{
		{},
		{Sender: "a-1", Inc: 1, Seq: 2},
		{Sender: "b-2", Inc: 1 << 52, Seq: 1<<64 - 1},
		{Sender: NodeID(strings.Repeat("n", 200)), Inc: 1765000000000000, Seq: 123456789},
	} {
		want := fmt.Sprintf("%s/%d/%d", id.Sender, id.Inc, id.Seq)
		if got := id.String(); got != want {
			t.Errorf("%#v.String() = %q; want %q", id, got, want)
		}
	}
	id := MessageID{Sender: "a-2", Inc: 1 << 52, Seq: 987654321}
	if n := testing.AllocsPerRun(100, func() { _ = id.String() }); n != 1 {
		t.Errorf("MessageID.String: %v allocations; want 1", n)
	}
}
