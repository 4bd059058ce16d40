package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// load submits rate Agreed messages per second of size bytes from the
// runner's loop while on is set.
func load(on *atomic.Bool, rate float64, size int) func(*gateway.Config) {
	return func(c *gateway.Config) {
		var next time.Time
		var n uint64
		interval := time.Duration(float64(time.Second) / rate)
		c.Pass = func(now time.Time, node *localring.Node) {
			if !on.Load() {
				next = time.Time{}
				return
			}
			if next.IsZero() {
				next = now
			}
			for ; !next.After(now); next = next.Add(interval) {
				n++
				p := make([]byte, size)
				copy(p, c.Node)
				p[len(p)-1] = byte(n)
				p[len(p)-2] = byte(n >> 8)
				p[len(p)-3] = byte(n >> 16)
				if _, err := node.Submit(now, localring.Agreed, p); err != nil {
					break
				}
			}
		}
		c.Deadline = func() time.Time {
			if !on.Load() || next.IsZero() {
				return time.Now().Add(50 * time.Millisecond) // notice on
			}
			return next
		}
	}
}

func startLoaded(w *world, node string, localSeq uint64, on *atomic.Bool) *member {
	w.t.Helper()
	return w.start(node, localSeq, load(on, 50, 200))
}

// TestFederationRing runs three sites' gateway runners over QUIC through
// a WAN emulator (10 ms RTT a–b, 200 ms to c) with load flowing: the ring
// forms with all three; c cut off and healed gives configurations without
// then with c; a gateway stopped and restarted with a newer incarnation
// rejoins, with "site lost"/"site joined" lines; the EVS checker judges
// the traces after each scenario.
func TestFederationRing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 30 s of emulated WAN")
	}
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "50Mbit/s", 0, 0)
	var on atomic.Bool
	on.Store(true)
	// check pauses the load first: traces read one after the other while
	// messages flow could hold a delivery whose send was written after
	// its sender's trace was read.
	check := func() {
		t.Helper()
		on.Store(false)
		time.Sleep(time.Second)
		w.check(false)
		on.Store(true)
	}
	a := startLoaded(w, "a-1", 1, &on)
	b := startLoaded(w, "b-1", 1, &on)
	c := startLoaded(w, "c-1", 1, &on)
	_, took := w.waitRing(20*time.Second, []string{"a", "b", "c"}, a, b, c)
	t.Logf("formed in %v", took)
	// Every site's load goes through the ring: c's first messages wait
	// for the token to come round through the 200 ms links, and longer
	// on a loaded machine (c had submitted none 1 s after the ring
	// formed under -race at load 20).
	for _, m := range []*member{a, b, c} {
		deadline := time.Now().Add(10 * time.Second)
		for st := m.r.Stats(); st.Delivered == 0 || st.Submitted == 0; st = m.r.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no load through the ring 10 s after it formed: %+v", st.Site, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := w.log.count("federation ring formed"); n < 3 {
		t.Fatalf("%d 'federation ring formed' lines, want one per site at least", n)
	}
	check()

	// Cut c off: a and b form without it, c alone; heal: all three again.
	if err := w.mesh.Isolate("c"); err != nil {
		t.Fatal(err)
	}
	tm := w.domain.Timeouts
	limit := 3 * (tm.Token.D() + tm.Consensus.D())
	w.waitRing(limit, []string{"a", "b"}, a, b)
	w.waitRing(limit, []string{"c"}, c)
	if w.log.count("site lost from the federation ring", "site=c") == 0 {
		t.Fatalf("no 'site lost' line for c:\n%s", w.log.tail(30))
	}
	check()
	if err := w.mesh.Rejoin("c"); err != nil {
		t.Fatal(err)
	}
	w.waitRing(limit+10*time.Second, []string{"a", "b", "c"}, a, b, c)
	if w.log.count("site joined the federation ring", "site=c") == 0 {
		t.Fatalf("no 'site joined' line for c:\n%s", w.log.tail(30))
	}
	time.Sleep(500 * time.Millisecond)
	check()

	// b restarts (a new activation in its local ring: a higher
	// incarnation); its ring sequence number was saved.
	if err := b.stop(); err != nil {
		t.Fatalf("b's graceful stop: %v", err)
	}
	w.waitRing(limit, []string{"a", "c"}, a, c)
	saved, err := os.ReadFile(filepath.Join(w.certs, "..", "b-1", gateway.StateFile(w.domain.Name)))
	if err != nil || !strings.Contains(string(saved), `"ring_seq":`) {
		t.Fatalf("b's saved ring sequence number: %q, %v", saved, err)
	}
	b = startLoaded(w, "b-1", 2, &on)
	w.waitRing(limit+10*time.Second, []string{"a", "b", "c"}, a, b, c)
	if n := w.log.count("site joined the federation ring", "site=b"); n == 0 {
		t.Fatalf("no 'site joined' line for b")
	}
	on.Store(false)
	w.settled(10 * time.Second)
	for _, m := range []*member{a, b, c} {
		if err := m.stop(); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	}
}

// TestFencing: a standby of site a takes over (a newer incarnation) while
// the old gateway is still running, as after a pause: the old one is
// fenced (superseded, Run ends with ErrSuperseded), and the new one is
// a's member of the ring; Fence from the local ring stops the old one at
// once as well. Each fenced member names the incarnation that fenced it
// (SupersededBy: the agent resumes with a higher one if it is still
// active).
func TestFencing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 15 s of emulated WAN")
	}
	w := newWorld(t, 10*time.Millisecond, 20*time.Millisecond, "50Mbit/s", 0, 0)
	a := w.start("a-1", 5, nil)
	b := w.start("b-1", 1, nil)
	c := w.start("c-1", 1, nil)
	w.waitRing(20*time.Second, []string{"a", "b", "c"}, a, b, c)
	incA := a.r.Stats().Incarnation

	// a-2 becomes active in local configuration 9 (rank 1): higher. It
	// has saved no ring sequence number: its incarnation's floor keeps its
	// rings' ids apart from a-1's (the EVS check below fails otherwise).
	a2 := w.start("a-2", 9, nil)
	if a2.r.Stats().Incarnation <= incA {
		t.Fatalf("standby's incarnation %d not above %d", a2.r.Stats().Incarnation, incA)
	}
	select {
	case err := <-a.done:
		if !errors.Is(err, localring.ErrSuperseded) {
			t.Fatalf("old gateway ended with %v, want ErrSuperseded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("old gateway of a never superseded:\n%s", w.log.tail(40))
	}
	a.done <- nil // for cleanup's stop
	if st := a.r.Stats(); st.State != "superseded" || st.SupersededBy != a2.r.Stats().Incarnation {
		t.Fatalf("old gateway state %q, superseded by %d (a-2's incarnation: %d)", st.State, st.SupersededBy, a2.r.Stats().Incarnation)
	}
	w.waitRing(20*time.Second, []string{"a", "b", "c"}, a2, b, c)
	for _, m := range []*member{b, c} {
		found := false
		for _, id := range m.r.Stats().Members {
			found = found || id == "a"
		}
		if !found {
			t.Fatal("a missing")
		}
	}
	w.check(false)

	// Fence from outside: c is told a newer incarnation of itself runs.
	fencer := c.r.Stats().Incarnation + 1
	c.r.Fence("c", fencer)
	select {
	case err := <-c.done:
		if !errors.Is(err, localring.ErrSuperseded) {
			t.Fatalf("fenced gateway ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Fence did not stop the member")
	}
	if by := c.r.SupersededBy(); by != fencer {
		t.Fatalf("SupersededBy = %d, want %d", by, fencer)
	}
	c.done <- nil
}

// TestGatewayWindowKeepsBytes: with a transport whose packets are smaller
// than the WAN preset's (ModeUDP, ModeDatagrams), the node's window
// holds as many bytes as the federation configuration's, sized from the
// declared bandwidth's bandwidth-delay product: counted in the preset's
// 16 KiB packets and kept as a packet count, it would hold a thirteenth.
func TestGatewayWindowKeepsBytes(t *testing.T) {
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "50Mbit/s", 0, 0)
	for _, mode := range []transport.Mode{transport.ModeUDP, transport.ModeDatagrams, transport.ModeStreams} {
		m := w.start("a-1", 1, func(c *gateway.Config) { c.Transport.Mode = mode })
		fc, rc := m.r.Config().Ring, m.r.RingConfig()
		want, got := fc.WindowPackets*fc.MaxPacketBytes, rc.WindowPackets*rc.MaxPacketBytes
		t.Logf("%v: window %d packets of %d bytes, configured %d of %d", mode, rc.WindowPackets, rc.MaxPacketBytes, fc.WindowPackets, fc.MaxPacketBytes)
		if got > want || got < want-rc.MaxPacketBytes {
			t.Errorf("%v: the node's window holds %d bytes (%d packets of %d), the configuration's %d", mode, got, rc.WindowPackets, rc.MaxPacketBytes, want)
		}
		if rc.MaxPacketsPerVisit != rc.WindowPackets {
			t.Errorf("%v: %d packets per visit, window %d", mode, rc.MaxPacketsPerVisit, rc.WindowPackets)
		}
		m.cancel()
		m.ended()
	}
}

// TestGatewayBacklogBound: the bytes a gateway lets wait in its
// transport's queue toward a peer are two rotations of the slowest
// declared link (here 1 Mbit/s over a rotation of about 205 ms: 51 KB,
// raised to federation.MinBacklogBytes), not the transport's 512 KiB
// (about 4 s at that rate, which the token overtakes: the peers then ask
// for every queued packet, and every gateway sends it again), in every
// transport mode; status shows it.
func TestGatewayBacklogBound(t *testing.T) {
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "1Mbit/s", 0, 0)
	for _, mode := range []transport.Mode{transport.ModeUDP, transport.ModeDatagrams, transport.ModeStreams} {
		m := w.start("a-1", 1, func(c *gateway.Config) { c.Transport.Mode = mode })
		if st := m.r.Stats(); st.BacklogBound != federation.MinBacklogBytes {
			t.Errorf("%v: backlog bound %d bytes, want %d", mode, st.BacklogBound, federation.MinBacklogBytes)
		}
		m.cancel()
		m.ended()
	}
}

// TestRingPacketsFromTopology: the topology file's federation.ring_packets
// picks the transport's mode when the gateway's configuration does not:
// the runner's ring then has the packets that mode carries.
func TestRingPacketsFromTopology(t *testing.T) {
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "50Mbit/s", 0, 0)
	ringOf := func(edit func(*gateway.Config)) localring.Config {
		m := w.start("a-1", 1, edit)
		defer func() {
			m.cancel()
			m.ended()
		}()
		return m.r.RingConfig()
	}
	for _, c := range []struct {
		file string
		mode transport.Mode
	}{{"udp", transport.ModeUDP}, {"datagrams", transport.ModeDatagrams}, {"streams", transport.ModeStreams}} {
		byFile := ringOf(func(cfg *gateway.Config) {
			f := *cfg.File
			f.Federation = &topology.Federation{RingPackets: c.file}
			cfg.File = &f
		})
		byMode := ringOf(func(cfg *gateway.Config) { cfg.Transport.Mode = c.mode })
		if byFile.MaxPacketBytes != byMode.MaxPacketBytes || byFile.WindowPackets != byMode.WindowPackets {
			t.Errorf("ring_packets %s: ring of %d packets of %d bytes, want %v's %d of %d",
				c.file, byFile.WindowPackets, byFile.MaxPacketBytes, c.mode, byMode.WindowPackets, byMode.MaxPacketBytes)
		}
	}
	if streams, udp := ringOf(func(cfg *gateway.Config) { cfg.Transport.Mode = transport.ModeStreams }), ringOf(func(cfg *gateway.Config) { cfg.Transport.Mode = transport.ModeUDP }); streams.MaxPacketBytes == udp.MaxPacketBytes {
		t.Fatalf("streams and udp both send packets of %d bytes: the test cannot tell the modes apart", streams.MaxPacketBytes)
	}
}

// TestDefaultRingModeFromBandwidth: without a mode in the gateway's
// configuration or the topology file, a federation ring runs in ModeUDP
// when the file declares the bandwidth of a link of the ring (paced
// where declared, streams where not), in ModeStreams when it declares
// none; the choice is the domain's, so site c, whose own links declare
// none, takes udp when a-b declares one (else its ALPN would differ from
// a's and b's). The start-up log names each path's mode and why.
func TestDefaultRingModeFromBandwidth(t *testing.T) {
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "50Mbit/s", 0, 0)
	type run struct {
		ring localring.Config
		log  string
	}
	runOf := func(node string, edit func(*gateway.Config)) run {
		before := len(w.log.bytes())
		m := w.start(node, 1, edit)
		m.cancel()
		m.ended()
		return run{m.r.RingConfig(), string(w.log.bytes()[before:])}
	}
	pkt := func(mode transport.Mode) int {
		return runOf("a-1", func(cfg *gateway.Config) { cfg.Transport.Mode = mode }).ring.MaxPacketBytes
	}
	udpPkt, streamsPkt := pkt(transport.ModeUDP), pkt(transport.ModeStreams)
	if udpPkt == streamsPkt {
		t.Fatalf("streams and udp both send packets of %d bytes: the test cannot tell the modes apart", udpPkt)
	}
	for _, c := range []struct {
		name  string
		node  string
		edit  func(*gateway.Config)
		pkt   int
		lines []string // fragments of the start-up log, in this order
	}{
		{"every link declared", "a-1", nil, udpPkt, []string{
			`msg="federation ring path: udp, sealed datagrams outside QUIC paced at the link's declared bandwidth"`, `site=b mode=udp bandwidth=50Mbit/s why="default: links a-b, a-c, b-c of the ring declare a bandwidth"`,
			`msg="federation ring path: udp, sealed datagrams outside QUIC paced at the link's declared bandwidth"`, `site=c mode=udp bandwidth=50Mbit/s`}},
		{"none declared", "a-1", declare(), streamsPkt, []string{
			`msg="federation ring path: streams, under QUIC's congestion control"`, `site=b mode=streams why="default: no link of the ring declares a bandwidth"`,
			`msg="federation ring path: streams, under QUIC's congestion control"`, `site=c mode=streams`}},
		{"a-b declared, at a", "a-1", declare("a-b"), udpPkt, []string{
			`site=b mode=udp bandwidth=50Mbit/s why="default: links a-b of the ring declare a bandwidth"`,
			`level=WARN msg="federation ring path: streams, under QUIC's congestion control: the link to this site declares no bandwidth to pace at; declare links[].bandwidth between the two sites to send its ring packets outside QUIC"`, `site=c mode=udp`}},
		{"a-b declared, at c", "c-1", declare("a-b"), udpPkt, []string{
			`level=WARN msg="federation ring path: streams, under QUIC's congestion control: the link to this site declares no bandwidth to pace at; declare links[].bandwidth between the two sites to send its ring packets outside QUIC"`, `site=a mode=udp why="default: links a-b of the ring declare a bandwidth"`,
			`site=b mode=udp`}},
		{"ring_packets over the default", "a-1", func(cfg *gateway.Config) {
			f := *cfg.File
			f.Federation = &topology.Federation{RingPackets: "streams"}
			cfg.File = &f
		}, streamsPkt, []string{`site=b mode=streams why="federation.ring_packets: streams"`}},
	} {
		r := runOf(c.node, c.edit)
		if r.ring.MaxPacketBytes != c.pkt {
			t.Errorf("%s: ring packets of %d bytes, want %d (udp %d, streams %d)", c.name, r.ring.MaxPacketBytes, c.pkt, udpPkt, streamsPkt)
		}
		rest := r.log
		for _, l := range c.lines {
			i := strings.Index(rest, l)
			if i < 0 {
				t.Errorf("%s: the start-up log lacks %s (in order); it has:\n%s", c.name, l, r.log)
				break
			}
			rest = rest[i+len(l):]
		}
	}
}

// declare returns a Config edit that keeps the bandwidth of the
// topology's links named ("a-b"), and zeroes the others'.
func declare(links ...string) func(*gateway.Config) {
	return func(cfg *gateway.Config) {
		f := *cfg.File
		f.Links = slices.Clone(f.Links)
		for i, l := range f.Links {
			if !slices.Contains(links, l.Between[0]+"-"+l.Between[1]) {
				f.Links[i].Bandwidth = 0
			}
		}
		cfg.File = &f
	}
}

// TestMixedDeclaredRing: a ring whose topology declares the bandwidth of
// link a-b only runs udp by default at every site (the mode is the
// domain's), paced on a-b and on QUIC streams on a-c and b-c; the ring
// forms, carries load at every site, and the EVS checker accepts the
// traces. The sealed datagrams show which paths left QUIC: a and b send
// some (to each other), c none.
func TestMixedDeclaredRing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a few seconds of emulated WAN")
	}
	w := newWorld(t, 10*time.Millisecond, 200*time.Millisecond, "50Mbit/s", 0, 0)
	var on atomic.Bool
	on.Store(true)
	var ms []*member
	for _, n := range []string{"a-1", "b-1", "c-1"} {
		l := load(&on, 50, 200)
		ms = append(ms, w.start(n, 1, func(c *gateway.Config) {
			declare("a-b")(c)
			l(c)
		}))
	}
	w.waitRing(20*time.Second, []string{"a", "b", "c"}, ms...)
	time.Sleep(2 * time.Second)
	on.Store(false)
	time.Sleep(time.Second)
	for _, m := range ms {
		st := m.r.Stats()
		if st.Delivered == 0 || st.Submitted == 0 {
			t.Errorf("%s: no load through the ring: submitted %d, delivered %d", st.Site, st.Submitted, st.Delivered)
		}
		if sealed := st.Transport.RingSent; (st.Site == "c") != (sealed == 0) {
			t.Errorf("%s: %d sealed datagrams sent; want some from a and b (a-b declares its bandwidth), none from c", st.Site, sealed)
		}
		t.Logf("%s: submitted %d, delivered %d, sealed datagrams sent %d", st.Site, st.Submitted, st.Delivered, st.Transport.RingSent)
	}
	w.check(false)
}
