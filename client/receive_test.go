package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
)

// TestWithReceive runs the tests of views, order, ACLs, flow control and
// the session's end again with clients that receive with WithReceive, in
// the calling goroutine.
func TestWithReceive(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"GroupsAcrossAgents", TestGroupsAcrossAgents},
		{"ACL", TestACL},
		{"SlowConsumer", TestSlowConsumer},
		{"Shutdown", TestShutdown},
		{"DuplicateName", TestDuplicateName},
		{"Window", TestWindow},
		{"BatchWhileBehind", TestBatchWhileBehind},
		{"BatchAfterFullWindow", TestBatchAfterFullWindow},
		{"BatchNoLargerThanWindow", TestBatchNoLargerThanWindow},
		{"WindowOfVersion1Agent", TestWindowOfVersion1Agent},
		{"EvictionReason", TestEvictionReason},
		{"WaitEndsWithSession", TestWaitEndsWithSession},
		{"SentElsewhere", TestSentElsewhere},
		{"AllocsPerMessage", TestAllocsPerMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receiveMode = true
			defer func() { receiveMode = false }()
			tc.f(t)
		})
	}
}

// TestReceiveContext: a Receive whose context ends while it waits for the
// agent returns ctx.Err(), also in the middle of a frame, and the next
// Receive gets the frame whole; a Join waits for its reply by reading the
// connection itself, and the events it read meanwhile come out of Receive
// afterwards, in order; Events is nil.
func TestReceiveContext(t *testing.T) {
	a := newFakeAgent(t, cp.Version3, 16)
	cl, conn, r := a.session(client.WithReceive())
	if cl.Events() != nil {
		t.Error("Events() with WithReceive is not nil")
	}
	receive := func(d time.Duration) (client.Event, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return cl.Receive(ctx)
	}
	if e, err := receive(20 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with nothing sent: %+v, %v; want context.DeadlineExceeded", e, err)
	}
	msg := func(seq uint64, payload string) []byte {
		return cp.Append(nil, &cp.Frame{Type: cp.TypeMessage, Svc: 5, Sender: "n2:y", Seq: seq, MsgID: "n2/1/1", Groups: []string{"g"}, Payload: []byte(payload)})
	}
	b := msg(1, "first, cut in two")
	conn.Write(b[:len(b)/2])
	if e, err := receive(20 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with half a frame sent: %+v, %v; want context.DeadlineExceeded", e, err)
	}
	conn.Write(append(b[len(b)/2:], msg(2, "second")...))
	for i, want := range []string{"first, cut in two", "second"} {
		e, err := receive(5 * time.Second)
		if err != nil || e.Kind != client.EventMessage || string(e.Message.Payload) != want || e.Message.Seq != uint64(i+1) {
			t.Fatalf("Receive %d: %+v, %v; want message %d %q", i, e, err, i+1, want)
		}
	}

	// A Join, nobody in Receive: the Join reads the view before its OK.
	joined := make(chan error, 1)
	go func() { joined <- cl.Join(context.Background(), "g") }()
	f := requests(t, conn, r, 1)[0]
	if f.Type != cp.TypeJoin {
		t.Fatalf("request %s, want a join", f.Type)
	}
	out := cp.Append(nil, &cp.Frame{Type: cp.TypeView, View: cp.View{Group: "g", ID: "v1", Members: []string{"n1:x"}, Joined: []string{"n1:x"}, Reason: uint8(client.ReasonJoin)}})
	out = append(out, msg(3, "third")...)
	out = cp.Append(out, &cp.Frame{Type: cp.TypeOK, Req: f.Req})
	conn.Write(out)
	if err := wait(t, joined); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if e, err := receive(5 * time.Second); err != nil || e.Kind != client.EventView || e.View.ID != "v1" {
		t.Fatalf("Receive after the join: %+v, %v; want the view v1", e, err)
	}
	if e, err := receive(5 * time.Second); err != nil || e.Kind != client.EventMessage || string(e.Message.Payload) != "third" {
		t.Fatalf("Receive after the view: %+v, %v; want message 3", e, err)
	}

	// The agent's goodbye ends Receive with its reason.
	conn.Write(cp.Append(msg(4, "last"), &cp.Frame{Type: cp.TypeGoodbye, Code: cp.CodeSlowConsumer, Text: "evicted by agent n1: test"}))
	conn.Close()
	if e, err := receive(5 * time.Second); err != nil || string(e.Message.Payload) != "last" {
		t.Fatalf("Receive before the goodbye: %+v, %v; want message 4", e, err)
	}
	if e, err := receive(5 * time.Second); !errors.Is(err, client.ErrSlowConsumer) || !errors.Is(cl.Err(), client.ErrSlowConsumer) {
		t.Fatalf("Receive at the goodbye: %+v, %v (Err %v); want the agent's reason", e, err, cl.Err())
	}
}

// TestReceiveOrder: three agents, a client at each that multicasts with
// MulticastWait from one goroutine and receives with WithReceive in
// another: every client receives every message, each sender's in the
// order sent, all in the same order.
//
// Every message reaches every client only while the ring keeps its three
// members. Its failure detector is a wall clock: with the LAN preset's
// 200 ms token timeout, three agents and three clients sending at full
// rate in one process under the race detector, on a loaded machine, lost
// the token (a node's loop not run for 200 ms and more) in 5 of 100 runs,
// and the ring split; a message sent in a configuration without a client
// never reaches it (EVS), which this test would report as a gap in the
// sender's order. The agents get the cloud preset's token timeout of a
// second instead: this test is about the client, not failure detection.
func TestReceiveOrder(t *testing.T) {
	const perSender = 400
	c := newCluster(t, 3)
	c.startAll(func(cfg *agent.Config) {
		cfg.Ring = cfg.Ring.WithTimings(localring.Timings{Token: time.Second, Consensus: 1200 * time.Millisecond})
	})
	ctx := bounded(t)
	var cls []*client.Client
	var members []string
	for i, id := range c.ids {
		var cl *client.Client
		if i == 0 {
			cl = c.local(id, "app", client.WithReceive())
		} else {
			cl = c.dial(id, "app", client.WithReceive())
		}
		if err := cl.Join(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		cls = append(cls, cl)
		members = append(members, cl.Name())
	}
	// Each client receives in its own goroutine until it has every
	// message, and starts sending once its view lists every member.
	orders := make([][]string, len(cls))
	errs := make(chan error, 2*len(cls))
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			sending := false
			next := map[string]int{}
			for len(orders[i]) < perSender*len(cls) {
				e, err := cl.Receive(rctx)
				if err != nil {
					errs <- fmt.Errorf("%s after %d messages: %w", cl.Name(), len(orders[i]), err)
					return
				}
				switch e.Kind {
				case client.EventView:
					if !sending && len(e.View.Members) == len(cls) {
						sending = true
						wg.Go(func() {
							for k := range perSender {
								if err := cl.MulticastWait(rctx, client.Agreed, 0, []string{"g"}, []byte(fmt.Sprintf("%s %d", cl.Name(), k))); err != nil {
									errs <- fmt.Errorf("%s multicast %d: %w", cl.Name(), k, err)
									return
								}
							}
						})
					}
				case client.EventMessage:
					p := string(e.Message.Payload)
					var from string
					var k int
					if _, err := fmt.Sscanf(p, "%s %d", &from, &k); err != nil || from != e.Message.Sender || k != next[from] {
						errs <- fmt.Errorf("%s received %q from %s after %d of its messages", cl.Name(), p, e.Message.Sender, next[from])
						return
					}
					next[from]++
					orders[i] = append(orders[i], p)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := 1; i < len(orders); i++ {
		for k := range orders[0] {
			if orders[i][k] != orders[0][k] {
				t.Fatalf("%s's message %d is %q, %s's %q: not one order", members[i], k, orders[i][k], members[0], orders[0][k])
			}
		}
	}
}
