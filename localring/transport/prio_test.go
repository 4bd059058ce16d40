//go:build unix

package transport

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/atoll-gcs/atoll/internal/waittest"
)

// queueConn is a socket's receive queue in memory: ReadBatch blocks until
// a datagram is queued and takes up to len(ms) of them, as recvmmsg does.
type queueConn struct {
	mu      sync.Mutex
	cond    sync.Cond
	q       []queued
	batches uint64 // ReadBatch calls that returned datagrams
	closed  bool
}

type queued struct {
	from netip.AddrPort
	data string
}

func newQueueConn(q ...queued) *queueConn {
	c := &queueConn{q: q}
	c.cond.L = &c.mu
	return c
}

func (c *queueConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.q) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	n := 0
	for ; n < len(ms) && len(c.q) > 0; n++ {
		d := c.q[0]
		c.q = c.q[1:]
		ms[n].N = copy(ms[n].Buffers[0], d.data)
		ms[n].Addr = net.UDPAddrFromAddrPort(d.from)
		ms[n].Flags = 0
	}
	c.batches++
	return n, nil
}

func (c *queueConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) { return len(ms), nil }

func (c *queueConn) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cond.Broadcast()
}

// queuedUDP returns a multicast-mode transport whose group and unicast
// sockets are the queues, with batches of batch datagrams, once the
// unicast reader has handed on its first batch. Its groupPending sees a
// datagram as pending from the moment it is queued until its batch was
// taken from mcReady: the kernel's queue and the reader's hands.
func queuedUDP(t *testing.T, mc, uc *queueConn, batch int) *UDP {
	u := &UDP{local: netip.MustParseAddrPort("10.0.0.1:5405"), maxPacket: 100, done: make(chan struct{})}
	u.cfg.BatchSize = batch
	u.mcReady, u.ucReady = make(chan *rbatch, 2), make(chan *rbatch, 2)
	u.groupPending = func() bool {
		mc.mu.Lock()
		defer mc.mu.Unlock()
		return len(mc.q) > 0 || mc.batches != u.mcTaken.Load()
	}
	u.startReaders(mc, uc)
	t.Cleanup(func() {
		u.closed.Store(true)
		close(u.done)
		mc.close()
		uc.close()
		waittest.Group(t, &u.readers, 10*time.Second, "the transport's readers to return once their sockets closed")
	})
	// Until the unicast reader has the token.
	for deadline := time.Now().Add(10 * time.Second); len(u.ucReady) == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the unicast reader did not hand on its first batch (the token) within 10 s")
		}
	}
	return u
}

// readUntil calls ReadBatch with room for batch datagrams until it
// returns last, and returns what each call returned.
func readUntil(t *testing.T, u *UDP, batch int, last string) [][]string {
	t.Helper()
	ms := make([]Message, batch)
	for i := range ms {
		ms[i].Buf = make([]byte, 100)
	}
	var out [][]string
	for range 1000 {
		n, err := u.ReadBatch(ms)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms[:n] {
			got = append(got, string(m.Payload()))
		}
		out = append(out, got)
		if slices.Contains(got, last) {
			return out
		}
	}
	t.Fatalf("%q not received in 1000 calls: %v", last, out)
	return nil
}

// TestTokenAfterMulticast: a token (unicast) that arrives while the group
// socket still holds multicast datagrams is handed out after all of them,
// across several ReadBatch calls when they do not fit into one; this
// node's own multicast is dropped on the way.
func TestTokenAfterMulticast(t *testing.T) {
	peer := netip.MustParseAddrPort("10.0.0.2:5405")
	self := netip.MustParseAddrPort("10.0.0.1:5405")
	mc := newQueueConn(queued{peer, "m1"}, queued{self, "own"}, queued{peer, "m2"}, queued{peer, "m3"}, queued{peer, "m4"}, queued{peer, "m5"}, queued{peer, "m6"}, queued{peer, "m7"})
	uc := newQueueConn(queued{peer, "token"})
	u := queuedUDP(t, mc, uc, 2)
	var got []string
	for _, b := range readUntil(t, u, 3, "token") {
		got = append(got, b...)
	}
	if fmt.Sprint(got) != "[m1 m2 m3 m4 m5 m6 m7 token]" {
		t.Fatalf("ReadBatch returned %v, want m1…m7 and then the token: a token must come after every multicast queued before it", got)
	}
}

// TestTokenNotStarvedByMulticast: a group socket that does not drain holds
// a token back for maxHeldReads of its batches, not for ever.
func TestTokenNotStarvedByMulticast(t *testing.T) {
	peer := netip.MustParseAddrPort("10.0.0.2:5405")
	mc := newQueueConn()
	for i := range 1000 {
		mc.q = append(mc.q, queued{peer, fmt.Sprint("m", i)})
	}
	uc := newQueueConn(queued{peer, "token"})
	u := queuedUDP(t, mc, uc, 4)
	// The first call may hand out group batches the reader had ready
	// before the token was taken; from then on, at most maxHeldReads.
	var got []string
	for _, b := range readUntil(t, u, 4, "token") {
		got = append(got, b...)
	}
	if limit := (maxHeldReads + 2) * 4; slices.Index(got, "token") > limit {
		t.Fatalf("the token came after %d multicast datagrams, want at most %d", slices.Index(got, "token"), limit)
	}
}
