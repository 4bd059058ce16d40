package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/gateway/domconf"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/qos"
	"github.com/atoll-gcs/atoll/topology"
)

// Groups that span sites. Every node of a site runs, for each federation
// domain of its site, the composition gateway/hiersim simulates:
//
//   - a bridge.Site between the local ring and the domain's federation
//     ring: it sees every local ring event; while this node is the site's
//     active gateway, it also sees the federation ring's events (from the
//     gateway.Runner of fedManager) and hands it the Ups to order;
//   - a domconf.View that turns the bridge's stream into node-level
//     configurations and deliveries;
//   - a groups.Node of the domain fed with them, whose ring messages go up
//     through the local ring (bridge.Site.EncodeUp) and whose views and
//     deliveries go to the node's clients like a site group's; it also
//     carries the point-to-point messages to members at another site of
//     the domain for which it is the tightest class's domain (p2p.go).
//
// A site in several federation domains carries all their bridges'
// messages on its one local ring; each message names its domain
// (bridge.DomainTag), every bridge sees every local ring event and takes
// only its own domain's.
//
// Everything runs on the agent's group loop (grouploop.go); the
// federation ring's events come from the runner's goroutine through fedIn.

// domainLayer is this node's part of one federation domain.
type domainLayer struct {
	d    *topology.Domain
	b    *bridge.Site
	v    *domconf.View
	g    *groups.Node
	role *federation.Role // the site's active gateway, as the local ring decides it (group loop)
	proc tracemap.Proc
	// send is the local ring send class of the domain's messages
	// (package qos: the class the planner formed the domain for; the
	// site's own messages are in class 0). Set at creation.
	send int

	// bound is the backlog of the site's messages to the domain beyond
	// which this node accepts no client message for its groups (backlog;
	// 0: none but the send queue's), and this node's share of it for
	// messages the local ring has not delivered yet (backlogFull). Set at
	// creation.
	bound, transit int

	fedOut   [][]byte // Ups for the federation ring the runner has not taken (group loop)
	draining *fedRun  // this node's member, stopping for a handover: released when it stopped (group loop)
	// grace keeps a new gateway term's rings of this site alone, and the
	// rings before the domain's stream started, out of the bridge
	// (gateway.Grace; group loop).
	grace gateway.Grace
	// ungated is the node's local ring without a gateway of the domain
	// (gateway.PartGrace), after which it leaves the domain's
	// configuration (bridge.Site.NoGateway).
	ungated  gateway.Ungated
	reform   bool   // the View asked for the federation ring to form again, not done yet: the ring has not settled (group loop)
	reformAt uint64 // the federation ring the View asked at (domconf Ready.Ring; group loop)
	// blocked: the bridge asked for federation ring blockedAt to form
	// again (bridge Ready.Reform: a node of the domain's configuration
	// out of the site's ring while Safe messages wait; group loop).
	blocked   bool
	blockedAt uint64
	// caught holds the bridge's catch-up counters (and its Ups delivered
	// in doubt, its messages too large for the ring) at the last log line
	// about them (group loop).
	caught bridge.Stats
	// resumed is the term (local ring configuration, epoch) in which this
	// node submitted a resumption after its member was fenced: one per
	// term (group loop).
	resumed struct {
		local localring.RingID
		epoch int
	}
	// outranked is the local ring configuration in which a newer gateway
	// of the site fenced this node's member and it did not resume
	// (resumeFenced), the fencer's local ring sequence number, and when
	// the local ring forms again above it if that configuration is still
	// the last (reformOutranked; group loop). Zero when not.
	outranked struct {
		local localring.RingID
		above uint64
		until time.Time
	}
	// local are the nodes of the last regular local ring configuration
	// (gateway.Grace.Healed; group loop).
	local []string

	// atSite reports whether a node is at this node's site, by the
	// topology file; msgs counts the domain's messages this node applied,
	// unneeded those of them its site had no use for (groups.Node.Needs:
	// no member of their groups at the site, not sent from or to it),
	// which its local ring carried all the same (group loop).
	atSite         func(localring.NodeID) bool
	msgs, unneeded uint64
	// streamed is the position of the last entry of the bridge's stream
	// this node's group layer applied (group loop): stub decides on its
	// state there.
	streamed localring.DomainOrder

	// gateway says that this node is a gateway of its site for the
	// domain (active or standby in the topology file), endpoint its
	// endpoint for the domain's federation ring; gwKnown that both are
	// computed (domainSnapshot; group loop).
	gateway, gwKnown bool
	endpoint         string
	// passes counts domainOutputPass's runs (tests).
	passes uint64

	mu    sync.Mutex
	fedIn []fedInput // the runner's events, for the group loop
}

// fedInput is a batch of federation ring events of one gateway term, or
// (stopped) the end of its federation ring member, with the incarnation
// of the site's member that fenced it (fencedBy; 0 when none did).
type fedInput struct {
	run      *fedRun
	evs      []localring.Event
	stopped  bool
	fencedBy uint64
}

// newDomains creates the layers of the federation domains of the node's
// site (none without a plan).
func (a *Agent) newDomains() error {
	if a.cfg.Federation == nil || a.cfg.Federation.Plan == nil {
		return nil
	}
	maxMsg := min(a.maxMessage(), federation.MaxMessageBytes) - domainOverhead
	var names []string
	for _, d := range a.cfg.Federation.Plan.Domains {
		if d.Kind == topology.FederationDomain && slices.Contains(d.Sites, a.cfg.Site) {
			names = append(names, d.Name)
		}
	}
	if err := bridge.DistinctTags(names); err != nil {
		return fmt.Errorf("agent: site %s: %w", a.cfg.Site, err)
	}
	for i := range a.cfg.Federation.Plan.Domains {
		d := &a.cfg.Federation.Plan.Domains[i]
		if d.Kind != topology.FederationDomain || !slices.Contains(d.Sites, a.cfg.Site) {
			continue
		}
		var dl *domainLayer
		// The bridge's local messages within the ring's limit: a Seen
		// or a Relay, which grow with the backlog, in parts.
		// A message too large for the local ring (another site accepted
		// it under a larger limit: Validate refuses such a configuration
		// of this agent) goes down as its stub (bridge Config.Stub).
		bc := bridge.Config{Domain: d.Name, Site: a.cfg.Site, Node: a.self.ID, MaxLocalBytes: a.maxMessage(), Stub: func(p []byte) []byte {
			s, _ := groups.Stub(p)
			return s
		}}
		for _, id := range federation.NewRole(d, a.cfg.Site).Gateways() {
			bc.Gateways = append(bc.Gateways, localring.NodeID(id))
		}
		if a.cfg.Federation.File.Stubs() {
			// The file's federation.unneeded (default stubs): the site's
			// active gateway brings a domain's message down as a stub
			// (groups.Stub: without its data) where the site has no member
			// of its groups and neither sent it nor holds its recipient
			// (gateway/bridge, "Down").
			bc.Elide = func(e *bridge.Entry) []byte { return dl.stub(e) }
		}
		b, err := bridge.New(bc)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		v, err := domconf.New(domconf.Config{Domain: d.Name, Site: a.cfg.Site, Self: a.self})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		gc := a.cfg.Groups
		gc.MaxMessageBytes = maxMsg
		g, err := groups.New(gc)
		if err != nil {
			return fmt.Errorf("agent: domain %s: %w", d.Name, err)
		}
		dl = &domainLayer{d: d, b: b, v: v, g: g, role: federation.NewRole(d, a.cfg.Site), proc: tracemap.Proc{Node: a.cfg.Node, Inc: a.self.Inc, Domain: d.Name}}
		dl.atSite = a.siteNodes()
		if a.classes != nil {
			dl.send, _ = a.classes.SendClass(d.Class)
		}
		dl.bound = backlogBound(federation.SlowestLink(a.cfg.Federation.File, d), a.cfg.DomainBacklog)
		dl.transit = max(dl.bound/(2*max(len(a.cfg.Nodes), 1)), 1)
		a.doms = append(a.doms, dl)
		if err := a.setRingACLs(g, func(group string) bool { return a.domainOf(group) == dl }); err != nil {
			return err
		}
		a.domainOutput(dl)
	}
	return nil
}

// stub is the bridge's Config.Elide with stubs on (topology
// federation.unneeded, default stubs; group loop):
// the stub of message e if this node's site has no use for it, else nil.
// The active gateway asks as it injects e, before its group layer applied
// the entries between the last it applied and e (they are on their way
// round the local ring, held for Safe delivery, or in the bridge's
// Ready): groups.Node.Needs answers for e's place only when none of them
// changes group state, that is when all are multicasts, point-to-point
// messages (or stubs of them) and Safe marks. Otherwise, or while the
// bridge holds entries back from its stream, e goes down in full.
func (dl *domainLayer) stub(e *bridge.Entry) []byte {
	after, ok := dl.b.LogAfter(dl.streamed)
	if !ok || dl.b.Holding() {
		return nil
	}
	for i := range after {
		x := &after[i]
		if !x.Pos.Less(e.Pos) {
			break
		}
		if x.Kind != bridge.EntrySafe && (x.Kind != bridge.EntryMessage || !groups.IsData(x.Payload)) {
			return nil
		}
	}
	if dl.g.Needs(e.Payload, e.Origin.ID.Sender, dl.atSite) {
		return nil
	}
	if s, ok := groups.Stub(e.Payload); ok && len(s) < len(e.Payload) {
		return s // a stub is about 35 bytes: of a message with less data, no gain
	}
	return nil
}

// siteNodes returns whether a node is at this agent's site
// (Config.Nodes).
func (a *Agent) siteNodes() func(localring.NodeID) bool {
	mine := make(map[localring.NodeID]bool, len(a.cfg.Nodes))
	for _, n := range a.cfg.Nodes {
		mine[localring.NodeID(n)] = true
	}
	return func(id localring.NodeID) bool { return mine[id] }
}

// backlogBound is the backlog a domain whose slowest link carries bw
// allows a site (Config.DomainBacklog): what that link carries in d, at
// least MinDomainBacklogBytes; 0 (no bound) when the link declares no
// bandwidth.
func backlogBound(bw topology.Bandwidth, d time.Duration) int {
	if bw <= 0 {
		return 0
	}
	return max(MinDomainBacklogBytes, int(float64(bw.BitsPerSecond())/8*d.Seconds()))
}

// backlog returns the bytes of the site's messages to the domain's groups
// that wait to be ordered, as this node knows them: the Ups of the site's
// other nodes delivered on the local ring and not yet come down, and this
// node's own messages from their acceptance (its group layer holds them
// until they come down, also before the local ring delivered their Up).
// Every node of the site sees the others' Ups alike (the local ring
// delivers them in one order), so the site's backlog stays near the
// bound whichever of its nodes send: above it by at most what the
// others accepted and the local ring has not delivered yet (group loop).
func (dl *domainLayer) backlog() int {
	all, own := dl.b.PendingBytes()
	return all - own + dl.g.PendingBytes()
}

// backlogFull reports whether the site's backlog of messages to the
// domain is at its bound, or this node's accepted messages that the local
// ring has not delivered yet (the others do not count them yet) at its
// share of the slack (transit): the node then accepts no client message
// for the domain's groups (takeClientRequests), and their senders wait
// (group loop). With transit at bound / (2 × the site's nodes), the
// site's backlog stays under 1.5 × bound and a message, however many of
// its nodes send at once; the local ring delivers in a rotation, so the
// share holds back no node for longer than that.
func (dl *domainLayer) backlogFull() bool {
	if dl.bound <= 0 {
		return false
	}
	_, own := dl.b.PendingBytes()
	return dl.backlog() >= dl.bound || dl.g.PendingBytes()-own >= dl.transit
}

// domainOverhead is what a group message gains on its way through the
// bridge (Up, federation Up with its origin, Down with its position),
// with room to spare: the domain's group layer keeps its messages this
// much below the rings' limit.
const domainOverhead = 512

// domainOf returns the layer of group's federation domain, or nil when
// the group is local to the site: not named in the topology file (a
// group not named in the file is local to the sender's site), or placed
// in a site domain.
func (a *Agent) domainOf(group string) *domainLayer {
	if a.cfg.Federation == nil || a.cfg.Federation.Plan == nil {
		return nil
	}
	pl, ok := a.cfg.Federation.Plan.Lookup(group)
	if !ok {
		return nil
	}
	for _, dl := range a.doms {
		if dl.d.Name == pl.Domain {
			return dl
		}
	}
	return nil
}

// layerOf returns the group layer that runs group.
func (a *Agent) layerOf(group string) *groups.Node {
	if dl := a.domainOf(group); dl != nil {
		return dl.g
	}
	return a.g
}

// layers returns every group layer of the node: the site's, then the
// domains'.
func (a *Agent) layers() []*groups.Node {
	out := []*groups.Node{a.g}
	for _, dl := range a.doms {
		out = append(out, dl.g)
	}
	return out
}

// domainsLocalEvent feeds one local ring event to every domain layer:
// configurations decide the site's active gateway (federation.Role), and
// start or stop this node's federation ring member (fedManager); a
// handover message moves the role at its delivery (handoverDelivered).
func (a *Agent) domainsLocalEvent(e *localring.Event) {
	if e.Kind == localring.EventDeliver && federation.IsHandover(e.Msg.Payload) {
		a.handoverDelivered(&e.Msg)
		return
	}
	for _, dl := range a.doms {
		switch e.Kind {
		case localring.EventInstall:
			p, pending := dl.role.Pending()
			dl.role.Install(e.Conf)
			if _, still := dl.role.Pending(); pending && !still {
				a.answerHandover(p, handoverOutcome{err: fmt.Errorf("%w: domain %s, site %s: a local ring configuration change ended the handover from %s to %s before it took effect; ask again", federation.ErrHandoverRefused, dl.d.Name, a.cfg.Site, p.From, p.To)})
			}
			active := false
			if e.Conf.Kind == localring.Regular {
				gw, _, ok := dl.role.Active()
				active = ok && gw == a.cfg.Node
				a.fed.roleChanged(dl.d.Name, dl.role)
				dl.v.LocalInstall(e.Conf)
				dl.local = e.Conf.MemberIDs()
			}
			starts := active && !dl.b.Active()
			dl.b.LocalInstall(e.Conf, active)
			if _, _, ok := dl.role.Active(); e.Conf.Kind == localring.Regular && dl.ungated.Install(ok, time.Now()) {
				dl.b.NoGateway() // another configuration of the node's part without a gateway
			}
			if starts || dl.b.CutOff() {
				a.startSolo(dl, !starts) // a failover's new member, as a handover's; or a gateway that lost members of its site
			} else if active && dl.grace.Healed(dl.local) {
				a.resumeHealed(dl)
			}
		case localring.EventDeliver:
			dl.b.LocalDeliver(&e.Msg)
			if !dl.outputDue() {
				// Not the domain's (another domain's message, a site
				// group's), or nothing to move along: the output pass
				// would change nothing (outputDue), and it cost about
				// 0.5 us a domain for every local ring message.
				continue
			}
		default:
			continue
		}
		a.domainOutput(dl)
	}
}

// fedEvents is the runner's Events hook (runner goroutine): the events go
// to the group loop. They are copied: the ring reuses its event buffer, and
// its payloads, once the hook returns.
func (a *Agent) fedEvents(domain string, run *fedRun, evs []localring.Event) {
	for _, dl := range a.doms {
		if dl.d.Name == domain {
			own := make([]localring.Event, 0, len(evs))
			for _, e := range evs {
				switch e.Kind {
				case localring.EventInstall:
				case localring.EventDeliver:
					e.Msg.Payload = slices.Clone(e.Msg.Payload)
				case localring.EventSuperseded:
				default:
					continue // the bridge needs installs, deliveries and the end of the member
				}
				own = append(own, e)
			}
			dl.mu.Lock()
			dl.fedIn = append(dl.fedIn, fedInput{run: run, evs: own})
			dl.mu.Unlock()
			a.wakeGroups()
			return
		}
	}
}

// fedStopped says that the federation ring member of a gateway term
// ended, fenced by incarnation fencedBy of the site's member (0: not
// fenced) (runner goroutine).
func (a *Agent) fedStopped(domain string, run *fedRun, fencedBy uint64) {
	for _, dl := range a.doms {
		if dl.d.Name == domain {
			dl.mu.Lock()
			dl.fedIn = append(dl.fedIn, fedInput{run: run, stopped: true, fencedBy: fencedBy})
			dl.mu.Unlock()
			a.wakeGroups()
		}
	}
}

// takeFederation feeds the federation ring's events of the current
// gateway term to the bridges, and hands their Ups to the runner (group loop).
func (a *Agent) takeFederation() {
	for _, dl := range a.doms {
		dl.mu.Lock()
		in := dl.fedIn
		dl.fedIn = nil
		dl.mu.Unlock()
		run := a.fed.runner(dl.d.Name)
		for _, fi := range in {
			if fi.stopped && fi.run == dl.draining {
				a.drained(dl)
				continue
			}
			if fi.stopped {
				if dl.b.Active() && (run == nil || run == fi.run) {
					dl.b.FedStopped() // the member of this term ended: the next term starts a new one
					a.domainOutput(dl)
				}
				if fi.fencedBy != 0 && run == nil {
					a.resumeFenced(dl, fi.fencedBy)
				}
				continue
			}
			if fi.run != run && fi.run != dl.draining || !dl.b.Active() {
				continue // an earlier term's member, still draining
			}
			for i := range fi.evs {
				switch e := &fi.evs[i]; {
				case e.Kind == localring.EventInstall && dl.grace.StartsAlone(e.Conf, fi.run, !dl.b.Last().IsZero()):
					if e.Conf.Kind == localring.Regular && dl.grace.KeptHold() {
						a.log.Warn("federation domain: this gateway's local ring lost nodes of its site and its federation member reaches no other site; another node of the site may have taken over and the domain may have delivered Safe messages this node lacks, so it applies nothing of the domain until its member reaches another site or another node is the site's active gateway (check this node's WAN links and its site's LAN)",
							"domain", dl.d.Name, "ring", e.Conf.ID)
					}
				case e.Kind == localring.EventInstall:
					if e.Conf.Kind == localring.Regular {
						// Asked for in the ring that ended, at its
						// deliveries of this batch: not sent in this
						// one (bridge.RingBound).
						dl.fedOut = slices.DeleteFunc(dl.fedOut, bridge.RingBound)
					}
					dl.b.FedInstall(e.Conf)
				case e.Kind == localring.EventDeliver && !dl.grace.Alone():
					dl.b.FedDeliver(&e.Msg)
				case e.Kind == localring.EventSuperseded:
					dl.b.FedStopped()
				default:
					continue
				}
				a.domainOutput(dl)
			}
		}
		// The member's ring of its site alone a grace Keep holds may
		// come up after the local ring held every node it lost again,
		// where the install did not ask (hiersim TestStrayShortCutHeals).
		if gw, _, ok := dl.role.Active(); ok && gw == a.cfg.Node && dl.grace.Healed(dl.local) {
			a.resumeHealed(dl)
			run = a.fed.runner(dl.d.Name)
		}
		a.endSolo(dl, run)
		a.leaveUngated(dl)
		a.reformOutranked(dl, run)
		a.submitFederation(dl, run)
	}
	if a.trace != nil && len(a.doms) > 0 {
		_ = a.trace.flush() // an error is logged with the ring's next events
	}
}

// startSolo starts the grace of this node's new member of dl (group
// loop). With keep, the member is not new: the node stayed the active
// gateway as its local ring lost members of the site (bridge
// Site.CutOff), another of which may take over, and the grace starts
// unless one is on (gateway.Grace.Keep: a ring of its site alone that it
// holds back waits for another site, not for its end).
func (a *Agent) startSolo(dl *domainLayer, keep bool) {
	run := a.fed.runner(dl.d.Name)
	if run == nil || dl.b.Last().IsZero() {
		return // no member, or the domain's stream has not started: alone until it does (gateway.Grace.StartsAlone)
	}
	until := time.Now().Add(gateway.SoloGrace(run.r.Config().Ring))
	if keep {
		dl.grace.Keep(run, until, dl.b.Lost())
		return
	}
	dl.grace.Start(run, until)
}

// leaveUngated has the node leave the domain's configuration for one of
// its part of the site once its local ring has had no gateway of the
// domain for gateway.PartGrace (group loop).
func (a *Agent) leaveUngated(dl *domainLayer) {
	if !dl.ungated.Due(time.Now()) {
		return
	}
	a.log.Warn("no gateway of the domain in this node's local ring for the part grace: the node leaves the domain's configuration until it is back in a ring with one", "domain", dl.d.Name, "grace", gateway.PartGrace)
	dl.b.NoGateway()
	a.domainOutput(dl)
}

// reformOutranked asks the local ring to form again above the
// configuration of the newer gateway of the site that fenced this node's
// member (resumeFenced), once gateway.OutrankedGrace passed with this node
// still the active gateway of the same local ring configuration, its part
// at least half of the site (gateway.Outranks), and no member running
// (group loop): the ring formed again makes it active with an incarnation
// above the fencer's.
func (a *Agent) reformOutranked(dl *domainLayer, run *fedRun) {
	o := &dl.outranked
	if o.until.IsZero() {
		return
	}
	gw, _, ok := dl.role.Active()
	local, _ := dl.role.Term()
	if !ok || gw != a.cfg.Node || local != o.local || run != nil || !gateway.Outranks(len(dl.local), len(a.cfg.Nodes)) {
		dl.outranked.until = time.Time{}
		return
	}
	if time.Now().Before(o.until) {
		return
	}
	above := o.above
	dl.outranked.until = time.Time{}
	a.log.Warn("this gateway's federation ring member was fenced by a newer one of its site, and its local ring configuration has not changed since, still making it active: its local ring forms again above the fencer's, to make it active with a higher incarnation", "domain", dl.d.Name, "local_ring", localring.RegularConfID(local), "above", above, "grace", gateway.OutrankedGrace)
	a.d.Do(func(now time.Time) { a.node.ReformAbove(now, above) })
}

// endSolo lets a configuration held back by the grace through to the
// bridge once the grace is over (group loop).
func (a *Agent) endSolo(dl *domainLayer, run *fedRun) {
	held := dl.grace.End(time.Now(), run, dl.b.Active())
	if held == nil {
		return
	}
	a.log.Warn("the new gateway's federation ring member has found no other site within its grace since it took over; the site goes on alone in the domain", "domain", dl.d.Name, "ring", held.ID)
	dl.b.FedInstall(held)
	a.domainOutput(dl)
}

// submitFederation hands the bridge's Ups to the federation ring member,
// in order, until it pushes back.
func (a *Agent) submitFederation(dl *domainLayer, run *fedRun) {
	if run == nil || !dl.b.Active() {
		dl.fedOut = nil // the next term submits every pending Up again
		return
	}
	taken := 0
	for _, p := range dl.fedOut {
		// At the bridge's level: Safe for Ups (a gateway numbers a
		// message only once every site's gateway holds it; bridge
		// Stats.NotSafe), Agreed for its Syncs and catch-up answers;
		// in the bridge's send class (the Ups and Acks ring-bound).
		if err := run.r.SubmitClass(bridge.FedClass(p), bridge.FedService(p), p); err != nil {
			if errors.Is(err, gateway.ErrStopped) {
				taken = len(dl.fedOut)
			}
			break
		}
		taken++
	}
	dl.fedOut = dl.fedOut[taken:]
}

// domainOutput moves what a domain layer's parts produced along: the
// bridge's local messages to the ring queue, its federation messages to
// fedOut, its stream through the View into the groups.Node, and the
// group layer's messages up and its events to the trace and the clients.
// The bridge's Acks wait for every node of the site that the View's
// regular configuration names (bridge "What holds means"): while a pass
// changed that set, the bridge may have more to say, and it goes again.
func (a *Agent) domainOutput(dl *domainLayer) {
	for {
		a.domainOutputPass(dl)
		if !dl.b.SetDomainMembers(dl.v.SiteMembers()) {
			return
		}
	}
}

// outputDue reports whether domainOutput has anything to do for dl:
// output of its bridge, View or group layer to move along (a client
// request, or a bridge step not followed by a domainOutput: resumeHealed),
// an ask to form the federation ring again that waits for the ring to
// settle (reform, blocked), or bridge counters not logged yet. Otherwise
// a domainOutput changes nothing: the group loop's pass skips it
// (takeClientRequests), where the domains' took two thirds of an idle
// pass (BenchmarkIdleRequests, CPU profile).
func (dl *domainLayer) outputDue() bool {
	if dl.reform || dl.blocked || dl.b.HasReady() || dl.v.HasReady() || dl.g.HasReady() {
		return true
	}
	c := &dl.caught
	st := dl.b.Stats()
	return st.CatchUps != c.CatchUps || st.Gaps != c.Gaps || st.InDoubt != c.InDoubt ||
		st.LocalTooLarge != c.LocalTooLarge || st.DownsTooLarge != c.DownsTooLarge
}

// domainOutputPass is one pass of domainOutput.
func (a *Agent) domainOutputPass(dl *domainLayer) {
	dl.passes++
	up := func(svc localring.Service, p []byte) {
		a.gl.queue = append(a.gl.queue, groups.Submit{Svc: localring.Agreed, Payload: dl.b.EncodeUp(svc, p), Class: dl.send})
	}
	br := dl.b.Ready()
	for _, p := range br.Local {
		a.gl.queue = append(a.gl.queue, groups.Submit{Svc: localring.Agreed, Payload: p, Class: dl.send})
	}
	dl.fedOut = append(dl.fedOut, br.Fed...)
	if st := dl.b.Stats(); st.CatchUps != dl.caught.CatchUps || st.Gaps != dl.caught.Gaps {
		how := "caught up with what the domain ordered while it was away"
		switch {
		case st.InDoubtMissing != dl.caught.InDoubtMissing:
			how = "did not take the other sites' catch-up answer: a site of the domain's configuration is not in the federation ring and may alone have delivered messages the old gateway had sent up (bridge Stats.InDoubtMissing); the site goes through a partition and a merge"
		case st.OtherDoubtRefused != dl.caught.OtherDoubtRefused:
			how = "did not take the other sites' catch-up answer: another part of this site went into that federation ring with messages in doubt that this gateway's term does not hold (bridge Stats.OtherDoubtRefused); the site goes through a partition and a merge"
		case st.Gaps != dl.caught.Gaps:
			how = "could not catch up (the gap is beyond the other sites' logs, or their history differs): the site goes through a partition and a merge"
		}
		a.log.Info("federation domain: the site's gateway "+how, "domain", dl.d.Name, "position", dl.b.Last().String(), "pending", dl.b.Pending(), "resubmitted", st.Resubmitted)
		dl.caught.CatchUps, dl.caught.Gaps, dl.caught.InDoubtMissing, dl.caught.OtherDoubtRefused = st.CatchUps, st.Gaps, st.InDoubtMissing, st.OtherDoubtRefused
	}
	if st := dl.b.Stats(); st.InDoubt != dl.caught.InDoubt {
		// The site left the domain's configuration before its new
		// gateway learned what the old one's member had got ordered
		// (bridge Entry.InDoubt).
		a.log.Warn("federation domain: the site left the domain's configuration before its new gateway learned what the old one had got ordered; messages the old gateway may have had ordered are delivered at this site alone, without a domain position",
			"domain", dl.d.Name, "messages", st.InDoubt-dl.caught.InDoubt, "position", dl.b.Last().String())
		dl.caught.InDoubt = st.InDoubt
	}
	if st := dl.b.Stats(); st.LocalTooLarge != dl.caught.LocalTooLarge {
		// Left out by the bridge: the ring would refuse them (and the
		// group loop would drop them: submitGroups, Counters.RingRefused).
		a.log.Error("federation domain: bridge messages larger than the local ring carries were not sent; the site may stall or, at a gateway failover, lose or misorder messages of the domain (bridge Stats.LocalTooLarge: an Again of a message near the ring's limit, or a Seen's one Up with more places than fit)",
			"domain", dl.d.Name, "messages", st.LocalTooLarge-dl.caught.LocalTooLarge, "limit", a.maxMessage(), "position", dl.b.Last().String())
		dl.caught.LocalTooLarge = st.LocalTooLarge
	}
	if st := dl.b.Stats(); st.DownsTooLarge != dl.caught.DownsTooLarge {
		a.log.Error("federation domain: messages of another site larger than the local ring carries came down without their data (as stubs), so that the site's stream of the domain goes on; this site's members of their groups did not get them: every site of a domain must run its ring at the same limit (Ring.MaxMessageBytes, 1 MiB in the atoll binary)",
			"domain", dl.d.Name, "messages", st.DownsTooLarge-dl.caught.DownsTooLarge, "limit", a.maxMessage(), "position", dl.b.Last().String())
		dl.caught.DownsTooLarge = st.DownsTooLarge
	}
	for i := range br.Stream {
		if e := &br.Stream[i]; e.Kind == bridge.EntryConfig && e.Conf.Continues != "" {
			a.log.Info("federation domain: new federation ring, same sites and stream (a gateway failover): the domain's configuration goes on unchanged", "domain", dl.d.Name, "ring", e.Conf.ID, "continues", e.Conf.Continues, "sites", e.Conf.Sites, "position", e.Pos.String())
		} else if e.Kind == bridge.EntryConfig {
			a.log.Info("federation domain configuration applied", "domain", dl.d.Name, "configuration", e.Conf.ID, "kind", e.Conf.Kind.String(), "sites", e.Conf.Sites, "position", e.Pos.String())
		}
		dl.v.Entry(&br.Stream[i])
		if p := br.Stream[i].Pos; dl.streamed.Less(p) {
			dl.streamed = p
		}
	}
	vr := dl.v.Ready()
	for _, p := range vr.Up {
		up(localring.Agreed, p)
	}
	// What the stream's announcements changed takes effect at the
	// federation's next configuration (gateway/domconf): the announcing
	// site's active gateway has its member form the ring again, once the
	// ring it is in has settled (bridge.Site.Settled), at the member's
	// next token visit (gateway.Runner.Reform, gateway.ReformAsk).
	// An ask not carried out yet is dropped at a regular configuration
	// of the federation that came after it (Ready.Covered): the change
	// takes effect there, or its round asks again.
	if dl.reform && vr.Covered {
		a.log.Info("federation domain: a federation configuration came before the ring formed again; the request to form it again is dropped", "domain", dl.d.Name, "position", dl.b.Last().String())
	}
	switch {
	case br.Reform && br.Stray:
		a.log.Info("federation domain: a message of a member back from another history of its site waits for the member's earlier ones, which it sends again at its restart; the federation ring forms again to restart it", "domain", dl.d.Name, "position", dl.b.Last().String())
	case br.Reform:
		a.log.Info("federation domain: a node of the domain's configuration is out of the site's local ring while Safe messages wait for it; the federation ring forms again, and the domain's configuration changes there", "domain", dl.d.Name, "position", dl.b.Last().String())
	}
	dl.reform = (dl.reform && !vr.Covered || vr.Reform) && dl.b.Active()
	if vr.Reform {
		dl.reformAt = vr.Ring
	}
	if br.Reform {
		dl.blocked, dl.blockedAt = true, br.Ring
	}
	dl.blocked = dl.blocked && dl.b.Active()
	if dl.blocked && dl.b.Settled() {
		// The bridge's ask: no configuration the stream brings covers
		// it (the ring it was asked in is the one to leave), unless the
		// member is in a newer ring already.
		if dl.b.FedRing() == dl.blockedAt {
			dl.reform, dl.reformAt = true, dl.blockedAt
		}
		dl.blocked = false
	}
	if dl.reform && dl.b.Settled() && dl.b.FedRing() != dl.reformAt {
		// The member is in a newer ring than the one the View asked at:
		// that ring's entry, on its way down through the site's local
		// ring, covers the ask (domconf Ready.Ring).
		a.log.Info("federation domain: the federation ring formed since the request to form it again; the request is dropped", "domain", dl.d.Name, "asked_in_ring", dl.reformAt, "ring", dl.b.FedRing())
		dl.reform = false
	}
	if dl.reform && dl.b.Settled() {
		if run := a.fed.runner(dl.d.Name); run != nil {
			a.log.Info("federation domain: a site's nodes changed; the federation ring forms again, and the domain's configuration changes at its next configuration", "domain", dl.d.Name, "position", dl.b.Last().String())
			run.r.Reform()
			dl.reform = false
		}
	}
	for _, e := range vr.Events {
		if e.Kind == localring.EventDeliver {
			dl.msgs++
			if !dl.g.Needs(e.Msg.Payload, e.Msg.ID.Sender, dl.atSite) {
				dl.unneeded++
			}
		}
		dl.g.Step(e)
	}
	// Their slices go back to the View and the group layer, which
	// reuse them: a pass per Down allocated each again (BenchmarkDowns).
	dl.v.Release(vr)
	if !dl.g.HasReady() {
		return
	}
	rd := dl.g.Ready()
	for _, s := range rd.Submits {
		up(s.Svc, s.Payload)
	}
	for i := range rd.Events {
		e := &rd.Events[i]
		if a.trace != nil {
			a.trace.recordDomain(dl, e)
		}
		a.routeGroupEvent(dl.g, e)
	}
	dl.g.Release(rd) // nothing above keeps the events
}

// recordDomain writes the trace line of a domain's group event: its
// installs too (they come from the View, not from a ring), and the
// domain's position as the order of a delivery.
func (t *tracer) recordDomain(dl *domainLayer, e *groups.Event) {
	te, ok := dl.proc.Group(e)
	if !ok {
		return
	}
	if e.Kind == groups.EventDeliver && te.Order != 0 {
		te.Order = tracemap.DomainOrder(domconf.Position(e.Msg.Order))
	}
	t.write(te)
}

// domainsDrained reports whether the domain layers have nothing left to
// send.
func (a *Agent) domainsDrained() bool {
	for _, dl := range a.doms {
		if dl.g.Pending() > 0 || dl.b.Pending() > 0 {
			return false
		}
	}
	return true
}

// DomainStatus is this node's part of one federation domain of its site.
type DomainStatus struct {
	Domain string   `json:"domain"`
	Sites  []string `json:"sites"`
	// Role is this node's role: "active gateway" (it speaks for the site
	// in the domain's federation ring), "standby" (a gateway of the site
	// that is not active) or "member".
	Role string `json:"role"`
	// Active is the site's active gateway as this node's local ring
	// decides it (federation.Role: the plan's takeover order, or where an
	// agreed handover moved it; empty when none of the site's gateways is
	// in the ring). Handover is a handover under way ("a-1 to a-2": the
	// active gateway drains its federation ring member).
	Active   string `json:"active,omitempty"`
	Handover string `json:"handover,omitempty"`
	// Endpoint is this node's QUIC endpoint for the domain's federation
	// ring when it is a gateway of its site for it: its endpoint in the
	// topology file with the port offset by the domain's place among the
	// site's federation domains (topology.Plan.GatewayEndpoint).
	Endpoint string `json:"endpoint,omitempty"`
	// Configuration is the domain's node-level configuration this node
	// installed last, and Members its size; Round says the node waits for
	// sites' announcements to install the next one.
	Configuration string `json:"configuration,omitempty"`
	Members       int    `json:"members"`
	Round         bool   `json:"round,omitempty"`
	// Connected are the sites of the domain configuration this node
	// applied last.
	Connected []string `json:"connected,omitempty"`
	// Position is the domain position this node applied last; Pending the
	// site's messages it holds that have not come down yet.
	Position string `json:"position"`
	Pending  int    `json:"pending"`
	// Queued are this node's clients' messages to the domain's groups
	// that the domain has not ordered yet; each domain's layer takes
	// client messages up to the send queue's bound
	// (Status.ClientLimits.SendQueueMsgs) on its own.
	Queued int `json:"queued"`
	// Messages are the domain's messages this node applied; Unneeded
	// those of them its site had no use for: no client at the site was
	// a member of their groups where the domain ordered them, and none
	// sent them or was their point-to-point recipient
	// (groups.Node.Needs, which every node of the site answers alike
	// from the domain's order). The site's local ring carried them all
	// the same: the bridge brings every domain message down to every
	// site (gateway/bridge, "Down"), as a stub without its data (the
	// default; Layer.Stubs counts those), or in full where the topology
	// file's federation.unneeded is full. UnneededAs is that setting as
	// this node applies it: "stubs" or "full" (topology.UnneededStubs,
	// topology.UnneededFull).
	Messages   uint64 `json:"messages"`
	Unneeded   uint64 `json:"unneeded"`
	UnneededAs string `json:"unneeded_as"`
	// Backlog is the bytes of the site's messages to the domain's groups
	// that wait to be ordered by the federation ring, as this node counts
	// them (the site's Ups sent up and not yet come down, and this node's
	// accepted messages not yet sent up); at BacklogBound (0: none) the
	// node accepts no client message for the domain's groups
	// (Config.DomainBacklog).
	Backlog      int           `json:"backlog_bytes"`
	BacklogBound int           `json:"backlog_bound_bytes"`
	Bridge       bridge.Stats  `json:"bridge"`
	View         domconf.Stats `json:"view"`
	Layer        groups.Stats  `json:"layer"`
}

// unneededAs is the topology file's federation.unneeded as this node
// applies it (DomainStatus.UnneededAs).
func (a *Agent) unneededAs() string {
	if a.cfg.Federation.File.Stubs() {
		return topology.UnneededStubs
	}
	return topology.UnneededFull
}

// domainSnap is one federation domain's part of the group loop's
// snapshot: its DomainStatus but for Position and Handover, which Status
// formats from last and handover (handing: one is under way), so that the
// group loop's pass, which takes the snapshot, allocates nothing for it.
type domainSnap struct {
	st       DomainStatus
	last     localring.DomainOrder
	handover federation.HandoverRequest
	handing  bool
}

// status returns the DomainStatus d holds (Status).
func (d *domainSnap) status() DomainStatus {
	st := d.st
	st.Position = d.last.String()
	if d.handing {
		st.Handover = d.handover.From + " to " + d.handover.To
	}
	return st
}

// domainSnapshot takes dl's status into d (group loop). Its Endpoint is
// the one of the topology file, computed once.
func (a *Agent) domainSnapshot(dl *domainLayer, local *localring.Configuration, d *domainSnap) {
	if !dl.gwKnown {
		for _, g := range dl.d.Gateways {
			if g.Site == a.cfg.Site && (g.Active == a.cfg.Node || slices.Contains(g.Standby, a.cfg.Node)) {
				dl.gateway = true
				dl.endpoint, _ = a.cfg.Federation.Plan.GatewayEndpoint(a.cfg.Federation.File, dl.d.Name, a.cfg.Node)
			}
		}
		dl.gwKnown = true
	}
	d.st = DomainStatus{Domain: dl.d.Name, Sites: dl.d.Sites, Role: "member",
		Pending: dl.b.Pending(), Queued: dl.g.Pending(),
		Connected: dl.b.Conf().Sites, Round: dl.v.InRound(), Messages: dl.msgs, Unneeded: dl.unneeded,
		UnneededAs: a.unneededAs(),
		Backlog:    dl.backlog(), BacklogBound: dl.bound,
		Bridge: dl.b.Stats(), View: dl.v.Stats(), Layer: dl.g.Stats()}
	if dl.gateway {
		d.st.Role, d.st.Endpoint = "standby", dl.endpoint
	}
	if dl.b.Active() {
		d.st.Role = "active gateway"
	}
	if local != nil {
		d.st.Active, _, _ = dl.role.Active()
	}
	d.handover, d.handing = dl.role.Pending()
	if c := dl.v.Current(); c != nil {
		d.st.Configuration, d.st.Members = c.ID, len(c.Members)
	}
	d.last = dl.b.Last()
}

// PlanHash identifies a topology plan: the first 16 hex digits of the
// SHA-256 of its JSON form (topology.Plan.JSON), the same at every node
// that computed the plan from the same file.
func PlanHash(p *topology.Plan) string {
	h := sha256.Sum256(p.JSON())
	return hex.EncodeToString(h[:8])
}

// sendClasses ranks the topology file's latency classes into the local
// ring's send classes (package qos), for a node whose site is in a
// federation domain; nil otherwise, and every message is in class 0.
func (c *Config) sendClasses() (*qos.Table, error) {
	f := c.Federation
	if f == nil || f.Plan == nil || f.File == nil {
		return nil, nil
	}
	in := false
	for _, d := range f.Plan.Domains {
		in = in || d.Kind == topology.FederationDomain && slices.Contains(d.Sites, c.Site)
	}
	if !in {
		return nil, nil
	}
	classes := make([]qos.Class, 0, len(f.File.Classes))
	for _, cl := range f.File.Classes {
		classes = append(classes, qos.Class{Name: cl.Name, Budget: cl.Budget.D()})
	}
	return qos.New(classes)
}
