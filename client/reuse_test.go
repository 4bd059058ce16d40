package client_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestMessageReuse: with WithMessageReuse, Receive returns each message
// whole, in order, whether it read the message itself (into the one
// Message it reuses) or a call waiting for a reply read it before (Join:
// the message then waits in the queue with a copy of its own); a payload
// larger than the reused buffer and an empty one come through too.
func TestMessageReuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := newFakeAgent(t, cp.Version3, 16)
	cl, conn, r := a.session(client.WithReceive(), client.WithMessageReuse())
	msg := func(seq uint64, payload []byte) []byte {
		return cp.Append(nil, &cp.Frame{Type: cp.TypeMessage, Svc: 5, Sender: "n2:y", Seq: seq, MsgID: "n2/1/1", Groups: []string{"g"}, Payload: payload})
	}
	big := bytes.Repeat([]byte("0123456789"), 10<<10) // over the reused buffer's bound
	want := [][]byte{[]byte("first"), []byte("second"), []byte("third"), big, nil, []byte("sixth")}
	go func() { // the agent: two messages, the join's reply, the rest
		conn.Write(append(msg(1, want[0]), msg(2, want[1])...))
		f, err := r.Next()
		if err != nil {
			return
		}
		out := cp.Append(nil, &cp.Frame{Type: cp.TypeOK, Req: f.Req})
		for i := 2; i < len(want); i++ {
			out = append(out, msg(uint64(i+1), want[i])...)
		}
		conn.Write(out)
	}()
	if err := cl.Join(ctx, "g"); err != nil { // reads the first two messages while it waits
		t.Fatal(err)
	}
	var prev *client.Message
	for i, w := range want {
		e, err := cl.Receive(ctx)
		if err != nil || e.Kind != client.EventMessage {
			t.Fatalf("Receive %d: %+v, %v", i, e, err)
		}
		m := e.Message
		if m.Seq != uint64(i+1) || !bytes.Equal(m.Payload, w) || len(m.Groups) != 1 || m.Groups[0] != "g" || m.Sender != "n2:y" {
			t.Fatalf("message %d: seq %d, %d bytes %.20q, groups %q, sender %q; want seq %d, %.20q", i, m.Seq, len(m.Payload), m.Payload, m.Groups, m.Sender, i+1, w)
		}
		if i >= 3 && m != prev {
			t.Errorf("message %d: a Message of its own; want the one Receive reuses", i)
		}
		prev = m
	}
}

// TestAllocsPerMessageReuse is TestAllocsPerMessage with WithReceive and
// WithMessageReuse: the message, its payload and its groups are not
// allocated; what is left is the message's ID (a string), and the fake
// agent's Groups.
func TestAllocsPerMessageReuse(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	allocs := allocsPerMessage(t, client.WithReceive(), client.WithMessageReuse())
	t.Logf("%.1f allocations per message", allocs)
	if allocs > maxAllocsPerMessageReuse {
		t.Errorf("%.1f allocations per message through the client with WithMessageReuse, want at most %d", allocs, maxAllocsPerMessageReuse)
	}
}

const maxAllocsPerMessageReuse = 2
