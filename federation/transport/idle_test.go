package transport_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
)

// muteConn is a PacketConn that, while mute is set, drops every packet it
// would read or write: a peer gone without a word (its host dead, its path
// cut), which only the idle timeout can tell.
type muteConn struct {
	net.PacketConn
	mute    atomic.Bool
	dropped atomic.Int64
}

func (c *muteConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.mute.Load() {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

func (c *muteConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.mute.Load() {
		c.dropped.Add(1)
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// TestIdleTimeout: b falls silent (its socket neither sends nor
// receives) with a connection to a open. a's keep-alives go unanswered,
// and its connection must end at the idle timeout, not much before or
// after; once b is heard again, a reconnects and packets flow.
// (TestKeepAlive is the other side: a quiet connection whose peer answers
// outlives several idle timeouts.)
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	mb := &muteConn{PacketConn: pcs["b"]}
	ca, cb := w.config("a", pcs["a"], addrs, 0, nil), w.config("b", mb, addrs, 0, nil)
	for _, c := range []*transport.Config{&ca, &cb} {
		c.IdleTimeout, c.KeepAlive = idle, idle/4
	}
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "before")
	before := a.Stats()
	mb.mute.Store(true)
	silent := time.Now()
	waitFor(t, "a notices b is gone", func() bool { _, ok := a.Connected("b"); return !ok })
	took := time.Since(silent)
	t.Logf("a dropped its connection to the silent b after %v (idle timeout %v; %d packets dropped at b)", took.Round(time.Millisecond), idle, mb.dropped.Load())
	if took < idle*3/4 || took > idle+2*time.Second {
		t.Errorf("a dropped the connection %v after b fell silent, want about the idle timeout %v", took.Round(time.Millisecond), idle)
	}
	if st := a.Stats(); st.Disconnects != before.Disconnects+1 {
		t.Errorf("a counted %d disconnects, want %d: %+v", st.Disconnects, before.Disconnects+1, st)
	}
	if mb.dropped.Load() == 0 {
		t.Error("b's socket dropped nothing: it was never silent")
	}
	mb.mute.Store(false)
	exchange(t, a, b, "after")
	if st := a.Stats(); st.Connects < before.Connects+1 {
		t.Errorf("a did not reconnect: %+v", st)
	}
}
