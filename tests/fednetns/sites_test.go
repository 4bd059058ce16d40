package fednetns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/gateway/hiersim"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
	"github.com/atoll-gcs/atoll/topology"
)

// sitesYAML is TestSitesNetns's topology: sites a (3 nodes, gateways a-1
// and a-2), b (3 nodes) and c (2 nodes), each on a bridge of its own with
// multicast inside it. As in topoYAML, a dials b and c and b dials c, so
// the relay in front of b (10 ms RTT) serves a–b and the one in front of c
// (200 ms) serves a–c and b–c. Group orders spans every site; group bc
// has members at b and c only, in the same federation domain, so its
// messages come down to a as stubs (federation.unneeded, default stubs),
// and group ab members at a and b only (c gets its messages as stubs);
// group a-local is not in the file, so it is local to site a.
const sitesYAML = `version: 1
cluster: fs
security: {mode: none}
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    bind: '{{ GetPrivateInterfaces | include "network" "10.253.1.0/24" | attr "address" }}'
    multicast: 239.192.99.1
    quic: "10.253.1.11:7400"
    nodes: [{id: a-1}, {id: a-2}, {id: a-3}]
    gateways: [a-1, a-2]
  - name: b
    bind: '{{ GetPrivateInterfaces | include "network" "10.253.2.0/24" | attr "address" }}'
    multicast: 239.192.99.2
    quic: "10.253.2.1:7500"
    nodes: [{id: b-1}, {id: b-2}, {id: b-3}]
    gateways: [b-1]
  - name: c
    bind: '{{ GetPrivateInterfaces | include "network" "10.253.3.0/24" | attr "address" }}'
    multicast: 239.192.99.3
    quic: "10.253.3.1:7500"
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 10ms, bandwidth: 50Mbit/s}
  - {between: [a, c], rtt: 200ms, bandwidth: 50Mbit/s}
  - {between: [b, c], rtt: 200ms, bandwidth: 50Mbit/s}
groups:
  - {name: orders, class: global, sites: ["*"]}
  - {name: bc, class: global, sites: [b, c]}
  - {name: ab, class: global, sites: [a, b]}
`

const (
	globalGroup = "orders"
	// bcGroup's members are the clients of b and c: site a gets stubs.
	bcGroup = "bc"
	// abGroup's members are the clients of a and b: site c gets stubs.
	abGroup    = "ab"
	localGroup = "a-local"
	// sitesRate is each client's load, messages per second to each of its
	// groups.
	sitesRate = 20
)

// groupSites are the sites whose clients join each group.
var groupSites = map[string][]string{globalGroup: {"a", "b", "c"}, bcGroup: {"b", "c"}, abGroup: {"a", "b"}, localGroup: {"a"}}

// sites is TestSitesNetns's world: a router namespace NAME-r with a
// bridge per site (br-X at 10.253.N.1, multicast snooping off) and the
// relays, and a namespace per node (NAME-a1 ...) at 10.253.N.(10+i) for
// the site's i-th node.
type sites struct {
	t      *testing.T
	name   string
	dir    string
	topo   string
	domain string // the federation domain of orders
	ids    []string
	nodes  map[string]*siteNode
	killed map[evs.Proc]bool
	ctx    context.Context
	// clients are every client connected, in order.
	clients []*siteClient
}

// siteNode is one node: its agent (if running) and its client.
type siteNode struct {
	id, site, ns string
	data         string
	gateway      bool
	p            *nstest.Proc   // the running agent
	procs        []*nstest.Proc // every agent started
	inc          uint64
	runs         int // agents started so far
	admin        *agent.Client
	cl           *siteClient
	traces       []string // --trace files, one per incarnation
	fedTraces    []string // --fed-trace files
}

// siteClient is a Go client of a node's agent: it joined its groups,
// multicasts sitesRate messages per second to each until stopped, and
// keeps its last regular view of each, and every view it got.
type siteClient struct {
	node   string
	id     string // the node
	trace  string // the --trace file of the agent it is a client of
	c      *client.Client
	groups []string
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	err   error // why the load stopped before it was stopped
	views map[string]client.View
	seen  []client.View
	got   []time.Time // when each message came
	what  []string    // and its payload (load)
	sent  int         // the load's rounds done (one message to each group)
}

func newSites(t *testing.T) *sites {
	if nstest.SkipReason != "" {
		t.Skip(nstest.SkipReason)
	}
	var rnd [2]byte
	rand.Read(rnd[:])
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &sites{t: t, name: "fs-" + hex.EncodeToString(rnd[:]), dir: t.TempDir(), nodes: map[string]*siteNode{}, killed: map[evs.Proc]bool{}, ctx: ctx}
	s.topo = filepath.Join(s.dir, "topo.yaml")
	if err := os.WriteFile(s.topo, []byte(sitesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := topology.Load(s.topo)
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := f.Plan().Lookup(globalGroup)
	if !ok {
		t.Fatalf("the plan places no group %s", globalGroup)
	}
	s.domain = pl.Domain
	nstest.Sh(t, nstest.Bin, "certs", s.topo, "-d", filepath.Join(s.dir, "certs"))

	r := s.name + "-r"
	var nss []string
	t.Cleanup(func() {
		for _, ns := range slices.Backward(nss) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	nstest.Sh(t, "ip", "netns", "add", r)
	nss = append(nss, r)
	nstest.Sh(t, "ip", "-n", r, "link", "set", "lo", "up")
	for si, site := range f.Sites {
		n := si + 1
		br := "br-" + site.Name
		nstest.Sh(t, "ip", "-n", r, "link", "add", br, "type", "bridge", "mcast_snooping", "0")
		nstest.Sh(t, "ip", "-n", r, "addr", "add", fmt.Sprintf("10.253.%d.1/24", n), "dev", br)
		nstest.Sh(t, "ip", "-n", r, "link", "set", br, "up")
		for i, nd := range site.Nodes {
			sn := &siteNode{id: nd.ID, site: site.Name, ns: s.name + "-" + strings.ReplaceAll(nd.ID, "-", ""),
				data: filepath.Join(s.dir, nd.ID), gateway: slices.Contains(site.Gateways, nd.ID)}
			sn.admin = agent.NewClient(filepath.Join(sn.data, agent.AdminSocketName))
			s.nodes[nd.ID], s.ids = sn, append(s.ids, nd.ID)
			port := strings.ReplaceAll(sn.ns, "-", "")
			nstest.Sh(t, "ip", "netns", "add", sn.ns)
			nss = append(nss, sn.ns)
			nstest.Sh(t, "ip", "-n", sn.ns, "link", "set", "lo", "up")
			nstest.Sh(t, "ip", "-n", r, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", sn.ns)
			nstest.Sh(t, "ip", "-n", r, "link", "set", port, "master", br, "up")
			nstest.Sh(t, "ip", "-n", sn.ns, "addr", "add", fmt.Sprintf("10.253.%d.%d/24", n, 11+i), "dev", "eth0")
			nstest.Sh(t, "ip", "-n", sn.ns, "link", "set", "eth0", "up", "multicast", "on")
			nstest.Sh(t, "ip", "-n", sn.ns, "route", "add", "default", "via", fmt.Sprintf("10.253.%d.1", n))
			nstest.Sh(t, "ip", "-n", sn.ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
		}
	}
	// The relays in front of b's and c's gateways.
	for _, x := range []struct{ site, rtt, n string }{{"b", "10ms", "2"}, {"c", "200ms", "3"}} {
		nstest.Spawn(t, r, "relay-"+x.site, nstest.Bin, "relay", "--listen", "10.253."+x.n+".1:7500", "--target", "10.253."+x.n+".11:7400",
			"--link", "rtt="+x.rtt, "--control", s.ctl(x.site))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range s.ids {
				if p := s.nodes[id].p; p != nil {
					t.Logf("--- agent %s:\n%s", id, nstest.Tail(p.String(), 30))
				}
			}
		}
		// ATOLL_NETNS_KEEP=DIR keeps the traces, the topology file and
		// the agents' logs in DIR/<test>.
		if keep := os.Getenv("ATOLL_NETNS_KEEP"); keep != "" {
			dst := filepath.Join(keep, t.Name())
			err := os.MkdirAll(dst, 0o755)
			files, _ := filepath.Glob(filepath.Join(s.dir, "*"))
			for _, f := range files {
				if ext := filepath.Ext(f); err == nil && (ext == ".trace" || ext == ".fed" || ext == ".yaml") {
					var b []byte
					if b, err = os.ReadFile(f); err == nil {
						err = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
					}
				}
			}
			for _, id := range s.ids {
				for i, p := range s.nodes[id].procs {
					if err == nil {
						err = os.WriteFile(filepath.Join(dst, fmt.Sprintf("%s.%d.log", id, i)), []byte(p.String()), 0o644)
					}
				}
			}
			if err != nil {
				t.Logf("keep the test's files: %v", err)
			} else {
				t.Logf("traces and logs kept in %s", dst)
			}
		}
	})
	return s
}

func (s *sites) ctl(site string) string { return filepath.Join(s.dir, "relay-"+site+".sock") }

// start starts node id's agent (a new incarnation, with trace files of its
// own) and waits until its admin API answers.
func (s *sites) start(id string) {
	s.t.Helper()
	n := s.nodes[id]
	os.MkdirAll(n.data, 0o750)
	trace := filepath.Join(s.dir, fmt.Sprintf("%s.%d.trace", id, n.runs))
	fedTrace := filepath.Join(s.dir, fmt.Sprintf("%s.%d.fed", id, n.runs))
	n.runs++
	n.traces = append(n.traces, trace)
	// The cloud preset (1 s token timeout): with the lan preset's 200 ms, a
	// scheduler stall on a loaded machine splits a site's ring for a
	// moment, which is no scenario of this test. The EVS violations seen
	// with the lan preset are fixed: a node out of its site's ring for a
	// moment (a84fa5a, f4684f7), and the federation's transitional
	// configuration's messages delivered in the regular configuration (6;
	// gateway/domconf TestTransitionalMessages), with the likely cause of
	// the one EVS 3 seen (72 messages a-2 was told were sent that no node
	// delivered: an announcement among those messages opened a round that
	// discarded them; TestAnnounceInTransitional). With the lan preset at
	// load 15-29, 10 runs after that fix had no EVS violation; 1 of them
	// failed "failover without a partition": b's local ring split for a
	// moment (r:24:b-1 of b-1 alone) as a-1 was killed, and a's members
	// installed a domain configuration without b-2 and b-3.
	args := []string{nstest.Bin, "agent", "--config", s.topo, "--node", id, "--data-dir", n.data, "--insecure",
		"--ring-preset", "cloud", "--trace", trace}
	if n.gateway {
		n.fedTraces = append(n.fedTraces, fedTrace)
		args = append(args, "--cert-dir", filepath.Join(s.dir, "certs"), "--quic-listen", ":7400", "--fed-trace", fedTrace)
	}
	n.p = nstest.Spawn(s.t, n.ns, "agent "+id, args...)
	n.procs = append(n.procs, n.p)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if st, err := s.status(id); err == nil {
			n.inc = st.Incarnation
			return
		}
		if n.p.Exited() || time.Now().After(deadline) {
			s.t.Fatalf("agent %s does not answer on its admin socket:\n%s", id, nstest.Tail(n.p.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills node id's agent with SIGKILL and records it as failed.
func (s *sites) kill(id string) {
	n := s.nodes[id]
	n.p.Kill()
	n.p = nil
	s.killed[evs.Proc{Node: id, Inc: n.inc}] = true
	if n.cl != nil {
		n.cl.stop(s.t)
		n.cl = nil
	}
}

func (s *sites) status(id string) (*agent.Status, error) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	defer cancel()
	return s.nodes[id].admin.Status(ctx)
}

// domainOf returns node id's status of the domain of orders.
func (s *sites) domainOf(id string) (agent.DomainStatus, error) {
	st, err := s.status(id)
	if err != nil {
		return agent.DomainStatus{}, err
	}
	for _, d := range st.Domains {
		if d.Domain == s.domain {
			return d, nil
		}
	}
	return agent.DomainStatus{}, fmt.Errorf("%s runs no layer of domain %s", id, s.domain)
}

// waitDomain waits until every node of each group is in one node-level
// configuration of the domain whose members are exactly that group's
// nodes, and returns how long it took.
func (s *sites) waitDomain(timeout time.Duration, groups ...[]string) time.Duration {
	s.t.Helper()
	start := time.Now()
	for {
		why := ""
	check:
		for _, g := range groups {
			conf := ""
			for _, id := range g {
				if p := s.nodes[id].p; p == nil || p.Exited() {
					s.t.Fatalf("agent %s is not running:\n%s", id, nstest.Tail(p.String(), 20))
				}
				d, err := s.domainOf(id)
				switch {
				case err != nil:
					why = err.Error()
				case d.Members != len(g) || d.Round || (conf != "" && d.Configuration != conf):
					why = fmt.Sprintf("%s is in configuration %s of %d members (round %v), want %d with %v", id, d.Configuration, d.Members, d.Round, len(g), g)
				}
				if why != "" {
					break check
				}
				conf = d.Configuration
			}
		}
		if why == "" {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("the domain's configurations %v did not form within %v: %s", groups, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect starts node id's client: it joins orders (and a-local at site
// a, bc at sites b and c) and starts its load.
func (s *sites) connect(id string) {
	s.t.Helper()
	n := s.nodes[id]
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "unix://"+filepath.Join(n.data, agent.ClientSocketName), client.WithName("app"), client.WithEventBuffer(1<<16))
	if err != nil {
		s.t.Fatalf("client of %s: %v", id, err)
	}
	var groups []string
	for _, g := range []string{globalGroup, localGroup, bcGroup, abGroup} {
		if slices.Contains(groupSites[g], n.site) {
			groups = append(groups, g)
		}
	}
	for _, g := range groups {
		if err := c.Join(ctx, g); err != nil {
			s.t.Fatalf("%s joins %s: %v", id, g, err)
		}
	}
	lctx, lcancel := context.WithCancel(s.ctx)
	cl := &siteClient{node: fmt.Sprintf("%s#%d", id, n.runs), id: id, trace: n.traces[len(n.traces)-1], c: c, groups: groups, cancel: lcancel, done: make(chan struct{}), views: map[string]client.View{}}
	n.cl = cl
	s.clients = append(s.clients, cl)
	go cl.read()
	go cl.load(lctx)
}

func (cl *siteClient) read() {
	for e := range cl.c.Events() {
		if e.Kind == client.EventMessage {
			cl.mu.Lock()
			cl.got = append(cl.got, time.Now())
			cl.what = append(cl.what, string(e.Message.Payload))
			cl.mu.Unlock()
		}
		if e.Kind == client.EventView {
			cl.mu.Lock()
			if !e.View.Transitional {
				cl.views[e.View.Group] = *e.View
			}
			cl.seen = append(cl.seen, *e.View)
			cl.mu.Unlock()
		}
	}
}

// load multicasts to each group, sitesRate messages per second, until
// the context ends or the agent fails.
func (cl *siteClient) load(ctx context.Context) {
	defer close(cl.done)
	tick := time.NewTicker(time.Second / sitesRate)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, g := range cl.groups {
			p := fmt.Sprintf("%s/%s/%d", cl.node, g, i)
			if err := cl.c.MulticastWait(ctx, client.Agreed, 0, []string{g}, []byte(p)); err != nil {
				if ctx.Err() == nil {
					cl.mu.Lock()
					cl.err = err
					cl.mu.Unlock()
				}
				return
			}
		}
		cl.mu.Lock()
		cl.sent = i + 1
		cl.mu.Unlock()
	}
}

// stop ends the load and closes the client.
func (cl *siteClient) stop(t testing.TB) {
	t.Helper()
	cl.endLoad(t)
	cl.c.Close()
}

// endLoad ends the load and waits for its goroutine to return, which it
// does at its context's end (MulticastWait returns then): it fails the
// test if that has not happened within 10 s.
func (cl *siteClient) endLoad(t testing.TB) {
	t.Helper()
	cl.cancel()
	select {
	case <-cl.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the load of %s's client did not stop within 10 s of its context's end: a MulticastWait of the client package does not return at its context's end", cl.node)
	}
}

// waitViews waits until the last regular view of group at the clients of
// ids has exactly the clients of members.
func (s *sites) waitViews(timeout time.Duration, group string, ids, members []string) {
	s.t.Helper()
	var want []string
	for _, id := range members {
		want = append(want, id+":app")
	}
	slices.Sort(want)
	deadline := time.Now().Add(timeout)
	for {
		last := ""
		for _, id := range ids {
			cl := s.nodes[id].cl
			cl.mu.Lock()
			v := cl.views[group]
			cl.mu.Unlock()
			if ms := slices.Sorted(slices.Values(v.Members)); !slices.Equal(ms, want) {
				last = fmt.Sprintf("%s's client has view %s of %s with %v", id, v.ID, group, ms)
				break
			}
		}
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no view of %s with %v within %v: %s", group, want, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGroups waits until the last regular view of every group at the
// clients of nodes that are in it has exactly the clients of those nodes.
func (s *sites) waitGroups(timeout time.Duration, nodes []string) {
	s.t.Helper()
	for _, g := range []string{globalGroup, localGroup, bcGroup, abGroup} {
		var in []string
		for _, id := range nodes {
			if slices.Contains(groupSites[g], s.nodes[id].site) {
				in = append(in, id)
			}
		}
		if len(in) > 0 {
			s.waitViews(timeout, g, in, in)
		}
	}
}

// live returns the nodes whose agent runs.
func (s *sites) live() []string {
	var out []string
	for _, id := range s.ids {
		if s.nodes[id].p != nil {
			out = append(out, id)
		}
	}
	return out
}

// startAll starts every node's agent, waits for the domain's
// configuration of all of them, connects a client at each and waits until
// every client's groups hold every node.
func (s *sites) startAll() {
	s.t.Helper()
	for _, id := range s.ids {
		s.start(id)
	}
	took := s.waitDomain(60*time.Second, s.ids)
	s.t.Logf("the domain's configuration of all %d nodes formed %v after the agents started", len(s.ids), took.Round(time.Millisecond))
	for _, id := range s.ids {
		s.connect(id)
	}
	s.waitGroups(30*time.Second, s.ids)
}

// stop ends the scenarios after quiesce: it keeps the views each client
// got until then, closes every live node's client and stops its agent.
func (s *sites) stop() map[*siteClient][]client.View {
	s.t.Helper()
	views := map[*siteClient][]client.View{}
	for _, cl := range s.clients {
		cl.mu.Lock()
		views[cl] = slices.Clone(cl.seen)
		cl.mu.Unlock()
	}
	for _, id := range s.live() {
		s.nodes[id].cl.c.Close()
		if !s.nodes[id].p.Stop(10 * time.Second) {
			s.t.Errorf("agent %s did not exit within 10 s of SIGTERM; killed it", id)
		}
	}
	return views
}

// quiesce stops every client's load, flushes it, and waits until every
// live node applied the same domain position with nothing pending, and
// no local ring has anything left to send, for a while.
func (s *sites) quiesce() {
	s.t.Helper()
	for _, id := range s.live() {
		cl := s.nodes[id].cl
		cl.endLoad(s.t)
		cl.mu.Lock()
		err := cl.err
		cl.mu.Unlock()
		if err != nil {
			s.t.Fatalf("the client of %s, which stayed connected, failed: %v", id, err)
		}
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		err = cl.c.Flush(ctx)
		cancel()
		if err != nil {
			s.t.Fatalf("flush of %s's client: %v", id, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	last, stable := "", 0
	for stable < 5 {
		if time.Now().After(deadline) {
			s.t.Fatalf("the nodes did not settle within 30 s: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
		var b strings.Builder
		pos, busy := "", false
		for _, id := range s.live() {
			st, err := s.status(id)
			if err != nil {
				s.t.Fatal(err)
			}
			d, _ := s.domainOf(id)
			busy = busy || st.Counters.Pending+st.Counters.Queued > 0 || d.Pending > 0 || (pos != "" && d.Position != pos)
			pos = d.Position
			fmt.Fprintf(&b, "%s: position %s pending %d, ring delivered %d, pending %d; ", id, d.Position, d.Pending, st.Counters.MessagesDelivered, st.Counters.Pending+st.Counters.Queued)
		}
		if cur := b.String(); !busy && cur == last {
			stable++
		} else {
			last, stable = cur, 0
		}
	}
}

// TestSitesNetns runs three sites in network namespaces — a (3 nodes,
// two gateways), b (3) and c (2), multicast inside each, the relay between
// the gateways (10 ms a–b, 200 ms to c) — with a Go client at every node
// in group orders, which spans the sites, at sites a and b in group ab,
// at b and c in group bc, and at site a in group a-local, each
// multicasting under load, through: kill -9 of a's active gateway (a-2
// takes over); c cut off at its relay and healed; the whole of site b
// killed and restarted. At the end every agent stops, and the EVS checker
// judges all traces (the domain's order across configurations), the
// traces show no message lost or duplicated at a node that stayed
// connected with its sender (lostAndDuplicated), and every fault brought
// every node the group views views_test.go says, and every client got
// the views its agent traced.
func TestSitesNetns(t *testing.T) {
	s := newSites(t)
	began := time.Now()
	s.startAll()
	all := s.ids
	time.Sleep(2 * time.Second) // steady load

	// kill -9 of site a's active gateway, under load: a-2 takes over.
	d, err := s.domainOf("a-3")
	if err != nil {
		t.Fatal(err)
	}
	if d.Active != "a-1" {
		t.Fatalf("a-3 sees %q as site a's active gateway, want a-1", d.Active)
	}
	survivors := []string{"a-2", "a-3"}
	atKill := s.traceSizes(survivors)
	marks := []map[string]pos{s.mark()}
	s.kill("a-1")
	noA1 := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == "a-1" })
	took := s.waitDomain(60*time.Second, noA1)
	if d, _ := s.domainOf("a-2"); d.Role != "active gateway" {
		t.Errorf("a-2's role after the failover: %q", d.Role)
	}
	t.Logf("kill -9 of a-1 (a's active gateway): the domain's configuration of the 7 others after %v", took.Round(time.Millisecond))
	s.waitGroups(30*time.Second, noA1)
	time.Sleep(2 * time.Second)
	afterFailover := s.traceSizes(survivors)

	// Site c cut off at its relay, then healed.
	marks = append(marks, s.mark())
	nstest.Sh(t, nstest.Bin, "relay", "ctl", s.ctl("c"), "cut", "all")
	ab := []string{"a-2", "a-3", "b-1", "b-2", "b-3"}
	c := []string{"c-1", "c-2"}
	took = s.waitDomain(60*time.Second, ab, c)
	t.Logf("c cut off: configurations %v and %v after %v", ab, c, took.Round(time.Millisecond))
	s.waitGroups(30*time.Second, ab)
	s.waitGroups(30*time.Second, c)
	time.Sleep(2 * time.Second) // each side under load
	marks = append(marks, s.mark())
	nstest.Sh(t, nstest.Bin, "relay", "ctl", s.ctl("c"), "heal", "all")
	took = s.waitDomain(60*time.Second, noA1)
	t.Logf("c healed: the configuration of the 7 after %v", took.Round(time.Millisecond))
	s.waitGroups(30*time.Second, noA1)
	time.Sleep(2 * time.Second)

	// The whole of site b killed, then restarted.
	b := []string{"b-1", "b-2", "b-3"}
	marks = append(marks, s.mark())
	for _, id := range b {
		s.kill(id)
	}
	ac := []string{"a-2", "a-3", "c-1", "c-2"}
	took = s.waitDomain(60*time.Second, ac)
	t.Logf("site b killed: the configuration of a and c after %v", took.Round(time.Millisecond))
	s.waitGroups(30*time.Second, ac)
	time.Sleep(time.Second)
	marks = append(marks, s.mark())
	for _, id := range b {
		s.start(id)
	}
	took = s.waitDomain(60*time.Second, noA1)
	t.Logf("site b restarted: the configuration of the 7 after %v", took.Round(time.Millisecond))
	for _, id := range b {
		s.connect(id)
	}
	s.waitGroups(30*time.Second, noA1)
	time.Sleep(2 * time.Second)

	// Site a has no member of bc: its nodes got bc's messages as stubs,
	// a-2 also as the active gateway after a-1's kill (its log holds the
	// stubs it applied before); site c none of ab: its nodes got ab's.
	for _, id := range s.live() {
		d, err := s.domainOf(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d stubs delivered (%d with a recipient), %d made as the active gateway, %d catch-ups refused for a stub, %d refusals taken", id, d.Layer.Stubs, d.Layer.StubRecipients, d.Bridge.Elided, d.Bridge.ElidedRefused, d.Bridge.Gaps)
		if d.Layer.StubRecipients > 0 {
			t.Errorf("%s delivered %d stubs it had recipients for: lost messages", id, d.Layer.StubRecipients)
		}
		if strings.HasPrefix(id, "a-") && d.Layer.Stubs == 0 {
			t.Errorf("%s delivered no stub of bc's messages", id)
		}
		if strings.HasPrefix(id, "c-") && d.Layer.Stubs == 0 {
			t.Errorf("%s delivered no stub of ab's messages", id)
		}
	}

	s.quiesce()
	// The end of the scenarios, before the clients leave, and the views
	// each client got until then.
	marks = append(marks, s.mark())
	got := s.stop()
	t.Logf("scenarios ran in %v", time.Since(began).Round(time.Millisecond))

	events := s.checkAll(t)

	// Issue 9 item 4: across the failover, site a's members that stayed
	// connected miss nothing and see no configuration without b and c
	// (a new gateway's rings of its site alone stay out of the bridge
	// until it joins the other sites: gateway.Grace.StartsAlone).
	t.Run("failover without a partition", func(t *testing.T) {
		others := []string{"b-1", "b-2", "b-3", "c-1", "c-2"}
		var confs []string
		missed := 0
		for _, id := range survivors {
			file := s.nodes[id].traces[0]
			before := readTraceRange(t, file, 0, atKill[id])
			at := ""
			for _, e := range before {
				if e.Ev == evs.EvInstall && e.Domain == s.domain && e.Conf.Kind == "reg" {
					at = e.Conf.ID
				}
			}
			for _, e := range readTraceRange(t, file, atKill[id], afterFailover[id]) {
				if e.Ev == evs.EvInstall && e.Domain == s.domain && e.Conf.Kind == "reg" && slices.ContainsFunc(others, func(o string) bool { return !slices.Contains(e.Conf.Members, o) }) {
					confs = append(confs, fmt.Sprintf("%s installed %s of %v", id, e.Conf.ID, e.Conf.Members))
				}
			}
			// The messages of b and c sent in the configuration id was
			// in at the kill that id did not deliver.
			got := map[string]bool{}
			for _, e := range events {
				if e.Ev == evs.EvDeliver && e.Node == id && e.Domain == s.domain {
					got[e.Msg] = true
				}
			}
			for _, e := range events {
				if e.Ev == evs.EvSend && e.Domain == s.domain && e.ConfID == at && slices.Contains(others, e.Node) && !got[e.Msg] {
					missed++
				}
			}
		}
		t.Logf("failover: site a's members that stayed connected installed %d configurations without b and c %v, and missed %d messages of b and c sent in the configuration they were in at the kill", len(confs), confs, missed)
		if len(confs) > 0 || missed > 0 {
			t.Errorf("site a's members went through a partition at the failover")
		}
	})

	// Issue 9 items 3 and 7: the group views of each fault, at every
	// node, by the rules of views_test.go, and what each client got.
	t.Run("views of the faults", func(t *testing.T) {
		fed := []string{globalGroup, bcGroup, abGroup}
		bNodes := []string{"b-1", "b-2", "b-3"}
		// a-1's kill: a failover, no round; bc has no member on a-1.
		s.checkFault(t, "kill -9 of a-1", marks[0], marks[1], false, append(fed, localGroup), side{noA1, all, noA1})
		s.checkFault(t, "c cut off", marks[1], marks[2], true, fed, side{ab, noA1, ab}, side{c, noA1, c})
		// The heal merges both sides into one configuration: each group's
		// view of it has one id (one place in the domain's order) at
		// every node of both.
		for g, ids := range s.checkFault(t, "c healed", marks[2], marks[3], true, fed, side{ab, ab, noA1}, side{c, c, noA1}) {
			if len(ids) > 1 {
				t.Errorf("c healed: group %s: the merge's regular view has different ids at the two sides (id: nodes) %v", g, ids)
			}
		}
		s.checkFault(t, "site b killed", marks[3], marks[4], true, fed, side{ac, noA1, ac})
		// Site b restarted: its nodes join (rounds), then its clients.
		for _, g := range fed {
			joiners, final := s.members(g, bNodes), s.members(g, noA1)
			ids := map[string]map[string]string{} // joiner: view id: nodes
			for _, id := range noA1 {
				fresh := slices.Contains(bNodes, id)
				var before []string
				if !fresh {
					before = s.members(g, ac)
				}
				vs := s.views(t, id, g, marks[4], marks[5])
				by, problems := checkRejoin(id, before, vs, joiners, final, fresh)
				for _, p := range problems {
					t.Errorf("site b restarted: group %s at %s: %s; views %s", g, id, p, fmtViews(vs))
				}
				for j, vid := range by {
					if ids[j] == nil {
						ids[j] = map[string]string{}
					}
					ids[j][vid] += id + " "
				}
			}
			for j, by := range ids {
				if len(by) > 1 {
					t.Errorf("site b restarted: group %s: %s joined in views of different ids (id: nodes) %v", g, j, by)
				}
			}
		}
		// Every client got the views its agent traced, from its join on.
		for _, cl := range s.clients {
			end := marks[5][cl.id]
			complete := end.file == cl.trace
			if !complete {
				fi, err := os.Stat(cl.trace)
				if err != nil {
					t.Fatal(err)
				}
				end = pos{cl.trace, fi.Size()}
			}
			es := readTraceRange(t, cl.trace, 0, end.off)
			traced := map[string][]evs.View{}
			for _, g := range cl.groups {
				traced[g] = viewsOf(es, s.groupDomain(g), g)
			}
			for _, p := range checkClientViews(cl.id+":app", cl.groups, got[cl], traced, complete) {
				t.Errorf("the client of %s: %s", cl.node, p)
			}
		}
	})
}

// traceSizes returns the current sizes of the first trace files of ids.
func (s *sites) traceSizes(ids []string) map[string]int64 {
	out := map[string]int64{}
	for _, id := range ids {
		fi, err := os.Stat(s.nodes[id].traces[0])
		if err != nil {
			s.t.Fatal(err)
		}
		out[id] = fi.Size()
	}
	return out
}

// readTraceRange reads the trace lines of file between offsets from and
// to, which end whole lines (the agent writes whole lines).
func readTraceRange(t *testing.T, file string, from, to int64) []evs.Event {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	es, err := evs.Read(bytes.NewReader(b[from:to]), file)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// readTraces reads the trace files that exist.
func readTraces(t *testing.T, files []string) []evs.Event {
	t.Helper()
	var all []evs.Event
	for _, p := range files {
		es, err := evs.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
	}
	return all
}

// checkAll reads every agent's traces once the agents stopped, and
// judges them: the EVS checker over the agents' traces (with the
// domain's messages of killed senders counted as sent where the
// federation orders them) and the federation rings', the domain's one
// order (EVS.md property 9), and no message lost or duplicated at a node
// that stayed connected with its sender (lostAndDuplicated). It returns
// the agents' events without the orphans.
func (s *sites) checkAll(t *testing.T) []evs.Event {
	t.Helper()
	var traces, fedTraces []string
	for _, id := range s.ids {
		traces = append(traces, s.nodes[id].traces...)
		fedTraces = append(fedTraces, s.nodes[id].fedTraces...)
	}
	events := readTraces(t, traces)
	fedEvents := readTraces(t, fedTraces)
	report := func(what string, vs []evs.Violation) {
		t.Helper()
		if len(vs) > 0 {
			var b strings.Builder
			evs.Report(&b, vs)
			t.Errorf("EVS violations in %s:\n%s", what, b.String())
		}
	}
	// A domain message counts as sent where the federation orders it: a
	// sender killed before its message came down never wrote the send
	// line of a message the others deliver (evs.Orphans).
	full := events
	events, orphans, bad := evs.Orphans(s.domain, events)
	report("the orphans' orders", bad)
	report("the orphans' senders", evs.LiveOrphans(full, events, s.killed))
	report("the agents' traces", evs.Check(events, evs.Options{Failed: s.killed, DomainOrder: true}))
	report("the domain's one order (EVS.md property 9)", hiersim.OneOrder(s.domain, slices.DeleteFunc(slices.Clone(events), func(e evs.Event) bool { return e.Domain != s.domain })))
	report("the federation rings' traces", evs.Check(fedEvents, evs.Options{}))
	t.Logf("EVS check: agents' traces %s (and %d messages of killed senders delivered that their senders had not recorded as sent); federation rings' traces %s", evs.Summarize(events), orphans, evs.Summarize(fedEvents))
	for _, r := range lostAndDuplicated(events, s.killed) {
		t.Logf("%s", r)
		if r.Lost > 0 || r.Duplicated > 0 {
			t.Errorf("domain %s: %d messages lost and %d duplicated at nodes that stayed connected with their senders, e.g. %v", r.Domain, r.Lost, r.Duplicated, r.Examples)
		}
	}
	return events
}
