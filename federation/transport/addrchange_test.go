package transport_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
)

// rebinder forwards UDP between a dialer and a listener and can change
// the source port the listener sees (a NAT rebinding, a gateway host's
// address changing under a connection): the dialer talks to the rebinder's
// front socket, which sends on to the listener from its current back
// socket; rebind opens a new back socket and drops the old one.
type rebinder struct {
	t      *testing.T
	front  net.PacketConn
	to     net.Addr
	mu     sync.Mutex
	back   net.PacketConn
	client atomic.Pointer[net.Addr]
	// up and down count the packets the current back socket carried to
	// the listener and back since the last rebind.
	up, down atomic.Int64
}

func newRebinder(t *testing.T, to string) *rebinder {
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	r := &rebinder{t: t, front: front, to: addr}
	t.Cleanup(func() {
		front.Close()
		r.mu.Lock()
		r.back.Close()
		r.mu.Unlock()
	})
	r.rebind()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			r.client.Store(&from)
			r.mu.Lock()
			back := r.back
			r.mu.Unlock()
			if _, err := back.WriteTo(buf[:n], r.to); err == nil {
				r.up.Add(1)
			}
		}
	}()
	return r
}

// rebind moves the forwarding to a new back socket, with a new port.
func (r *rebinder) rebind() {
	back, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	old := r.back
	r.back = back
	r.up.Store(0)
	r.down.Store(0)
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := back.ReadFrom(buf)
			if err != nil {
				return
			}
			if c := r.client.Load(); c != nil {
				if _, err := r.front.WriteTo(buf[:n], *c); err == nil {
					r.down.Add(1)
				}
			}
		}
	}()
}

// TestAddressChange: the dialer's packets reach the listener from a new
// address in the middle of a connection (rebinder: a NAT rebinding, or the
// dialing gateway's host moving), and nothing else changes. The listener
// follows the connection to the new address (quic-go validates the new
// path): packets flow both ways at once over the new path, and neither end
// counts a disconnect or a new connection.
func TestAddressChange(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	r := newRebinder(t, addrs["b"])
	viaR := map[string]string{"a": addrs["a"], "b": r.front.LocalAddr().String()}
	ca, cb := w.config("a", pcs["a"], viaR, 0, nil), w.config("b", pcs["b"], addrs, 0, nil)
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "before")
	oldPort := r.backPort()
	r.rebind()
	if r.backPort() == oldPort {
		t.Fatalf("the rebinding kept port %d", oldPort)
	}
	start := time.Now()
	exchange(t, a, b, "after")
	t.Logf("from port %d to %d: packets flowed again after %v, %d to the listener and %d back over the new path",
		oldPort, r.backPort(), time.Since(start).Round(time.Microsecond), r.up.Load(), r.down.Load())
	if r.up.Load() == 0 || r.down.Load() == 0 {
		t.Errorf("the new path carried %d packets to the listener and %d back: the exchange did not use it", r.up.Load(), r.down.Load())
	}
	for site, tr := range map[string]*transport.Transport{"a": a, "b": b} {
		if st := tr.Stats(); st.Connects != 1 || st.Disconnects != 0 {
			t.Errorf("%s: %d connects and %d disconnects, want the one connection to go on", site, st.Connects, st.Disconnects)
		}
	}
}

// backPort returns the port the listener sees the dialer's packets come
// from.
func (r *rebinder) backPort() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.back.LocalAddr().(*net.UDPAddr).Port
}
