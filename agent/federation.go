package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// Federation configures the node's gateway role: the federation domains
// of the plan in which it is a gateway of its site. While the node is its
// site's active gateway for a domain (federation.ActiveGateway over the
// local ring's regular configuration), it runs the site's member of that
// domain's federation ring (package gateway).
type Federation struct {
	// File and Plan are the topology file and its plan. Required.
	File *topology.File
	Plan *topology.Plan
	// CertDir holds the cluster CA and this gateway's certificate as
	// `atoll certs` writes them: ca.crt, NODE.crt, NODE.key. Without it a
	// gateway-eligible node does not take part in federation rings (and
	// says so at start).
	CertDir string
	// Listen is the UDP address of the QUIC transport of the site's first
	// federation domain (default ":PORT" with the port of the node's QUIC
	// endpoint in the topology file). A gateway runs one federation ring
	// per domain, each on its own port: the site's k-th federation domain
	// (plan order, from 0) listens on the port plus k, as the plan's
	// endpoints say (topology.Plan.GatewayEndpoint).
	Listen string
	// Dial, when set, overrides the endpoint the gateway dials to reach a
	// site (site name → "host:port" of the site's first federation
	// domain; its k-th is at the port plus k): a WAN emulator in between
	// (the demo, tests). Default: the plan's endpoints.
	Dial map[string]string
	// TracePath, when set, is the file the federation rings' EVS trace is
	// appended to (domain fed/...).
	TracePath string
	// DrainTimeout bounds the drain when a federation member stops
	// because its node is no longer the active gateway. Default 1 s.
	DrainTimeout time.Duration
	// Rings, when set, gives the federation ring of a domain (by domain
	// name) its own Listen and Dial instead of the ones above and their
	// port offsets (sites in one process, whose ports are not
	// consecutive: internal/sites). One QUIC endpoint carries one
	// federation ring: the domains' Listen addresses must differ.
	Rings map[string]Ring
	// ListenPacket, when set, opens the UDP socket of a federation ring
	// member at its Listen address instead of the transport (the
	// in-process world of internal/sites wraps the socket to emulate a
	// crash). The agent closes it when the member ends.
	ListenPacket func(listen string) (net.PacketConn, error)
}

// Ring is where the federation ring of one domain listens and dials.
type Ring struct {
	// Listen is the UDP address of the ring's QUIC transport.
	Listen string
	// Dial overrides the endpoint of each other site, as Federation.Dial.
	Dial map[string]string
}

// ring returns the Listen and Dial of the federation ring of domain at
// site: its entry in Rings, else Listen and Dial with each port offset by
// the domain's place among the federation domains of the site it is of
// (topology.DomainEndpoint, as the plan's endpoints). An empty Listen
// stays empty: the gateway then listens on the plan's endpoint.
func (f *Federation) ring(domain, site string) (listen string, dial map[string]string, err error) {
	if r, ok := f.Rings[domain]; ok {
		return r.Listen, r.Dial, nil
	}
	if f.Listen != "" {
		if listen, err = topology.DomainEndpoint(f.Listen, f.Plan.SiteDomainIndex(domain, site)); err != nil {
			return "", nil, fmt.Errorf("agent: federation listen address of domain %s: %w", domain, err)
		}
	}
	if f.Dial != nil {
		dial = map[string]string{}
		for s, ep := range f.Dial {
			k := f.Plan.SiteDomainIndex(domain, s)
			if k < 0 {
				continue // not in the domain
			}
			if dial[s], err = topology.DomainEndpoint(ep, k); err != nil {
				return "", nil, fmt.Errorf("agent: federation dial address of site %s in domain %s: %w", s, domain, err)
			}
		}
	}
	return listen, dial, nil
}

// checkRings checks the Listen and Dial of each of ds at site: they are
// valid, and no two domains listen on the same address.
func (f *Federation) checkRings(ds []*topology.Domain, site string) error {
	seen := map[string]string{}
	for _, d := range ds {
		listen, _, err := f.ring(d.Name, site)
		if err != nil {
			return err
		}
		if _, port, _ := net.SplitHostPort(listen); port == "0" || listen == "" {
			continue // any free port, or the plan's endpoint of the domain
		}
		if o, ok := seen[listen]; ok {
			return fmt.Errorf("agent: federation domains %s and %s both listen on %s: one QUIC endpoint carries one federation ring; give each its own address", o, d.Name, listen)
		}
		seen[listen] = d.Name
	}
	return nil
}

// GatewayEligible says whether node is one of its site's gateways (active
// or standby) in a federation domain of the plan.
func GatewayEligible(p *topology.Plan, site, node string) bool {
	return len(fedDomains(p, site, node)) > 0
}

// fedDomains lists the federation domains in which node is a gateway of
// its site.
func fedDomains(p *topology.Plan, site, node string) []*topology.Domain {
	var out []*topology.Domain
	for i := range p.Domains {
		d := &p.Domains[i]
		if d.Kind != topology.FederationDomain {
			continue
		}
		for _, g := range d.Gateways {
			if g.Site == site && (g.Active == node || slices.Contains(g.Standby, node)) {
				out = append(out, d)
			}
		}
	}
	return out
}

// fedManager starts and stops the node's federation ring members as the
// local ring's configurations make it its site's active gateway or not.
type fedManager struct {
	a       *Agent
	cfg     Federation
	log     *slog.Logger
	domains []*topology.Domain
	trace   *os.File

	mu      sync.Mutex
	runners map[string]*fedRun // by domain name
	loads   map[string]*Load   // the load generator of each domain
	wg      sync.WaitGroup
	closed  bool
}

type fedRun struct {
	r       *gateway.Runner
	cancel  context.CancelFunc
	newLoad atomic.Pointer[Load]
}

// newFedManager checks the certificates and says what the node's gateway
// role will be. It returns nil when the node is a gateway of no domain.
func newFedManager(a *Agent, cfg Federation) (*fedManager, error) {
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = time.Second
	}
	m := &fedManager{a: a, cfg: cfg, log: a.log.With("role", "gateway"), runners: map[string]*fedRun{}, loads: map[string]*Load{}}
	m.domains = fedDomains(cfg.Plan, a.cfg.Site, a.cfg.Node)
	if len(m.domains) == 0 {
		return nil, nil
	}
	var names []string
	for _, d := range m.domains {
		names = append(names, d.Name)
	}
	if cfg.CertDir == "" {
		m.log.Warn("this node is a gateway of its site for federation domains but has no certificate directory (--cert-dir); it will not take part in the federation rings even when it is the active gateway", "domains", names)
		return nil, nil
	}
	if err := cfg.checkRings(m.domains, a.cfg.Site); err != nil {
		return nil, err
	}
	_, certFile, _ := gateway.CertFiles(cfg.CertDir, a.cfg.Node)
	if _, _, err := gateway.LoadCertificates(cfg.CertDir, a.cfg.Node); err != nil {
		return nil, fmt.Errorf("agent: node %s: %w", a.cfg.Node, err)
	}
	for _, f := range []string{certFile, certFile[:len(certFile)-len(pki.CertFile(a.cfg.Node))] + "ca.crt"} {
		if w, err := pki.ExpiryWarning(f, time.Now()); err == nil && w != "" {
			m.log.Warn(w)
		}
	}
	if cfg.TracePath != "" {
		var err error
		if m.trace, err = os.OpenFile(cfg.TracePath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("agent: federation trace file: %w", err)
		}
	}
	m.log.Info("gateway-eligible for federation domains: runs the site's federation ring member while this node is the site's active gateway", "domains", names, "cert_dir", cfg.CertDir)
	return m, nil
}

// roleChanged runs on the group loop at every regular
// configuration and every agreed handover, with the site's role for
// domain: it starts the member when this node became the active gateway,
// and fences and stops it when another node now is.
func (m *fedManager) roleChanged(domain string, role *federation.Role) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, d := range m.domains {
		if d.Name != domain {
			continue
		}
		active, rank, ok := role.Active()
		local, epoch := role.Term()
		run := m.runners[d.Name]
		switch {
		case ok && active == m.a.cfg.Node && run == nil:
			m.start(d, local, epoch)
		case run != nil && (!ok || active != m.a.cfg.Node):
			if ok {
				if inc, err := role.Incarnation(rank); err == nil {
					run.r.Fence(m.a.cfg.Site, inc)
				}
			}
			m.log.Info("no longer the site's active gateway: stopping the federation ring member", "domain", d.Name, "active", active, "local_ring", localring.RegularConfID(local), "epoch", epoch)
			run.cancel()
			delete(m.runners, d.Name)
		}
	}
}

// start starts the member of domain d; m.mu is held.
func (m *fedManager) start(d *topology.Domain, local localring.RingID, epoch int) {
	cert, roots, err := gateway.LoadCertificates(m.cfg.CertDir, m.a.cfg.Node)
	if err != nil {
		m.log.Error("cannot start the federation ring member", "domain", d.Name, "err", err)
		return
	}
	run := &fedRun{}
	if l := m.loads[d.Name]; l != nil {
		run.newLoad.Store(l)
	}
	var gen loadGen
	var submitted uint64
	listen, dial, err := m.cfg.ring(d.Name, m.a.cfg.Site)
	if err != nil {
		m.log.Error("cannot start the federation ring member", "domain", d.Name, "err", err)
		return
	}
	var conn net.PacketConn
	if m.cfg.ListenPacket != nil {
		if conn, err = m.cfg.ListenPacket(listen); err != nil {
			m.log.Error("cannot start the federation ring member: its UDP socket", "domain", d.Name, "listen", listen, "err", err)
			return
		}
	}
	cfg := gateway.Config{
		File: m.cfg.File, Plan: m.cfg.Plan, Domain: d.Name, Node: m.a.cfg.Node, Local: local, Epoch: epoch,
		Certificate: cert, Roots: roots, Listen: listen, Dial: dial, Conn: conn,
		DataDir: m.a.cfg.DataDir, Logger: m.a.log, DrainTimeout: m.cfg.DrainTimeout,
		Pass: func(now time.Time, n *localring.Node) {
			if l := run.newLoad.Swap(nil); l != nil {
				gen.set(*l, now)
			}
			gen.run(now, n, &submitted)
		},
		Deadline: func() time.Time {
			if run.newLoad.Load() != nil {
				return time.Now()
			}
			return gen.deadline()
		},
		Events: func(_ time.Time, evs []localring.Event) { m.a.fedEvents(d.Name, run, evs) },
	}
	if m.trace != nil {
		cfg.Trace = m.trace
	}
	r, err := gateway.New(cfg)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		m.log.Error("cannot start the federation ring member", "domain", d.Name, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run.r, run.cancel = r, cancel
	m.runners[d.Name] = run
	m.log.Info("this node is the site's active gateway: federation ring member started", "domain", d.Name, "local_ring", localring.RegularConfID(local), "epoch", epoch, "incarnation", r.Config().Ring.Incarnation)
	m.wg.Go(func() {
		err := r.Run(ctx)
		if conn != nil {
			conn.Close()
		}
		m.mu.Lock()
		if m.runners[d.Name] == run {
			delete(m.runners, d.Name)
		}
		m.mu.Unlock()
		m.a.fedStopped(d.Name, run, r.SupersededBy())
		if err != nil && !errors.Is(err, localring.ErrSuperseded) {
			m.log.Error("federation ring member ended; it starts again at the next local ring configuration that makes this node the active gateway", "domain", d.Name, "err", err)
		}
	})
}

// drain stops the running member of domain gracefully for a handover
// (the driver drains what it submitted, then leaves the ring) and returns
// it; nil when none runs. It stays the domain's runner until it stopped.
func (m *fedManager) drain(domain string) *fedRun {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	run := m.runners[domain]
	if run != nil {
		m.log.Info("handing the gateway role over: the federation ring member drains and leaves the ring", "domain", domain)
		run.cancel()
	}
	return run
}

// stop stops the member of domain, if one runs, as the end of its term
// (Agent.resumeHealed): the next term starts another.
func (m *fedManager) stop(domain string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if run := m.runners[domain]; run != nil {
		m.log.Info("ending the gateway term's federation ring member: the term resumes with a new one", "domain", domain)
		run.cancel()
		delete(m.runners, domain)
	}
}

// runner returns the running member of domain, or nil.
func (m *fedManager) runner(domain string) *fedRun {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runners[domain]
}

// setLoad sets the load generator of domain's federation ring member.
func (m *fedManager) setLoad(domain string, l Load) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	known := false
	for _, d := range m.domains {
		known = known || d.Name == domain
	}
	if !known {
		return fmt.Errorf("agent: node %s runs no federation ring of domain %q", m.a.cfg.Node, domain)
	}
	m.loads[domain] = &l
	if run := m.runners[domain]; run != nil {
		run.newLoad.Store(&l)
		run.r.Wake()
	}
	return nil
}

// stats returns the running members' stats.
func (m *fedManager) stats() []gateway.Stats {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	runs := make([]*fedRun, 0, len(m.runners))
	for _, r := range m.runners {
		runs = append(runs, r)
	}
	m.mu.Unlock()
	out := make([]gateway.Stats, len(runs))
	for i, r := range runs {
		out[i] = r.r.Stats()
	}
	slices.SortFunc(out, func(a, b gateway.Stats) int {
		if a.Domain < b.Domain {
			return -1
		}
		return 1
	})
	return out
}

// close stops every member (gracefully) and waits for them.
func (m *fedManager) close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.closed = true
	for _, r := range m.runners {
		r.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	if m.trace != nil {
		m.trace.Close()
	}
}
