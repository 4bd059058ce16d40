package transport_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// TestSealedOverSocket: over real connections in ModeUDP, a sealed
// datagram sent to a gateway's socket from any address is taken once
// (the key, not the address, says who sealed it); the same datagram
// again, one with its ciphertext altered and, after the connection was
// made again (new keys), one sealed with the old connection's keys are
// refused and counted, and none of them reaches Recv.
func TestSealedOverSocket(t *testing.T) {
	a, b := udpPair(t, 100_000_000)
	spoof, err := net.ListenPacket("udp", "127.0.0.1:0") // not the peer's address
	if err != nil {
		t.Fatal(err)
	}
	defer spoof.Close()
	to := b.Addr()
	recv := make(chan string, 16)
	go func() {
		ps := []driver.Packet{{Buf: make([]byte, b.MaxPacket())}}
		for {
			n, err := b.Recv(ps)
			if err != nil {
				return
			}
			for _, p := range ps[:n] {
				if p.From != "a" {
					t.Errorf("a packet from %q", p.From)
				}
				recv <- string(p.Data())
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-recv:
			if got != want {
				t.Fatalf("received %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q did not arrive", want)
		}
	}
	send := func(d []byte) {
		t.Helper()
		if _, err := spoof.WriteTo(d, to); err != nil {
			t.Fatal(err)
		}
	}
	first := a.SealFor("b", []byte("first"))
	send(first)
	expect("first")
	send(first) // replayed
	tampered := a.SealFor("b", []byte("tampered"))
	tampered[len(tampered)-1] ^= 0x80
	send(tampered)
	send(a.SealFor("b", []byte("marker 1")))
	expect("marker 1")
	st := b.Stats()
	if st.RingReplayed != 1 || st.RingForged != 1 {
		t.Errorf("replayed %d, forged %d; want 1 and 1", st.RingReplayed, st.RingForged)
	}

	old := a.SealFor("b", []byte("old keys"))
	beforeA, beforeB := a.Stats().Connects, b.Stats().Connects
	a.CloseConn("b")
	waitFor(t, "reconnected", func() bool {
		_, ok1 := a.Connected("b")
		_, ok2 := b.Connected("a")
		return ok1 && ok2 && a.Stats().Connects > beforeA && b.Stats().Connects > beforeB
	})
	send(old)
	send(a.SealFor("b", []byte("marker 2")))
	expect("marker 2")
	if st := b.Stats(); st.RingUnknownKey != 1 {
		t.Errorf("a datagram of the old connection's keys: unknown key counted %d times, want 1", st.RingUnknownKey)
	}
	select {
	case got := <-recv:
		t.Errorf("received %q after the markers", got)
	default:
	}
}

// TestSealedPacing: in ModeUDP message packets leave at the path's
// declared bandwidth, and a regular token leaves at once, ahead of the
// messages queued before it (the ring asks only for packets sent before
// its previous visit, so the messages it overtakes are not asked for).
// 200 packets of 1200 bytes at 2 Mbit/s take about a second; the token,
// sent after them, arrives before the 50th.
func TestSealedPacing(t *testing.T) {
	a, b := udpPair(t, 2_000_000)
	const n, size = 200, 1200
	msg := func(i int) []byte {
		p := make([]byte, size)
		p[0], p[1] = 5, 1 // localring's wire version 5, a message packet
		p[2], p[3] = byte(i>>8), byte(i)
		return p
	}
	token := []byte{5, 2, 't', 'o', 'k'} // a regular token
	for i := range n {
		if err := a.Send("b", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Send("b", token); err != nil {
		t.Fatal(err)
	}
	ps := []driver.Packet{{Buf: make([]byte, b.MaxPacket())}}
	var first, last time.Time
	tokenAt, msgs := -1, 0
	deadline := time.Now().Add(20 * time.Second)
	for msgs < n && time.Now().Before(deadline) {
		k, err := b.Recv(ps)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps[:k] {
			switch d := p.Data(); {
			case bytes.Equal(d, token):
				tokenAt = msgs
			case len(d) == size:
				if msgs == 0 {
					first = time.Now()
				}
				msgs++
				last = time.Now()
			}
		}
	}
	if msgs != n {
		t.Fatalf("%d of %d messages arrived (loopback loses nothing)", msgs, n)
	}
	took := last.Sub(first)
	t.Logf("the token arrived after %d messages; the messages took %v", tokenAt, took)
	if tokenAt < 0 || tokenAt >= 50 {
		t.Errorf("the token arrived after %d of %d messages, want ahead of them (before the 50th)", tokenAt, n)
	}
	// (n-1) datagrams of about 1,270 bytes on the wire, less the pacer's
	// 10 ms bucket: at least 0.9 s at 2 Mbit/s.
	if took < 900*time.Millisecond {
		t.Errorf("%d messages of %d bytes took %v at 2 Mbit/s: not paced", n, size, took)
	}
	if st := a.Stats(); st.RingPaceWaits == 0 || st.TokenDatagrams != 1 {
		t.Errorf("pacer waits %d, tokens sealed %d", st.RingPaceWaits, st.TokenDatagrams)
	}
}

// udpPair returns two connected transports of sites a and b in ModeUDP,
// each declaring a path of bandwidth bits/s to the other.
func udpPair(t *testing.T, bandwidth int64) (a, b *transport.Transport) {
	t.Helper()
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	var tr [2]*transport.Transport
	for i, s := range []string{"a", "b"} {
		cfg := w.config(s, pcs[s], addrs, transport.ModeUDP, nil)
		cfg.Bandwidth = bandwidth
		tr[i] = start(t, cfg)
	}
	a, b = tr[0], tr[1]
	waitFor(t, "connected", func() bool {
		_, ok1 := a.Connected("b")
		_, ok2 := b.Connected("a")
		return ok1 && ok2
	})
	return a, b
}

// TestBacklogBound: the driver's backlog bound is the ring's window when
// every peer is paced (ModeUDP with a declared bandwidth), so that a
// site may put out its share of a window sized from the bandwidth-delay
// product in one visit, and never below the driver's default; over
// QUIC's congestion control (streams, or ModeUDP without a bandwidth)
// it is the default.
func TestBacklogBound(t *testing.T) {
	const window = 4 << 20
	for _, v := range []struct {
		mode      transport.Mode
		bandwidth int64
		window    int
		want      int
	}{
		{transport.ModeUDP, 50_000_000, window, window},
		{transport.ModeUDP, 50_000_000, 64 << 10, driver.DefaultMaxBacklogBytes},
		{transport.ModeUDP, 0, window, driver.DefaultMaxBacklogBytes},
		{transport.ModeStreams, 50_000_000, window, driver.DefaultMaxBacklogBytes},
	} {
		w := newWorld(t, "a", "b")
		pcs, addrs := w.sockets()
		cfg := w.config("a", pcs["a"], addrs, v.mode, nil)
		cfg.Bandwidth = v.bandwidth
		if got := start(t, cfg).BacklogBound(v.window); got != v.want {
			t.Errorf("mode %v, bandwidth %d, window %d: bound %d, want %d", v.mode, v.bandwidth, v.window, got, v.want)
		}
	}
}
