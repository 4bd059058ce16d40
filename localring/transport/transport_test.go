package transport_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/transport"
)

// A maker opens n transports that form one ring.
type maker func(t *testing.T, n int) []transport.Transport

// received is one datagram seen by a reader.
type received struct {
	from      netip.AddrPort
	data      string
	truncated bool
}

// startReader reads tr until it is closed, with receive buffers of
// bufSize bytes, and sends what arrives on the returned channel.
func startReader(t *testing.T, tr transport.Transport, bufSize int) <-chan received {
	ch := make(chan received, 1<<14)
	go func() {
		defer close(ch)
		ms := make([]transport.Message, 32)
		for i := range ms {
			ms[i].Buf = make([]byte, bufSize)
		}
		for {
			n, err := tr.ReadBatch(ms)
			if err != nil {
				if !errors.Is(err, transport.ErrClosed) {
					t.Errorf("ReadBatch: %v", err)
				}
				return
			}
			for _, m := range ms[:n] {
				ch <- received{m.From, string(m.Payload()), m.Truncated}
			}
		}
	}()
	return ch
}

func expect(t *testing.T, ch <-chan received, want received) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %+v, want %+v", shorten(got), shorten(want))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing received in 5s, want %+v", shorten(want))
	}
}

func shorten(r received) received {
	if len(r.data) > 40 {
		r.data = r.data[:40] + "…"
	}
	return r
}

func expectNothing(t *testing.T, ch <-chan received, wait time.Duration) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected packet %+v", shorten(got))
	case <-time.After(wait):
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// conformance checks the Transport contract on the transports mk makes.
func conformance(t *testing.T, mk maker) {
	t.Run("multicast reaches every other member", func(t *testing.T) {
		ts := mk(t, 3)
		chs := make([]<-chan received, len(ts))
		for i, tr := range ts {
			chs[i] = startReader(t, tr, tr.MaxPacket())
		}
		must(t, ts[0].Multicast([]byte("hello ring")))
		must(t, ts[0].Flush())
		expect(t, chs[1], received{from: ts[0].LocalAddr(), data: "hello ring"})
		expect(t, chs[2], received{from: ts[0].LocalAddr(), data: "hello ring"})
		// The sender does not hear itself: the next thing it receives is
		// the unicast below, and nothing follows.
		must(t, ts[1].Unicast(ts[0].LocalAddr(), []byte("token")))
		must(t, ts[1].Flush())
		expect(t, chs[0], received{from: ts[1].LocalAddr(), data: "token"})
		expectNothing(t, chs[0], 100*time.Millisecond)
		expectNothing(t, chs[2], 0)
	})

	t.Run("unicast reaches one member", func(t *testing.T) {
		ts := mk(t, 3)
		chs := make([]<-chan received, len(ts))
		for i, tr := range ts {
			chs[i] = startReader(t, tr, tr.MaxPacket())
		}
		must(t, ts[0].Unicast(ts[2].LocalAddr(), []byte("to two")))
		must(t, ts[0].Flush())
		expect(t, chs[2], received{from: ts[0].LocalAddr(), data: "to two"})
		expectNothing(t, chs[1], 100*time.Millisecond)
		expectNothing(t, chs[0], 0)
	})

	t.Run("queued until flush", func(t *testing.T) {
		ts := mk(t, 2)
		ch := startReader(t, ts[1], ts[1].MaxPacket())
		must(t, ts[0].Multicast([]byte("later")))
		expectNothing(t, ch, 50*time.Millisecond)
		must(t, ts[0].Flush())
		expect(t, ch, received{from: ts[0].LocalAddr(), data: "later"})
	})

	t.Run("many packets in batches", func(t *testing.T) {
		ts := mk(t, 2)
		const total = 3000
		ch := startReader(t, ts[1], ts[1].MaxPacket())
		pkt := make([]byte, 1024)
		seen := make([]bool, total)
		got := 0
		for i := range total {
			binary.BigEndian.PutUint32(pkt, uint32(i))
			if i%2 == 0 {
				must(t, ts[0].Multicast(pkt))
			} else {
				must(t, ts[0].Unicast(ts[1].LocalAddr(), pkt))
			}
			if i%64 == 63 || i == total-1 {
				must(t, ts[0].Flush())
			}
			// Pace the sender so that a small kernel buffer does not drop.
			for got < i-512 || (i == total-1 && got < total) {
				select {
				case r := <-ch:
					if len(r.data) != len(pkt) || r.from != ts[0].LocalAddr() {
						t.Fatalf("bad packet %+v", shorten(r))
					}
					n := binary.BigEndian.Uint32([]byte(r.data))
					if seen[n] {
						t.Fatalf("packet %d received twice", n)
					}
					seen[n] = true
					got++
				case <-time.After(5 * time.Second):
					t.Fatalf("received %d of %d packets", got, i+1)
				}
			}
		}
		if us, ok := ts[0].(*transport.UDP); ok {
			st := us.Stats()
			t.Logf("sender %+v", st)
			if st.SentPackets != total || st.SendCalls > total/32 {
				t.Errorf("sent %d packets in %d sendmmsg calls; want %d in at most %d", st.SentPackets, st.SendCalls, total, total/32)
			}
		}
		if us, ok := ts[1].(*transport.UDP); ok {
			st := us.Stats()
			t.Logf("receiver %+v", st)
			if st.RecvPackets != total || st.RecvCalls > total {
				t.Errorf("received %d packets in %d recvmmsg calls, want %d", st.RecvPackets, st.RecvCalls, total)
			}
		}
	})

	t.Run("windows of equal packets arrive whole and in order", func(t *testing.T) {
		// As a token visit sends them: runs of full packets, the last
		// shorter, then the token; a multicast transport joins each run
		// into segmented sends where the kernel can (UDP GSO).
		ts := mk(t, 2)
		ch := startReader(t, ts[1], ts[1].MaxPacket())
		full := min(ts[0].MaxPacket(), 1400)
		seq := 0
		for w, k := range []int{1, 2, 3, 40, 63, 64, 100, 7} {
			for i := range k {
				pkt := make([]byte, full)
				if i == k-1 {
					pkt = pkt[:full/2+i] // the window's last is shorter
				}
				binary.BigEndian.PutUint32(pkt, uint32(seq))
				pkt[len(pkt)-1] = byte(seq)
				must(t, ts[0].Multicast(pkt))
				seq++
			}
			must(t, ts[0].Unicast(ts[1].LocalAddr(), []byte(fmt.Sprint("token ", w))))
			must(t, ts[0].Flush())
			next := seq - k
			for tokens := 0; next < seq || tokens == 0; {
				var r received
				select {
				case r = <-ch:
				case <-time.After(5 * time.Second):
					t.Fatalf("window %d: received up to packet %d of %d", w, next, seq)
				}
				if r.from != ts[0].LocalAddr() {
					t.Fatalf("packet from %v, want %v", r.from, ts[0].LocalAddr())
				}
				if strings.HasPrefix(r.data, "token ") {
					if r.data != fmt.Sprint("token ", w) {
						t.Fatalf("window %d: %q", w, r.data)
					}
					tokens++
					continue
				}
				want := full
				if next == seq-1 {
					want = full/2 + k - 1
				}
				n := int(binary.BigEndian.Uint32([]byte(r.data)))
				if n != next || len(r.data) != want || r.data[len(r.data)-1] != byte(n) || r.truncated {
					t.Fatalf("window %d: packet %d (%d bytes), want packet %d of %d bytes", w, n, len(r.data), next, want)
				}
				next++
			}
		}
		if us, ok := ts[0].(*transport.UDP); ok {
			st := us.Stats()
			t.Logf("sender %+v, GSO %v", st, us.GSO())
			if st.SentPackets != uint64(seq+8) || st.SendErrors != 0 {
				t.Errorf("sent %d packets, %d errors; want %d, none", st.SentPackets, st.SendErrors, seq+8)
			}
			if us.GSO() && st.SegmentedSends == 0 {
				t.Errorf("GSO on, but no segmented send")
			}
			rx := ts[1].(*transport.UDP)
			rst := rx.Stats()
			t.Logf("receiver %+v, GRO %v", rst, rx.GRO())
			if us.GSO() && rx.GRO() && rst.RecvCoalesced == 0 {
				t.Errorf("GSO at the sender and GRO at the receiver, but no coalesced receive")
			}
		}
	})

	t.Run("max packet", func(t *testing.T) {
		ts := mk(t, 2)
		ch := startReader(t, ts[1], ts[1].MaxPacket())
		big := make([]byte, ts[0].MaxPacket())
		for i := range big {
			big[i] = byte(i)
		}
		if err := ts[0].Multicast(append(big, 0)); !errors.Is(err, transport.ErrTooLarge) {
			t.Fatalf("Multicast(MaxPacket+1 bytes) = %v, want ErrTooLarge", err)
		}
		if err := ts[0].Unicast(ts[1].LocalAddr(), append(big, 0)); !errors.Is(err, transport.ErrTooLarge) {
			t.Fatalf("Unicast(MaxPacket+1 bytes) = %v, want ErrTooLarge", err)
		}
		must(t, ts[0].Multicast(big))
		must(t, ts[0].Flush())
		expect(t, ch, received{from: ts[0].LocalAddr(), data: string(big)})
	})

	t.Run("truncated", func(t *testing.T) {
		ts := mk(t, 2)
		ch := startReader(t, ts[1], 10)
		must(t, ts[0].Multicast([]byte("0123456789abcdef")))
		must(t, ts[0].Flush())
		expect(t, ch, received{from: ts[0].LocalAddr(), data: "0123456789", truncated: true})
	})

	t.Run("close unblocks ReadBatch", func(t *testing.T) {
		ts := mk(t, 1)
		errc := make(chan error, 1)
		go func() {
			ms := []transport.Message{{Buf: make([]byte, 100)}}
			_, err := ts[0].ReadBatch(ms)
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		must(t, ts[0].Close())
		select {
		case err := <-errc:
			if !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("ReadBatch after Close = %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadBatch still blocked 5s after Close")
		}
		if err := ts[0].Multicast([]byte("x")); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Multicast after Close = %v, want ErrClosed", err)
		}
		if err := ts[0].Flush(); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Flush after Close = %v, want ErrClosed", err)
		}
		must(t, ts[0].Close()) // idempotent
	})
}

// closeAll closes the transports at the end of the test.
func closeAll(t *testing.T, ts []transport.Transport) {
	t.Cleanup(func() {
		for _, tr := range ts {
			tr.Close()
		}
	})
}

// listenUnicast opens n unicast transports on ephemeral ports of addr and
// gives each the others as peers.
func listenUnicast(t *testing.T, addr string, n int) []transport.Transport {
	ts := make([]transport.Transport, 0, n)
	var peers []netip.AddrPort
	for range n {
		u, warnings, err := transport.Listen(transport.Config{
			Bind:  netip.AddrPortFrom(netip.MustParseAddr(addr), 0),
			Peers: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(addr), 9)}, // replaced below
			MTU:   1500,
		})
		if err != nil {
			t.Fatal(err)
		}
		logWarnings(t, warnings)
		ts = append(ts, u)
		peers = append(peers, u.LocalAddr())
	}
	closeAll(t, ts)
	for _, tr := range ts {
		tr.(*transport.UDP).SetPeers(peers)
	}
	return ts
}

func logWarnings(t *testing.T, ws []transport.Warning) {
	for _, w := range ws {
		t.Log(w.String())
	}
}

func TestFake(t *testing.T) {
	conformance(t, func(t *testing.T, n int) []transport.Transport {
		var fn transport.FakeNetwork
		ts := make([]transport.Transport, n)
		for i := range ts {
			f, err := fn.Listen(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(5000+i)))
			must(t, err)
			ts[i] = f
		}
		closeAll(t, ts)
		return ts
	})
}

func TestFakeDropAndQueue(t *testing.T) {
	fn := transport.FakeNetwork{QueuePackets: 2}
	a, _ := fn.Listen(netip.MustParseAddrPort("10.0.0.1:1"))
	b, _ := fn.Listen(netip.MustParseAddrPort("10.0.0.2:1"))
	c, _ := fn.Listen(netip.MustParseAddrPort("10.0.0.3:1"))
	closeAll(t, []transport.Transport{a, b, c})
	if _, err := fn.Listen(a.LocalAddr()); err == nil {
		t.Fatal("two fakes with one address")
	}
	fn.SetDrop(func(from, to netip.AddrPort, _ []byte) bool { return to == c.LocalAddr() }) // c is cut off
	for range 3 {
		must(t, a.Multicast([]byte("x")))
	}
	must(t, a.Flush())
	if b.Dropped() != 1 || c.Dropped() != 0 {
		t.Fatalf("dropped: b %d (queue of 2, 3 sent), c %d (cut off)", b.Dropped(), c.Dropped())
	}
	ms := make([]transport.Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, 10)
	}
	if n, err := b.ReadBatch(ms); n != 2 || err != nil {
		t.Fatalf("ReadBatch = %d, %v; want the 2 queued", n, err)
	}
}

func TestUnicastIPv4(t *testing.T) {
	conformance(t, func(t *testing.T, n int) []transport.Transport { return listenUnicast(t, "127.0.0.1", n) })
}

func TestUnicastIPv6(t *testing.T) {
	if _, _, err := transport.Listen(transport.Config{Bind: netip.MustParseAddrPort("[::1]:0"), Peers: []netip.AddrPort{netip.MustParseAddrPort("[::1]:9")}}); err != nil {
		t.Skipf("IPv6 loopback is not available here: %v", err)
	}
	conformance(t, func(t *testing.T, n int) []transport.Transport { return listenUnicast(t, "::1", n) })
}

// testPort returns a port for multicast tests, different on each run so
// that tests on a shared host (lo with multicast on) do not hear each other.
func testPort() uint16 { return uint16(20000 + rand.IntN(30000)) }

func TestMulticastIPv4(t *testing.T) {
	tn := multicastNet(t)
	conformance(t, func(t *testing.T, n int) []transport.Transport {
		port := testPort()
		group := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.1"), port)
		// Co-located nodes share the group's port (Bind port 0) and differ
		// in their loopback address.
		var binds []netip.AddrPort
		for i := range n {
			binds = append(binds, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i)}), 0))
		}
		ts := listenMulticast(t, tn, group, "", binds)
		if got := ts[0].LocalAddr(); got.Port() != port {
			t.Fatalf("LocalAddr %v, want the group's port %d", got, port)
		}
		return ts
	})
}

func TestMulticastIPv6(t *testing.T) {
	tn := multicastNet(t)
	iface, addrs := tn.v6Iface, tn.v6Addrs
	if iface == "" {
		// Only lo: one address, so co-located nodes differ in their port.
		iface, addrs = "lo", []netip.Addr{netip.IPv6Loopback()}
	}
	mk := func(t *testing.T, n int) []transport.Transport {
		port := testPort()
		var binds []netip.AddrPort
		for i := range n {
			if len(addrs) >= n {
				binds = append(binds, netip.AddrPortFrom(addrs[i], port))
			} else {
				binds = append(binds, netip.AddrPortFrom(addrs[0], port+1+uint16(i)))
			}
		}
		return listenMulticast(t, tn, netip.AddrPortFrom(netip.MustParseAddr("ff12::a701"), port), iface, binds)
	}
	// Probe: the kernel may refuse IPv6 multicast on this interface.
	ts := mk(t, 2)
	ch := startReader(t, ts[1], 100)
	ts[0].Multicast([]byte("probe"))
	err := ts[0].Flush()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Skipf("the kernel does not deliver IPv6 multicast on %s (flush: %v): Linux does not route IPv6 multicast through lo; the test uses a veth pair in a private network namespace instead when lo lacks multicast and it runs as root with iproute2", iface, err)
	}
	conformance(t, mk)
}

// testNet is where the multicast tests run.
type testNet struct {
	// run runs f (Listen calls) in the test's network namespace. Sockets
	// keep the namespace they were created in, so the transports work
	// from any goroutine afterwards.
	run func(f func())
	// v6Iface and v6Addrs, when set, are an interface that carries IPv6
	// multicast and three of its addresses, for co-located IPv6 nodes.
	v6Iface string
	v6Addrs []netip.Addr
}

// listenMulticast opens multicast transports with the given bind addresses
// in tn's namespace.
func listenMulticast(t *testing.T, tn testNet, group netip.AddrPort, iface string, binds []netip.AddrPort) []transport.Transport {
	t.Helper()
	ts := make([]transport.Transport, 0, len(binds))
	var errs []error
	tn.run(func() {
		for _, b := range binds {
			u, warnings, err := transport.Listen(transport.Config{Bind: b, Group: group, Interface: iface})
			if err != nil {
				errs = append(errs, err)
				return
			}
			logWarnings(t, warnings)
			ts = append(ts, u)
		}
	})
	closeAll(t, ts)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestMulticastNeedsMulticastInterface(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil || lo.Flags&net.FlagMulticast != 0 {
		t.Skip("lo has multicast here; nothing to refuse")
	}
	_, _, err = transport.Listen(transport.Config{
		Bind:  netip.MustParseAddrPort("127.0.0.1:0"),
		Group: netip.MustParseAddrPort("239.255.77.2:9999"),
	})
	if err == nil || !strings.Contains(err.Error(), "ip link set dev lo multicast on") {
		t.Fatalf("Listen on lo without multicast: %v, want a hint how to enable it", err)
	}
}

func TestMaxPacketFromMTU(t *testing.T) {
	tests := []struct {
		bind string
		mtu  int
		want int
	}{
		{"127.0.0.1:0", 0, transport.DefaultMaxMTU - 28}, // lo's 64 KiB MTU is capped
		{"127.0.0.1:0", 1500, 1472},
		{"127.0.0.1:0", 1400, 1372},
		{"[::1]:0", 1500, 1452},
	}
	for _, tt := range tests {
		u, _, err := transport.Listen(transport.Config{Bind: netip.MustParseAddrPort(tt.bind), Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}, MTU: tt.mtu})
		if err != nil && strings.HasPrefix(tt.bind, "[") {
			t.Logf("skip IPv6: %v", err)
			continue
		}
		must(t, err)
		if got := u.MaxPacket(); got != tt.want {
			t.Errorf("bind %s MTU %d: MaxPacket %d, want %d", tt.bind, tt.mtu, got, tt.want)
		}
		u.Close()
	}
}

// sysctlInt reads an integer sysctl, or returns 0.
func sysctlInt(name string) int {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func TestBufferSizeWarning(t *testing.T) {
	rmemMax, wmemMax := sysctlInt("net.core.rmem_max"), sysctlInt("net.core.wmem_max")
	if rmemMax == 0 || wmemMax == 0 {
		t.Skip("cannot read net.core.rmem_max and wmem_max from /proc/sys")
	}
	base := transport.Config{Bind: netip.MustParseAddrPort("127.0.0.1:0"), Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}

	// Within the limits: no warning.
	cfg := base
	cfg.RecvBufferBytes, cfg.SendBufferBytes = min(rmemMax, 64<<10), min(wmemMax, 64<<10)
	u, warnings, err := transport.Listen(cfg)
	must(t, err)
	u.Close()
	if len(warnings) != 0 {
		t.Fatalf("warnings within the limits: %v", warnings)
	}

	// Above them: one warning per buffer, naming the sysctl.
	cfg = base
	cfg.RecvBufferBytes, cfg.SendBufferBytes = 2*rmemMax+1<<20, 2*wmemMax+1<<20
	u, warnings, err = transport.Listen(cfg)
	must(t, err)
	u.Close()
	want := map[string]string{"SO_RCVBUF": "net.core.rmem_max", "SO_SNDBUF": "net.core.wmem_max"}
	if len(warnings) != 2 {
		t.Fatalf("warnings %v, want one for SO_RCVBUF and one for SO_SNDBUF", warnings)
	}
	for _, w := range warnings {
		if want[w.Option] != w.Sysctl || w.Granted >= w.Requested || w.Granted <= 0 {
			t.Errorf("warning %+v", w)
		}
		if s := w.String(); !strings.Contains(s, "sysctl -w "+w.Sysctl+"=") || !strings.Contains(s, strconv.Itoa(w.Granted)) {
			t.Errorf("warning line %q does not say what to raise", s)
		}
	}

	// ForceBuffers exceeds the limits with CAP_NET_ADMIN.
	if os.Geteuid() != 0 {
		return
	}
	cfg.ForceBuffers = true
	u, warnings, err = transport.Listen(cfg)
	must(t, err)
	u.Close()
	if len(warnings) != 0 {
		t.Logf("ForceBuffers as root still warned (no CAP_NET_ADMIN in this container?): %v", warnings)
	}
}

func TestSendErrorDoesNotStopTheBatch(t *testing.T) {
	ts := listenUnicast(t, "127.0.0.1", 2)
	ch := startReader(t, ts[1], 100)
	unreachable := netip.MustParseAddrPort("203.0.113.1:9") // no route from 127.0.0.1
	must(t, ts[0].Unicast(ts[1].LocalAddr(), []byte("before")))
	must(t, ts[0].Unicast(unreachable, []byte("lost")))
	must(t, ts[0].Unicast(ts[1].LocalAddr(), []byte("after")))
	err := ts[0].Flush()
	var se *transport.SendError
	if !errors.As(err, &se) || se.To != unreachable {
		t.Fatalf("Flush = %v, want a *SendError for %v", err, unreachable)
	}
	expect(t, ch, received{from: ts[0].LocalAddr(), data: "before"})
	expect(t, ch, received{from: ts[0].LocalAddr(), data: "after"})
	if st := ts[0].(*transport.UDP).Stats(); st.SendErrors != 1 || st.SentPackets != 2 {
		t.Fatalf("stats %+v, want 1 error and 2 sent", st)
	}
}

func TestAutomaticFlush(t *testing.T) {
	ts := listenUnicast(t, "127.0.0.1", 2)
	ch := startReader(t, ts[1], 2000)
	u := ts[0].(*transport.UDP)
	// More than BatchSize packets without Flush: the queue sends itself.
	for i := range transport.DefaultBatchSize + 1 {
		must(t, u.Unicast(ts[1].LocalAddr(), []byte(fmt.Sprint(i))))
	}
	for i := range transport.DefaultBatchSize {
		expect(t, ch, received{from: u.LocalAddr(), data: fmt.Sprint(i)})
	}
	expectNothing(t, ch, 50*time.Millisecond)
	must(t, u.Flush())
	expect(t, ch, received{from: u.LocalAddr(), data: fmt.Sprint(transport.DefaultBatchSize)})
}

func TestUnicastRejectsOtherFamily(t *testing.T) {
	ts := listenUnicast(t, "127.0.0.1", 1)
	if err := ts[0].Unicast(netip.MustParseAddrPort("[::1]:5405"), []byte("x")); err == nil {
		t.Fatal("IPv6 destination from an IPv4 socket accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	bind := netip.MustParseAddrPort("10.0.0.1:5405")
	group := netip.MustParseAddrPort("239.192.0.1:5405")
	peer := netip.MustParseAddrPort("10.0.0.2:5405")
	tests := []struct {
		name string
		cfg  transport.Config
		want string
	}{
		{"no bind", transport.Config{Group: group}, "ResolveBind"},
		{"wildcard bind", transport.Config{Bind: netip.MustParseAddrPort("0.0.0.0:5405"), Group: group}, "wildcard"},
		{"multicast bind", transport.Config{Bind: group, Group: group}, "multicast group"},
		{"neither", transport.Config{Bind: bind}, "neither"},
		{"both", transport.Config{Bind: bind, Group: group, Peers: []netip.AddrPort{peer}}, "choose one"},
		{"unicast group", transport.Config{Bind: bind, Group: peer}, "not a multicast address"},
		{"group without port", transport.Config{Bind: bind, Group: netip.AddrPortFrom(group.Addr(), 0)}, "no port"},
		{"mixed families", transport.Config{Bind: bind, Group: netip.MustParseAddrPort("[ff12::1]:5405")}, "different IP versions"},
		{"peer without port", transport.Config{Bind: bind, Peers: []netip.AddrPort{netip.AddrPortFrom(peer.Addr(), 0)}}, "not a full address:port"},
		{"small MTU", transport.Config{Bind: bind, Group: group, MTU: 100}, "MTU"},
		{"TTL", transport.Config{Bind: bind, Group: group, MulticastTTL: 300}, "TTL"},
		{"batch", transport.Config{Bind: bind, Group: group, BatchSize: 5000}, "batch size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "transport: ") {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	ok := transport.Config{Bind: bind, Group: group}
	must(t, ok.Validate())
}

func TestListenErrors(t *testing.T) {
	peers := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}
	_, _, err := transport.Listen(transport.Config{Bind: netip.MustParseAddrPort("203.0.113.7:0"), Peers: peers})
	if err == nil || !strings.Contains(err.Error(), "not on any interface") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("Listen on a foreign address: %v, want a list of this host's addresses", err)
	}
	u, _, err := transport.Listen(transport.Config{Bind: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers})
	must(t, err)
	defer u.Close()
	_, _, err = transport.Listen(transport.Config{Bind: u.LocalAddr(), Peers: peers})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("second Listen on %v: %v, want 'already in use'", u.LocalAddr(), err)
	}
	_, _, err = transport.Listen(transport.Config{Bind: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers, Interface: "nope0"})
	if err == nil || !strings.Contains(err.Error(), "interfaces here") {
		t.Fatalf("Listen on a missing interface: %v", err)
	}
}

// TestNoMulticastLoop: Config.NoMulticastLoop turns the sending socket's
// multicast loopback off (an agent alone on its host sets it: the kernel's
// copy back to this host cost the sender a delivery that only its own
// group socket read, and dropped); by default it stays on, so that nodes
// on one host hear each other. (On lo the option cannot be seen at work: a
// multicast sent on lo comes back through lo whatever it says.)
func TestNoMulticastLoop(t *testing.T) {
	tn := multicastNet(t)
	group := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.4"), testPort())
	for _, off := range []bool{false, true} {
		var u *transport.UDP
		var err error
		tn.run(func() {
			u, _, err = transport.Listen(transport.Config{Bind: netip.MustParseAddrPort("127.0.0.1:0"), Group: group, NoMulticastLoop: off})
		})
		if err != nil {
			t.Fatal(err)
		}
		loop, err := transport.MulticastLoop(u)
		u.Close()
		if err != nil {
			t.Fatal(err)
		}
		if loop == off {
			t.Errorf("NoMulticastLoop %v: the socket's IP_MULTICAST_LOOP is %v", off, loop)
		}
	}
}
