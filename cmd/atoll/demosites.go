package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// sitesYAML is the demo's topology: three sites of two nodes; a has two
// gateways (a-1 active, a-2 standby). Group global spans every site;
// group a-local is not in the file, so it stays in site a. Site a's QUIC
// endpoint is never dialled (its gateways dial out); b's and c's are free
// loopback ports filled in at run time.
const sitesYAML = `version: 1
cluster: demo
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405"]
    quic: "127.0.0.1:1"
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405"]
    quic: %q
    nodes: [{id: b-1}, {id: b-2}]
    gateways: [b-1]
  - name: c
    unicast: ["10.3.0.1:5405", "10.3.0.2:5405"]
    quic: %q
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: %s}
  - {between: [b, c], rtt: %s}
groups:
  - {name: global, class: global, sites: ["*"]}
`

const (
	localGroup  = "a-local"
	globalGroup = "global"
)

// sitesNode is one agent of the demo and its client.
type sitesNode struct {
	id      string
	a       *agent.Agent
	c       *client.Client
	cancel  context.CancelFunc
	done    chan error
	stopped bool

	mu   sync.Mutex
	got  map[string]int // payload -> deliveries
	view client.View    // the last regular view of global
	sent []string       // payloads the agent accepted
}

// sitesDemo is the state of `atoll demo --sites`.
type sitesDemo struct {
	w      io.Writer
	start  time.Time
	dir    string
	f      *topology.File
	plan   *topology.Plan
	mesh   *wanem.Mesh
	nets   map[string]*transport.FakeNetwork
	listen map[string]string
	certs  string
	key    seal.Key
	logs   bytes.Buffer
	logMu  sync.Mutex
	nodes  map[string]*sitesNode
	ids    []string

	latMu sync.Mutex
	lat   map[string][]time.Duration // delivery latencies since the last tick, by group
}

func (d *sitesDemo) printf(format string, a ...any) {
	fmt.Fprintf(d.w, "%6.1fs  ", time.Since(d.start).Seconds())
	fmt.Fprintf(d.w, format, a...)
	fmt.Fprintln(d.w)
}

// Write lets the agents' logs go to a buffer shown only on failure.
func (d *sitesDemo) Write(p []byte) (int, error) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.logs.Write(p)
}

func freeLoopbackUDP() (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer pc.Close()
	return pc.LocalAddr().String(), nil
}

// runSitesDemo runs the demo of groups across sites; farRTT is the
// round-trip time between site c and the others.
func runSitesDemo(w io.Writer, farRTT time.Duration) (err error) {
	d := &sitesDemo{w: w, start: time.Now(), nodes: map[string]*sitesNode{}, lat: map[string][]time.Duration{},
		ids: []string{"a-1", "a-2", "b-1", "b-2", "c-1", "c-2"}}
	if d.dir, err = os.MkdirTemp("", "atoll-demo-"); err != nil {
		return err
	}
	defer os.RemoveAll(d.dir)
	defer func() {
		if err != nil {
			d.logMu.Lock()
			fmt.Fprintf(w, "\nagent logs:\n%s", d.logs.String())
			d.logMu.Unlock()
		}
	}()
	fmt.Fprintf(w, "Atoll demo: three sites of two agents in this process. Each site's ring runs on a simulated LAN;\n")
	fmt.Fprintf(w, "the gateways federate over QUIC on loopback through the WAN emulator: a–b 10ms RTT, c %v from both.\n", farRTT)
	if err := d.setUp(farRTT); err != nil {
		return err
	}
	defer d.mesh.Close()
	defer d.stopAll()
	for _, id := range d.ids {
		if err := d.startNode(id); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\n== The sites' rings form and their gateways federate\n")
	if err := d.waitDomain(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	for _, id := range d.ids {
		if err := d.nodes[id].c.Join(ctx, globalGroup); err != nil {
			return fmt.Errorf("demo: %s joins %s: %w", id, globalGroup, err)
		}
	}
	for _, id := range []string{"a-1", "a-2"} {
		if err := d.nodes[id].c.Join(ctx, localGroup); err != nil {
			return fmt.Errorf("demo: %s joins %s: %w", id, localGroup, err)
		}
	}
	if err := d.waitViews(d.ids); err != nil {
		return err
	}
	d.printf("every client is in %s (6 members, 3 sites) and a-1, a-2 in %s (site a only)", globalGroup, localGroup)

	tick := d.ticker()
	defer tick()
	var bad []string
	fmt.Fprintf(w, "\n== Light load: every client multicasts to %s, a-2 to %s too (latency = send to delivery)\n", globalGroup, localGroup)
	if err := d.load(ctx, d.ids, "steady", 3*time.Second, true); err != nil {
		return err
	}
	bad = append(bad, d.count(d.ids, d.ids, "steady")...)

	fmt.Fprintf(w, "\n== a-1, site a's active gateway, stops; a-2 takes over (b and c send to %s, a-2 to %s)\n", globalGroup, localGroup)
	d.printf("stopping a-1 (its client disconnects)")
	d.stop(d.nodes["a-1"])
	bc := []string{"b-1", "b-2", "c-1", "c-2"}
	live := []string{"a-2", "b-1", "b-2", "c-1", "c-2"}
	errc := make(chan error, 1)
	go func() { errc <- d.load(ctx, bc, "failover", 2*time.Second, true) }()
	if err := d.load(ctx, []string{"a-2"}, "failover-local", 2*time.Second, false); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if err := d.waitViews(live); err != nil {
		return err
	}
	d.printf("a-2 is site a's active gateway; %s has the 5 members left", globalGroup)
	bad = append(bad, d.count(bc, bc, "failover")...)
	bad = append(bad, d.count([]string{"a-2"}, []string{"a-2"}, "failover-local")...)

	fmt.Fprintf(w, "\n== The 5 members left multicast again\n")
	if err := d.load(ctx, live, "merged", 3*time.Second, true); err != nil {
		return err
	}
	bad = append(bad, d.count(live, live, "merged")...)
	tick()

	fmt.Fprintf(w, "\n== The EVS checker reads every agent's trace\n")
	d.stopAll()
	failed := map[evs.Proc]bool{{Node: "a-1", Inc: d.nodes["a-1"].a.Self().Inc}: true}
	n, vs, err := d.check(failed)
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		_ = evs.Report(w, vs)
		bad = append(bad, fmt.Sprintf("%d EVS violations", len(vs)))
	} else {
		fmt.Fprintf(w, "%d trace events from 6 agents (site rings and the cross-site domain, with its domain-wide order): no violation of extended virtual synchrony.\n", n)
	}
	fmt.Fprint(w, sitesLegend)
	if len(bad) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("demo: %s", strings.Join(bad, "; "))}
	}
	return nil
}

const sitesLegend = `
What you saw:
  a-local   a group inside site a: ordered by a's ring alone, its latency stays at LAN scale
            whatever the WAN does, even while a's gateway is replaced.
  global    a group across the three sites: ordered by the federation ring of the gateways,
            its latency follows the slowest path (to c).
  lost/dup  messages of members that stayed connected, missing or delivered twice at members
            that stayed connected: both must be 0.
  failover  a-1 stopped: the global domain re-formed without a, then with a through a-2; the
            global messages sent meanwhile waited (the long latencies after it), none was lost.
`

// setUp writes the topology, its certificates and starts the WAN mesh.
func (d *sitesDemo) setUp(farRTT time.Duration) error {
	bEP, err := freeLoopbackUDP()
	if err != nil {
		return err
	}
	cEP, err := freeLoopbackUDP()
	if err != nil {
		return err
	}
	far := farRTT.String()
	if d.f, err = topology.Parse("demo.yaml", fmt.Appendf(nil, sitesYAML, bEP, cEP, far, far)); err != nil {
		return err
	}
	d.plan = d.f.Plan()
	if len(d.plan.Rejections) > 0 {
		return fmt.Errorf("demo: plan rejections: %+v", d.plan.Rejections)
	}
	d.certs = filepath.Join(d.dir, "certs")
	if _, err := pki.Make(d.f, pki.Options{Dir: d.certs}); err != nil {
		return err
	}
	d.key = seal.GenerateKey()
	d.nets = map[string]*transport.FakeNetwork{"a": {}, "b": {}, "c": {}}
	d.listen = map[string]string{"a-1": "127.0.0.1:0", "a-2": "127.0.0.1:0", "b-1": bEP, "c-1": cEP}
	if d.mesh, err = wanem.NewMesh(wanem.MeshConfig{Sites: map[string]string{"a": "127.0.0.1:1", "b": bEP, "c": cEP}}); err != nil {
		return err
	}
	if _, err := d.mesh.ApplyTopology(d.f); err != nil {
		d.mesh.Close()
		return err
	}
	return nil
}

// startNode starts agent id and connects a client to it.
func (d *sitesDemo) startNode(id string) error {
	site, _, _ := d.f.Node(id)
	cfg, err := agent.FromTopology(d.f, id, agent.PresetLAN)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(site.Nodes, func(n topology.Node) bool { return n.ID == id })
	nw, err := d.nets[site.Name].Listen(netip.MustParseAddrPort(site.Unicast[i]))
	if err != nil {
		return err
	}
	dial := map[string]string{}
	for _, s := range d.mesh.Sites() {
		if s != site.Name {
			dial[s] = d.mesh.Addr(site.Name, s)
		}
	}
	cfg.Network, cfg.Security = nw, agent.Security{Key: d.key}
	cfg.DataDir, cfg.DrainTimeout = filepath.Join(d.dir, id), 500*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(d, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.AdminSocket, cfg.ClientSocket, cfg.TracePath = "-", "-", filepath.Join(d.dir, id+".trace")
	cfg.Federation = &agent.Federation{File: d.f, Plan: d.plan, CertDir: d.certs, Listen: d.listen[id], Dial: dial}
	a, err := agent.New(cfg)
	if err != nil {
		return fmt.Errorf("demo: agent %s: %w", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &sitesNode{id: id, a: a, cancel: cancel, done: make(chan error, 1), got: map[string]int{}}
	go func() { n.done <- a.Run(ctx) }()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if n.c, err = client.DialAgent(dctx, a, client.WithName("app"), client.WithEventBuffer(1<<16)); err != nil {
		cancel()
		return fmt.Errorf("demo: client of %s: %w", id, err)
	}
	d.nodes[id] = n
	go d.read(n)
	return nil
}

// read records the deliveries and views of n's client.
func (d *sitesDemo) read(n *sitesNode) {
	for e := range n.c.Events() {
		switch e.Kind {
		case client.EventMessage:
			p := string(e.Message.Payload)
			if f := strings.Fields(p); len(f) == 2 {
				if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					d.latMu.Lock()
					d.lat[e.Message.Groups[0]] = append(d.lat[e.Message.Groups[0]], time.Since(time.Unix(0, ns)))
					d.latMu.Unlock()
				}
			}
			n.mu.Lock()
			n.got[p]++
			n.mu.Unlock()
		case client.EventView:
			if e.View.Group == globalGroup && !e.View.Transitional {
				n.mu.Lock()
				n.view = *e.View
				n.mu.Unlock()
			}
		}
	}
}

func (d *sitesDemo) stop(n *sitesNode) {
	if n == nil || n.stopped {
		return
	}
	n.stopped = true
	n.c.Close()
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			d.printf("agent %s stopped with an error: %v", n.id, err)
		}
	case <-time.After(15 * time.Second):
		d.printf("agent %s did not stop within 15s", n.id)
	}
}

func (d *sitesDemo) stopAll() {
	for _, id := range d.ids {
		d.stop(d.nodes[id])
	}
}

// waitDomain waits until every agent is in one configuration of the
// cross-site domain with all six nodes.
func (d *sitesDemo) waitDomain() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conf, ok := "", true
		for _, id := range d.ids {
			ds := d.nodes[id].a.Status().Domains
			if len(ds) != 1 || ds[0].Members != len(d.ids) || ds[0].Round || (conf != "" && ds[0].Configuration != conf) {
				ok = false
				break
			}
			conf = ds[0].Configuration
		}
		if ok {
			d.printf("domain %s: one configuration of all 6 agents; a-1 is site a's active gateway", conf)
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("demo: the sites did not come to one configuration of the cross-site domain within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitViews waits until the clients at ids see a view of global with
// exactly their members.
func (d *sitesDemo) waitViews(ids []string) error {
	var want []string
	for _, id := range ids {
		want = append(want, id+":app")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, id := range ids {
			n := d.nodes[id]
			n.mu.Lock()
			ok = ok && slices.Equal(slices.Sorted(slices.Values(n.view.Members)), want)
			n.mu.Unlock()
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the clients at %v saw no view of %s with %v within 30s", ids, globalGroup, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load has the clients at ids multicast to global (and a-2 to a-local when
// local is set) every 50 ms for dur, then flush. Payloads are
// "<node>/<phase>/<group>/<i> <unix nanoseconds>".
func (d *sitesDemo) load(ctx context.Context, ids []string, phase string, dur time.Duration, global bool) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		n := d.nodes[id]
		wg.Go(func() {
			end := time.Now().Add(dur)
			for i := 0; time.Now().Before(end); i++ {
				var groups []string
				if global {
					groups = append(groups, globalGroup)
				}
				if id == "a-2" {
					groups = append(groups, localGroup)
				}
				for _, g := range groups {
					p := fmt.Sprintf("%s/%s/%s/%d %d", id, phase, g, i, time.Now().UnixNano())
					if err := n.c.MulticastWait(ctx, client.Agreed, 0, []string{g}, []byte(p)); err != nil {
						errs <- fmt.Errorf("demo: %s multicasts to %s: %w", id, g, err)
						return
					}
					n.mu.Lock()
					n.sent = append(n.sent, p)
					n.mu.Unlock()
				}
				time.Sleep(50 * time.Millisecond)
			}
			fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := n.c.Flush(fctx); err != nil {
				errs <- fmt.Errorf("demo: %s flushes after %s: %w", id, phase, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// count waits until the clients at receivers got every message the
// clients at senders sent in phase (each in a group the receiver is in),
// prints the lost and duplicated counts, and returns what is wrong.
func (d *sitesDemo) count(receivers, senders []string, phase string) []string {
	var want []string
	for _, s := range senders {
		n := d.nodes[s]
		n.mu.Lock()
		for _, p := range n.sent {
			if strings.Contains(p, "/"+phase+"/") {
				want = append(want, p)
			}
		}
		n.mu.Unlock()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		lost, dup := 0, 0
		var missing []string
		for _, id := range receivers {
			n := d.nodes[id]
			n.mu.Lock()
			for _, p := range want {
				if n.got[p] == 0 && (strings.Contains(p, "/"+globalGroup+"/") || strings.HasPrefix(id, "a-")) {
					lost++
					if len(missing) < 4 {
						missing = append(missing, id+" lacks "+strings.Fields(p)[0])
					}
				}
			}
			for p, c := range n.got {
				if strings.Contains(p, "/"+phase+"/") {
					dup += max(c-1, 0)
				}
			}
			n.mu.Unlock()
		}
		if lost == 0 || time.Now().After(deadline) {
			d.printf("%-14s %4d messages sent by %v: %d lost, %d duplicated at %v", phase+":", len(want), senders, lost, dup, receivers)
			var bad []string
			if lost > 0 {
				d.printf("  e.g. %s", strings.Join(missing, ", "))
				bad = append(bad, fmt.Sprintf("%s: %d messages lost", phase, lost))
			}
			if dup > 0 {
				bad = append(bad, fmt.Sprintf("%s: %d messages duplicated", phase, dup))
			}
			return bad
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ticker prints, every second, the latencies of each group's deliveries
// in that second; the function it returns stops it (once).
func (d *sitesDemo) ticker() func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				d.printf("%s  |  %s", d.latency(localGroup), d.latency(globalGroup))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// latency summarizes and resets group's latencies.
func (d *sitesDemo) latency(group string) string {
	d.latMu.Lock()
	ls := d.lat[group]
	d.lat[group] = nil
	d.latMu.Unlock()
	if len(ls) == 0 {
		return fmt.Sprintf("%-8s %4d delivered", group, 0)
	}
	slices.Sort(ls)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return fmt.Sprintf("%-8s %4d delivered  p50 %7.1fms  max %7.1fms", group, len(ls), ms(ls[len(ls)/2]), ms(ls[len(ls)-1]))
}

// check runs the EVS checker over the agents' traces.
func (d *sitesDemo) check(failed map[evs.Proc]bool) (int, []evs.Violation, error) {
	var all []evs.Event
	for _, id := range d.ids {
		p := filepath.Join(d.dir, id+".trace")
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, nil, err
		}
		es, err := evs.Read(bytes.NewReader(b), p)
		if err != nil {
			return 0, nil, err
		}
		all = append(all, es...)
	}
	return len(all), evs.Check(all, evs.Options{Failed: failed, DomainOrder: true}), nil
}
