package client_test

import (
	"context"
	"net"
	"testing"

	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestAllocsPerMessage bounds the allocations of the client path per
// message: a Multicast of 1 KiB to a fake agent that answers it and
// sends it back as a delivery, read with Receive (from Events, or with
// WithReceive from the connection: TestWithReceive). Counted in the whole
// process (the client's goroutines and the fake agent's), so the bound
// catches a copy or a buffer per message coming back: the client's
// request buffers are pooled, the delivered payloads share slabs, the
// messages' IDs blocks of IDs, and what is left is the Message and its
// Groups, and the fake agent's Groups: 3 (18 before the pools, the slabs
// and the allocation-free trywrite, 4 before the blocks of IDs).
func TestAllocsPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	allocs := allocsPerMessage(t)
	t.Logf("%.1f allocations per message", allocs)
	if allocs > maxAllocsPerMessage {
		t.Errorf("%.1f allocations per message through the client, want at most %d", allocs, maxAllocsPerMessage)
	}
}

// allocsPerMessage counts the allocations per message of a client with
// opts: each round multicasts 1 KiB to a fake agent, which answers it and
// sends it back as a delivery, and reads events until that delivery.
func allocsPerMessage(t *testing.T, opts ...client.Option) float64 {
	t.Helper()
	ctx := context.Background()
	a := newFakeAgent(t, cp.Version2, 64)
	cl, conn, r := a.session(opts...)
	go echoDeliveries(conn, r)
	payload := make([]byte, 1024)
	groups := []string{"g"}
	round := func() {
		if err := cl.MulticastWait(ctx, client.Agreed, 0, groups, payload); err != nil {
			t.Fatal(err)
		}
		for {
			e, err := cl.Receive(ctx)
			if err != nil {
				t.Fatalf("session ended: %v", err)
			}
			if e.Kind == client.EventMessage {
				return
			}
		}
	}
	for range 100 { // warm the pools and the reader's names
		round()
	}
	return testing.AllocsPerRun(2000, round)
}

const maxAllocsPerMessage = 4

// echoDeliveries is a fake agent's side of a session: it answers each
// multicast read from r and sends it back on conn as a delivery, in one
// write, until the session ends.
func echoDeliveries(conn net.Conn, r *cp.Reader) {
	var out []byte
	for {
		f, err := r.Next()
		if err != nil {
			return
		}
		out = cp.Append(out[:0], &cp.Frame{Type: cp.TypeOK, Req: f.Req, Seq: uint64(f.Req)})
		out = cp.Append(out, &cp.Frame{Type: cp.TypeMessage, Svc: f.Svc, Sender: "n1:x", Seq: uint64(f.Req),
			Order: uint64(f.Req), MsgID: "n1/1/7", Groups: f.Groups, Payload: f.Payload})
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}
