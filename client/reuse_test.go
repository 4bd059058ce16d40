package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestMessageReuse: with WithMessageReuse, Receive returns each message
// whole, in order, in the one Message it reuses, whether it read the
// message itself or a call waiting for a reply read it before (Join: the
// message then waits in the queue); a payload larger than the reused
// buffer and an empty one come through too.
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
		if i > 0 && m != prev {
			t.Errorf("message %d: a Message of its own; want the one Receive reuses", i)
		}
		prev = m
	}
}

// TestAllocsPerMessageReuse is TestAllocsPerMessage with WithReceive and
// WithMessageReuse: the message, its payload and its groups are not
// allocated, nor its ID (in the reader's blocks of IDs since 2026-12-06;
// 2 allocations per message before); what is left is the fake agent's
// Groups.
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

const maxAllocsPerMessageReuse = 1

// TestBytesPerQueuedMessageReuse: with WithMessageReuse, the messages a
// sender reads while MulticastWait waits for room (they wait in the queue
// for Receive) allocate no Message and no payload copy of their own: at
// full load through a ring of three, a clientload read most deliveries so,
// and their garbage was four fifths of what it allocated (docs/BENCHMARKS.md,
// apiab, 2026-12-05). A window of 8 makes MulticastWait wait and read 24 or
// more of each round's 32 deliveries; counted in the whole process.
func TestBytesPerQueuedMessageReuse(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	ctx := context.Background()
	a := newFakeAgent(t, cp.Version2, 8)
	cl, conn, r := a.session(client.WithReceive(), client.WithMessageReuse())
	go echoDeliveries(conn, r)
	const perRound = 32
	payload := make([]byte, 1024)
	groups := []string{"g"}
	var seq uint32
	round := func() {
		for i := range perRound {
			binary.LittleEndian.PutUint32(payload, seq+uint32(i))
			if err := cl.MulticastWait(ctx, client.Agreed, 0, groups, payload); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < perRound; {
			e, err := cl.Receive(ctx)
			if err != nil {
				t.Fatalf("session ended: %v", err)
			}
			if e.Kind != client.EventMessage {
				continue
			}
			if got := binary.LittleEndian.Uint32(e.Message.Payload); got != seq || len(e.Message.Payload) != len(payload) {
				t.Fatalf("message %d: %d bytes starting %d", seq, len(e.Message.Payload), got)
			}
			seq++
			i++
		}
	}
	for range 20 { // warm the pools, the queue and the reader's names
		round()
	}
	const rounds = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		round()
	}
	runtime.ReadMemStats(&after)
	perMsg := float64(after.TotalAlloc-before.TotalAlloc) / (rounds * perRound)
	t.Logf("%.0f bytes allocated per message", perMsg)
	if perMsg > maxBytesPerQueuedMessageReuse {
		t.Errorf("%.0f bytes allocated per message read by MulticastWait with WithMessageReuse, want at most %d (no Message or payload copy per message)", perMsg, maxBytesPerQueuedMessageReuse)
	}
}

// maxBytesPerQueuedMessageReuse: the message's ID, the fake agent's
// Groups, the channels of the hand-offs; a 1 KiB payload copy alone is
// over it.
const maxBytesPerQueuedMessageReuse = 512

// TestBytesPerWaitingReceive: a Receive that waits for the agent with the
// context of the Receive before it registers nothing anew to cut its wait
// short (context.AfterFunc, kept from one wait to the next): a receiving
// clientload waits once per burst of frames, and the registration, with
// its stop after the wait, was about 4 % of its CPU. Each Receive here
// waits: the fake agent writes each message a millisecond after the
// client asked for the one before; counted in the whole process.
func TestBytesPerWaitingReceive(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	a := newFakeAgent(t, cp.Version3, 16)
	cl, conn, _ := a.session(client.WithReceive(), client.WithMessageReuse())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frame := cp.Append(nil, &cp.Frame{Type: cp.TypeMessage, Sender: "n1:x", Seq: 1, MsgID: "n1/1/7",
		Groups: []string{"g"}, Payload: make([]byte, 64)})
	asked := make(chan struct{})
	go func() {
		for range asked {
			time.Sleep(time.Millisecond) // the client waits in the meantime
			if _, err := conn.Write(frame); err != nil {
				return
			}
		}
	}()
	defer close(asked)
	receive := func() {
		asked <- struct{}{}
		if e, err := cl.Receive(ctx); err != nil || e.Kind != client.EventMessage {
			t.Fatalf("Receive: %v %v", e.Kind, err)
		}
	}
	for range 20 { // warm the reader's names and buffers
		receive()
	}
	// The least of three counts: the process's other goroutines (the
	// runtime's, the test's) allocate now and then.
	const rounds = 100
	perWait := math.Inf(1)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range rounds {
			receive()
		}
		runtime.ReadMemStats(&after)
		perWait = min(perWait, float64(after.TotalAlloc-before.TotalAlloc)/rounds)
	}
	t.Logf("%.0f bytes allocated per Receive that waited", perWait)
	if perWait > maxBytesPerWaitingReceive {
		t.Errorf("%.0f bytes allocated per Receive that waits with the same context, want at most %d (no registration per wait)", perWait, maxBytesPerWaitingReceive)
	}
}

// maxBytesPerWaitingReceive: the message's ID (a string); a registration
// with context.AfterFunc and its channel alone are over it.
const maxBytesPerWaitingReceive = 64

// TestReceiveAfterContextEnded: the context of a Receive that waited
// ends after it returned, while its registration is kept for the next
// wait (TestBytesPerWaitingReceive); the next Receive, with another
// context, still waits for and reads the next frame whole, and one with
// the ended context returns its error at once.
func TestReceiveAfterContextEnded(t *testing.T) {
	a := newFakeAgent(t, cp.Version3, 16)
	cl, conn, _ := a.session(client.WithReceive(), client.WithMessageReuse())
	msg := func(seq uint64) []byte {
		return cp.Append(nil, &cp.Frame{Type: cp.TypeMessage, Sender: "n1:x", Seq: seq, MsgID: "n1/1/7",
			Groups: []string{"g"}, Payload: []byte{byte(seq)}})
	}
	later := func(b []byte) {
		go func() {
			time.Sleep(20 * time.Millisecond) // Receive waits meanwhile
			conn.Write(b)
		}()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	later(msg(1))
	if e, err := cl.Receive(ctx1); err != nil || e.Message.Seq != 1 {
		t.Fatalf("Receive: %v %v, want message 1", e.Kind, err)
	}
	cancel1()
	time.Sleep(10 * time.Millisecond) // its function sets the read deadline
	if _, err := cl.Receive(ctx1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive with the ended context: %v, want context.Canceled", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	later(msg(2))
	if e, err := cl.Receive(ctx2); err != nil || e.Message.Seq != 2 || e.Message.Payload[0] != 2 {
		t.Fatalf("Receive after the context of the one before ended: %v %v, want message 2", e.Kind, err)
	}
	cancel1() // no effect
	later(msg(3))
	if e, err := cl.Receive(context.Background()); err != nil || e.Message.Seq != 3 {
		t.Fatalf("Receive without a deadline: %v %v, want message 3", e.Kind, err)
	}
	if err := cl.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

// TestQueuedMessageKeptUntilReceive: with WithMessageReuse, a message
// Receive returned from the queue stays whole until the next Receive,
// while MulticastWait, waiting for room, reads more deliveries into the
// queue in the free Messages' buffers: the buffer Receive returns is not
// among them (unqueueLocked trades buffers instead of copying).
func TestQueuedMessageKeptUntilReceive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const window = 8
	a := newFakeAgent(t, cp.Version2, window)
	cl, conn, r := a.session(client.WithReceive(), client.WithMessageReuse())
	go echoDeliveries(conn, r)
	groups := []string{"g"}
	var sent uint32
	send := func() {
		payload := make([]byte, 1024)
		binary.LittleEndian.PutUint32(payload, sent)
		for i := 4; i < len(payload); i++ {
			payload[i] = byte(sent)
		}
		sent++
		if err := cl.MulticastWait(ctx, client.Agreed, 0, groups, payload); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 * window { // MulticastWait waits and queues deliveries
		send()
	}
	for want := uint32(0); want < 200; {
		e, err := cl.Receive(ctx)
		if err != nil {
			t.Fatalf("session ended: %v", err)
		}
		if e.Kind != client.EventMessage {
			continue
		}
		p := e.Message.Payload
		kept := bytes.Clone(p)
		if got := binary.LittleEndian.Uint32(p); got != want {
			t.Fatalf("message %d: got %d", want, got)
		}
		send() // reads the agent's next frames into the queue
		send()
		if !bytes.Equal(p, kept) {
			t.Fatalf("message %d changed before the next Receive: starts %d", want, binary.LittleEndian.Uint32(p))
		}
		want++
	}
}
