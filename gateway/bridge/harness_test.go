package bridge

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// The harness drives bridges over ideal rings: a site's local ring
// delivers every submitted message to every live node of the site in one
// order, and the federation ring does the same among the active gateways
// that joined it. Configuration changes and crashes happen only when a test
// says so, between deliveries, which is where the bridge's failover cases
// live (an Up ordered whose Down was not injected yet, Ups not yet
// ordered). The ring protocol's own faults are the hierarchy simulator's.

type hnode struct {
	id     localring.NodeID
	site   *hsite
	b      *Site
	alive  bool
	out    bool   // alive but cut off from its local ring (paused)
	inc    uint64 // incarnation: 1, bumped at every restart
	seq    uint64 // local message counter
	stream []Entry
	// foreign is the node's bridge of another federation domain of its
	// site (shareLocalRings): its messages share the local ring.
	foreign *Site
	// reforms are the rings its bridge asked to form again
	// (Ready.Reform), in order; strayReforms how many of those asks were
	// for an Up of a member apart (Ready.Stray).
	reforms      []uint64
	strayReforms int
}

type hmsg struct {
	id      localring.MessageID
	payload []byte
}

// fedAt is m as the federation ring delivers it at place seq of ring.
func (m hmsg) fedAt(ring, seq uint64) *localring.Message {
	return &localring.Message{ID: m.id, Svc: FedService(m.payload), Payload: m.payload, Order: localring.Order{Ring: ring, Seq: seq}}
}

type hsite struct {
	name  string
	nodes []*hnode
	ring  uint64
	queue []hmsg
	gw    *hnode // active gateway, nil when none
	inFed bool   // its gateway is a member of the federation ring
	pkt   uint64 // the local ring's packet counter: every delivery its own packet
}

type harness struct {
	t       *testing.T
	sites   []*hsite
	fedRing uint64
	fedConf *localring.Configuration
	fedQ    []hmsg
	fedSeq  map[string]uint64
	fedPkt  uint64 // the federation ring's packet counter: every delivery its own packet
	// After fedSplit: each site's component of the federation, and each
	// component's ring; nil while the federation is one ring.
	comp     map[string]int
	compRing []uint64
	compConf []*localring.Configuration // each component's regular configuration
	// splitAlike has fedSplit give every component's ring the same
	// sequence number (each its own representative), as components
	// that formed their rings in the same rounds number them: their
	// configurations' entries then have the same places.
	splitAlike bool
	sent       []Origin // every Up sent, in sending order
	// frozen nodes keep what they must do uncollected: their crash
	// follows, so nothing they were about to send is sent.
	frozen map[*hnode]bool
	// fedLog is every message submitted on the federation ring, in order.
	fedLog []hmsg
	// maxLocal, when set (limitLocal), is the local rings' largest
	// message: one larger is refused, as a ring's Submit refuses it, and
	// counted in refused.
	maxLocal, refused int
}

func newHarness(t *testing.T, logEntries int, layout ...int) *harness {
	h := &harness{t: t, fedSeq: make(map[string]uint64), frozen: make(map[*hnode]bool)}
	for i, n := range layout {
		s := &hsite{name: string(rune('a' + i))}
		for j := range n {
			id := localring.NodeID(fmt.Sprintf("%s%d", s.name, j+1))
			b, err := New(Config{Domain: "fed/test", Site: s.name, Node: id, LogEntries: logEntries})
			if err != nil {
				t.Fatal(err)
			}
			s.nodes = append(s.nodes, &hnode{id: id, site: s, b: b, alive: true, inc: 1})
		}
		h.sites = append(h.sites, s)
		h.localConfig(s)
	}
	return h
}

// newDomain is newHarness with the federation ring formed among every
// site's gateway and the rings settled: the domain's first regular
// configuration, where most tests begin.
func newDomain(t *testing.T, logEntries int, layout ...int) *harness {
	h := newHarness(t, logEntries, layout...)
	var sites []string
	for _, s := range h.sites {
		sites = append(sites, s.name)
	}
	h.fedConfig(sites...)
	h.settle()
	return h
}

func (h *harness) site(name string) *hsite {
	for _, s := range h.sites {
		if s.name == name {
			return s
		}
	}
	h.t.Fatalf("no site %s", name)
	return nil
}

func (h *harness) node(id string) *hnode {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if string(n.id) == id {
				return n
			}
		}
	}
	h.t.Fatalf("no node %s", id)
	return nil
}

// collect takes a node's Ready: local messages join its site's ring, and
// federation messages the federation ring while its site is a member.
func (h *harness) collect(n *hnode) {
	if h.frozen[n] {
		return
	}
	r := n.b.Ready()
	if !n.alive {
		return
	}
	if n.foreign != nil {
		for _, p := range n.foreign.Ready().Local {
			n.seq++
			n.site.queue = append(n.site.queue, hmsg{localring.MessageID{Sender: n.id, Inc: n.inc, Seq: n.seq}, p})
		}
	}
	for _, p := range r.Local {
		if h.maxLocal > 0 && len(p) > h.maxLocal {
			h.refused++
			continue
		}
		n.seq++
		n.site.queue = append(n.site.queue, hmsg{localring.MessageID{Sender: n.id, Inc: n.inc, Seq: n.seq}, p})
	}
	if len(r.Fed) > 0 && !(n.site.inFed && n.site.gw == n) {
		h.t.Fatalf("%s has federation messages but is not its site's member of the federation ring", n.id)
	}
	for _, p := range r.Fed {
		h.fedSeq[n.site.name]++
		h.fedQ = append(h.fedQ, hmsg{localring.MessageID{Sender: localring.NodeID(n.site.name), Inc: 1, Seq: h.fedSeq[n.site.name]}, p})
		h.fedLog = append(h.fedLog, h.fedQ[len(h.fedQ)-1])
	}
	n.stream = append(n.stream, r.Stream...)
	if r.Reform {
		n.reforms = append(n.reforms, r.Ring)
		if r.Stray {
			n.strayReforms++
		}
	}
}

// earlyUps submits the pending Ups of site's gateway on the federation
// ring as a bridge did before Ups waited for the ring to settle and for
// the answers owed in it (submit): right after its Sync. Such a member,
// in a rolling upgrade, has the ring order its Ups before a catch-up
// answer.
func (h *harness) earlyUps(site string) {
	g := h.site(site).gw
	f := g.b.fed
	if f == nil || !f.regular || !f.syncSent {
		h.t.Fatalf("%s's gateway has not sent its Sync", site)
	}
	for i := range g.b.pending {
		if p := &g.b.pending[i]; p.ring == 0 {
			p.ring, p.submitted = f.ring, true
			u := p.fedUp
			u.ring = f.ring
			h.fedSeq[site]++
			h.fedQ = append(h.fedQ, hmsg{localring.MessageID{Sender: localring.NodeID(site), Inc: 1, Seq: h.fedSeq[site]}, encodeFedUp(&u)})
		}
	}
}

// send submits an Up from node id.
func (h *harness) send(id string, payload string) {
	n := h.node(id)
	n.seq++
	mid := localring.MessageID{Sender: n.id, Inc: n.inc, Seq: n.seq}
	n.site.queue = append(n.site.queue, hmsg{mid, n.b.EncodeUp(localring.Agreed, []byte(payload))})
	h.sent = append(h.sent, Origin{Site: n.site.name, ID: mid})
	if n.foreign != nil {
		n.seq++
		n.site.queue = append(n.site.queue, hmsg{localring.MessageID{Sender: n.id, Inc: n.inc, Seq: n.seq}, n.foreign.EncodeUp(localring.Agreed, []byte("foreign "+payload))})
	}
}

// sendSettled has each of the nodes ids send payload, in that order, then
// runs the rings until nothing is left to deliver.
func (h *harness) sendSettled(payload string, ids ...string) {
	for _, id := range ids {
		h.send(id, payload)
	}
	h.settle()
}

// afterRing is the step that ends most failover scenarios: a federation
// ring of sites forms and settles (fedConfig, settle), each of the nodes
// ids sends "after" round it (sendSettled), and every live node's order
// is checked (checkOrder). It returns the index in h.sent of the first
// "after".
func (h *harness) afterRing(sites []string, ids ...string) (from int) {
	h.fedConfig(sites...)
	h.settle()
	from = len(h.sent)
	h.sendSettled("after", ids...)
	h.checkOrder()
	return from
}

// shareLocalRings gives every node a bridge of another federation domain
// of its site, on the same local ring: its Haves, Agains and Ups (send
// sends one with each of the domain's) go round with the domain's own,
// as on a site in two federation domains. It has no federation ring.
func (h *harness) shareLocalRings(domain string) {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			b, err := New(Config{Domain: domain, Site: s.name, Node: n.id})
			if err != nil {
				h.t.Fatal(err)
			}
			n.foreign = b
		}
		h.localConfig(s)
	}
}

// limitLocal makes max the local rings' largest message, told to every
// bridge (Config.MaxLocalBytes).
func (h *harness) limitLocal(max int) {
	h.maxLocal = max
	for _, s := range h.sites {
		for _, n := range s.nodes {
			n.b.cfg.MaxLocalBytes = max
		}
	}
}

// localConfig installs a new local ring at s among its live nodes; the
// first live node is the active gateway.
func (h *harness) localConfig(s *hsite) {
	s.ring += 4
	var live []*hnode
	c := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: s.ring}}
	for _, n := range s.nodes {
		if n.alive && !n.out {
			live = append(live, n)
			c.Members = append(c.Members, localring.Member{ID: n.id, Inc: n.inc})
		}
	}
	c.ID = fmt.Sprintf("r:%d", s.ring)
	old := s.gw
	s.gw = nil
	if len(live) > 0 {
		s.gw = live[0]
	}
	if old != s.gw {
		s.inFed = false
	}
	for _, n := range live {
		n.b.LocalInstall(c, n == s.gw)
		if n.foreign != nil {
			n.foreign.LocalInstall(c, n == s.gw)
		}
		h.collect(n)
	}
}

// localStep delivers site s's queue to its live nodes.
func (h *harness) localStep(s *hsite) bool {
	q := s.queue
	s.queue = nil
	for _, m := range q {
		s.pkt++
		at := localring.Order{Ring: s.ring, Seq: s.pkt}
		for _, n := range s.nodes {
			if n.alive && !n.out {
				n.b.LocalDeliver(&localring.Message{ID: m.id, Svc: localring.Agreed, Payload: m.payload, Order: at})
				if n.foreign != nil {
					n.foreign.LocalDeliver(&localring.Message{ID: m.id, Svc: localring.Agreed, Payload: m.payload, Order: at})
				}
			}
		}
	}
	for _, n := range s.nodes {
		h.collect(n)
	}
	return len(q) > 0
}

func (h *harness) fedMembers() []*hnode {
	var g []*hnode
	for _, s := range h.sites {
		if s.inFed && s.gw != nil && s.gw.alive {
			g = append(g, s.gw)
		}
	}
	return g
}

// fedStep delivers the federation queue to the federation members.
func (h *harness) fedStep() bool { return h.fedStepFirst(len(h.fedQ)) }

// fedStepFirst delivers the first n messages of the federation queue to
// the federation members; the rest stay queued.
func (h *harness) fedStepFirst(n int) bool {
	q := h.fedQ[:n]
	h.fedQ = slices.Clone(h.fedQ[n:])
	for _, m := range q {
		h.fedPkt++
		for _, g := range h.fedMembers() {
			ring := h.fedRing
			if h.comp != nil {
				c := h.comp[g.site.name]
				if c != h.comp[string(m.id.Sender)] {
					continue
				}
				ring = h.compRing[c]
			}
			g.b.FedDeliver(m.fedAt(ring, h.fedPkt))
		}
	}
	for _, g := range h.fedMembers() {
		h.collect(g)
	}
	return len(q) > 0
}

// settle runs every ring until nothing is left to deliver.
func (h *harness) settle() { h.settleWith(h.fedStep) }

// settleWith is settle with fedStep as the federation ring's step (it
// reports whether it delivered anything).
func (h *harness) settleWith(fedStep func() bool) {
	for range 1000 {
		moved := fedStep()
		for _, s := range h.sites {
			if h.localStep(s) {
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	h.t.Fatal("the rings never settle")
}

// fedConfig installs a new federation ring among the given sites (their
// active gateways): a transitional configuration first at the members
// that come from the previous ring (after fedSplit, from their
// component's ring), then the regular one. Messages still queued go
// round the new ring.
func (h *harness) fedConfig(sites ...string) { h.fedConfigAfter(0, sites...) }

// fedConfigAfter is fedConfig, with the first inTrans messages still
// queued delivered in the transitional configurations (at their places in
// the old ring) to the members their sender's ring reaches; the rest stay
// queued at their senders and go round the new ring.
func (h *harness) fedConfigAfter(inTrans int, sites ...string) {
	h.fedRing += 4
	oldIn := map[string]bool{}
	for _, s := range h.sites {
		oldIn[s.name] = s.inFed && s.gw != nil && s.gw.alive
	}
	reg := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: h.fedRing, Rep: localring.NodeID(sites[0])},
		ID: fmt.Sprintf("r:%d:%s", h.fedRing, sites[0])}
	for _, name := range sites {
		reg.Members = append(reg.Members, localring.Member{ID: localring.NodeID(name), Inc: 1})
	}
	// The old ring of site x, and whether y was in it.
	oldOf := func(x string) *localring.Configuration {
		if h.comp != nil {
			return h.compConf[h.comp[x]]
		}
		return h.fedConf
	}
	sameOld := func(x, y string) bool { return h.comp == nil || h.comp[x] == h.comp[y] }
	q, first := h.fedQ[:inTrans], h.fedPkt
	h.fedQ = slices.Clone(h.fedQ[inTrans:])
	h.fedPkt += uint64(inTrans)
	for _, g := range h.fedMembers() {
		old := oldOf(g.site.name)
		if old == nil || !slices.Contains(sites, g.site.name) {
			continue
		}
		trans := &localring.Configuration{Kind: localring.Transitional, Ring: reg.Ring,
			ID: fmt.Sprintf("t:%s/%s", reg.Ring, old.Ring)}
		for _, m := range old.Members {
			if oldIn[string(m.ID)] && slices.Contains(sites, string(m.ID)) && sameOld(g.site.name, string(m.ID)) {
				trans.Members = append(trans.Members, m)
			}
		}
		g.b.FedInstall(trans)
		for k, m := range q {
			if sameOld(g.site.name, string(m.id.Sender)) {
				g.b.FedDeliver(m.fedAt(old.Ring.Seq, first+uint64(k)+1))
			}
		}
	}
	for _, s := range h.sites {
		s.inFed = slices.Contains(sites, s.name) && s.gw != nil
	}
	for _, g := range h.fedMembers() {
		g.b.FedInstall(reg)
		h.collect(g)
	}
	h.fedConf = reg
	h.comp, h.compRing, h.compConf = nil, nil, nil
}

// fedSplit ends the federation ring in components that go on apart, each
// with its own transitional and regular configuration, as a cut that is
// not transitive leaves it. The federation messages still queued are
// delivered in every component's transitional configuration (at their
// places in the old ring), except those its members never received:
// missed[i] lists their indexes in the queue for component i.
func (h *harness) fedSplit(missed map[int][]int, components ...[]string) {
	old, q, first := h.fedConf, h.fedQ, h.fedPkt
	h.fedQ = nil
	h.fedPkt += uint64(len(q))
	h.comp = map[string]int{}
	h.compRing, h.compConf = nil, nil
	for i, sites := range components {
		if i == 0 || !h.splitAlike {
			h.fedRing += 4
		}
		ring := localring.RingID{Seq: h.fedRing, Rep: localring.NodeID(sites[0])}
		trans := &localring.Configuration{Kind: localring.Transitional, Ring: ring, ID: fmt.Sprintf("t:%s/%s", ring, old.Ring)}
		reg := &localring.Configuration{Kind: localring.Regular, Ring: ring, ID: fmt.Sprintf("r:%d:%s", h.fedRing, sites[0])}
		for _, name := range sites {
			m := localring.Member{ID: localring.NodeID(name), Inc: 1}
			trans.Members = append(trans.Members, m)
			reg.Members = append(reg.Members, m)
		}
		var gws []*hnode
		for _, g := range h.fedMembers() {
			if slices.Contains(sites, g.site.name) {
				gws = append(gws, g)
			}
		}
		for _, g := range gws {
			g.b.FedInstall(trans)
			for k, m := range q {
				if !slices.Contains(missed[i], k) {
					g.b.FedDeliver(m.fedAt(old.Ring.Seq, first+uint64(k)+1))
				}
			}
			g.b.FedInstall(reg)
			h.collect(g)
		}
		for _, name := range sites {
			h.comp[name] = i
		}
		h.compRing = append(h.compRing, h.fedRing)
		h.compConf = append(h.compConf, reg)
	}
}

// fedAlone has site's active gateway, a new gateway term's member that is
// in no federation ring, form a ring of its site alone, while the sites in
// the federation ring go on in theirs (as components after fedSplit): the
// site is cut off from every other one.
func (h *harness) fedAlone(site string) {
	if h.comp == nil {
		h.comp = map[string]int{}
		for _, g := range h.fedMembers() {
			h.comp[g.site.name] = 0
		}
		h.compRing, h.compConf = []uint64{h.fedRing}, []*localring.Configuration{h.fedConf}
	}
	h.fedRing += 4
	s := h.site(site)
	reg := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: h.fedRing, Rep: localring.NodeID(site)},
		ID: fmt.Sprintf("r:%d:%s", h.fedRing, site), Members: []localring.Member{{ID: localring.NodeID(site), Inc: 1}}}
	h.comp[site] = len(h.compRing)
	h.compRing, h.compConf = append(h.compRing, h.fedRing), append(h.compConf, reg)
	s.inFed = true
	s.gw.b.FedInstall(reg)
	h.collect(s.gw)
}

// crash stops node id; messages it submitted on the federation ring and
// not yet delivered are lost with it.
func (h *harness) crash(id string) {
	n := h.node(id)
	n.alive = false
	n.b.Ready() // what it was about to do dies with it
	if n.site.gw == n {
		h.fedQ = slices.DeleteFunc(h.fedQ, func(m hmsg) bool { return string(m.id.Sender) == n.site.name })
	}
}

// restart brings crashed node id back as a new incarnation: a new
// process, with a new bridge (and a new one of the other domain, with
// shareLocalRings), a new stream and its local message counter from 0.
// It joins its site's ring at the next localConfig.
func (h *harness) restart(id string) {
	n := h.node(id)
	if n.alive {
		h.t.Fatalf("%s restarts but did not crash", id)
	}
	b, err := New(n.b.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if n.foreign != nil {
		if n.foreign, err = New(n.foreign.cfg); err != nil {
			h.t.Fatal(err)
		}
	}
	n.b, n.inc, n.seq, n.stream = b, n.inc+1, 0, nil
	n.alive, n.out = true, false
}

// gatewayDiesBehind orders from's Up "missed" in the federation ring and
// has site's active gateway die after its member numbered it, before it
// injected it (the site is behind the others); the next node of the site
// takes over.
func (h *harness) gatewayDiesBehind(from, site string) {
	h.send(from, "missed")
	h.localStep(h.node(from).site)
	h.gatewayDiesNumbering(site)
	h.localConfig(h.site(site))
}

// gatewayDiesNumbering has the federation ring deliver what it has queued
// (fedStep) and site's active gateway crash after its member numbered it,
// before it injected any of it. No other node of the site takes over yet.
func (h *harness) gatewayDiesNumbering(site string) {
	gw := h.site(site).gw
	h.frozen[gw] = true
	h.fedStep()
	h.crash(string(gw.id))
}

// aloneDelivers delivers the first n messages queued on the federation
// ring to g's member alone, at the places the current ring gives them
// next (as when the ring ends with g alone having received them), and
// collects g. The messages stay queued.
func (h *harness) aloneDelivers(g *hnode, n int) {
	for k, m := range h.fedQ[:n] {
		g.b.FedDeliver(m.fedAt(h.fedRing, h.fedPkt+uint64(k)+1))
	}
	h.collect(g)
}

// messages returns the origins of a node's delivered messages, in order,
// and fails on an origin delivered twice.
// live calls f for every live node, site by site.
func (h *harness) live(f func(s *hsite, n *hnode)) {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if n.alive {
				f(s, n)
			}
		}
	}
}

func (h *harness) messages(n *hnode) []Origin {
	var o []Origin
	seen := map[Origin]bool{}
	for _, e := range n.stream {
		if e.Kind != EntryMessage {
			continue
		}
		if seen[e.Origin] {
			h.t.Errorf("%s delivered %s twice", n.id, e.Origin)
		}
		seen[e.Origin] = true
		o = append(o, e.Origin)
	}
	return o
}

// checkOrder fails unless every two live nodes deliver their common
// messages at the same positions and in the same order, and every node's
// stream grows: its messages, its configurations, and every regular
// configuration after the messages before it. (Messages held back for
// Safe delivery come after the transitional configuration that lets them
// out, whose place is after theirs. The transitional configuration of
// its site alone, or of itself alone from its part's (NoGateway), that a
// node installs before a regular one with no other before it, a
// restart's, has that one's place.)
func (h *harness) checkOrder() {
	pos := map[Origin]localring.DomainOrder{}
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if !n.alive {
				continue
			}
			var last, lastConf localring.DomainOrder
			own := false // the last configuration is the site's own transitional one
			for _, e := range n.stream {
				if e.Pos.IsZero() {
					continue // a send, or a message delivered only at its site
				}
				if e.InDoubt {
					// No domain position: a place in its site's stream.
					if !last.Less(e.Pos) {
						h.t.Errorf("%s: %s at %s after %s", n.id, e.Origin, e.Pos, last)
					}
					last = e.Pos
					continue
				}
				if e.Kind == EntryConfig {
					sameOwn := own && e.Pos == lastConf && e.Conf.Kind == localring.Regular
					if !lastConf.Less(e.Pos) && !sameOwn || e.Conf.Kind == localring.Regular && !last.Less(e.Pos) {
						h.t.Errorf("%s: configuration at %s after %s (configuration %s)", n.id, e.Pos, last, lastConf)
					}
					lastConf = e.Pos
					own = e.Conf.Kind == localring.Transitional && (strings.HasPrefix(e.Conf.ID, "site:"+s.name+":") || strings.HasPrefix(e.Conf.ID, "part:"+s.name+"/"))
					if e.Conf.Kind == localring.Transitional {
						continue
					}
				} else if !last.Less(e.Pos) {
					h.t.Errorf("%s: position %s after %s", n.id, e.Pos, last)
				}
				last = e.Pos
				if e.Kind != EntryMessage {
					continue
				}
				if p, ok := pos[e.Origin]; ok && p != e.Pos {
					h.t.Errorf("%s delivered %s at %s, another node at %s", n.id, e.Origin, e.Pos, p)
				}
				pos[e.Origin] = e.Pos
			}
		}
	}
}

// confs renders a node's configuration entries, e.g. "reg[a b c] trans[a]",
// and "cont[a b c]" for a regular one that continues the one before.
func confs(n *hnode) string {
	var b []string
	for _, e := range n.stream {
		switch {
		case e.Kind == EntryConfig && e.Conf.Continues != "":
			b = append(b, fmt.Sprintf("cont%v", e.Conf.Sites)) // no change of the domain's configuration
		case e.Kind == EntryConfig:
			b = append(b, fmt.Sprintf("%s%v", e.Conf.Kind, e.Conf.Sites))
		}
	}
	return strings.Join(b, " ")
}

// handover agrees a handover of site s's gateway role at this point of
// its local ring's stream: every live node applies it (the active
// gateway drains).
func (h *harness) handover(s *hsite) {
	for _, n := range s.nodes {
		if n.alive && !n.out {
			n.b.Handover()
			h.collect(n)
		}
	}
}

// release ends the handover: the old gateway's federation member has
// left the ring (FedStopped), and every live node applies the release
// (the epoch-th handover in the configuration) at this point of the
// stream; the new gateway's member joins at the next fedConfig.
func (h *harness) release(s *hsite, to string, epoch uint64) {
	if old := s.gw; old != nil {
		old.b.FedStopped()
		h.collect(old)
	}
	s.gw, s.inFed = h.node(to), false
	for _, n := range s.nodes {
		if n.alive && !n.out {
			n.b.Release(n == s.gw, epoch)
			h.collect(n)
		}
	}
}
