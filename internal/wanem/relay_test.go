package wanem

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustAddrPort(tb testing.TB, s string) netip.AddrPort {
	tb.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		tb.Fatal(err)
	}
	return ap
}

// echo starts a UDP server on loopback that sends every datagram back.
func echo(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			n, a, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], a)
		}
	}()
	return c.LocalAddr().String()
}

func dial(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(mustAddrPort(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoPipe starts an echo server behind a relay with p both ways and
// returns the relay and a client socket connected to it.
func echoPipe(t *testing.T, p Params) (*Relay, *net.UDPConn) {
	t.Helper()
	r, err := Pipe(echo(t), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dial(t, r.Addr())
}

// roundTrip sends one datagram and waits up to wait for the echo; it
// returns the round-trip time, or false if nothing came back.
func roundTrip(t *testing.T, c *net.UDPConn, wait time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(start.Add(wait))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		return 0, false
	}
	return time.Since(start), true
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestPipeRoundTrip(t *testing.T) {
	r, c := echoPipe(t, RTT(40*time.Millisecond))
	for range 5 {
		rtt, ok := roundTrip(t, c, 5*time.Second)
		if !ok {
			t.Fatal("no echo through a perfect 40 ms path")
		}
		// Never faster than the emulated path. (How much slower is the
		// benchmarks' business: a loaded machine stalls for tens of ms.)
		if rtt < 40*time.Millisecond {
			t.Fatalf("round trip %v through a 40 ms path", rtt)
		}
	}
	if st := r.Forward().Stats(); st.Packets != 5 || st.Delivered != 5 || st.Drops.Total() != 0 {
		t.Fatalf("forward stats %+v, want 5 in, 5 out, no drops", st)
	}
}

func TestCutHeal(t *testing.T) {
	r, c := echoPipe(t, Params{})
	if _, ok := roundTrip(t, c, 5*time.Second); !ok {
		t.Fatal("no echo before the cut")
	}
	r.Forward().Cut()
	if !r.Forward().IsCut() || r.Reverse().IsCut() {
		t.Fatal("Cut of the forward link is not reported by IsCut, or cut the reverse one")
	}
	for range 10 {
		c.Write([]byte("lost"))
	}
	waitFor(t, "the cut link to take 11 packets", func() bool { return r.Forward().Stats().Packets == 11 })
	if st := r.Forward().Stats(); st.Drops.Cut != 10 || st.Delivered != 1 {
		t.Fatalf("forward stats after the cut: %+v, want 10 cut, 1 delivered", st)
	}
	// Setting parameters does not heal.
	if err := r.Forward().Set(Params{Delay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if !r.Forward().IsCut() {
		t.Fatal("Set healed the link")
	}
	r.Heal()
	if _, ok := roundTrip(t, c, 5*time.Second); !ok {
		t.Fatal("no echo after the heal")
	}
}

// TestCutDropsInFlight: packets already in the delay line when the link is
// cut are lost at their delivery time. (The delay is long enough that no
// stall of a loaded machine lets them out before the cut.)
func TestCutDropsInFlight(t *testing.T) {
	r, c := echoPipe(t, Params{Delay: 2 * time.Second})
	for range 5 {
		c.Write([]byte("in flight"))
	}
	waitFor(t, "5 packets in flight", func() bool { return r.Forward().Stats().Packets == 5 })
	r.Forward().Cut()
	waitFor(t, "the in-flight packets to fall due", func() bool { return r.Forward().Stats().InFlight == 0 })
	if st := r.Forward().Stats(); st.Drops.Cut != 5 || st.Delivered != 0 {
		t.Fatalf("stats %+v, want the 5 packets in flight dropped at the cut", st)
	}
}

func TestLossCountedByCause(t *testing.T) {
	res := runProbe(t, Params{Loss: 0.2, Burst: Bursty(0.1, 3)}, 3000, 10000, 100)
	st := res.stats
	if st.Packets < 2000 || st.Delivered+st.Drops.Total() != st.Packets {
		t.Fatalf("stats %+v do not add up to the packets in", st)
	}
	// The fates are a seeded random sequence; the bounds are wide.
	lossRate := float64(st.Drops.Loss) / float64(st.Packets-st.Drops.Burst)
	burstRate := float64(st.Drops.Burst) / float64(st.Packets)
	if lossRate < 0.15 || lossRate > 0.25 || burstRate < 0.05 || burstRate > 0.15 {
		t.Fatalf("random loss %.3f (want 0.2), burst loss %.3f (want 0.1): %+v", lossRate, burstRate, st.Drops)
	}
	if s := res.summarize(); s.received != int(st.Delivered) {
		t.Fatalf("the sink got %d datagrams, the link says it delivered %d", s.received, st.Delivered)
	}
}

// TestDelayNeverEarly: every datagram arrives, none before its delay. How
// close to the delay they arrive is the benchmarks' business
// (BenchmarkDelay): a timed bound would flake on a loaded machine or under
// the race detector.
func TestDelayNeverEarly(t *testing.T) {
	const delay = 20 * time.Millisecond
	res := runProbe(t, Params{Delay: delay}, 2000, 5000, 200)
	s := res.summarize()
	if st := res.stats; s.unique != int(st.Delivered) || st.Drops.Total() != 0 || st.Packets < 1000 {
		t.Fatalf("the sink got %d datagrams; link stats %+v", s.unique, st)
	}
	if s.delays[0] < delay {
		t.Fatalf("a datagram arrived after %v, before the %v delay", s.delays[0], delay)
	}
	if med := s.quantile(0.5); med > delay+time.Second {
		t.Fatalf("median one-way delay %v for a %v link", med, delay)
	}
	t.Logf("one-way delay %v: min %v median %v p99 %v", delay, s.delays[0], s.quantile(0.5), s.quantile(0.99))
}

func TestSetWhileRunning(t *testing.T) {
	r, c := echoPipe(t, Params{})
	if _, ok := roundTrip(t, c, 5*time.Second); !ok {
		t.Fatal("no echo")
	}
	p, err := r.Forward().Update(func(p *Params) { p.Delay = 100 * time.Millisecond })
	if err != nil || p.Delay != 100*time.Millisecond {
		t.Fatalf("Update: %v, %v", p, err)
	}
	if rtt, ok := roundTrip(t, c, 5*time.Second); !ok || rtt < 100*time.Millisecond {
		t.Fatalf("round trip %v (ok %v) after setting a 100 ms forward delay", rtt, ok)
	}
	if _, err := r.Forward().Update(func(p *Params) { p.Loss = 2 }); err == nil {
		t.Fatal("Update accepted a loss of 2")
	}
	if got := r.Forward().Params(); got.Loss != 0 || got.Delay != 100*time.Millisecond {
		t.Fatalf("a failed Update changed the params to %v", got)
	}
}

// TestStray: datagrams to a session's socket from strangers are ignored.
func TestStray(t *testing.T) {
	r, c := echoPipe(t, Params{})
	if r.SourceAddr() != "" {
		t.Fatalf("a source address %s before anyone sent", r.SourceAddr())
	}
	if _, ok := roundTrip(t, c, 5*time.Second); !ok {
		t.Fatal("no echo")
	}
	stranger := dial(t, r.SourceAddr())
	stranger.Write([]byte("not from the target"))
	waitFor(t, "the stray datagram", func() bool { return r.Stray() == 1 })
	if st := r.Reverse().Stats(); st.Packets != 1 {
		t.Fatalf("reverse link took %d packets, want 1 (the stray one is not the target's)", st.Packets)
	}
}

// recorder is a UDP server that answers each datagram with the address it
// came from.
func recorder(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, a, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort([]byte(a.String()), a)
		}
	}()
	return c.LocalAddr().String()
}

// ask sends a datagram on c and returns the answer.
func ask(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	c.Write([]byte("who am I"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer through the relay: %v", err)
	}
	return string(buf[:n])
}

// TestSessions: each sender gets its own socket toward the target and its
// own replies, through the same links.
func TestSessions(t *testing.T) {
	r, err := Pipe(recorder(t), Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c1, c2 := dial(t, r.Addr()), dial(t, r.Addr())
	a1, a2 := ask(t, c1), ask(t, c2)
	if a1 == a2 {
		t.Fatalf("two senders reach the target from one address %s", a1)
	}
	// Interleaved: each still gets the answer for its own address.
	for range 3 {
		if got := ask(t, c1); got != a1 {
			t.Fatalf("sender 1 got %s, want %s", got, a1)
		}
		if got := ask(t, c2); got != a2 {
			t.Fatalf("sender 2 got %s, want %s", got, a2)
		}
	}
	if r.Sessions() != 2 || r.SourceAddr() != a2 {
		t.Fatalf("%d sessions, latest source %s; want 2 and %s", r.Sessions(), r.SourceAddr(), a2)
	}
	if st := r.Forward().Stats(); st.Packets != 8 || st.Delivered != 8 {
		t.Fatalf("forward stats %+v, want both senders' 8 datagrams on the one link", st)
	}
}

// TestSessionFixedSource: with a fixed source port there is one session,
// and a new sender takes it over.
func TestSessionFixedSource(t *testing.T) {
	free, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	source := free.LocalAddr().String()
	free.Close()
	r, err := New(Config{Target: recorder(t), Source: source})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c1, c2 := dial(t, r.Addr()), dial(t, r.Addr())
	if got := ask(t, c1); got != source {
		t.Fatalf("the target saw %s, want the fixed source %s", got, source)
	}
	if got := ask(t, c2); got != source {
		t.Fatalf("the target saw %s, want the fixed source %s", got, source)
	}
	if r.Sessions() != 1 {
		t.Fatalf("%d sessions with a fixed source port, want 1", r.Sessions())
	}
}

func TestMesh(t *testing.T) {
	sites := map[string]string{"a": echo(t), "b": echo(t), "c": echo(t)}
	m, err := NewMesh(MeshConfig{Sites: sites, Link: RTT(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.SetPath("a", "c", RTT(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ab, ac := dial(t, m.Addr("a", "b")), dial(t, m.Addr("a", "c"))
	if rtt, ok := roundTrip(t, ab, 5*time.Second); !ok || rtt < 10*time.Millisecond {
		t.Fatalf("a to b: round trip %v ok %v through a 10 ms path", rtt, ok)
	}
	if rtt, ok := roundTrip(t, ac, 5*time.Second); !ok || rtt < 100*time.Millisecond {
		t.Fatalf("a to c: round trip %v ok %v through a 100 ms path", rtt, ok)
	}
	// The relay from a to c carries replies over the link c:a, which the
	// relay from c to a shares.
	if st := m.Link("c", "a").Stats(); st.Delivered != 1 {
		t.Fatalf("link c:a delivered %d, want the one reply", st.Delivered)
	}
	if err := m.Isolate("c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := roundTrip(t, ac, 300*time.Millisecond); ok {
		t.Fatal("an echo from the isolated site c")
	}
	if _, ok := roundTrip(t, ab, 5*time.Second); !ok {
		t.Fatal("isolating c cut a:b")
	}
	if !m.Link("b", "c").IsCut() || m.Link("a", "b").IsCut() {
		t.Fatal("Isolate(c) did not cut b:c, or cut a:b")
	}
	if err := m.Rejoin("c"); err != nil {
		t.Fatal(err)
	}
	ac.SetReadDeadline(time.Now())
	if _, ok := roundTrip(t, ac, 5*time.Second); !ok {
		t.Fatal("no echo from c after Rejoin")
	}
	if err := m.Cut("a", "nowhere"); err == nil {
		t.Fatal("Cut to an unknown site did not fail")
	}

	// A second address of c behind the same path: its relay shares the
	// links a:c and c:a, their delay and their cuts.
	addr, err := m.AddRelay("a", "c", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	ac2 := dial(t, addr)
	before := m.Link("c", "a").Stats().Delivered
	if rtt, ok := roundTrip(t, ac2, 5*time.Second); !ok || rtt < 100*time.Millisecond {
		t.Fatalf("a to c's second address: round trip %v ok %v through the 100 ms path", rtt, ok)
	}
	if got := m.Link("c", "a").Stats().Delivered; got != before+1 {
		t.Fatalf("link c:a delivered %d more, want the second address's reply", got-before)
	}
	m.Isolate("c")
	if _, ok := roundTrip(t, ac2, 300*time.Millisecond); ok {
		t.Fatal("an echo from c's second address while c is isolated")
	}
	if !strings.Contains(m.Table(), "a:c "+addr+" -> ") {
		t.Fatalf("the table lacks the added relay %s:\n%s", addr, m.Table())
	}
	if _, err := m.AddRelay("a", "nowhere", echo(t)); err == nil {
		t.Fatal("AddRelay to an unknown site did not fail")
	}
}

// TestSessionLimit: beyond maxSessions senders the least recently active
// session is closed; its sender gets a new one when it sends again.
func TestSessionLimit(t *testing.T) {
	r, err := Pipe(recorder(t), Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var cs []*net.UDPConn
	var first string
	for i := range maxSessions + 1 {
		cs = append(cs, dial(t, r.Addr()))
		if a := ask(t, cs[i]); i == 0 {
			first = a
		}
	}
	if r.Sessions() != maxSessions {
		t.Fatalf("%d sessions after %d senders, want the limit %d", r.Sessions(), maxSessions+1, maxSessions)
	}
	if again := ask(t, cs[0]); again == first {
		t.Fatalf("the evicted first sender still reaches the target from %s", first)
	}
}

// TestIPv6: a relay between IPv6 endpoints (skipped where ::1 is missing).
func TestIPv6(t *testing.T) {
	server, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer server.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, a, err := server.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			server.WriteToUDPAddrPort(buf[:n], a)
		}
	}()
	r, err := New(Config{Listen: "[::1]:0", Target: server.LocalAddr().String(), Forward: Params{Delay: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := dial(t, r.Addr())
	if rtt, ok := roundTrip(t, c, 5*time.Second); !ok || rtt < 5*time.Millisecond {
		t.Fatalf("IPv6 round trip %v (ok %v) through a 5 ms link", rtt, ok)
	}
	if src := r.SourceAddr(); !strings.HasPrefix(src, "[::1]:") {
		t.Fatalf("the target sees the relay at %s, want [::1]", src)
	}
}
