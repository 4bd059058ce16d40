package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// fakeAgent is the agent's end of a Unix socket pair, played by the test:
// it answers the hello with a Welcome of the given version and window,
// then the test reads the client's requests and writes the replies.
type fakeAgent struct {
	t       *testing.T
	version uint16
	win     uint32
	conn    chan net.Conn // the agent's end, after the Welcome
	// clientConn, if set, wraps the client's end of the socket.
	clientConn func(net.Conn) net.Conn
}

func newFakeAgent(t *testing.T, version uint16, win uint32) *fakeAgent {
	return &fakeAgent{t: t, version: version, win: win, conn: make(chan net.Conn, 1)}
}

func (a *fakeAgent) LocalConn() (net.Conn, error) {
	path := filepath.Join(a.t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	c1, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	c2, err := l.Accept()
	if err != nil {
		c1.Close()
		return nil, err
	}
	a.t.Cleanup(func() { c2.Close() })
	go func() {
		if _, err := cp.NewReader(c2).Next(); err != nil {
			return
		}
		w := cp.Frame{Type: cp.TypeWelcome, Version: a.version, Name: "n1:x", Node: "n1", MaxMessage: 1 << 20, MaxFrame: cp.MaxFrame}
		if a.version >= cp.Version2 {
			w.WindowMsgs, w.WindowBytes = a.win, 1<<20
		}
		c2.Write(cp.Append(nil, &w))
		a.conn <- c2
	}()
	if a.clientConn != nil {
		return a.clientConn(c1), nil
	}
	return c1, nil
}

// slowWrites is a connection whose writes each take a while: the client's
// writer goroutine writes them (the wrapper hides the socket from
// trywrite), and is still writing when the next request comes.
type slowWrites struct{ net.Conn }

func (c slowWrites) Write(b []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return c.Conn.Write(b)
}

// session dials the fake agent and returns the client, and the agent's
// end with a reader.
func (a *fakeAgent) session(opts ...client.Option) (*client.Client, net.Conn, *cp.Reader) {
	a.t.Helper()
	cl, err := client.DialAgent(context.Background(), a, modeOpts(opts)...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { cl.Close() })
	conn := <-a.conn
	r := cp.NewReader(conn)
	r.SetMax(cp.MaxFrame)
	return cl, conn, r
}

// requests reads n requests from the client.
func requests(t *testing.T, conn net.Conn, r *cp.Reader, n int) []cp.Frame {
	t.Helper()
	var out []cp.Frame
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	for range n {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("after %d requests: %v", len(out), err)
		}
		f.Payload = append([]byte(nil), f.Payload...) // the reader reuses its buffer
		out = append(out, f)
	}
	return out
}

// nothingMore checks that the client writes nothing for a while (it
// cannot fail when the client behaves).
func nothingMore(t *testing.T, conn net.Conn, r *cp.Reader, why string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer conn.SetReadDeadline(time.Time{})
	if f, err := r.Next(); err == nil {
		t.Fatalf("the client wrote a %s request (req %d): %s", f.Type, f.Req, why)
	}
}

func ok(t *testing.T, conn net.Conn, req uint32) {
	t.Helper()
	if _, err := conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeOK, Req: req})); err != nil {
		t.Fatal(err)
	}
}

func mcast(cl *client.Client, ctx context.Context, wait bool, b byte) error {
	if wait {
		return cl.MulticastWait(ctx, client.Agreed, 0, []string{"g"}, []byte{b})
	}
	return cl.Multicast(ctx, client.Agreed, 0, []string{"g"}, []byte{b})
}

// TestWindow: the client writes no more messages than the agent's window
// ahead of the agent's replies; beyond the window and a full send queue,
// Multicast fails with back-pressure, Flush and MulticastWait wait, resume
// when replies make room, and MulticastWait returns ctx.Err() when its
// context ends.
func TestWindow(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version2, 2)
	cl, conn, r := a.session(client.WithSendQueue(2, 0))
	var got []cp.Frame
	for i := range 4 { // two written, two queued
		if err := mcast(cl, ctx, false, byte(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 1 {
			got = requests(t, conn, r, 2)
		}
	}
	nothingMore(t, conn, r, "beyond the window of 2")
	if err := mcast(cl, ctx, false, 4); !errors.Is(err, client.ErrBackpressure) || !strings.Contains(err.Error(), "MulticastWait") {
		t.Fatalf("Multicast with a full window and queue: %v, want back-pressure that names MulticastWait", err)
	}

	// A flush and a sender that wait, and a sender whose context ends
	// while it waits.
	flushed := make(chan error, 1)
	go func() { flushed <- cl.Flush(ctx) }()
	resumed := make(chan error, 1)
	go func() { resumed <- mcast(cl, ctx, true, 5) }()
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { cancelled <- mcast(cl, cctx, true, 6) }()
	cancel()
	if err := wait(t, cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("MulticastWait whose context ended: %v, want context.Canceled", err)
	}
	select {
	case err := <-resumed:
		t.Fatalf("MulticastWait returned %v with no room", err)
	case err := <-flushed:
		t.Fatalf("Flush returned %v with no room", err)
	case <-time.After(20 * time.Millisecond):
	}

	// The agent answers each request as it reads it: room appears.
	for _, f := range got {
		ok(t, conn, f.Req)
	}
	for len(got) < 6 {
		f := requests(t, conn, r, 1)[0]
		ok(t, conn, f.Req)
		got = append(got, f)
	}
	if err := wait(t, resumed); err != nil {
		t.Fatalf("MulticastWait after room appeared: %v", err)
	}
	if err := wait(t, flushed); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var payloads []byte
	flushAt := -1
	for i, f := range got {
		if f.Type == cp.TypeFlush {
			flushAt = i
		}
		payloads = append(payloads, f.Payload...)
	}
	if string(payloads) != "\x00\x01\x02\x03\x05" || flushAt < 4 {
		t.Fatalf("messages %x, flush at %d; want 00 01 02 03 05 in order, the flush after 03", payloads, flushAt)
	}
	conn.Close()
}

// TestBatchWhileBehind: while half of the window or more is unanswered,
// messages go out a quarter of the window at a time, or when the agent
// writes something; below half the window each goes out at once.
func TestBatchWhileBehind(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version3, 16) // batches of 4 from 8 unanswered on
	cl, conn, r := a.session()
	if receiveMode {
		go drain(cl) // the application's receiving goroutine reads, and writes the batches
	}
	var got []cp.Frame
	for i := range 8 {
		if err := mcast(cl, ctx, true, byte(i)); err != nil {
			t.Fatal(err)
		}
		got = append(got, requests(t, conn, r, 1)...) // at once
	}
	// The reader writes what waits whenever it is about to read again: let
	// it start (on a loaded machine it may not have run yet) and wait in
	// its read, where it stays while the agent writes nothing.
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		if err := mcast(cl, ctx, true, byte(8+i)); err != nil {
			t.Fatal(err)
		}
	}
	nothingMore(t, conn, r, "3 messages with half the window unanswered wait for a fourth")
	if err := mcast(cl, ctx, true, 11); err != nil {
		t.Fatal(err)
	}
	got = append(got, requests(t, conn, r, 4)...)
	if err := mcast(cl, ctx, true, 12); err != nil {
		t.Fatal(err)
	}
	nothingMore(t, conn, r, "a message with 12 of 16 unanswered waits for others or for the agent")
	ok(t, conn, got[0].Req) // the reader reads it, then writes what waits
	got = append(got, requests(t, conn, r, 1)...)
	for i, f := range got {
		if f.Type != cp.TypeMulticast || len(f.Payload) != 1 || f.Payload[0] != byte(i) {
			t.Fatalf("request %d: %s %x, want multicast %02x", i, f.Type, f.Payload, i)
		}
	}
	conn.Close()
}

// TestBatchAfterFullWindow: once the window was full (a sender at the
// ring's rate), messages go out in batches of the window's room from the
// first unanswered one on, for two windows' worth of messages, then from
// half of the window again; before, below half of the window each went
// out at once. Until 2026-12-07 a batch after a full window began at an
// eighth of the window unanswered and was a quarter of it: a sender whose
// agent answered a window at a time wrote one message each until an
// eighth was unanswered, then quarters of the window.
func TestBatchAfterFullWindow(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version3, 16) // batches of 4 from 8 unanswered on; of the room from 1 after the window was full
	cl, conn, r := a.session()
	if receiveMode {
		go drain(cl)
	}
	send := func(wait bool, i int) {
		t.Helper()
		if err := mcast(cl, ctx, wait, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []cp.Frame
	for i := range 8 { // the window never full: at once below half of it
		send(true, i)
		got = append(got, requests(t, conn, r, 1)...)
	}
	time.Sleep(50 * time.Millisecond) // the reader waits in its read
	for i := 8; i < 16; i++ {
		send(true, i)
		if i%4 == 3 {
			got = append(got, requests(t, conn, r, 4)...)
		}
	}
	send(false, 16) // the window is full: it waits
	nothingMore(t, conn, r, "a message beyond the window")
	for _, f := range got[:14] {
		ok(t, conn, f.Req)
	}
	got = append(got, requests(t, conn, r, 1)...) // room: 3 unanswered
	time.Sleep(50 * time.Millisecond)             // the reader waits in its read
	for i := 17; i < 29; i++ {
		send(true, i)
	}
	nothingMore(t, conn, r, "12 messages with 3 of 16 unanswered after a full window wait for the window's 13th")
	send(true, 29)
	got = append(got, requests(t, conn, r, 13)...) // one batch fills the window
	// Two windows' worth of messages after the window was last full (at
	// 30, which the batch filled before its answers came), below half of
	// the window goes out at once again.
	for _, f := range got[14:] {
		ok(t, conn, f.Req)
	}
	for i := 30; i < 63; i++ {
		send(true, i)
		f := requests(t, conn, r, 1)
		got = append(got, f...)
		ok(t, conn, f[0].Req)
	}
	time.Sleep(50 * time.Millisecond) // the reader reads the answers
	for i := 63; i < 66; i++ {        // the third with 2 of 16 unanswered
		send(true, i)
		got = append(got, requests(t, conn, r, 1)...)
		time.Sleep(50 * time.Millisecond)
	}
	for i, f := range got {
		if f.Type != cp.TypeMulticast || f.Payload[0] != byte(i) {
			t.Fatalf("request %d: %s %x, want multicast %02x", i, f.Type, f.Payload, i)
		}
	}
	conn.Close()
}

// TestBatchNoLargerThanWindow: a batch waits for no more messages than
// the window has room for, in messages and in bytes; the reader, waiting
// for an agent that has nothing to answer yet, would never write it.
func TestBatchNoLargerThanWindow(t *testing.T) {
	ctx := bounded(t)
	t.Run("messages", func(t *testing.T) {
		a := newFakeAgent(t, cp.Version3, 16) // batches of 4 from 8 unanswered on
		cl, conn, r := a.session()
		if receiveMode {
			go drain(cl)
		}
		var got []cp.Frame
		for i := range 8 {
			if err := mcast(cl, ctx, true, byte(i)); err != nil {
				t.Fatal(err)
			}
			got = append(got, requests(t, conn, r, 1)...)
		}
		time.Sleep(50 * time.Millisecond) // the reader waits in its read
		for i := range 6 {
			if err := mcast(cl, ctx, true, byte(8+i)); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, requests(t, conn, r, 4)...) // a batch of 4: 12 unanswered
		nothingMore(t, conn, r, "2 messages with room for 4 wait for others")
		ok(t, conn, got[0].Req) // the reader writes the 2: 13 unanswered, room for 3
		got = append(got, requests(t, conn, r, 2)...)
		if err := mcast(cl, ctx, true, 14); err != nil {
			t.Fatal(err)
		}
		nothingMore(t, conn, r, "a message with room for 3 waits for others")
		for i := range 2 {
			if err := mcast(cl, ctx, false, byte(15+i)); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, requests(t, conn, r, 3)...) // they fill the window: out at once
		if err := mcast(cl, ctx, false, 17); err != nil {
			t.Fatal(err)
		}
		nothingMore(t, conn, r, "a message beyond the window")
		for i, f := range got {
			if f.Type != cp.TypeMulticast || f.Payload[0] != byte(i) {
				t.Fatalf("request %d: %s %x, want multicast %02x", i, f.Type, f.Payload, i)
			}
		}
		conn.Close()
	})
	t.Run("bytes", func(t *testing.T) {
		a := newFakeAgent(t, cp.Version3, 16) // 1 MiB: 9 messages of 110 KiB
		cl, conn, r := a.session()
		if receiveMode {
			go drain(cl)
		}
		send := func(i int) {
			t.Helper()
			p := make([]byte, 110<<10)
			p[0] = byte(i)
			if err := cl.MulticastWait(ctx, client.Agreed, 0, []string{"g"}, p); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 8 {
			send(i)
			requests(t, conn, r, 1)
		}
		time.Sleep(50 * time.Millisecond)
		send(8)
		nothingMore(t, conn, r, "a message with bytes to spare in the window waits for another")
		send(9) // together they fill the window's bytes: the 9th goes, the 10th waits for room
		if f := requests(t, conn, r, 1)[0]; f.Payload[0] != 8 {
			t.Fatalf("request 8: payload %02x..., want 08...", f.Payload[0])
		}
		nothingMore(t, conn, r, "a message beyond the window's bytes")
		conn.Close()
	})
}

// TestBatchWhileEventsWait: with WithReceive, a sender that read a burst
// of the agent's answers and deliveries while it waited for room batches
// its next messages while those deliveries wait in the queue for Receive,
// and Receive writes the batch when it takes the last of them; before,
// with nobody reading, each went out at once, one write each.
func TestBatchWhileEventsWait(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version3, 16)
	cl, conn, r := a.session(client.WithReceive(), client.WithMessageReuse())
	send := func(i int) {
		t.Helper()
		if err := mcast(cl, ctx, true, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody reads: each message goes out at once, the 17th beyond the
	// window stays queued, and the 18th waits for room, reading.
	for i := range 17 {
		send(i)
	}
	got := requests(t, conn, r, 16)
	waited := make(chan error, 1)
	go func() { waited <- mcast(cl, ctx, true, 17) }()
	nothingMore(t, conn, r, "a message beyond the window")

	// One write: answers to 8 messages and 4 deliveries.
	var burst []byte
	for _, f := range got[:8] {
		burst = cp.Append(burst, &cp.Frame{Type: cp.TypeOK, Req: f.Req})
	}
	for i := range 4 {
		burst = cp.Append(burst, &cp.Frame{Type: cp.TypeMessage, Sender: "n2:y", Seq: uint64(i + 1), MsgID: fmt.Sprintf("n2/1/%d", i+1),
			Groups: []string{"g"}, Payload: []byte{byte(100 + i)}})
	}
	if _, err := conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, waited); err != nil {
		t.Fatal(err)
	}
	got = append(got, requests(t, conn, r, 1)...) // the 17th, which the answers let go
	for i := 18; i < 20; i++ {
		send(i)
	}
	nothingMore(t, conn, r, "messages batched while deliveries wait for Receive")
	for i := range 4 {
		e, err := cl.Receive(ctx)
		if err != nil || e.Kind != client.EventMessage || e.Message.Payload[0] != byte(100+i) {
			t.Fatalf("Receive %d: %v %v, want delivery %d", i, e.Kind, err, 100+i)
		}
		if i < 3 {
			nothingMore(t, conn, r, "messages batched while deliveries wait for Receive")
		}
	}
	got = append(got, requests(t, conn, r, 3)...) // the last delivery taken: the batch goes
	for i, f := range got {
		if f.Type != cp.TypeMulticast || f.Payload[0] != byte(i) {
			t.Fatalf("request %d: %s %x, want multicast %02x", i, f.Type, f.Payload, i)
		}
	}
	conn.Close()
}

// TestWaitWhileWriterWrites: with WithReceive, a MulticastWait that waits
// for the writer goroutine to take the queued messages (not for the
// agent) returns when the writer takes them, although the agent writes
// nothing meanwhile. Its wait for room read the connection, and a read
// waiting for the agent did not end when the writer made room: under
// load the writer was still writing at the next message, and the
// MulticastWait hung until the agent wrote something.
func TestWaitWhileWriterWrites(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version3, 16)
	a.clientConn = func(c net.Conn) net.Conn { return slowWrites{c} }
	cl, conn, r := a.session(client.WithReceive())
	sent := make(chan error, 1)
	go func() {
		for i := range 4 {
			if err := mcast(cl, ctx, true, byte(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	if err := wait(t, sent); err != nil {
		t.Fatal(err)
	}
	for i, f := range requests(t, conn, r, 4) {
		if f.Type != cp.TypeMulticast || f.Payload[0] != byte(i) {
			t.Fatalf("request %d: %s %x, want multicast %02x", i, f.Type, f.Payload, i)
		}
	}
	conn.Close()
}

// bounded returns a context that ends a minute from now, or with the
// test: a call of the client that waits for what never comes then fails
// the test with the context's error where it was made, instead of hanging
// go test until its timeout (TestBatchWhileEventsWait hung CI for 25 min).
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wait receives from c, or fails the test after 10 s.
func wait(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
		return nil
	}
}

// TestWindowOfVersion1Agent: an agent of protocol version 1 announces no
// window; the client keeps DefaultWindowMsgs unanswered.
func TestWindowOfVersion1Agent(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version1, 0)
	cl, conn, r := a.session(client.WithSendQueue(1000, 0))
	if receiveMode {
		go drain(cl) // only a call that waits reads the agent's answers
	}
	for i := range client.DefaultWindowMsgs + 10 {
		if err := mcast(cl, ctx, false, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := requests(t, conn, r, client.DefaultWindowMsgs)
	nothingMore(t, conn, r, "beyond the default window")
	ok(t, conn, got[0].Req)
	requests(t, conn, r, 1)
	conn.Close()
}

// TestEvictionReason: the agent writes a goodbye and closes the
// connection while the client still has events to read and requests to
// write; the writer's broken pipe does not hide the agent's reason.
func TestEvictionReason(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version2, 64)
	cl, conn, r := a.session(client.WithEventBuffer(1))
	if err := mcast(cl, ctx, false, 0); err != nil {
		t.Fatal(err)
	}
	requests(t, conn, r, 1)
	// Events the client does not read yet, then the goodbye.
	var b []byte
	for i := range 200 {
		b = cp.Append(b, &cp.Frame{Type: cp.TypeMessage, Svc: 5, Sender: "n2:y", Seq: uint64(i), MsgID: "n2/1/1", Groups: []string{"g"}, Payload: make([]byte, 100)})
	}
	const why = "evicted by agent n1: 9 frames (9 bytes) were waiting for this client to read them"
	b = cp.Append(b, &cp.Frame{Type: cp.TypeGoodbye, Code: cp.CodeSlowConsumer, Text: why})
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// The writer finds the connection closed while the events wait.
	for i := range 50 {
		if err := mcast(cl, ctx, false, byte(i)); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	n := drain(cl)
	err := cl.Err()
	if !errors.Is(err, client.ErrSlowConsumer) || !strings.Contains(err.Error(), why) {
		t.Fatalf("after %d events, the session ended with %v; want the agent's goodbye", n, err)
	}
}

// TestWaitEndsWithSession: a sender waiting for room learns why the
// session ended: the agent's goodbye.
func TestWaitEndsWithSession(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version2, 1)
	cl, conn, r := a.session(client.WithSendQueue(1, 0))
	if err := mcast(cl, ctx, false, 0); err != nil {
		t.Fatal(err)
	}
	requests(t, conn, r, 1) // the window is full
	if err := mcast(cl, ctx, false, 1); err != nil {
		t.Fatal(err) // queued
	}
	waiting := make(chan error, 1)
	go func() { waiting <- mcast(cl, ctx, true, 2) }()
	select {
	case err := <-waiting:
		t.Fatalf("MulticastWait returned %v with no room", err)
	case <-time.After(20 * time.Millisecond):
	}
	conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeGoodbye, Code: cp.CodeShuttingDown, Text: "agent n1 is shutting down"}))
	conn.Close()
	if err := wait(t, waiting); !errors.Is(err, client.ErrShuttingDown) {
		t.Fatalf("MulticastWait when the session ended: %v, want the agent's goodbye", err)
	}
}
