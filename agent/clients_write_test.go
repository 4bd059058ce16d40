package agent

import (
	"net"
	"path/filepath"
	"testing"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
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
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	clientSide, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer clientSide.Close()
	agentSide, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer agentSide.Close()

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
