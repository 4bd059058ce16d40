package agent

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// crossSiteYAML is three sites of two nodes each; a has two gateways (a-1
// active, a-2 standby), b and c one each. Group orders spans every site;
// group a-only is not in the file, so it is local to its sender's site.
const crossSiteYAML = `version: 1
cluster: xs
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
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 2ms}
  - {between: [b, c], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

// xsNode is one agent of the cross-site test and its client.
type xsNode struct {
	id     string
	a      *Agent
	cancel context.CancelFunc
	done   chan error
	c      *client.Client

	mu      sync.Mutex
	got     map[string]int // payload -> deliveries
	view    client.View    // the last regular view of orders
	views   int
	sent    []string // payloads the agent accepted
	errs    []string // the agent's asynchronous errors
	stopped bool
}

func (n *xsNode) read() {
	for e := range n.c.Events() {
		n.mu.Lock()
		switch e.Kind {
		case client.EventMessage:
			n.got[string(e.Message.Payload)]++
		case client.EventError:
			n.errs = append(n.errs, e.Err.Error())
		case client.EventView:
			if e.View.Group == "orders" && !e.View.Transitional {
				n.view = *e.View
				n.views++
			}
		}
		n.mu.Unlock()
	}
}

// TestCrossSiteGroup runs three sites' agents in this process (each
// site's local ring on a fake network, the federation ring over QUIC on
// loopback) with a client at every node in group orders, which spans the
// sites. Every client multicasts; the active gateway of site a stops in
// the middle of it, and a-2 takes over. Every client at b and c must get
// every message of every client that stayed connected exactly once; a-2's
// client gets its own; nobody gets a message twice; the domain's views
// reach every client with the same members; and the agents' traces pass
// the EVS checker, the domain's with its domain-wide order.
func TestCrossSiteGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sites and a federation ring over QUIC")
	}
	if raceEnabled {
		// Six agents and three federation members in one process, with
		// the race detector's slowdown, miss federation tokens (202 ms
		// timeout) under load: the domain then re-forms again and again,
		// which is the failover and merge path (issue 9 item 4), not what
		// this test judges.
		t.Skip("judges a real-time federation ring: runs without the race detector only")
	}
	dir := t.TempDir()
	bEP, cEP := freeUDP(t), freeUDP(t)
	f, err := topology.Parse("xs.yaml", fmt.Appendf(nil, crossSiteYAML, bEP, cEP))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	if len(plan.Rejections) > 0 {
		t.Fatalf("plan rejections: %+v", plan.Rejections)
	}
	certs := filepath.Join(dir, "certs")
	if _, err := pki.Make(f, pki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	key := seal.GenerateKey()
	logs := &syncBuffer{}
	nets := map[string]*transport.FakeNetwork{"a": {}, "b": {}, "c": {}}
	listen := map[string]string{"a-1": "127.0.0.1:0", "a-2": "127.0.0.1:0", "b-1": bEP, "c-1": cEP}
	ids := []string{"a-1", "a-2", "b-1", "b-2", "c-1", "c-2"}
	nodes := map[string]*xsNode{}
	var traces, fedTraces []string
	ctx, cancelAll := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelAll()

	start := func(id string) {
		site, _, _ := f.Node(id)
		cfg, err := FromTopology(f, id, PresetLAN)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(site.Nodes, func(n topology.Node) bool { return n.ID == id })
		nw, err := nets[site.Name].Listen(netip.MustParseAddrPort(site.Unicast[i]))
		if err != nil {
			t.Fatal(err)
		}
		trace, fedTrace := filepath.Join(dir, id+".trace"), filepath.Join(dir, id+".fed")
		traces, fedTraces = append(traces, trace), append(fedTraces, fedTrace)
		cfg.Network, cfg.Security = nw, Security{Key: key}
		cfg.DataDir, cfg.Logger, cfg.DrainTimeout = filepath.Join(dir, id), slogTo(logs), 500*time.Millisecond
		cfg.AdminSocket, cfg.ClientSocket, cfg.TracePath = "-", "-", trace
		cfg.Federation = &Federation{File: f, Plan: plan, CertDir: certs, Listen: listen[id], TracePath: fedTrace}
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", id, err)
		}
		actx, cancel := context.WithCancel(context.Background())
		n := &xsNode{id: id, a: a, cancel: cancel, done: make(chan error, 1), got: map[string]int{}}
		go func() { n.done <- a.Run(actx) }()
		if n.c, err = client.DialAgent(ctx, a, client.WithName("app"), client.WithEventBuffer(1<<16)); err != nil {
			t.Fatalf("client of %s: %v", id, err)
		}
		go n.read()
		nodes[id] = n
	}
	stop := func(n *xsNode) {
		if n.stopped {
			return
		}
		n.stopped = true
		n.c.Close()
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("Run(%s): %v", n.id, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("agent %s did not stop", n.id)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range ids {
				if n := nodes[id]; !n.stopped {
					t.Logf("%s: %+v", id, n.a.Status().Domains)
				}
			}
		}
		for _, id := range ids {
			stop(nodes[id])
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
			if d := os.Getenv("XS_KEEP"); d != "" { // keep the traces for a look
				os.CopyFS(d, os.DirFS(dir))
			}
		}
	})
	for _, id := range ids {
		start(id)
	}

	// The domain forms: every node installs one configuration of all six.
	deadline := time.Now().Add(45 * time.Second)
	for {
		conf, ok := "", true
		for _, id := range ids {
			ds := nodes[id].a.Status().Domains
			if len(ds) != 1 || ds[0].Members != len(ids) || ds[0].Round || (conf != "" && ds[0].Configuration != conf) {
				ok = false
				break
			}
			conf = ds[0].Configuration
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the domain's nodes did not come to one configuration of all six")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Every client joins orders.
	for _, id := range ids {
		if err := nodes[id].c.Join(ctx, "orders"); err != nil {
			t.Fatalf("%s joins orders: %v", id, err)
		}
	}
	waitViews := func(want []string, of []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok := true
			var last string
			for _, id := range of {
				n := nodes[id]
				n.mu.Lock()
				ms := slices.Sorted(slices.Values(n.view.Members))
				last = fmt.Sprintf("%s: %v (view %s)", id, ms, n.view.ID)
				n.mu.Unlock()
				if !slices.Equal(ms, want) {
					ok = false
					break
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {

				t.Fatalf("no view of orders with %v at %v; %s", want, of, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var everyone []string
	for _, id := range ids {
		everyone = append(everyone, id+":app")
	}
	waitViews(everyone, ids)
	st := nodes["b-2"].a.Status()
	if len(st.Domains) != 1 || st.Domains[0].Role != "member" || st.Domains[0].Active != "b-1" || st.PlanHash == "" {
		t.Errorf("b-2's status: plan %q, domains %+v", st.PlanHash, st.Domains)
	}
	if st := nodes["a-1"].a.Status(); len(st.Domains) != 1 || st.Domains[0].Role != "active gateway" {
		t.Errorf("a-1's status: domains %+v", st.Domains)
	}

	// What is refused across sites, with an error the client can act on.
	b1 := nodes["b-1"]
	refused := func(what, text string, send func() error) {
		t.Helper()
		err := send()
		if err == nil {
			err = b1.c.Flush(ctx)
		}
		deadline := time.Now().Add(10 * time.Second)
		for err == nil || !strings.Contains(err.Error(), text) {
			b1.mu.Lock()
			if i := slices.IndexFunc(b1.errs, func(e string) bool { return strings.Contains(e, text) }); i >= 0 {
				err = fmt.Errorf("%s", b1.errs[i])
			}
			b1.mu.Unlock()
			if err != nil && strings.Contains(err.Error(), text) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not refused with %q (got %v)", what, text, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	refused("a point-to-point message to a member at another site", "point-to-point messages to a member at another site are not supported", func() error {
		return b1.c.Send(ctx, "a-2:app", client.Agreed, 0, []byte("p2p"))
	})
	refused("a Safe multicast to a group across sites", "safe service is not supported across sites", func() error {
		return b1.c.Multicast(ctx, client.Safe, 0, []string{"orders"}, []byte("safe"))
	})

	// Steady state: every client multicasts, and every client gets every
	// message once.
	send(t, ctx, nodes, ids, "steady", 60)
	lost, dup := delivered(t, nodes, ids, ids, "steady")
	t.Logf("steady state: %d messages from 6 clients at 3 sites: %d lost, %d duplicated", 60*len(ids), lost, dup)

	// a's active gateway stops; b and c go on multicasting: their clients,
	// which stay connected, get every message of theirs once.
	stop(nodes["a-1"])
	bc := []string{"b-1", "b-2", "c-1", "c-2"}
	send(t, ctx, nodes, bc, "failover", 60)
	lost, dup = delivered(t, nodes, bc, bc, "failover")
	t.Logf("a's gateway stopped: %d messages from b and c: %d lost, %d duplicated at b and c", 60*len(bc), lost, dup)

	// a-2 takes over for a: a comes back into the domain (a partition and
	// a merge for it), and every client that stayed connected gets every
	// message of every one of them once.
	live := []string{"a-2", "b-1", "b-2", "c-1", "c-2"}
	var liveApps []string
	for _, id := range live {
		liveApps = append(liveApps, id+":app")
	}
	waitViews(liveApps, live)
	send(t, ctx, nodes, live, "merged", 40)
	lost, dup = delivered(t, nodes, live, live, "merged")
	t.Logf("a-2 took over: %d messages from the 5 clients left: %d lost, %d duplicated", 40*len(live), lost, dup)
	if st := nodes["a-2"].a.Status(); len(st.Domains) != 1 || st.Domains[0].Role != "active gateway" {
		t.Errorf("a-2's status after the failover: %+v", st.Domains)
	}

	for _, id := range live {
		for _, d := range nodes[id].a.Status().Domains {
			if d.Bridge.NotSafe > 0 {
				t.Errorf("%s: %d federation messages delivered below Safe (the bridge needs Safe to number alike at every site)", id, d.Bridge.NotSafe)
			}
		}
	}
	for _, id := range ids {
		stop(nodes[id])
	}
	failed := map[evs.Proc]bool{{Node: "a-1", Inc: nodes["a-1"].a.Self().Inc}: true}
	checkTraces(t, traces, evs.Options{Failed: failed, DomainOrder: true}, "agents' traces")
	checkTraces(t, fedTraces, evs.Options{}, "federation rings' traces")
}

// checkTraces runs the EVS checker over the trace files.
func checkTraces(t *testing.T, files []string, opts evs.Options, what string) {
	t.Helper()
	var all []evs.Event
	domains := map[string]int{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		es, err := evs.Read(bytes.NewReader(b), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			domains[e.Domain]++
		}
		all = append(all, es...)
	}
	t.Logf("%s: %d lines by domain %v", what, len(all), domains)
	if vs := evs.Check(all, opts); len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		t.Errorf("EVS violations in the %s:\n%s", what, b.String())
	}
}

// send has each client of ids multicast count messages to orders, each
// named "<node>/<phase>/<i>", and flush.
func send(t *testing.T, ctx context.Context, nodes map[string]*xsNode, ids []string, phase string, count int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		n := nodes[id]
		wg.Go(func() {
			for i := range count {
				p := fmt.Sprintf("%s/%s/%d", n.id, phase, i)
				if err := n.c.MulticastWait(ctx, client.Agreed, 0, []string{"orders"}, []byte(p)); err != nil {
					errs <- fmt.Errorf("%s: multicast %s: %w", n.id, p, err)
					return
				}
				n.mu.Lock()
				n.sent = append(n.sent, p)
				n.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := n.c.Flush(fctx); err != nil {
				errs <- fmt.Errorf("%s: flush after %s: %w", n.id, phase, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// delivered waits until every client of receivers got every message the
// clients of senders sent in phase, and returns how many are missing and
// how many deliveries of any message were second ones; either fails the
// test.
func delivered(t *testing.T, nodes map[string]*xsNode, receivers, senders []string, phase string) (lost, dup int) {
	t.Helper()
	var want []string
	for _, s := range senders {
		n := nodes[s]
		n.mu.Lock()
		for _, p := range n.sent {
			if strings.Contains(p, "/"+phase+"/") {
				want = append(want, p)
			}
		}
		n.mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		lost, dup = 0, 0
		var missing []string
		for _, id := range receivers {
			n := nodes[id]
			n.mu.Lock()
			for _, p := range want {
				if n.got[p] == 0 {
					lost++
					if len(missing) < 5 {
						missing = append(missing, id+" lacks "+p)
					}
				}
			}
			for _, c := range n.got {
				dup += max(c-1, 0)
			}
			n.mu.Unlock()
		}
		if lost == 0 || time.Now().After(deadline) {
			if lost > 0 {
				t.Errorf("%s: %d messages lost for members that stayed connected, e.g. %v", phase, lost, missing)
			}
			if dup > 0 {
				t.Errorf("%s: %d messages delivered twice", phase, dup)
			}
			return lost, dup
		}
		time.Sleep(50 * time.Millisecond)
	}
}
