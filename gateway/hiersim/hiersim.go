// Package hiersim simulates the hierarchy of one federation domain: every
// site's local ring and the federation ring among the sites' active
// gateways are real localring.Node cores in localring/sim clusters
// (every packet through the real codec, per-link delays from the topology
// file), and every node of every site runs a gateway/bridge.Site. The
// clusters advance together in steps of Options.Step of virtual time;
// what a bridge asks to submit on one ring is submitted at the end of the
// step that produced it.
//
// Every node writes the trace of the domain (domain "fed/<name>", order =
// localring.DomainOrder.Seq) besides its local ring's; Run checks the
// domain traces with evs.Options.DomainOrder, the local rings' and the
// federation ring's with the ring rules, and counts the messages each
// live node lost or delivered twice.
//
// It lives above localring/sim, so that localring/sim stays ring-only.
package hiersim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/sim"
	"github.com/atoll-gcs/atoll/topology"
)

// Options configure a run.
type Options struct {
	// Topology is the topology file; Domain the federation domain of its
	// plan to run ("" for the first one).
	Topology string
	Domain   string
	// Form is the virtual time the rings get to form before any load
	// (default 20 s: a federation ring over 200 ms links takes seconds).
	Form time.Duration
	// Load is how long clients send (default 5 s), Settle how long the
	// run goes on after (default 20 s).
	Load, Settle time.Duration
	// Rate is the messages per second clients send, over all nodes
	// (default 50).
	Rate int
	// Step is the quantum the clusters advance by together (default 1 ms).
	Step time.Duration
	// Fault is injected a third into the load, at a site the seed picks:
	// FaultNone, FaultGatewayCrash, FaultGatewayPause or FaultCut.
	Fault Fault
	// Outage is how long a pause or a cut lasts (default 5 s).
	Outage time.Duration
	// Log, when set, receives one line per ring install, fault and
	// domain stream entry (for replaying a failed seed).
	Log io.Writer
}

// Fault is a fault of the hierarchy a run injects.
type Fault string

const (
	FaultNone Fault = ""
	// FaultGatewayCrash kills the site's active gateway (kill -9: its
	// local ring node and its federation ring node), while it forwards in
	// both directions.
	FaultGatewayCrash Fault = "gateway-crash"
	// FaultGatewayPause stops the active gateway (SIGSTOP) for Outage: a
	// standby takes over, then the old one resumes, is fenced and, as the
	// plan's first choice, takes over again.
	FaultGatewayPause Fault = "gateway-pause"
	// FaultCut cuts the site's gateways off from every other site's for
	// Outage, then heals: a partition and a merge of the domain.
	FaultCut Fault = "cut"
)

func (o *Options) defaults() {
	if o.Form == 0 {
		o.Form = 20 * time.Second
	}
	if o.Load == 0 {
		o.Load = 5 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 20 * time.Second
	}
	if o.Rate == 0 {
		o.Rate = 50
	}
	if o.Step == 0 {
		o.Step = time.Millisecond
	}
	if o.Outage == 0 {
		o.Outage = 5 * time.Second
	}
}

// Result is what a run found.
type Result struct {
	Seed       uint64
	Domain     string
	Violations []evs.Violation // of the domain's traces and of every ring's
	Sent       int             // messages clients sent to the domain
	// Lost and Duplicated count, over the nodes alive at the end, client
	// messages of live senders that a node did not deliver although it
	// installed the domain configuration they were delivered in (or that
	// no one delivered), and deliveries of a message a node had delivered
	// already.
	Lost, Duplicated int
	// Orphans counts messages whose sender crashed before the federation
	// ordered them: delivered (at one order everywhere) but not in the
	// checked trace, which has no send for them.
	Orphans int
	// LostLog names each lost message and the node that lost it.
	LostLog  []string
	Trace    []evs.Event             // the domain's trace, every node
	FedTrace []evs.Event             // the federation ring's trace
	Bridges  map[string]bridge.Stats // by node id
}

// Failed reports whether the run found anything wrong.
func (r *Result) Failed() bool { return len(r.Violations) > 0 || r.Lost > 0 || r.Duplicated > 0 }

type node struct {
	id    localring.NodeID
	site  *site
	slot  int // in site.ring
	fslot int // in the federation cluster, -1 when not a gateway
	inc   uint64
	b     *bridge.Site
	conf  bridge.DomainConf   // the domain configuration it installed last
	local [][]byte            // to submit on the local ring
	fed   [][]byte            // to submit on the federation ring
	seen  map[string]int      // deliveries per client payload
	confs []bridge.DomainConf // domain configurations installed, in order
}

type site struct {
	name  string
	ring  *sim.Cluster
	nodes []*node
}

type hier struct {
	opts    Options
	rng     *rand.Rand
	dom     *topology.Domain
	sites   []*site
	byID    map[localring.NodeID]*node
	fed     *sim.Cluster
	fslots  []*node // federation slot -> gateway node
	trace   []evs.Event
	sent    []string // client payloads
	from    []*node  // their senders
	victim  *site
	where   map[string]string // client payload -> the configuration it was delivered in
	lostLog []string
}

// Run runs one seed.
func Run(seed uint64, opts Options) (*Result, error) {
	opts.defaults()
	f, err := topology.Load(opts.Topology)
	if err != nil {
		return nil, err
	}
	plan := f.Plan()
	var dom *topology.Domain
	for i := range plan.Domains {
		d := &plan.Domains[i]
		if d.Kind == topology.FederationDomain && (opts.Domain == "" || d.Name == opts.Domain) {
			dom = d
			break
		}
	}
	if dom == nil {
		return nil, fmt.Errorf("hiersim: %s has no federation domain %q", opts.Topology, opts.Domain)
	}
	h := &hier{opts: opts, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), dom: dom, byID: map[localring.NodeID]*node{}, where: map[string]string{}}
	if err := h.build(f, seed); err != nil {
		return nil, err
	}
	for _, s := range h.sites {
		s.ring.StartAll()
	}
	h.run(opts.Form, false)
	h.run(opts.Load/3, true)
	h.victim = h.sites[h.rng.IntN(len(h.sites))]
	undo := h.inject(h.victim)
	h.run(opts.Outage, true)
	undo()
	h.run(opts.Load-opts.Load/3-opts.Outage, true)
	h.run(opts.Settle, false)
	return h.result(seed), nil
}

func rtt(f *topology.File, a, b string) time.Duration {
	for _, l := range f.Links {
		if len(l.Between) == 2 && (l.Between[0] == a && l.Between[1] == b || l.Between[0] == b && l.Between[1] == a) {
			return l.RTT.D()
		}
	}
	return 100 * time.Millisecond
}

func (h *hier) build(f *topology.File, seed uint64) error {
	var fids []localring.NodeID
	for _, name := range h.dom.Sites {
		var ts *topology.Site
		for i := range f.Sites {
			if f.Sites[i].Name == name {
				ts = &f.Sites[i]
			}
		}
		if ts == nil {
			return fmt.Errorf("hiersim: site %s of domain %s is not in %s", name, h.dom.Name, h.opts.Topology)
		}
		s := &site{name: name}
		var ids []localring.NodeID
		for _, tn := range ts.Nodes {
			ids = append(ids, localring.NodeID(tn.ID))
		}
		s.ring = sim.NewClusterOf(seed^uint64(len(h.sites)+1)*0x9e37, ids)
		s.ring.SetDomain("site/" + name)
		s.ring.Log = h.opts.Log
		for i, id := range ids {
			b, err := bridge.New(bridge.Config{Domain: h.dom.Name, Site: name, Node: id})
			if err != nil {
				return err
			}
			n := &node{id: id, site: s, slot: i, fslot: -1, b: b, seen: map[string]int{}}
			s.nodes = append(s.nodes, n)
			h.byID[id] = n
		}
		for _, g := range h.dom.Gateways {
			if g.Site != name || g.Active == "" {
				continue
			}
			for _, id := range append([]string{g.Active}, g.Standby...) {
				n := h.byID[localring.NodeID(id)]
				if n == nil {
					return fmt.Errorf("hiersim: gateway %s of site %s is not one of its nodes", id, name)
				}
				n.fslot = len(fids)
				fids = append(fids, localring.NodeID(name))
				h.fslots = append(h.fslots, n)
			}
		}
		s.ring.OnEvent = h.localEvent(s)
		h.sites = append(h.sites, s)
	}
	h.fed = sim.NewClusterOf(seed^0xfed, fids)
	h.fed.Config = federation.RingConfig(f, h.dom)
	h.fed.SetDomain(h.dom.Name)
	h.fed.Log = h.opts.Log
	delays := make([][]time.Duration, len(fids))
	for i := range fids {
		delays[i] = make([]time.Duration, len(fids))
		for j := range fids {
			if fids[i] != fids[j] {
				delays[i][j] = rtt(f, string(fids[i]), string(fids[j])) / 2
			} else {
				delays[i][j] = 100 * time.Microsecond
			}
		}
	}
	h.fed.SetDelays(delays)
	h.fed.OnEvent = h.fedEvent
	return nil
}

// localEvent feeds a site's local ring events to the node's bridge.
func (h *hier) localEvent(s *site) func(localring.NodeID, uint64, localring.Event) {
	return func(id localring.NodeID, inc uint64, e localring.Event) {
		n := h.byID[id]
		n.inc = inc
		switch e.Kind {
		case localring.EventInstall:
			active := false
			if e.Conf.Kind == localring.Regular {
				gw, _, ok := federation.ActiveGateway(h.dom, s.name, e.Conf.MemberIDs())
				active = ok && gw == string(id)
			}
			was := n.b.Active()
			n.b.LocalInstall(e.Conf, active)
			if e.Conf.Kind == localring.Regular && n.fslot >= 0 {
				switch {
				case active && !was:
					h.fed.Start(n.fslot)
				case !active && was:
					h.fed.Crash(n.fslot)
				}
			}
		case localring.EventDeliver:
			n.b.LocalDeliver(&e.Msg)
		}
		h.drain(n)
	}
}

// fedEvent feeds the federation ring's events to the active gateway's
// bridge.
func (h *hier) fedEvent(id localring.NodeID, inc uint64, e localring.Event) {
	var n *node
	for i, g := range h.fslots {
		if fn := h.fed.Node(i); fn != nil && fn.ID() == (localring.Member{ID: id, Inc: inc}) {
			n = g
		}
	}
	if n == nil {
		return
	}
	switch e.Kind {
	case localring.EventInstall:
		n.b.FedInstall(e.Conf)
	case localring.EventDeliver:
		n.b.FedDeliver(&e.Msg)
	case localring.EventSuperseded:
		h.logf("%s: federation member %s#%d fenced", n.id, id, inc)
		n.b.FedStopped()
	}
	h.drain(n)
}

func (h *hier) line(n *node, ev string) evs.Event {
	return evs.Event{Ev: ev, Node: string(n.id), Inc: n.inc, Domain: h.dom.Name}
}

// drain takes a bridge's output: the stream goes to the trace at once (it
// is what the node's application sees, in order), submissions wait for
// the end of the step.
func (h *hier) drain(n *node) {
	r := n.b.Ready()
	n.local = append(n.local, r.Local...)
	n.fed = append(n.fed, r.Fed...)
	if len(r.Local) > 0 || len(r.Fed) > 0 {
		h.logf("%s submits %d local, %d federation", n.id, len(r.Local), len(r.Fed))
	}
	for _, e := range r.Stream {
		h.logf("%s stream %d %s %s %s", n.id, e.Kind, e.Pos, e.Conf.ID, e.Origin)
		switch e.Kind {
		case bridge.EntryConfig:
			n.conf = e.Conf
			n.confs = append(n.confs, e.Conf)
			l := h.line(n, evs.EvInstall)
			var members []string
			for _, s := range h.sites {
				if slices.Contains(e.Conf.Sites, s.name) {
					for _, m := range s.nodes {
						members = append(members, string(m.id))
					}
				}
			}
			slices.Sort(members)
			l.Conf = &evs.Conf{ID: e.Conf.ID, Kind: e.Conf.Kind.String(), Members: members}
			l.ConfID = e.Conf.ID
			h.trace = append(h.trace, l)
		case bridge.EntrySend:
			l := h.line(n, evs.EvSend)
			l.ConfID = e.Conf.ID
			l.Msg = e.Origin.ID.String()
			l.Svc = localring.Agreed.String()
			l.Hash = tracemap.Hash(e.Payload)
			h.trace = append(h.trace, l)
		case bridge.EntryMessage:
			l := h.line(n, evs.EvDeliver)
			l.ConfID = n.conf.ID
			l.Msg = e.Origin.ID.String()
			l.Svc = localring.Agreed.String()
			l.Hash = tracemap.Hash(e.Payload)
			l.Order = tracemap.DomainOrder(e.Pos)
			h.trace = append(h.trace, l)
			n.seen[string(e.Payload)]++
			if _, ok := h.where[string(e.Payload)]; !ok {
				h.where[string(e.Payload)] = n.conf.ID
			}
		}
	}
}

func (h *hier) logf(format string, a ...any) {
	if h.opts.Log != nil {
		fmt.Fprintf(h.opts.Log, "%8.3fms ", float64(h.fed.Elapsed().Microseconds())/1000)
		fmt.Fprintf(h.opts.Log, format, a...)
		fmt.Fprintln(h.opts.Log)
	}
}

// flushSubmissions submits what the bridges asked for during the step.
func (h *hier) flushSubmissions() {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			for _, p := range n.local {
				_ = s.ring.SubmitPayload(n.slot, localring.Agreed, p)
			}
			n.local = nil
			if n.fslot >= 0 && h.fed.Alive(n.fslot) {
				for _, p := range n.fed {
					_ = h.fed.SubmitPayload(n.fslot, localring.Safe, p)
				}
			}
			n.fed = nil
		}
	}
}

func (h *hier) run(d time.Duration, load bool) {
	steps := int(d / h.opts.Step)
	perStep := float64(h.opts.Rate) * h.opts.Step.Seconds()
	for range steps {
		for _, s := range h.sites {
			s.ring.RunFor(h.opts.Step)
		}
		h.fed.RunFor(h.opts.Step)
		if load && h.rng.Float64() < perStep {
			h.send()
		}
		h.flushSubmissions()
	}
}

// inject applies the run's fault at site s and returns what ends it.
func (h *hier) inject(s *site) (undo func()) {
	gw := h.active(s)
	h.logf("fault %s at site %s (gateway %v)", h.opts.Fault, s.name, gw != nil)
	switch h.opts.Fault {
	case FaultGatewayCrash:
		if gw != nil {
			s.ring.Crash(gw.slot)
			h.fed.Crash(gw.fslot)
		}
	case FaultGatewayPause:
		if gw != nil {
			s.ring.Pause(gw.slot)
			h.fed.Pause(gw.fslot)
			return func() {
				s.ring.Resume(gw.slot)
				h.fed.Resume(gw.fslot)
			}
		}
	case FaultCut:
		var in, out []int
		for i, g := range h.fslots {
			if g.site == s {
				in = append(in, i)
			} else {
				out = append(out, i)
			}
		}
		h.fed.Partition(in, out)
		return h.fed.Heal
	}
	return func() {}
}

// active returns the site's active gateway, or nil.
func (h *hier) active(s *site) *node {
	for _, n := range s.nodes {
		if n.b.Active() && n.fslot >= 0 && h.fed.Alive(n.fslot) {
			return n
		}
	}
	return nil
}

// send has a random node whose domain configuration is regular send one
// message up.
func (h *hier) send() {
	s := h.sites[h.rng.IntN(len(h.sites))]
	n := s.nodes[h.rng.IntN(len(s.nodes))]
	if n.conf.Kind != localring.Regular || !s.ring.Alive(n.slot) {
		return
	}
	payload := []byte("m" + strconv.Itoa(len(h.sent)) + "@" + string(n.id))
	if s.ring.SubmitPayload(n.slot, localring.Agreed, bridge.EncodeUp(localring.Agreed, payload)) == nil {
		h.logf("%s sends %s", n.id, payload)
		h.sent = append(h.sent, string(payload))
		h.from = append(h.from, n)
	}
}

func (h *hier) result(seed uint64) *Result {
	r := &Result{Seed: seed, Domain: h.dom.Name, Trace: h.trace, FedTrace: h.fed.Trace(), Bridges: map[string]bridge.Stats{}}
	for id, n := range h.byID {
		r.Bridges[string(id)] = n.b.Stats()
	}
	var failed = map[evs.Proc]bool{}
	var ring []evs.Event
	for _, s := range h.sites {
		ring = append(ring, s.ring.Trace()...)
		for p := range s.ring.Failed() {
			failed[p] = true
		}
	}
	fedFailed := h.fed.Failed()
	r.Violations = append(r.Violations, evs.Check(ring, evs.Options{Failed: failed, Quiescent: true})...)
	r.Violations = append(r.Violations, evs.Check(h.fed.Trace(), evs.Options{Failed: fedFailed})...)
	r.Violations = append(r.Violations, h.fed.FenceViolations()...)
	trace, orphans := h.orphans()
	r.Orphans = orphans
	r.Violations = append(r.Violations, evs.Check(trace, evs.Options{Failed: failed, Quiescent: true, DomainOrder: true})...)
	r.Sent = len(h.sent)
	r.Lost, r.Duplicated = h.lostAndDuplicated()
	r.LostLog = h.lostLog
	return r
}

// orphans returns the domain's trace without the deliveries of messages
// whose sender never wrote their send line: a domain message counts as
// sent where the federation orders it, which a sender that crashed before
// it came down cannot record. It fails the run (as a violation) unless
// every process delivered each such message at the same order.
func (h *hier) orphans() ([]evs.Event, int) {
	sent := map[string]bool{}
	for _, l := range h.trace {
		if l.Ev == evs.EvSend {
			sent[l.Msg] = true
		}
	}
	var out []evs.Event
	orphan := map[string]uint64{}
	for _, l := range h.trace {
		if l.Ev == evs.EvDeliver && !sent[l.Msg] {
			if o, ok := orphan[l.Msg]; ok && o != l.Order {
				panic(fmt.Sprintf("hiersim: %s delivered at order %d and %d", l.Msg, o, l.Order))
			}
			orphan[l.Msg] = l.Order
			continue
		}
		out = append(out, l)
	}
	return out, len(orphan)
}

// owes reports whether n must deliver a message of a sender at site from
// that was delivered in configuration conf: n installed conf and stayed
// connected with the sender's site (conf is n's last configuration, or
// the next one includes that site). A site without a gateway is not in the
// domain's configuration (see gateway/bridge): what the others deliver
// meanwhile is not its.
func (n *node) owes(conf, from string) bool {
	for i, c := range n.confs {
		if c.ID == conf {
			return i == len(n.confs)-1 || slices.Contains(n.confs[i+1].Sites, from)
		}
	}
	return false
}

// lostAndDuplicated counts, over the nodes alive at the end, the client
// messages of live senders a node did not deliver although it owed them
// (or that no one delivered), and the deliveries of a message a node had
// delivered already.
func (h *hier) lostAndDuplicated() (lost, dup int) {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if !s.ring.Alive(n.slot) {
				continue
			}
			for _, c := range n.seen {
				if c > 1 {
					dup += c - 1
				}
			}
			for i, m := range h.sent {
				from := h.from[i]
				if !from.site.ring.Alive(from.slot) {
					continue
				}
				conf, ok := h.where[m]
				if (!ok || n.owes(conf, from.site.name)) && n.seen[m] == 0 {
					lost++
					h.lostLog = append(h.lostLog, fmt.Sprintf("%s lost %s (delivered in %q)", n.id, m, conf))
				}
			}
		}
	}
	return lost, dup
}
