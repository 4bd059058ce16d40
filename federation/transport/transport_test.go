package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
	"github.com/atoll-gcs/atoll/topology"
)

const cluster = "test"

// world is a cluster CA and the sites of a test ring, each with one
// gateway-eligible node "SITE-gw" (and "SITE-gw2").
type world struct {
	t     testing.TB
	ca    *pki.CA
	roots *x509.CertPool
	sites []string
	hash  uint64
}

func newWorld(t testing.TB, sites ...string) *world {
	t.Helper()
	ca, err := pki.MakeCA(cluster, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &world{t: t, ca: ca, roots: roots, sites: sites, hash: 0x1234}
}

// cert issues a certificate for id from ca, valid from start for d.
func (w *world) cert(ca *pki.CA, id pki.Identity, start time.Time, d time.Duration) tls.Certificate {
	w.t.Helper()
	c, k, err := ca.Issue(id, nil, start, d)
	if err != nil {
		w.t.Fatal(err)
	}
	return pki.TLSCertificate(c, k)
}

func (w *world) goodCert(site string) tls.Certificate {
	return w.cert(w.ca, pki.Identity{Cluster: cluster, Site: site, Node: site + "-gw"}, time.Now(), time.Hour)
}

// logBuf collects log lines.
type logBuf struct{ syncbuf.Buffer }

// lines returns the lines logged so far that contain substr.
func (l *logBuf) lines(substr string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// config returns a transport config for site on socket pc, whose peers
// are the other sites at addrs.
func (w *world) config(site string, pc net.PacketConn, addrs map[string]string, mode transport.Mode, log *logBuf) transport.Config {
	var peers []transport.Peer
	for _, s := range w.sites {
		if s == site {
			continue
		}
		peers = append(peers, transport.Peer{Site: s, Gateways: []string{s + "-gw", s + "-gw2"}, Endpoints: []string{addrs[s]}})
	}
	var out = &logBuf{}
	if log != nil {
		out = log
	}
	return transport.Config{
		Certificate:      w.goodCert(site),
		Roots:            w.roots,
		Peers:            peers,
		ConfigHash:       w.hash,
		Conn:             pc,
		Mode:             mode,
		IdleTimeout:      5 * time.Second,
		HandshakeTimeout: 2 * time.Second,
		RedialMin:        20 * time.Millisecond,
		RedialMax:        200 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// sockets opens one loopback UDP socket per site.
func (w *world) sockets() (map[string]net.PacketConn, map[string]string) {
	w.t.Helper()
	pcs, addrs := map[string]net.PacketConn{}, map[string]string{}
	for _, s := range w.sites {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			w.t.Fatal(err)
		}
		w.t.Cleanup(func() { pc.Close() })
		pcs[s], addrs[s] = pc, pc.LocalAddr().String()
	}
	return pcs, addrs
}

func start(t testing.TB, cfg transport.Config) *transport.Transport {
	t.Helper()
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestContract(t *testing.T) {
	for _, v := range []struct {
		name      string
		mode      transport.Mode
		stripes   int
		bandwidth int64 // ModeUDP: paced sealed datagrams to every peer
		sealAll   bool  // ModeUDP: every packet sealed, not only ring messages and tokens
	}{
		{"datagrams", transport.ModeDatagrams, 0, 0, false},
		{"streams", transport.ModeStreams, 0, 0, false},
		{"streams-4stripes", transport.ModeStreams, 4, 0, false},
		// The suite's packets are no ring packets: in ModeUDP they go on
		// the hello stream, unless every packet is sealed.
		{"udp", transport.ModeUDP, 0, 100_000_000, false},
		{"udp-sealed", transport.ModeUDP, 0, 100_000_000, true},
		{"udp-no-bandwidth", transport.ModeUDP, 0, 0, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			drivertest.TestTransport(t, func(t *testing.T, ids []localring.NodeID) []driver.Transport {
				sites := make([]string, len(ids))
				for i, id := range ids {
					sites[i] = string(id)
				}
				w := newWorld(t, sites...)
				pcs, addrs := w.sockets()
				var ts []driver.Transport
				for _, s := range sites {
					cfg := w.config(s, pcs[s], addrs, v.mode, nil)
					cfg.Stripes = v.stripes
					cfg.Bandwidth = v.bandwidth
					if v.sealAll {
						transport.SealAllPackets(&cfg)
					}
					tr := start(t, cfg)
					if v.sealAll && v.bandwidth > 0 {
						t.Cleanup(func() {
							if st := tr.Stats(); st.RingSent == 0 || st.RingReceived == 0 {
								t.Errorf("%s: %d sealed datagrams sent, %d received: the suite did not run over them", s, st.RingSent, st.RingReceived)
							}
						})
					}
					ts = append(ts, tr)
				}
				return ts
			})
		})
	}
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exchange sends a packet each way between a and b and waits for both.
func exchange(t *testing.T, a, b *transport.Transport, tag string) {
	t.Helper()
	for _, dir := range [][2]*transport.Transport{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		want := []byte(tag + " from " + from.Self().Site)
		got := make(chan driver.Packet, 1)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			ps := []driver.Packet{{Buf: make([]byte, to.MaxPacket())}}
			for ctx.Err() == nil {
				n, err := to.Recv(ps)
				if err != nil {
					return
				}
				if n == 1 && bytes.Equal(ps[0].Data(), want) {
					got <- ps[0]
					return
				}
			}
		}()
		deadline := time.After(10 * time.Second)
	send:
		for {
			from.Send(localring.NodeID(to.Self().Site), want)
			select {
			case p := <-got:
				if string(p.From) != from.Self().Site {
					t.Fatalf("packet from %s arrived with From %q", from.Self().Site, p.From)
				}
				break send
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				cancel()
				t.Fatalf("%s: %s → %s did not arrive", tag, from.Self().Site, to.Self().Site)
			}
		}
		cancel()
	}
}

// TestRefusals makes real QUIC connections over loopback from a gateway
// whose credentials are wrong in one way, and checks that the good
// gateway refuses it for that cause, logs one line per refusal naming it,
// counts it, and never admits it; each case both as dialer and as
// listener.
func TestRefusals(t *testing.T) {
	type tweak func(w *world, cfg *transport.Config)
	other, err := pki.MakeCA(cluster, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cause transport.Cause
		bad   tweak
		// roles are the roles the bad gateway is tested in; a gateway of
		// another cluster refuses the good one itself when it dials.
		roles []string
	}{
		{"unknown CA", transport.CauseUnknownCA, func(w *world, c *transport.Config) {
			c.Certificate = w.cert(other, pki.Identity{Cluster: cluster, Site: w.sites[badIdx(w, c)], Node: w.sites[badIdx(w, c)] + "-gw"}, time.Now(), time.Hour)
		}, nil},
		{"expired certificate", transport.CauseExpired, func(w *world, c *transport.Config) {
			s := w.sites[badIdx(w, c)]
			c.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: s, Node: s + "-gw"}, time.Now().Add(-30*time.Minute), 10*time.Minute)
		}, nil},
		{"node not gateway-eligible", transport.CauseIdentity, func(w *world, c *transport.Config) {
			s := w.sites[badIdx(w, c)]
			c.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: s, Node: s + "-9"}, time.Now(), time.Hour)
		}, nil},
		{"other cluster", transport.CauseIdentity, func(w *world, c *transport.Config) {
			s := w.sites[badIdx(w, c)]
			c.Certificate = w.cert(w.ca, pki.Identity{Cluster: "elsewhere", Site: s, Node: s + "-gw"}, time.Now(), time.Hour)
		}, []string{"b"}},
		{"ALPN: another configuration", transport.CauseALPN, func(w *world, c *transport.Config) {
			c.ConfigHash = w.hash + 1
		}, nil},
		{"ALPN: another mode", transport.CauseALPN, func(w *world, c *transport.Config) {
			c.Mode = transport.ModeStreams
		}, nil},
	}
	for _, tc := range cases {
		roles := tc.roles
		if roles == nil {
			roles = []string{"a", "b"} // a dials b
		}
		for _, badSite := range roles {
			name := tc.name + "/bad " + map[string]string{"a": "dialer", "b": "listener"}[badSite]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, "a", "b")
				pcs, addrs := w.sockets()
				logs := map[string]*logBuf{"a": {}, "b": {}}
				cfgs := map[string]transport.Config{}
				for _, s := range w.sites {
					cfgs[s] = w.config(s, pcs[s], addrs, transport.ModeDatagrams, logs[s])
				}
				bc := cfgs[badSite]
				tc.bad(w, &bc)
				cfgs[badSite] = bc
				trs := map[string]*transport.Transport{}
				for _, s := range w.sites {
					trs[s] = start(t, cfgs[s])
				}
				good := "a"
				if badSite == "a" {
					good = "b"
				}
				g, bd := trs[good], trs[badSite]
				waitFor(t, "a refusal", func() bool { return g.Stats().Refused[tc.cause] >= 2 })
				bd.Close()
				g.Close()
				gs, bs := g.Stats(), bd.Stats()
				if gs.Connects != 0 || bs.Connects != 0 {
					t.Fatalf("a connection was established: good %+v, bad %+v", gs, bs)
				}
				for c, n := range gs.Refused {
					if transport.Cause(c) != tc.cause && n != 0 {
						t.Errorf("good gateway counted %d refusals for %v too", n, transport.Cause(c))
					}
				}
				lines := logs[good].lines("gateway connection refused")
				if uint64(len(lines)) != gs.Refused[tc.cause] {
					t.Errorf("%d refusal log lines for %d refusals:\n%s", len(lines), gs.Refused[tc.cause], strings.Join(lines, "\n"))
				}
				for _, l := range lines {
					if !strings.Contains(l, "cause=\""+tc.cause.String()+"\"") {
						t.Errorf("log line does not name the cause %q: %s", tc.cause, l)
					}
				}
				// A refused dialer learns it was refused from the TLS
				// alert (a refused listener does not: the handshake fails
				// inside QUIC before a connection is accepted).
				want := transport.CauseRefusedByPeer
				if tc.cause == transport.CauseALPN {
					want = transport.CauseALPN
				}
				if badSite == "a" && bs.Refused[want] == 0 {
					t.Errorf("the refused dialer did not count %v: %+v", want, bs)
				}
				t.Logf("good: %s", lines[0])
			})
		}
	}
}

// TestALPNModeMismatchNamesModes: a gateway in ModeUDP (the default
// where the topology declares a link's bandwidth) and one in ModeStreams
// (where the other's file declares none, or says streams) refuse each
// other, and the listener's log line names both modes and where they
// come from.
func TestALPNModeMismatchNamesModes(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	la, lb := &logBuf{}, &logBuf{}
	ca := w.config("a", pcs["a"], addrs, transport.ModeUDP, la)
	ca.Bandwidth = 100_000_000
	a, b := start(t, ca), start(t, w.config("b", pcs["b"], addrs, transport.ModeStreams, lb))
	waitFor(t, "a refusal", func() bool { return b.Stats().Refused[transport.CauseALPN] >= 1 })
	a.Close()
	b.Close()
	lines := lb.lines("gateway connection refused")
	if len(lines) == 0 {
		t.Fatal("no refusal logged")
	}
	for _, want := range []string{"another transport mode: the peer's udp, this gateway's streams", "federation.ring_packets", "declared bandwidths"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the refusal does not say %q: %s", want, lines[0])
		}
	}
}

func badIdx(w *world, c *transport.Config) int {
	self, err := pki.IdentityOf(c.Certificate.Leaf)
	if err != nil {
		panic(err)
	}
	for i, s := range w.sites {
		if s == self.Site {
			return i
		}
	}
	panic("no site " + self.Site)
}

// TestWrongSiteAtEndpoint: the endpoint a dials for b answers with a valid
// certificate of site c; a refuses it (identity from the certificate, not
// the address).
func TestWrongSiteAtEndpoint(t *testing.T) {
	w := newWorld(t, "a", "b", "c")
	pcs, addrs := w.sockets()
	la := &logBuf{}
	wrong := map[string]string{"b": addrs["c"], "c": addrs["c"]}
	a := start(t, w.config("a", pcs["a"], wrong, transport.ModeDatagrams, la))
	c := start(t, w.config("c", pcs["c"], addrs, transport.ModeDatagrams, nil))
	waitFor(t, "a refuses c at b's endpoint", func() bool { return a.Stats().Refused[transport.CauseIdentity] >= 1 })
	if _, ok := a.Connected("b"); ok {
		t.Fatal("a believes it is connected to b")
	}
	exchange(t, a, c, "a-c")
	if l := la.lines("refused"); len(l) == 0 || !strings.Contains(l[0], "dialed site b") {
		t.Fatalf("log: %q", l)
	}
}

// TestReconnect: the listener restarts on the same address with the same
// certificate; the dialer reconnects and packets flow both ways again. A
// standby gateway of the same site then takes over, and its connection
// replaces the old one.
func TestReconnect(t *testing.T) {
	for _, mode := range []transport.Mode{transport.ModeDatagrams, transport.ModeStreams} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newWorld(t, "a", "b")
			pcs, addrs := w.sockets()
			a := start(t, w.config("a", pcs["a"], addrs, mode, nil))
			bcfg := w.config("b", pcs["b"], addrs, mode, nil)
			b := start(t, bcfg)
			exchange(t, a, b, "first")
			b.Close()
			waitFor(t, "a notices", func() bool { _, ok := a.Connected("b"); return !ok })
			b2 := start(t, bcfg)
			exchange(t, a, b2, "second")
			if st := a.Stats(); st.Connects < 2 || st.Disconnects < 1 {
				t.Fatalf("a: %+v", st)
			}

			// b's standby gateway b-gw2 answers at b's endpoint.
			b2.Close()
			scfg := bcfg
			scfg.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: "b", Node: "b-gw2"}, time.Now(), time.Hour)
			s := start(t, scfg)
			waitFor(t, "a connects to the standby", func() bool { n, _ := a.Connected("b"); return n == "b-gw2" })
			exchange(t, a, s, "standby")
		})
	}
}

// TestRestartAfterCrash: the listener dies without closing its
// connections (as under kill -9) and a new process with the same
// certificate starts on the same port. Its stateless resets, keyed by the
// certificate, end the dialer's stale connection at once: the dialer
// reconnects well within the 60 s idle timeout that would otherwise
// have to pass. A server answers with a reset only a packet longer than
// 42 bytes (quic-go's protocol.MinStatelessResetSize, so that two ends
// cannot reset each other in a loop); a ring's tokens and messages are
// longer, so the test sends packets of a token's size: with a 12-byte
// payload, the stale connection's 40-byte packets drew no reset and it
// lived on until its idle timeout (CI, under load, once).
func TestRestartAfterCrash(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	ca := w.config("a", pcs["a"], addrs, 0, nil)
	cb := w.config("b", pcs["b"], addrs, 0, nil)
	for _, c := range []*transport.Config{&ca, &cb} {
		c.IdleTimeout = time.Minute
	}
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "before")
	pcs["b"].Close() // the process is gone: no CONNECTION_CLOSE
	pc, err := net.ListenPacket("udp", addrs["b"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	cb.Conn = pc
	b2 := start(t, cb)
	exchange(t, a, b2, "after the restart, a packet the size of a ring token")
	if st := a.Stats(); st.Connects != 2 || st.Disconnects != 1 {
		t.Fatalf("a: %+v", st)
	}
}

// TestTwoActiveGatewaysBackOff: two gateways of site a both dial b. b
// keeps the newer connection, and the older gateway, told it was
// replaced, waits RedialMax instead of taking the connection back at once
// (which would make the two flap).
func TestTwoActiveGatewaysBackOff(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	b := start(t, w.config("b", pcs["b"], addrs, 0, nil))
	c1 := w.config("a", pcs["a"], addrs, 0, nil)
	c1.RedialMax = time.Minute
	a1 := start(t, c1)
	exchange(t, a1, b, "first")
	pc2, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc2.Close() })
	c2 := c1
	c2.Conn = pc2
	c2.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: "a", Node: "a-gw2"}, time.Now(), time.Hour)
	a2 := start(t, c2)
	waitFor(t, "a1 is superseded", func() bool { return a1.Stats().Superseded == 1 })
	time.Sleep(300 * time.Millisecond) // ≫ RedialMin: a1 would have redialed
	if n, _ := b.Connected("a"); n != "a-gw2" || b.Stats().Replaced != 1 {
		t.Fatalf("b speaks to %q, replaced %d times", n, b.Stats().Replaced)
	}
	exchange(t, a2, b, "second")
}

// TestKeepAlive: a quiet connection outlives several idle timeouts.
//
// The idle timeout is a second: with 300 ms (keep-alives every 80 ms) the
// connection was lost in 1 of 19 race runs of the package on a loaded
// machine, which starves the test process for 300 ms and more (QUIC's
// idle timer fires when the process runs again, before it reads the
// keep-alives waiting in its socket).
func TestKeepAlive(t *testing.T) {
	const idle = time.Second
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	ca, cb := w.config("a", pcs["a"], addrs, 0, nil), w.config("b", pcs["b"], addrs, 0, nil)
	for _, c := range []*transport.Config{&ca, &cb} {
		c.IdleTimeout, c.KeepAlive = idle, idle/4
	}
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "before")
	time.Sleep(3 * idle)
	exchange(t, a, b, "after")
	if st := a.Stats(); st.Disconnects != 0 || st.Connects != 1 {
		t.Fatalf("the idle connection was lost: %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	good := w.config("a", pcs["a"], addrs, 0, nil)
	for _, c := range []struct {
		want string
		mod  func(c *transport.Config)
	}{
		{"no gateway certificate", func(c *transport.Config) { c.Certificate = tls.Certificate{} }},
		{"no cluster CA", func(c *transport.Config) { c.Roots = nil }},
		{"no peers", func(c *transport.Config) { c.Peers = nil }},
		{"own site", func(c *transport.Config) {
			c.Peers = append(c.Peers, transport.Peer{Site: "a", Gateways: []string{"x"}})
		}},
		{"no QUIC endpoint", func(c *transport.Config) { c.Peers[0].Endpoints = nil }},
		{"KeepAlive", func(c *transport.Config) { c.IdleTimeout, c.KeepAlive = time.Second, 2*time.Second }},
		{"more than a QUIC datagram", func(c *transport.Config) { c.Mode, c.MaxPacket = transport.ModeDatagrams, 5000 }},
		{"more than a stream frame", func(c *transport.Config) { c.MaxPacket = 70000 }},
		{"Stripes 65 is not between 1 and 64", func(c *transport.Config) { c.Stripes = 65 }},
		{"Stripes -1 is not between 1 and 64", func(c *transport.Config) { c.Stripes = -1 }},
		{"peer site b: Stripes 65 is not between 1 and 64", func(c *transport.Config) { c.Peers[0].Stripes = 65 }},
	} {
		cfg := good
		cfg.Peers = append([]transport.Peer(nil), good.Peers...)
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate: want an error with %q, got %v", c.want, err)
		}
		if _, err := transport.New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: want an error with %q, got %v", c.want, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("a good config: %v", err)
	}
	if got := transport.ALPN(transport.ModeStreams, 0xab); got != "atoll-fed/8/s/00000000000000ab" {
		t.Errorf("ALPN = %q", got)
	}
}

func TestPeersFromTopology(t *testing.T) {
	f, err := topology.Load("../../deploy/examples/europe-asia.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := f.Plan()
	var d *topology.Domain
	for _, fd := range p.FederationDomains() {
		if slices.Contains(fd.Sites, "sin") {
			d = fd
		}
	}
	if d == nil {
		t.Fatal("no federation domain with sin")
	}
	// links[].stripes reaches the peer of a declared link, and only it.
	for i := range f.Links {
		if slices.Equal(f.Links[i].Between, []string{"fra", "sin"}) {
			f.Links[i].Stripes = 4
		}
	}
	peers := transport.Peers(f, f.Plan(), d, "fra")
	for _, p := range peers {
		if want := map[bool]int{true: 4, false: 0}[p.Site == "sin"]; p.Stripes != want {
			t.Errorf("peer %s: %d stripes, want %d", p.Site, p.Stripes, want)
		}
	}
	if ps := transport.Peers(f, f.Plan(), d, "sin"); !slices.ContainsFunc(ps, func(p transport.Peer) bool { return p.Site == "fra" && p.Stripes == 4 }) {
		t.Errorf("sin's peers %+v: want fra with 4 stripes", ps)
	}
	var sin *transport.Peer
	for i := range peers {
		if peers[i].Site == "fra" {
			t.Fatal("fra is its own peer")
		}
		if peers[i].Site == "sin" {
			sin = &peers[i]
		}
	}
	if len(peers) != len(d.Sites)-1 || sin == nil {
		t.Fatalf("peers %+v of domain %s", peers, d.Name)
	}
	if !slices.Equal(sin.Gateways, []string{"sin-1", "sin-2"}) || !slices.Equal(sin.Endpoints, []string{"sin-1.gw.example.net:7400", "sin-2.gw.example.net:7400"}) {
		t.Fatalf("sin: %+v", *sin)
	}
}

// TestUnreachableWarnsOnce: a peer site that does not answer is one
// warning per outage, not one per attempt.
func TestUnreachableWarnsOnce(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	pcs["b"].Close() // nobody at b's endpoint
	log := &logBuf{}
	c := w.config("a", pcs["a"], addrs, 0, log)
	c.HandshakeTimeout = 100 * time.Millisecond
	c.RedialMin, c.RedialMax = 10*time.Millisecond, 20*time.Millisecond
	a := start(t, c)
	waitFor(t, "several attempts", func() bool { return a.Stats().DialFailures >= 3 })
	if l := log.lines("cannot connect to any gateway"); len(l) != 1 || !strings.Contains(l[0], "site=b") {
		t.Fatalf("warnings: %q", l)
	}
}

// TestRedialSuccessor: b's active gateway dies without closing its
// connection (kill -9) and its standby takes over at an endpoint of its
// own. b sorts after a, so only a dials, and a's connection to the dead
// gateway would live until the idle timeout (a minute here); told by its
// ring which gateway speaks for b now (Redial), a closes it and dials the
// standby at once.
func TestRedialSuccessor(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	pc2, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc2.Close() })
	ca, cb := w.config("a", pcs["a"], addrs, 0, nil), w.config("b", pcs["b"], addrs, 0, nil)
	ca.Peers[0].Endpoints = []string{addrs["b"], pc2.LocalAddr().String()}
	for _, c := range []*transport.Config{&ca, &cb} {
		c.IdleTimeout = time.Minute
	}
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "before")
	if a.Redial("b", 0, "test") || b.Redial("a", 1, "test") {
		t.Fatal("Redial closed a connection to the gateway it names, or one this side does not dial")
	}
	pcs["b"].Close() // b-gw is gone: no CONNECTION_CLOSE
	cs := cb
	cs.Conn = pc2
	cs.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: "b", Node: "b-gw2"}, time.Now(), time.Hour)
	s := start(t, cs)
	time.Sleep(200 * time.Millisecond)
	if n, ok := a.Connected("b"); !ok || n != "b-gw" {
		t.Fatalf("set-up: a's connection to b leads to %q (%v), want the dead b-gw's until the idle timeout", n, ok)
	}
	if !a.Redial("b", 1, "test") {
		t.Fatal("Redial did not close the connection to b-gw")
	}
	waitFor(t, "a connects to b's standby", func() bool { n, _ := a.Connected("b"); return n == "b-gw2" })
	exchange(t, a, s, "after the takeover")
	if st := a.Stats(); st.Redials != 1 || st.Connects != 2 {
		t.Fatalf("a: %+v", st)
	}
}

// TestAnnounceReplacesStale: as TestRedialSuccessor, b's active gateway
// dies without closing its connection and its standby takes over, at an
// endpoint of its own or at the site's one endpoint, but no third site
// tells a (a domain of two sites). The standby announces itself
// (Config.Announce): it dials a, which takes that connection in place of
// its own to the dead gateway at once rather than at the idle timeout (a
// minute here), and keeps it: it dials neither the dead gateway again nor
// the standby a second time.
func TestAnnounceReplacesStale(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "own endpoint", true: "site endpoint"}[shared], func(t *testing.T) {
			w := newWorld(t, "a", "b")
			pcs, addrs := w.sockets()
			ca, cb := w.config("a", pcs["a"], addrs, 0, nil), w.config("b", pcs["b"], addrs, 0, nil)
			for _, c := range []*transport.Config{&ca, &cb} {
				c.IdleTimeout = time.Minute
			}
			listen := "127.0.0.1:0"
			if shared {
				listen = addrs["b"]
			}
			a, b := start(t, ca), start(t, cb)
			exchange(t, a, b, "before")
			pcs["b"].Close() // b-gw is gone: no CONNECTION_CLOSE
			pc2, err := net.ListenPacket("udp", listen)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pc2.Close() })
			if !shared {
				ca.Peers[0].Endpoints = []string{addrs["b"], pc2.LocalAddr().String()}
			}
			cs := cb
			cs.Conn, cs.Announce = pc2, true
			cs.Certificate = w.cert(w.ca, pki.Identity{Cluster: cluster, Site: "b", Node: "b-gw2"}, time.Now(), time.Hour)
			began := time.Now()
			s := start(t, cs)
			waitFor(t, "a takes b's standby's connection", func() bool { n, _ := a.Connected("b"); return n == "b-gw2" })
			t.Logf("a connected to b's standby %v after it started", time.Since(began).Round(time.Millisecond))
			exchange(t, a, s, "after the takeover")
			time.Sleep(300 * time.Millisecond) // ≫ RedialMin: a would have dialed again
			if n, _ := a.Connected("b"); n != "b-gw2" {
				t.Fatalf("a's connection to b leads to %q, want b-gw2", n)
			}
			if st := a.Stats(); st.Connects != 2 || st.Replaced != 1 || st.Redials != 0 {
				t.Fatalf("a: %+v; want the connection it dialed and the standby's, which replaced it, and nothing more", st)
			}
			exchange(t, a, s, "still")
		})
	}
}

// TestAnnounceAtStart: when both sites start together, the announcement
// and the connection the first site dials race; the two sites settle on
// one connection and stay on it.
func TestAnnounceAtStart(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	ca, cb := w.config("a", pcs["a"], addrs, 0, nil), w.config("b", pcs["b"], addrs, 0, nil)
	cb.Announce = true
	a, b := start(t, ca), start(t, cb)
	exchange(t, a, b, "first")
	time.Sleep(300 * time.Millisecond)
	conns := func(tr *transport.Transport) [3]uint64 {
		st := tr.Stats()
		return [3]uint64{st.Connects, st.Disconnects, st.Replaced}
	}
	sa, sb := conns(a), conns(b)
	exchange(t, a, b, "second")
	time.Sleep(300 * time.Millisecond)
	if conns(a) != sa || conns(b) != sb {
		t.Fatalf("the connections changed after they settled (connects, disconnects, replaced): a %v then %v, b %v then %v", sa, conns(a), sb, conns(b))
	}
	if sa[0] > 2 || sb[0] > 2 {
		t.Fatalf("a %v, b %v (connects, disconnects, replaced): more than the two connections", sa, sb)
	}
	t.Logf("connects, disconnects, replaced: a %v, b %v", sa, sb)
}

// TestOnConnect: Config.OnConnect hears of every connection set up, on
// the side that dialed and on the side that accepted, with the peer's
// site, and again after a reconnection.
func TestOnConnect(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	var mu sync.Mutex
	got := map[string][]string{}
	hook := func(self string) func(string) {
		return func(site string) {
			mu.Lock()
			got[self] = append(got[self], site)
			mu.Unlock()
		}
	}
	count := func(self string) int {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range got[self] {
			if s == self {
				t.Errorf("%s heard of a connection to itself", self)
			}
		}
		return len(got[self])
	}
	acfg := w.config("a", pcs["a"], addrs, transport.ModeStreams, nil)
	acfg.OnConnect = hook("a")
	a := start(t, acfg)
	bcfg := w.config("b", pcs["b"], addrs, transport.ModeStreams, nil)
	bcfg.OnConnect = hook("b")
	b := start(t, bcfg)
	exchange(t, a, b, "first")
	waitFor(t, "both sides hear of the connection", func() bool { return count("a") == 1 && count("b") == 1 })
	mu.Lock()
	if got["a"][0] != "b" || got["b"][0] != "a" {
		t.Fatalf("OnConnect heard %v, want a: [b], b: [a]", got)
	}
	mu.Unlock()
	b.Close()
	waitFor(t, "a notices", func() bool { _, ok := a.Connected("b"); return !ok })
	start(t, bcfg)
	waitFor(t, "a hears of the new connection", func() bool { return count("a") == 2 })
}
