package gateway_test

import (
	"bytes"
	"context"
	"fmt"

	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// A three-site world: sites a, b, c with gateways a-1 (standby a-2), b-1,
// c-1; the topology file declares the RTTs and bandwidth the wanem mesh
// emulates between the gateways, so the planner's timeouts and prediction
// are those of the emulated paths.
type world struct {
	t      testing.TB
	file   *topology.File
	plan   *topology.Plan
	domain *topology.Domain
	certs  string
	mesh   *wanem.Mesh
	conns  map[string]net.PacketConn // each node's socket, kept across restarts
	log    *syncBuf
	traces []*syncBuf
	probe  *schedProbe
}

// schedProbe notes when the test process did not run (wake-ups of a
// 5 ms sleeper 10 ms late or more). The runners judge each other by
// wall-clock timeouts (the federation token timeout, QUIC's idle
// timeout), so a failure to form a ring names how long the machine gave
// the process no CPU while the test waited.
type schedProbe struct {
	*schedprobe.Probe
	base time.Time
}

func startProbe(t testing.TB) *schedProbe {
	base := time.Now()
	p := &schedProbe{Probe: schedprobe.Start(base, 10*time.Millisecond, nil), base: base}
	t.Cleanup(p.Stop)
	return p
}

// since says how long the process did not run since start, in how many
// stalls, and the longest.
func (p *schedProbe) since(start time.Time) string {
	sum, n, longest := p.Within(start.Sub(p.base), time.Since(p.base))
	return fmt.Sprintf("the test process did not run for %v of the %v waited (%d stalls of 10 ms or more, the longest %v)",
		sum.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), n, longest.Round(time.Millisecond))
}

const topoTemplate = `version: 1
cluster: fi
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["127.0.1.1:5405", "127.0.1.2:5405"]
    quic: "127.0.0.1:7401"
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["127.0.2.1:5405"]
    quic: "127.0.0.1:7402"
    nodes: [{id: b-1}]
    gateways: [b-1]
  - name: c
    unicast: ["127.0.3.1:5405"]
    quic: "127.0.0.1:7403"
    nodes: [{id: c-1}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: %v, bandwidth: %s}
  - {between: [a, c], rtt: %v, bandwidth: %s}
  - {between: [b, c], rtt: %v, bandwidth: %s}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

// fedPlan parses the test topology (a–b ab apart, c ac from both,
// bandwidth bw on every link) and returns it, its plan and the plan's
// federation domain.
func fedPlan(t testing.TB, ab, ac time.Duration, bw string) (*topology.File, *topology.Plan, *topology.Domain) {
	t.Helper()
	f, err := topology.Parse("fi.yaml", fmt.Appendf(nil, topoTemplate, ab, bw, ac, bw, ac, bw))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Plan()
	fed := p.FederationDomains()
	if len(fed) == 0 {
		t.Fatal("no federation domain in the plan")
	}
	return f, p, fed[0]
}

// newWorld builds the world with RTT ab between a and b and ac between c
// and the others, bandwidth bw on every link (a topology bandwidth such
// as "50Mbit/s"), and the emulated paths: each direction delays rtt/2,
// caps at capBits (0: none) and loses loss.
func newWorld(t testing.TB, ab, ac time.Duration, bw string, capBits int64, loss float64) *world {
	t.Helper()
	dir := t.TempDir()
	f, p, d := fedPlan(t, ab, ac, bw)
	var err error
	w := &world{t: t, file: f, plan: p, domain: d, certs: filepath.Join(dir, "certs"), conns: map[string]net.PacketConn{}, log: &syncBuf{}, probe: startProbe(t)}
	if _, err := pki.Make(f, pki.Options{Dir: w.certs}); err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, n := range []string{"a-1", "a-2", "b-1", "c-1"} {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		w.conns[n] = pc
	}
	for _, s := range []string{"a", "b", "c"} {
		addrs[s] = w.conns[s+"-1"].LocalAddr().String()
	}
	w.mesh, err = wanem.NewMesh(wanem.MeshConfig{Sites: addrs, Link: wanem.Params{Delay: ac / 2, BitsPerSec: capBits, Loss: loss}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.mesh.Close() })
	if err := w.mesh.SetPath("a", "b", wanem.Params{Delay: ab / 2, BitsPerSec: capBits, Loss: loss}); err != nil {
		t.Fatal(err)
	}
	return w
}

// member is one running runner.
type member struct {
	t      testing.TB
	node   string
	r      *gateway.Runner
	cancel context.CancelFunc
	done   chan error
}

// stopTimeout bounds a runner's graceful leave in the tests: one that
// takes longer fails the test saying so, instead of hanging go test until
// its timeout.
const stopTimeout = 30 * time.Second

// stop cancels the runner (a graceful leave) and returns Run's error.
func (m *member) stop() error {
	m.t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		return err
	case <-time.After(stopTimeout):
		m.t.Fatalf("%s: Run did not return within %v of its context's end", m.node, stopTimeout)
		return nil
	}
}

// ended waits until Run returned, once its context was cancelled.
func (m *member) ended() {
	m.t.Helper()
	select {
	case <-m.r.Done():
	case <-time.After(stopTimeout):
		m.t.Fatalf("%s: Run did not return within %v of its context's end", m.node, stopTimeout)
	}
}

// start runs node's runner, active since local ring seq localSeq, with
// its own trace buffer; cfg (optional) adds hooks.
func (w *world) start(node string, localSeq uint64, edit func(*gateway.Config)) *member {
	w.t.Helper()
	site := node[:1]
	cert, roots, err := gateway.LoadCertificates(w.certs, node)
	if err != nil {
		w.t.Fatal(err)
	}
	dataDir := filepath.Join(w.certs, "..", node)
	os.MkdirAll(dataDir, 0o700)
	tb := &syncBuf{}
	w.traces = append(w.traces, tb)
	dial := map[string]string{}
	for _, o := range []string{"a", "b", "c"} {
		if o != site {
			dial[o] = w.mesh.Addr(site, o)
		}
	}
	cfg := gateway.Config{
		File: w.file, Plan: w.plan, Domain: w.domain.Name, Node: node,
		Local:       localring.RingID{Seq: localSeq, Rep: localring.NodeID(node)},
		Certificate: cert, Roots: roots, Conn: w.conns[node], Dial: dial,
		DataDir: dataDir, Trace: tb,
		Logger: slog.New(slog.NewTextHandler(w.log, nil)).With("node", node),
	}
	cfg.Transport.RedialMin, cfg.Transport.RedialMax = 20*time.Millisecond, 500*time.Millisecond
	cfg.Transport.IdleTimeout = 3 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	r, err := gateway.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: w.t, node: node, r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- r.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		m.ended()
	})
	return m
}

// waitRing waits until every given member's last regular configuration
// is the same and has exactly sites, and returns its id.
func (w *world) waitRing(timeout time.Duration, sites []string, ms ...*member) (string, time.Duration) {
	w.t.Helper()
	start := time.Now()
	want := strings.Join(sites, ",")
	for time.Since(start) < timeout {
		ring, same := "", true
		for i, m := range ms {
			st := m.r.Stats()
			if st.State != "operational" || strings.Join(st.Members, ",") != want || (i > 0 && st.Ring != ring) {
				same = false
				break
			}
			ring = st.Ring
		}
		if same {
			return ring, time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got []string
	for _, m := range ms {
		st := m.r.Stats()
		got = append(got, fmt.Sprintf("%s: %s %s %v", st.Site, st.State, st.Ring, st.Members))
	}
	w.t.Fatalf("no federation ring of %s within %v: %s; %s\nlog:\n%s", want, timeout, strings.Join(got, "; "), w.probe.since(start), w.log.tail(40))
	return "", 0
}

// check runs the EVS checker over every trace written so far.
func (w *world) check(quiescent bool) int {
	w.t.Helper()
	n, vs := w.violations(quiescent)
	if len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		w.t.Fatalf("EVS violations in the federation ring's traces (%d events):\n%s", n, b.String())
	}
	return n
}

// settled checks the traces as those of a quiescent run once the traffic
// has stopped: every message delivered in a configuration is then
// delivered by every member that ends there. It checks again until they
// pass or within passes, since the last messages reach the far sites a
// token rotation or more after their sender delivered them (longer on a
// loaded machine).
func (w *world) settled(within time.Duration) int {
	w.t.Helper()
	start := time.Now()
	for {
		n, vs := w.violations(true)
		if len(vs) == 0 {
			if took := time.Since(start); took > time.Second {
				w.t.Logf("the traces settled %v after the load stopped", took.Round(time.Millisecond))
			}
			return n
		}
		if time.Since(start) > within {
			var b strings.Builder
			evs.Report(&b, vs)
			w.t.Fatalf("EVS violations in the federation ring's traces %v after the load stopped (%d events):\n%s", within, n, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// violations reads the traces at one instant and returns how many events
// they hold and what the EVS checker finds in them.
func (w *world) violations(quiescent bool) (int, []evs.Violation) {
	w.t.Helper()
	var all []evs.Event
	for i, b := range snapshot(w.traces) {
		es, err := evs.Read(bytes.NewReader(b), fmt.Sprintf("trace %d", i))
		if err != nil {
			w.t.Fatal(err)
		}
		all = append(all, es...)
	}
	return len(all), evs.Check(all, evs.Options{Quiescent: quiescent})
}

// syncBuf is a buffer written by several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// snapshot copies the traces at one instant: it holds every buffer's lock
// before copying any, so a delivery in the copy has its send in the copy
// too (a runner writes its send lines before its packets leave, and a
// runner whose buffer is locked cannot write). Copied one after the other,
// a message sent after the sender's copy and delivered before the
// receiver's would look created from nothing.
func snapshot(bufs []*syncBuf) [][]byte {
	for _, b := range bufs {
		b.mu.Lock()
	}
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		out[i] = bytes.Clone(b.b.Bytes())
	}
	for _, b := range bufs {
		b.mu.Unlock()
	}
	return out
}

// count returns the number of lines holding every one of substrs.
func (s *syncBuf) count(substrs ...string) int {
	n := 0
	for _, l := range strings.Split(string(s.bytes()), "\n") {
		all := true
		for _, sub := range substrs {
			all = all && strings.Contains(l, sub)
		}
		if all {
			n++
		}
	}
	return n
}

func (s *syncBuf) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(string(s.bytes())), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
