package sites

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// Config configures a World.
type Config struct {
	// Topology is the topology file (YAML). Its QUIC endpoints are
	// replaced with loopback ports; every site lists its nodes' unicast
	// addresses. Required.
	Topology []byte
	// Name is the file name in errors. Default "sites.yaml".
	Name string
	// Dir holds the certificates, the agents' data dirs and the traces
	// (NODE.trace, NODE.fed). Default: a temporary directory that Close
	// removes.
	Dir string
	// Logs receives the agents' logs. Default: a buffer that Logs returns.
	Logs io.Writer
	// LogLevel is the agents' log level. Default Info.
	LogLevel slog.Level
	// Preset is the agents' ring preset. Default agent.PresetLAN.
	Preset agent.Preset
	// DrainTimeout is the agents' drain on a graceful stop. Default 500 ms.
	DrainTimeout time.Duration
	// FedTrace makes the gateways write their federation rings' traces
	// (NODE.fed) for CheckFederation.
	FedTrace bool
	// NoTrace has the agents write no EVS trace (NODE.trace), as agents
	// run without --trace in production: a traced agent holds its ring's
	// new messages while its group loop's trace lags (agent traceSends),
	// which a latency measurement may not want. Check then refuses.
	NoTrace bool
	// Full sets the topology's federation.unneeded to full: every site
	// gets every message of its domains in full, no stubs (default: the
	// file's, stubs unless it says full).
	Full bool
	// Seed seeds the WAN emulator's random choices; zero is random.
	Seed uint64
	// ClientName is the name of each node's client: its members are
	// "NODE:NAME". Default "app".
	ClientName string
	// OnDeliver, when set, is called for every delivery of a message to a
	// node's client, on that client's reader goroutine.
	OnDeliver func(Delivery)
	// OnAgent, when set, is called with every node's agent after it is
	// created and before it runs (a test's hooks: agent/export_test.go).
	OnAgent func(id string, a *agent.Agent)
	// From, when set, is a world another process set up (World.Spec), of
	// which this process runs some nodes: New takes its endpoints,
	// certificates, key and gateway rings instead of making its own, and
	// starts no WAN mesh (the process that made the spec runs it, and
	// every flow between two sites goes through it). Topology, Name, Dir,
	// Full and NoTrace are the spec's.
	From *Spec
}

// Spec is what another process needs to run nodes of a world (Config.From):
// the one-process world is split by site into processes, as separate
// hosts would be, for the isolation benchmark.
type Spec struct {
	// Topology and Name are the world's file as given to New, Full its
	// Config.Full.
	Topology []byte `json:"topology"`
	Name     string `json:"name"`
	Full     bool   `json:"full,omitempty"`
	NoTrace  bool   `json:"no_trace,omitempty"`
	// Dir holds the certificates; the nodes write their data and traces
	// there.
	Dir string `json:"dir"`
	// QUIC is each site's endpoint in the file, Rings each gateway's
	// federation rings (where it listens, what it dials: the mesh's
	// relays).
	QUIC  map[string]string                `json:"quic"`
	Rings map[string]map[string]agent.Ring `json:"rings"`
	Key   seal.Key                         `json:"key"`
}

// Spec returns what another process needs to run nodes of w (Config.From).
func (w *World) Spec() Spec {
	quic := map[string]string{}
	for _, s := range w.file.Sites {
		quic[s.Name] = s.QUIC
	}
	return Spec{Topology: w.cfg.Topology, Name: w.cfg.Name, Full: w.cfg.Full, NoTrace: w.cfg.NoTrace, Dir: w.dir, QUIC: quic, Rings: w.rings, Key: w.key}
}

// World is a set of sites in one process. Its methods are safe for
// concurrent use, except that a node is started, stopped, killed or
// restarted by one goroutine at a time.
type World struct {
	cfg     Config
	dir     string
	tempDir bool
	file    *topology.File
	plan    *topology.Plan
	mesh    *wanem.Mesh
	certs   string
	key     seal.Key
	nets    map[string]*transport.FakeNetwork
	rings   map[string]map[string]agent.Ring // node -> domain -> its federation ring's addresses
	ids     []string
	nodes   map[string]*Node
	byAddr  map[string]map[netip.AddrPort]*Node // site -> LAN address -> node
	logBuf  *syncbuf.Buffer
	log     io.Writer
	start   time.Time

	mu     sync.Mutex
	ended  map[evs.Proc]bool // processes stopped or killed before the end
	sent   []sent
	lat    map[string][]time.Duration // by group, since TakeLatencies
	lacks  []Lack                     // what Count found lost
	closed bool
}

// sent is a message a node's agent accepted.
type sent struct {
	payload, node, phase, group string
}

// Delivery is one message delivered to a node's client.
type Delivery struct {
	// Node is the receiving node.
	Node string
	// Group is the message's first destination group; Payload its payload.
	Group, Payload string
	// Sender, Phase and Sent are read from a payload of the world's
	// (Send, Load); empty and zero for other payloads.
	Sender, Phase string
	Sent          time.Time
	// At is when the client read it; Latency is At - Sent (zero when
	// Sent is).
	At      time.Time
	Latency time.Duration
}

// New sets up a world from cfg: the plan, the certificates, the key, the
// simulated LANs and the WAN mesh. It starts no node.
func New(cfg Config) (w *World, err error) {
	if cfg.Name == "" {
		cfg.Name = "sites.yaml"
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 500 * time.Millisecond
	}
	if cfg.Preset == "" {
		cfg.Preset = agent.PresetLAN
	}
	if cfg.ClientName == "" {
		cfg.ClientName = "app"
	}
	if f := cfg.From; f != nil {
		cfg.Topology, cfg.Name, cfg.Dir, cfg.Full, cfg.NoTrace = f.Topology, f.Name, f.Dir, f.Full, f.NoTrace
	}
	w = &World{cfg: cfg, nodes: map[string]*Node{}, nets: map[string]*transport.FakeNetwork{},
		rings: map[string]map[string]agent.Ring{}, byAddr: map[string]map[netip.AddrPort]*Node{},
		ended: map[evs.Proc]bool{}, lat: map[string][]time.Duration{}, start: time.Now()}
	w.log = cfg.Logs
	if w.log == nil {
		w.logBuf = &syncbuf.Buffer{}
		w.log = w.logBuf
	}
	if w.dir = cfg.Dir; w.dir == "" {
		if w.dir, err = os.MkdirTemp("", "atoll-sites-"); err != nil {
			return nil, err
		}
		w.tempDir = true
	}
	world := w // the error returns below set w to nil
	defer func() {
		if err != nil {
			world.Close()
		}
	}()
	f, errs := topology.Decode(cfg.Name, cfg.Topology)
	if len(errs) > 0 {
		return nil, fmt.Errorf("sites: %w", errs)
	}
	// One loopback endpoint per site and federation domain: one QUIC
	// endpoint carries one federation ring, and a gateway may be in
	// several domains.
	eps := map[string]map[string]string{} // domain -> site -> endpoint
	first := map[string]string{}          // site -> its first domain's endpoint
	if cfg.From != nil {
		first = cfg.From.QUIC
	}
	for _, d := range f.Plan().Domains {
		if d.Kind != topology.FederationDomain || cfg.From != nil {
			continue
		}
		eps[d.Name] = map[string]string{}
		for _, s := range d.Sites {
			if eps[d.Name][s], err = freeUDP(); err != nil {
				return nil, err
			}
			if first[s] == "" {
				first[s] = eps[d.Name][s]
			}
		}
	}
	for i := range f.Sites {
		s := &f.Sites[i]
		if len(s.Unicast) != len(s.Nodes) {
			return nil, fmt.Errorf("sites: site %s lists %d unicast addresses for %d nodes: give each node its address (they name the nodes on the simulated LAN)", s.Name, len(s.Unicast), len(s.Nodes))
		}
		if ep := first[s.Name]; ep != "" {
			s.QUIC = ep
		}
		for k := range s.Nodes {
			s.Nodes[k].QUIC = ""
		}
	}
	if errs := f.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("sites: %w", errs)
	}
	if w.cfg.Full {
		if f.Federation == nil {
			f.Federation = &topology.Federation{}
		}
		f.Federation.Unneeded = topology.UnneededFull
	}
	w.file, w.plan = f, f.Plan()
	if len(w.plan.Rejections) > 0 {
		var b bytes.Buffer
		for _, r := range w.plan.Rejections {
			fmt.Fprintf(&b, "; %s: %s (%s)", r.Path, r.Msg, r.Fix)
		}
		return nil, fmt.Errorf("sites: the planner rejects the topology%s", b.String())
	}
	for _, s := range f.Sites {
		for _, n := range s.Nodes {
			w.ids = append(w.ids, n.ID)
		}
		w.nets[s.Name] = &transport.FakeNetwork{}
		w.byAddr[s.Name] = map[netip.AddrPort]*Node{}
	}
	for i := range f.Sites {
		s := &f.Sites[i]
		lan, byAddr := w.nets[s.Name], w.byAddr[s.Name]
		lan.SetDrop(func(from, to netip.AddrPort, _ []byte) bool {
			f, t := byAddr[from], byAddr[to]
			return f.isDead() || t.isDead() || f != nil && t != nil && f.lanPart.Load() != t.lanPart.Load()
		})
		for k, nd := range s.Nodes {
			ap, err := netip.ParseAddrPort(s.Unicast[k])
			if err != nil {
				if a, err2 := netip.ParseAddr(s.Unicast[k]); err2 == nil {
					port := s.Port
					if port == 0 {
						port = topology.DefaultPort
					}
					ap, err = netip.AddrPortFrom(a, uint16(port)), nil
				}
			}
			if err != nil {
				return nil, fmt.Errorf("sites: site %s: unicast address %q: %w", s.Name, s.Unicast[k], err)
			}
			n := &Node{ID: nd.ID, Site: s.Name, w: w, addr: ap}
			w.nodes[nd.ID] = n
			byAddr[ap] = n
		}
	}
	w.certs = filepath.Join(w.dir, "certs")
	if cfg.From != nil {
		w.key, w.rings = cfg.From.Key, cfg.From.Rings
		return w, nil
	}
	if len(first) > 0 {
		if _, err := pki.Make(f, pki.Options{Dir: w.certs}); err != nil {
			return nil, fmt.Errorf("sites: certificates: %w", err)
		}
	}
	w.key = seal.GenerateKey()
	if err := w.setUpMesh(eps, first); err != nil {
		return nil, err
	}
	return w, nil
}

// setUpMesh starts the WAN mesh between the sites of federation domains
// and fills in each gateway's rings: where it listens and what it dials.
// eps are the endpoints by domain and site, base each site's first one:
// the mesh's relays lead there, and AddRelay's to the others, over the
// same links.
func (w *World) setUpMesh(eps map[string]map[string]string, base map[string]string) error {
	if len(base) < 2 {
		return nil
	}
	var err error
	if w.mesh, err = wanem.NewMesh(wanem.MeshConfig{Sites: base, Seed: w.cfg.Seed}); err != nil {
		return fmt.Errorf("sites: WAN mesh: %w", err)
	}
	if _, err := w.mesh.ApplyTopology(w.file); err != nil {
		return fmt.Errorf("sites: WAN mesh: %w", err)
	}
	for _, d := range w.plan.Domains {
		if d.Kind != topology.FederationDomain {
			continue
		}
		for _, from := range d.Sites {
			dial := map[string]string{}
			for _, to := range d.Sites {
				switch {
				case to == from:
				case eps[d.Name][to] == base[to]:
					dial[to] = w.mesh.Addr(from, to)
				default:
					if dial[to], err = w.mesh.AddRelay(from, to, eps[d.Name][to]); err != nil {
						return fmt.Errorf("sites: WAN mesh: %w", err)
					}
				}
			}
			// The site that sorts first is dialled by none (a gateway
			// dials the sites after its own): each of its gateways gets a
			// port of its own, and one taking over never waits for the
			// port of the one it replaces.
			first := from == slices.Min(d.Sites)
			for _, id := range w.SiteNodes(from) {
				if w.rings[id] == nil {
					w.rings[id] = map[string]agent.Ring{}
				}
				listen := eps[d.Name][from]
				if first {
					if listen, err = freeUDP(); err != nil {
						return err
					}
				}
				w.rings[id][d.Name] = agent.Ring{Listen: listen, Dial: dial}
			}
		}
	}
	return nil
}

// File returns the topology file, with the world's QUIC endpoints.
func (w *World) File() *topology.File { return w.file }

// Plan returns the plan of the file.
func (w *World) Plan() *topology.Plan { return w.plan }

// Mesh returns the WAN emulator between the sites (nil with fewer than
// two sites in federation domains): SetPath, Link(a, b).Set and Stats
// change and read its paths.
func (w *World) Mesh() *wanem.Mesh { return w.mesh }

// Dir returns the directory of the certificates, data dirs and traces.
func (w *World) Dir() string { return w.dir }

// Nodes returns every node's id, site by site in the file's order.
func (w *World) Nodes() []string { return slices.Clone(w.ids) }

// SiteNodes returns the ids of site's nodes.
func (w *World) SiteNodes(site string) []string {
	var out []string
	for _, id := range w.ids {
		if w.nodes[id].Site == site {
			out = append(out, id)
		}
	}
	return out
}

// Node returns node id (nil if there is none).
func (w *World) Node(id string) *Node { return w.nodes[id] }

// Running returns the ids of the running nodes.
func (w *World) Running() []string {
	var out []string
	for _, id := range w.ids {
		if w.nodes[id].Running() {
			out = append(out, id)
		}
	}
	return out
}

// Member returns the member name of node id's client ("id:app").
func (w *World) Member(id string) string { return id + ":" + w.cfg.ClientName }

// Since returns the time since New.
func (w *World) Since() time.Duration { return time.Since(w.start) }

// Logs returns the agents' logs when Config.Logs was not set.
func (w *World) Logs() string {
	if w.logBuf == nil {
		return ""
	}
	return w.logBuf.String()
}

// StartAll starts every node that is not running.
func (w *World) StartAll() error {
	for _, id := range w.ids {
		if !w.nodes[id].Running() {
			if err := w.Start(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// Start starts node id's agent (with a new incarnation when it ran
// before) and connects its client.
func (w *World) Start(id string) error {
	n := w.nodes[id]
	if n == nil {
		return fmt.Errorf("sites: no node %q (nodes %v)", id, w.ids)
	}
	if n.Running() {
		return fmt.Errorf("sites: node %s is running", id)
	}
	cfg, err := agent.FromTopology(w.file, id, w.cfg.Preset)
	if err != nil {
		return err
	}
	n.dead.Store(false)
	nw, err := w.nets[n.Site].Listen(n.addr)
	if err != nil {
		return fmt.Errorf("sites: node %s on its LAN: %w", id, err)
	}
	cfg.Network, cfg.Security = nw, agent.Security{Key: w.key}
	cfg.DataDir, cfg.DrainTimeout = filepath.Join(w.dir, id), w.cfg.DrainTimeout
	cfg.Logger = slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: w.cfg.LogLevel}))
	cfg.AdminSocket, cfg.ClientSocket = "-", "-"
	if !w.cfg.NoTrace {
		cfg.TracePath = filepath.Join(w.dir, id+".trace")
	}
	if rings := w.rings[id]; len(rings) > 0 {
		cfg.Federation = &agent.Federation{File: w.file, Plan: w.plan, CertDir: w.certs, Rings: rings, ListenPacket: n.listenPacket}
		if w.cfg.FedTrace {
			cfg.Federation.TracePath = filepath.Join(w.dir, id+".fed")
		}
	} else {
		cfg.Federation = &agent.Federation{File: w.file, Plan: w.plan}
	}
	a, err := agent.New(cfg)
	if err != nil {
		nw.Close()
		return fmt.Errorf("sites: agent %s: %w", id, err)
	}
	if w.cfg.OnAgent != nil {
		w.cfg.OnAgent(id, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, err := client.DialAgent(dctx, a, client.WithName(w.cfg.ClientName), client.WithEventBuffer(1<<16))
	if err != nil {
		cancel()
		<-done
		return fmt.Errorf("sites: client of %s: %w", id, err)
	}
	n.mu.Lock()
	n.agent, n.client, n.cancel, n.done = a, c, cancel, done
	n.got, n.gotAt, n.views, n.groups, n.errs = map[string]int{}, map[string]time.Time{}, map[string][]View{}, map[string]bool{}, nil
	n.running = true
	n.mu.Unlock()
	go n.read(c)
	return nil
}

// Stop stops node id gracefully: its client disconnects and its agent
// leaves its rings. The process counts as failed for Check.
func (w *World) Stop(id string) error {
	n := w.nodes[id]
	if n == nil {
		return fmt.Errorf("sites: no node %q", id)
	}
	return n.stop(true)
}

// Kill crashes node id as kill -9 would: from this instant nothing it
// sends reaches its LAN or the WAN, then its agent is stopped. The
// process counts as failed for Check.
func (w *World) Kill(id string) error {
	n := w.nodes[id]
	if n == nil {
		return fmt.Errorf("sites: no node %q", id)
	}
	if !n.Running() {
		return fmt.Errorf("sites: node %s is not running", id)
	}
	n.kill()
	return n.stop(true)
}

// Restart starts node id again after Stop or Kill (a new incarnation and a
// new client that has joined no group).
func (w *World) Restart(id string) error { return w.Start(id) }

// StopAll stops every running node gracefully (they do not count as
// failed: the run ends).
func (w *World) StopAll() error {
	var errs []error
	for _, id := range w.ids {
		if n := w.nodes[id]; n.Running() {
			errs = append(errs, n.stop(false))
		}
	}
	return errors.Join(errs...)
}

// Close stops every node, the mesh, and removes the temporary directory.
func (w *World) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	err := w.StopAll()
	if w.mesh != nil {
		err = errors.Join(err, w.mesh.Close())
	}
	if w.tempDir {
		os.RemoveAll(w.dir)
	}
	return err
}

// Isolate cuts every WAN path of site; Rejoin heals them.
func (w *World) Isolate(site string) error {
	if w.mesh == nil {
		return errors.New("sites: no WAN mesh")
	}
	return w.mesh.Isolate(site)
}

// Rejoin heals every WAN path of site.
func (w *World) Rejoin(site string) error {
	if w.mesh == nil {
		return errors.New("sites: no WAN mesh")
	}
	return w.mesh.Rejoin(site)
}

// SplitLAN splits the LAN of the site of the nodes named in parts: each
// part hears only its own nodes, and the site's nodes named in none go
// with the first part. HealLAN(site) makes it whole again.
func (w *World) SplitLAN(parts ...[]string) error {
	site := ""
	for i, part := range parts {
		for _, id := range part {
			n := w.nodes[id]
			if n == nil || site != "" && n.Site != site {
				return fmt.Errorf("sites: SplitLAN: %q is no node of site %q", id, site)
			}
			site = n.Site
			n.lanPart.Store(int32(i))
		}
	}
	return nil
}

// HealLAN makes the LAN of site whole again (SplitLAN).
func (w *World) HealLAN(site string) {
	for _, n := range w.nodes {
		if n.Site == site {
			n.lanPart.Store(0)
		}
	}
}

// CutGateway drops every packet of node id's federation ring members,
// both ways, from now until MendGateway(id), while the node and its LAN
// run on: a gateway cut off from every other site.
func (w *World) CutGateway(id string) { w.nodes[id].wanCut.Store(true) }

// MendGateway ends CutGateway(id).
func (w *World) MendGateway(id string) { w.nodes[id].wanCut.Store(false) }

// Cut cuts the WAN path between sites a and b (both ways).
func (w *World) Cut(a, b string) error {
	if w.mesh == nil {
		return errors.New("sites: no WAN mesh")
	}
	return w.mesh.Cut(a, b)
}

// Heal heals the WAN path between sites a and b.
func (w *World) Heal(a, b string) error {
	if w.mesh == nil {
		return errors.New("sites: no WAN mesh")
	}
	return w.mesh.Heal(a, b)
}

// Join has the clients of ids join group.
func (w *World) Join(ctx context.Context, group string, ids ...string) error {
	for _, id := range ids {
		n := w.nodes[id]
		if n == nil {
			return fmt.Errorf("sites: no node %q", id)
		}
		c := n.Client()
		if c == nil {
			return fmt.Errorf("sites: node %s is not running", id)
		}
		if err := c.Join(ctx, group); err != nil {
			return fmt.Errorf("sites: %s joins %s: %w", id, group, err)
		}
		n.mu.Lock()
		n.groups[group] = true
		n.mu.Unlock()
	}
	return nil
}

// WaitDomains waits until, in every federation domain, the running nodes
// of its sites share one configuration of all of them.
func (w *World) WaitDomains(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, d := range w.plan.Domains {
		if d.Kind != topology.FederationDomain {
			continue
		}
		var ids []string
		for _, id := range w.Running() {
			if slices.Contains(d.Sites, w.nodes[id].Site) {
				ids = append(ids, id)
			}
		}
		if err := w.WaitDomain(d.Name, ids, time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// WaitDomain waits until the nodes ids share one configuration of domain
// with exactly len(ids) members, out of any round.
func (w *World) WaitDomain(domain string, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		statuses := map[string][]agent.DomainStatus{}
		for _, id := range ids {
			a := w.nodes[id].Agent()
			if a == nil {
				return fmt.Errorf("sites: node %s is not running", id)
			}
			statuses[id] = a.Status().Domains
		}
		ok, last := OneConfiguration(domain, ids, statuses)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sites: %v did not come to one configuration of domain %s with all %d of them within %v (%s)", ids, domain, len(ids), timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OneConfiguration reports whether the nodes ids share one configuration
// of domain with exactly len(ids) members, out of any round, from their
// agents' statuses (agent.Status().Domains, by node); when not, last says
// what the first node that differs has.
func OneConfiguration(domain string, ids []string, statuses map[string][]agent.DomainStatus) (ok bool, last string) {
	conf := ""
	ok = len(ids) > 0
	for _, id := range ids {
		doms := statuses[id]
		i := slices.IndexFunc(doms, func(s agent.DomainStatus) bool { return s.Domain == domain })
		if i < 0 {
			// A node that just started lists its domains once its
			// group loop first publishes them: not yet, not never.
			return false, fmt.Sprintf("%s: not yet in domain %s", id, domain)
		}
		ds := doms[i]
		last = fmt.Sprintf("%s: configuration %s of %d members, round %v", id, ds.Configuration, ds.Members, ds.Round)
		if ds.Members != len(ids) || ds.Round || (conf != "" && ds.Configuration != conf) {
			return false, last
		}
		conf = ds.Configuration
	}
	return ok, last
}

// WaitView waits until the clients of ids have a regular view of group
// whose members are exactly their clients.
func (w *World) WaitView(group string, ids []string, timeout time.Duration) error {
	var want []string
	for _, id := range ids {
		want = append(want, w.Member(id))
	}
	slices.Sort(want)
	deadline := time.Now().Add(timeout)
	for {
		ok, last := true, ""
		for _, id := range ids {
			v, _ := w.nodes[id].LastView(group)
			ms := slices.Sorted(slices.Values(v.Members))
			if !slices.Equal(ms, want) {
				ok, last = false, fmt.Sprintf("%s has view %s with %v", id, v.ID, ms)
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sites: the clients of %v saw no view of %s with exactly %v within %v (%s)", ids, group, want, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// JoinView has the clients of ids join group (Join) and waits until they
// have a regular view of group whose members are exactly their clients
// (WaitView, within timeout).
func (w *World) JoinView(ctx context.Context, group string, ids []string, timeout time.Duration) error {
	if err := w.Join(ctx, group, ids...); err != nil {
		return err
	}
	return w.WaitView(group, ids, timeout)
}

// TakeLatencies returns the latencies of the deliveries of the world's
// payloads since the last call, by group, and forgets them.
func (w *World) TakeLatencies() map[string][]time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.lat
	w.lat = map[string][]time.Duration{}
	return out
}

// Result is the outcome of an EVS check over traces.
type Result struct {
	// Events counts the trace lines, ByDomain by their domain.
	Events   int
	ByDomain map[string]int
	// Violations are the checker's findings: none when EVS held.
	Violations []evs.Violation
	// Orphans counts the messages of senders killed before the federation
	// ordered them: delivered, at one order everywhere, but with no send
	// line (evs.Orphans), so left out of the check.
	Orphans int
}

// Check stops every node and runs the EVS checker over every agent's
// trace, with the federation domains' domain-wide order; the processes
// stopped or killed before the end count as failed.
func (w *World) Check() (Result, error) {
	if w.cfg.NoTrace {
		return Result{}, errors.New("sites: the agents write no trace (Config.NoTrace): nothing to check")
	}
	if err := w.StopAll(); err != nil {
		return Result{}, err
	}
	w.mu.Lock()
	failed := maps.Clone(w.ended)
	w.mu.Unlock()
	return w.check(".trace", evs.Options{Failed: failed, DomainOrder: true}, true)
}

// Failed returns the processes of this world's nodes that were stopped or
// killed before the end.
func (w *World) Failed() []evs.Proc {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Collect(maps.Keys(w.ended))
}

// MarkFailed has Check count ps as failed: processes of nodes that another
// process of the world (Config.From) stopped or killed before the end.
func (w *World) MarkFailed(ps ...evs.Proc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range ps {
		w.ended[p] = true
	}
}

// CheckFederation stops every node and runs the EVS checker over the
// federation rings' own traces (Config.FedTrace).
func (w *World) CheckFederation() (Result, error) {
	if !w.cfg.FedTrace {
		return Result{}, errors.New("sites: the federation rings write no trace (set Config.FedTrace)")
	}
	if err := w.StopAll(); err != nil {
		return Result{}, err
	}
	return w.check(".fed", evs.Options{}, false)
}

func (w *World) check(ext string, opts evs.Options, orphans bool) (Result, error) {
	res := Result{ByDomain: map[string]int{}}
	var all []evs.Event
	for _, id := range w.ids {
		p := filepath.Join(w.dir, id+ext)
		es, err := evs.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // never started, or no federation ring
		}
		if err != nil {
			return res, err
		}
		for _, e := range es {
			res.ByDomain[e.Domain]++
		}
		all = append(all, es...)
	}
	res.Events = len(all)
	if orphans {
		// A domain message counts as sent where the federation orders it:
		// a sender killed before its message came down never wrote the
		// send line of a message the others deliver (evs.Orphans).
		// Only a failed sender may lack it (evs.LiveOrphans).
		full := all
		for _, d := range w.plan.Domains {
			if d.Kind != topology.FederationDomain {
				continue
			}
			var n int
			var bad []evs.Violation
			all, n, bad = evs.Orphans(d.Name, all)
			res.Orphans += n
			res.Violations = append(res.Violations, bad...)
		}
		res.Violations = append(res.Violations, evs.LiveOrphans(full, all, opts.Failed)...)
	}
	res.Violations = append(res.Violations, evs.Check(all, opts)...)
	return res, nil
}

// freeUDP returns a loopback UDP address that was free a moment ago, for
// an agent to bind later. It is taken below the kernel's ephemeral range
// (32768 and up by default), where the relays of the WAN emulator and
// every other socket bound to port 0 meanwhile take theirs: one such
// socket that got a port handed out here before the agent bound it made a
// gateway dial a relay that led to another domain's ring (atoll demo in
// CI, once: "ALPN mismatch" until the run gave up). No port is handed out
// twice in one process.
func freeUDP() (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := freePortMin + rand.IntN(freePortMax-freePortMin)
		if portsTaken[port] {
			continue
		}
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use
		}
		pc.Close()
		portsTaken[port] = true
		return pc.LocalAddr().String(), nil
	}
	return "", fmt.Errorf("sites: no free loopback UDP port between %d and %d", freePortMin, freePortMax)
}

// The ports freeUDP hands out, below the default ephemeral range.
const freePortMin, freePortMax = 20000, 32000

var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)
