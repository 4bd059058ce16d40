package agent

import (
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/socktest"
	"github.com/atoll-gcs/atoll/internal/trywrite"
)

// testSession returns a session on conn of a client server with roomy
// queue bounds, without goroutines: the test plays the loop.
func testSession(conn net.Conn) *session {
	cs := &clientServer{a: &Agent{cfg: Config{ClientQueueFrames: 1000, ClientQueueBytes: 1 << 20}},
		backlogged: map[*session]bool{}, blFrames: 1000, blBytes: 1 << 20}
	return &session{cs: cs, conn: conn, tw: trywrite.New(conn), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// TestFlushSessionsWrites: the frames a loop step queued for a client on a
// Unix socket go out in the loop's own write at the end of the step, in
// order, and the session's writer is not woken; on a connection the loop
// cannot write without waiting (net.Pipe), the writer is woken once for
// all of them.
func TestFlushSessionsWrites(t *testing.T) {
	clientSide, agentSide := socktest.UnixPair(t)

	s := testSession(agentSide)
	for i := range 3 {
		if !s.sendFrame(&cp.Frame{Type: cp.TypeOK, Req: uint32(i + 1), Seq: uint64(i)}) {
			t.Fatalf("frame %d not queued", i)
		}
	}
	if len(s.wake) != 0 {
		t.Fatal("queueing a frame woke the writer before the end of the step")
	}
	s.cs.flushSessions()
	if len(s.wake) != 0 || len(s.out) != 0 || s.qFrames != 0 || s.qBytes != 0 {
		t.Fatalf("after the step's write: writer woken %v, %d bytes and %d frames (%d bytes) queued; want none",
			len(s.wake) != 0, len(s.out), s.qFrames, s.qBytes)
	}
	r := cp.NewReader(clientSide)
	for i := range 3 {
		f, err := r.Next()
		if err != nil || f.Type != cp.TypeOK || f.Req != uint32(i+1) {
			t.Fatalf("frame %d: %+v, %v", i, f, err)
		}
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	p := testSession(a)
	p.sendFrame(&cp.Frame{Type: cp.TypePong, Req: 1})
	p.sendFrame(&cp.Frame{Type: cp.TypePong, Req: 2})
	p.cs.flushSessions()
	if len(p.wake) != 1 || p.outFrames != 2 {
		t.Fatalf("net.Pipe: writer woken %v with %d frames queued; want woken with 2", len(p.wake) == 1, p.outFrames)
	}
}

// TestHeldAnswers: an answer held for the next frame (sendHeld, protocol
// version 3) is not written at the end of the step, goes out in one write
// with the next frame, and no more than a quarter of the window's messages
// or bytes wait: the next answer beyond is written at once.
func TestHeldAnswers(t *testing.T) {
	clientSide, agentSide := socktest.UnixPair(t)
	s := testSession(agentSide)
	s.cs.a.cfg.ClientWindowMsgs, s.cs.a.cfg.ClientWindowBytes = 16, 4096 // hold at most 3 answers, under 1 KiB
	r := cp.NewReader(clientSide)
	ok := func(req uint32) *cp.Frame { return &cp.Frame{Type: cp.TypeOK, Req: req} }
	expect := func(reqs ...uint32) {
		t.Helper()
		clientSide.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i, req := range reqs {
			f, err := r.Next()
			if err != nil || f.Req != req {
				t.Fatalf("frame %d: %+v, %v; want req %d", i, f, err, req)
			}
			if last := i == len(reqs)-1; r.Buffered() == last {
				t.Fatalf("after frame %d (req %d) of %d: buffered %v; want the frames of one write", i, req, len(reqs), !last)
			}
		}
	}

	// Held answers wait for the next frame and go out with it.
	s.sendHeld(ok(1), 100)
	s.sendHeld(ok(2), 100)
	s.cs.flushSessions()
	if len(s.out) == 0 || s.dirty {
		t.Fatal("held answers were written at the end of the step")
	}
	s.sendFrame(&cp.Frame{Type: cp.TypePong, Req: 3})
	s.cs.flushSessions()
	expect(1, 2, 3)

	// A quarter of the window's messages: the fourth answer is written.
	for req := uint32(4); req <= 7; req++ {
		s.sendHeld(ok(req), 10)
	}
	s.cs.flushSessions()
	expect(4, 5, 6, 7)

	// A quarter of its bytes: an answer for 1 KiB is written at once.
	s.sendHeld(ok(8), 500)
	s.sendHeld(ok(9), 524)
	s.cs.flushSessions()
	expect(8, 9)
}

// TestMulticastBytesPerMessage: the group layer hands a client's
// multicast to the ring in the buffer the session reader copied its
// payload into, with the header written in the room left before it
// (groups.MulticastIn), not in a second copy of the payload with the
// header: a ring of one and this test's client allocate under 5.4 times a
// 16 KiB payload per message (4.9 times: the client's frame, the reader's
// copy, the ring's packets, the in-memory network's copy of them, ...),
// 5.9 times before.
func TestMulticastBytesPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	c := newRing(t, 1)
	cl := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "s")
	payload := make([]byte, 16<<10)
	send := func(n int) {
		for range n {
			cl.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"nobody-here"}, Payload: payload})
		}
	}
	send(50)
	const n = 500
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	send(n)
	runtime.ReadMemStats(&m1)
	per := float64(m1.TotalAlloc-m0.TotalAlloc) / n / float64(len(payload))
	t.Logf("%.2f times the payload allocated per message", per)
	if per > 5.4 {
		t.Errorf("%.2f times the payload allocated per message, want under 5.4: is the payload copied once more on its way to the ring?", per)
	}
}

// TestPushBatchTake: a session reader's batch becomes the inbox as it is
// when the inbox is empty (the reader gets an empty buffer back), and
// joins it behind the requests already there otherwise; the group loop
// takes the inbox as it is when its buffer is empty, and behind the
// requests it kept otherwise; the order of the requests holds throughout.
func TestPushBatchTake(t *testing.T) {
	cs := &clientServer{a: &Agent{}}
	req := func(n uint32) clientReq { return clientReq{f: cp.Frame{Type: cp.TypePing, Req: n}} }
	reqs := func(rs []clientReq) (out []uint32) {
		for _, r := range rs {
			out = append(out, r.f.Req)
		}
		return out
	}
	batch := append(make([]clientReq, 0, 8), req(1), req(2))
	first := &batch[0]
	batch = cs.pushBatch(batch)
	if len(batch) != 0 || &cs.inbox[0] != first {
		t.Fatalf("pushBatch into an empty inbox: batch %v back, inbox %v (its own array: %v); want the batch's array in the inbox and an empty batch",
			reqs(batch), reqs(cs.inbox), &cs.inbox[0] == first)
	}
	batch = append(batch, req(3))
	batch = cs.pushBatch(batch)
	if len(batch) != 0 || !slices.Equal(reqs(cs.inbox), []uint32{1, 2, 3}) {
		t.Fatalf("pushBatch behind requests: batch %v back, inbox %v; want an empty batch and 1 2 3", reqs(batch), reqs(cs.inbox))
	}
	if got := cs.take(nil); !slices.Equal(reqs(got), []uint32{1, 2, 3}) || len(cs.inbox) != 0 {
		t.Fatalf("take into an empty buffer: %v, inbox %v left; want 1 2 3 and an empty inbox", reqs(got), reqs(cs.inbox))
	}
	cs.push(req(5))
	if got := cs.take([]clientReq{req(4)}); !slices.Equal(reqs(got), []uint32{4, 5}) || len(cs.inbox) != 0 {
		t.Fatalf("take behind a kept request: %v, inbox %v left; want 4 5 and an empty inbox", reqs(got), reqs(cs.inbox))
	}
}
