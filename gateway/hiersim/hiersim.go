// Package hiersim simulates the hierarchy of one federation domain: every
// site's local ring and the federation ring among the sites' active
// gateways are real localring.Node cores in localring/sim clusters
// (every packet through the real codec, per-link delays from the topology
// file), and every node of every site runs a gateway/bridge.Site. The
// clusters advance together in steps of Options.Step of virtual time;
// what a bridge asks to submit on one ring is submitted at the end of the
// step that produced it. As the agent's driver does (gateway.Grace), a new
// gateway term's federation rings of its site alone stay out of its
// bridge until its member joins another site, for at most
// gateway.SoloGrace (Result.SoloHeld).
//
// Every node writes the trace of the domain (domain "fed/<name>", order =
// localring.DomainOrder.Seq) besides its local ring's; Run checks the
// domain traces with evs.Options.DomainOrder and HierarchyOrder (EVS.md
// property 9: one order over the domain's messages and configuration
// changes at every site), the local rings' and the federation ring's with
// the ring rules, the federation ring's fencing (sim.Fencing: two
// gateways of a site are never members of one configuration), and counts
// the messages each live node lost or delivered twice. Options.Fault
// injects one of Faults and Result says what it did. Options.Packets and
// Options.Persistent make the rings' networks misbehave as the ring
// simulator's do (losses, duplicates, reordering, corruption, stale
// replays; lossy links that never heal), and Result.Networks says what
// they did.
//
// Every node also runs a gateway/domconf.View beside its bridge, fed as
// the agent feeds it (agent/domains.go): its local ring's regular
// configurations, then the bridge's stream entry by entry, with the
// View's announcements sent up through the local ring like any Up, and
// its requests for the federation ring to form again (Ready.Reform)
// carried out by the site's active gateway's federation member. The
// configurations the View installs (node-level: every node of every site
// of the domain) and the messages it delivers and tells sent in them make
// a second domain trace, the one the agent's group layer runs on
// (Result.NodeTrace), which Run checks with the rules the agent's
// cross-site tests apply to the agents' traces (evs.Orphans and
// evs.LiveOrphans, evs.Check with Failed, DomainOrder and Quiescent, and
// HierarchyOrder). Options.BridgeOnly leaves the View out.
//
// It lives above localring/sim, so that localring/sim stays ring-only.
package hiersim

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/gateway/domconf"
	"github.com/atoll-gcs/atoll/groups"
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
	// Fault is injected a third into the load, at a site the seed picks
	// (one of Faults, or FaultNone).
	Fault Fault
	// Outage is how long a pause, a cut or changed delays last (default
	// 5 s).
	Outage time.Duration
	// Log, when set, receives one line per ring install, fault and
	// domain stream entry (for replaying a failed seed).
	Log io.Writer
	// BridgeOnly runs the bridges without the node-level layer
	// (gateway/domconf): no announcements go up, and no node-level trace
	// is written or checked. Its runs are those of the simulator before
	// the layer, whose seeds TestRegressions replays.
	BridgeOnly bool

	// corrupt breaks one node's stream on purpose: the checks must fail.
	corrupt corruption
	// breakView breaks one node's View output on purpose: the node-level
	// checks must fail.
	breakView viewBreak
	// stall pauses, with FaultGatewayCrash, the standby that took over
	// (its local ring node and its federation member, as SIGSTOP or a
	// starved process does) for stall.d, from stall.after after its term
	// began (TestCrashThenStall).
	stall struct{ after, d time.Duration }
	// killTaker, with FaultGatewayCrash, kills the standby that took
	// over (its local ring node and its federation member) killTaker
	// after its term began: with cutAsDies, a term that dies in its
	// doubt, its member in no ring with another site, and a third
	// gateway of the site takes over after it (TestAgainUnseenTakerDies,
	// on a topology with three gateways a site).
	killTaker time.Duration
	// starve shapes FaultStarvation: a node runs for a slice in
	// [run.min, run.max) and stops for one in [pause.min, pause.max), both
	// drawn each time (defaults: run 20-300 ms, pause 20-300 ms); with
	// site set, only the victim site's nodes starve; with together, they
	// stop and run together, one slice for all (a whole process stalled
	// again and again).
	starve struct {
		run, pause     span
		site, together bool
	}
	// victim, when set, names the site whose gateway the fault hits
	// instead of the seed's draw; the draw is still made, so a seed whose
	// draw is that site runs as without it (TestCrashThenLongStall).
	victim string
	// cutAsDies, with FaultGatewayCrash, also cuts the victim site's
	// gateways off from every other site's (as FaultCut), cutAsDies.after
	// after the kill (the load goes on), for Outage, then heals: the site
	// is cut off as its gateway dies, for less than gateway.SoloGrace
	// (TestCutAsGatewayDiesWithinGrace) or for longer.
	cutAsDies struct {
		on    bool
		after time.Duration
	}
	// recut, with cutAsDies, cuts the victim site off from every other
	// site again recut.after after its new gateway's federation member
	// first installed a ring of every site (Takeover.FedRing), for
	// recut.d, then heals: that ring may end before the catch-up answer
	// its new term waits for comes (TestCutAsGatewayDiesAnswerLost).
	recut struct{ after, d time.Duration }
	// isolate, with FaultGatewayCrash, cuts one node of the victim site
	// that is no gateway off from the rest of its local ring
	// isolate.after after the kill, for isolate.d: the Ups it sends
	// meanwhile are delivered in its ring alone, and it announces them
	// again (Again) at the merge, to the new gateway term, during its
	// doubt or after it (TestAgainAroundDoubt). Result.Isolated says
	// whether the site had such a node.
	isolate struct{ after, d time.Duration }
	// hide, with FaultGatewayCrash and isolate (isolate.after 0), has a
	// node of the victim site that is no gateway (the one isolate cuts
	// off) send an Up that its active gateway gets and its standby
	// gateways do not: they receive no local ring multicast from that
	// send on (DeafMulticast) until the kill, which comes once the active
	// gateway delivered the Up on its local ring (hide.ordered false) or
	// its federation member delivered it (true: the domain ordered it);
	// the sender is cut off from the rest of its local ring at the kill.
	// The new gateway term learns of the Up only from the sender's Again
	// at the heal, after its doubt (TestAgainUnseen; Result.Hidden).
	hide struct{ on, ordered bool }
	// transKill kills (as FaultGatewayCrash) the active gateway of
	// another site than the fault's, once the fault started, between
	// its federation member's transitional configuration and the regular
	// one after it: its bridge gets the transitional configuration and
	// the messages delivered in it, and its process dies before it sees
	// the regular one (TestDiesBetweenFedConfigurations;
	// Result.TransKilled).
	transKill bool
	// cutOther, with FaultGatewayCrash, cuts another site than the
	// victim off from every other site at the kill, for Outage: the
	// victim's new gateway's first federation ring has the third site but
	// not that one (TestSplitAsGatewayDies; Result.TermFirstRing).
	cutOther bool
	// deafThird, with cutOther, makes the third site's gateways (neither
	// the victim's nor the one cut off) receive no federation multicast
	// for deafThird before the kill, and hear again at it: what the
	// victim's gateway multicast meanwhile, its last Ups, reaches the
	// site cut off at the kill and not the third, which cannot get it
	// again (its sender dead, the other holder cut off). The site cut off
	// then delivers those Ups alone in its transitional configuration,
	// and the victim's new term's first ring, with the third site, has
	// no site that holds them (TestSplitUnseen; Result.SplitAlone).
	deafThird time.Duration
	// handover, with FaultNone, hands the victim site's active gateway
	// role over to its next gateway under load, as `atoll admin
	// handover` does, in the agent's order (gateway.Handover, which both
	// call): every node applies the agreement, and the active gateway
	// drains for handoverDrain; its federation member leaves the ring,
	// its term ends, and it submits a release on its local ring, at whose
	// delivery every node of the site applies it (epoch 1) and the new
	// gateway starts its member, with a grace as at a failover. handover.cut then cuts the site off
	// from every other site, from the release on, for Outage
	// (TestHandoverThenCut; Result.Handover).
	handover struct {
		on, cut bool
	}
	// logEntries is every bridge's Config.LogEntries (0: the default,
	// bridge.DefaultLogEntries): a small log makes a site that fell
	// behind by more than it go through a refused catch-up
	// (TestCutAsGatewayDiesRefused).
	logEntries int
	// agreedOnly sends every message Agreed (TestSafeLatency's baseline).
	agreedOnly bool
	// downs, with FaultGatewayCrash and FaultGatewayPause, strikes while
	// the active gateway forwards down as well as up: the run goes on,
	// under load, a step at a time (downsMax at most), until the gateway
	// has injected Downs its local ring has not delivered back to it and
	// holds Ups not ordered yet (Result.DownInFlight, UpInFlight). A
	// fault at a moment the seed picks almost never finds a Down on its
	// way (none of seeds 1-30 of either fault did): the local ring
	// delivers one within a step or two, the federation ring delivers a
	// few times a rotation (TestFaultsWhileForwarding).
	downs bool
	// strayCut, with FaultStrayGateway, is how long the old gateway is
	// cut off from its site and from every other site (0: half of
	// gateway.SoloGrace): longer than the grace in
	// TestStrayGatewayLongCut.
	strayCut time.Duration
	// Elide brings a client message down in full only to the sites that
	// need it by a synthetic rule (needsSite), as stubs elsewhere
	// (bridge.Config.Elide): a site that applies a stub of a message it
	// needs is counted (Result.ElidedNeeded).
	Elide bool
	// Packets applies a packet fault mix, drawn from the seed for each
	// ring as the ring simulator draws its runs' (sim.PickMix's network
	// faults: random and burst loss, duplicates, reordering, corruption,
	// stale replays), to every site's local ring and to the federation
	// ring, from the start of the load to its end: the hierarchy's fault
	// (Fault) strikes on such links. The run then settles on a clean
	// network, as the ring simulator's liveness phase. Result.Networks
	// says what each ring's network did. Off (PacketsOff), a seed runs as
	// before the option existed: its draws come from sources of their
	// own.
	Packets Packets
	// Persistent adds persistent partial faults, drawn from the seed, on
	// from the start of the load to the end of the run: a lossy link
	// between two nodes of one site's local ring (sim.PickPersistent's
	// lossy link) and one from a site's gateways to another site's. The
	// hierarchy must end in rings that deliver anyway. The faults stay on
	// past Settle: a lossy link may still have a ring form again now and
	// then, so the run ends only once every ring and every configuration
	// of the domain has gone unchanged for steadyFor, as the ring
	// simulator's runs with a persistent fault end (its liveness phase);
	// not so within steadyWithin, it ends unsteady (Result.Unsteady).
	Persistent bool
	// persistentVictim makes the local ring's persistent fault one that
	// takes a node out of its site's ring for good, as the ring
	// simulator's mute and deaf nodes (sim.PickPersistent): the
	// multicasts of a node that is no gateway never arrive, or it
	// receives none. That node is no connected member
	// (hier.disconnected). Fails today (packets_test.go, "What fails
	// today on lossy networks"). The run ends as with Persistent, that
	// node's own configurations left out.
	persistentVictim bool
	// steadyWithin, when set, replaces steadyWithin (tests).
	steadyWithin time.Duration
}

// A run with a persistent fault (Options.Persistent) ends once no ring
// and no configuration of the domain has changed for steadyFor (the ring
// simulator's WAN runs wait 3 s: a federation ring's token timeout is
// 1.7 s in the demo's global domain) and no ring node has messages
// waiting to be sent; past Settle by steadyWithin at the most.
const (
	steadyFor    = 3 * time.Second
	steadyWithin = time.Minute
)

// Packets says which packet faults Options.Packets draws for which
// rings.
type Packets string

const (
	// PacketsOff draws none.
	PacketsOff Packets = ""
	// PacketsNoLocalLoss gives the federation ring its whole mix and the
	// sites' local rings theirs without loss (random or burst):
	// duplicates, reordering, corruption and stale replays there. A
	// local ring that loses packets changes its configuration again and
	// again, and with it its active gateway: PacketsAll fails today
	// (packets_test.go, "What fails today on lossy networks").
	PacketsNoLocalLoss Packets = "no-local-loss"
	// PacketsAll gives every ring its whole mix.
	PacketsAll Packets = "all"
)

// elidedPrefix starts the stubs of Options.Elide, which carry the
// message's payload for the simulator's accounting (a real stub would
// not).
const elidedPrefix = "\x00elided:"

// needsSite is Options.Elide's rule: whether site needs a client
// message, one site in three not, by a hash of both.
func needsSite(site string, payload []byte) bool {
	h := fnv.New32a()
	h.Write([]byte(site))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum32()%3 != 0
}

// corruption is a way a broken bridge could spoil a node's stream.
type corruption int

const (
	corruptNone      corruption = iota
	corruptDrop                 // skip a message
	corruptDuplicate            // deliver a message twice
	corruptSwap                 // deliver two messages in the wrong order
)

func (c corruption) String() string {
	return [...]string{"nothing wrong", "skip a message", "deliver a message twice", "deliver two messages in the wrong order"}[c]
}

// corruptAt is the message of the corrupted node's stream that
// Options.corrupt spoils.
const corruptAt = 40

// viewBreak is a way a broken domconf.View could spoil the node-level
// configurations and deliveries of one node (the last node of the first
// site), once the rings formed.
type viewBreak int

const (
	viewBreakNone viewBreak = iota
	// viewSkipDelivery skips a delivery in a regular configuration.
	viewSkipDelivery
	// viewNoTransitional installs a regular configuration without the
	// transitional one before it (every one after the first).
	viewNoTransitional
	// viewUnsent tells the node's own message unsent (no send line) and
	// delivers it all the same: the known gap's shape (domconf, "Known
	// gaps").
	viewUnsent
	// viewWrongConf delivers a message in the configuration before the
	// one it was sent in.
	viewWrongConf
	// viewNoAnnounce sends no announcement of the first site once the
	// rings formed (every node of it): the checker sees nothing wrong,
	// the end of the run does (Result.NodeUnsettled).
	viewNoAnnounce
)

func (b viewBreak) String() string {
	return [...]string{"nothing wrong", "skip a delivery", "install a regular configuration without a transitional one", "deliver its own message told unsent", "deliver a message in the configuration before its own", "send no announcement of the first site"}[b]
}

// Fault is a fault of the hierarchy a run injects.
type Fault string

const (
	// FaultNone injects no fault of the hierarchy (Options.handover and
	// the other steered runs bring their own).
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
	// FaultPartialCut cuts the site's gateways off from one other site's
	// (the seed picks it) for Outage, not from the third's: connectivity
	// that is not transitive.
	FaultPartialCut Fault = "partial-cut"
	// FaultLocalCut cuts the site's active gateway off from the rest of
	// its local ring for Outage; its federation links stay up (it loses
	// its site, not its QUIC connections): the rest of the site makes
	// another node the gateway, whose newer incarnation fences it.
	FaultLocalCut Fault = "gateway-local-cut"
	// FaultWANDelay changes the one-way delay of every link between
	// sites to between 0.5 and 4 times its value (each direction on its
	// own) for Outage, then changes it back.
	FaultWANDelay Fault = "wan-delay"
	// FaultTwoGatewayCrashes kills the active gateways of two sites, the
	// second (the seed picks it) 0-300 ms after the first (the seed picks
	// when): both sites' standbys take over, and the first site may be
	// behind the second, whose new gateway's log holds stubs
	// (Options.Elide) of what the first missed. Not in Faults: its
	// own tests run it (TestTwoGatewayCrashes).
	FaultTwoGatewayCrashes Fault = "two-gateway-crashes"
	// FaultStrayHistory splits the site's local ring in two parts, its
	// active gateway alone and the rest, and cuts the rest's gateways
	// off from every federation member, for gateway.SoloGrace and
	// strayAlone more, under load: the rest's new gateway term goes on in
	// a federation ring of its part alone, numbering entries the domain
	// never has, while the active gateway goes on with the domain. Then
	// the site's ring is whole again (the active gateway keeps the role),
	// the run goes on for Outage under load, and the links heal. The
	// rest's nodes come back with positions of another history than the
	// active gateway's, behind or ahead of it (bridge, "Members of
	// another history"; Result.Strays). Its runs send Safe messages too:
	// they wait for the nodes away (bridge, "What holds means"). Not in
	// Faults: TestStrayHistory runs it, with its own checks.
	FaultStrayHistory Fault = "stray-history"
	// FaultStrayGateway splits the site's local ring as FaultStrayHistory
	// does, but cuts the other part off from the federation: the site's
	// active gateway is alone, out of its local ring and away from every
	// other site's gateways, for half of gateway.SoloGrace (or
	// Options.strayCut), under load, while the rest of its site makes
	// another node the gateway, whose new term joins the other sites and
	// speaks for the site there. The old gateway is alive, and no newer
	// incarnation of its site's member fences it while it is cut off: its
	// member forms a ring of its site alone once its token is lost. Then its federation links heal (the
	// new term's member fences it), the run goes on for strayAlone, the
	// site's ring is whole again and the old gateway, the plan's first,
	// takes the role back. Within that grace the old gateway goes on in
	// no ring of its site alone (bridge Site.CutOff, gateway.Grace.Keep;
	// bridge, "Not waited for"): before, every one of seeds 1-10 broke
	// EVS 7, bridge and node level, its node never delivering the Safe
	// messages the others delivered in a configuration that named it.
	FaultStrayGateway Fault = "stray-gateway"
	// FaultStrayGatewayRingFirst is FaultStrayGateway with the other heal
	// order: the site's local ring is whole again first, and the old
	// gateway, the plan's first, takes the role back while its member
	// still runs, cut off; Outage later its federation links heal, and
	// the others, who know the new term's incarnation, fence that member.
	// The old gateway, still active, resumes its term with a new member
	// (resumeFenced, as the agent): without it the site had no gateway in
	// the domain until its local ring changed again, and every one of
	// seeds 1-10 failed (nodes out of the final configuration, messages
	// lost, EVS violations). Not in Faults: TestStrayGatewayRingFirst
	// runs it.
	FaultStrayGatewayRingFirst Fault = "stray-gateway-ring-first"
	// FaultProcessStall stops every node of every site and every
	// federation ring member at one instant for Outage, as a stall of the
	// host or VM of the one process that runs them all does (atoll demo
	// in CI), and resumes each within stallSpread (stallAll); no client
	// sends meanwhile, and what a bridge submits waits. The site the seed
	// draws plays no part. Not in Faults: TestProcessStall runs it.
	FaultProcessStall Fault = "process-stall"
	// FaultStarvation starves every node (its local ring node and its
	// federation member, one agent's goroutines; with Options.starve.site
	// only the victim site's) for Outage, each on its own: it runs for a slice of Options.starve's run range, then stops
	// for one of its pause range (20-300 ms by default), again and again,
	// the seed drawing every slice and whether its timers fire before or
	// after what its socket buffer queued at each resume: the agents of a
	// process on a core that busy loops share (atoll demo under taskset
	// with a loaded core). Clients send on throughout; what a paused
	// node's bridge submits waits. Result.StallSettled and StallApart say
	// how the run ended, from the starvation's end; Starved what it did.
	// Not in Faults: TestStarvation runs it.
	FaultStarvation Fault = "starvation"
)

// strayAlone is how long FaultStrayHistory's part without the active
// gateway goes on alone once its gateway term's grace (gateway.SoloGrace)
// let its ring of the site alone through.
const strayAlone = 3 * time.Second

// Faults lists every fault a run can inject.
var Faults = []Fault{FaultGatewayCrash, FaultGatewayPause, FaultCut, FaultPartialCut, FaultLocalCut, FaultWANDelay, FaultStrayGateway}

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
	LostLog []string
	// Elided counts the stubs the nodes applied (Options.Elide), and
	// ElidedNeeded those of messages their site needs: each a loss.
	Elided, ElidedNeeded int
	// What the fault did: Injected counts the changes it made (a crash,
	// a pause, a cut, a set of delays; 0 when it found nothing to act
	// on), UpInFlight the victim gateway's Ups not yet ordered when it
	// was crashed, paused or cut off, Terms the gateway terms that began
	// after the rings formed (failovers), Fenced the federation members
	// a newer incarnation of their site stopped, FedConfs the regular
	// federation configurations installed after the rings formed.
	Injected, UpInFlight, Terms, Fenced, FedConfs int
	// DownInFlight says whether the victim gateway had injected Downs
	// that its local ring had not delivered back to it when it was
	// crashed, paused or cut off (bridge Site.Injected after Site.Last):
	// it forwarded down too.
	DownInFlight bool
	// PartialFed counts the regular federation configurations installed
	// after the rings formed without every site (a real departure of a
	// site from the domain); Installs the domain configurations the nodes
	// alive at the end installed after the rings formed, and Continued
	// the federation configurations they went through without one
	// (bridge.DomainConf.Continues), summed over those nodes.
	PartialFed, Installs, Continued int
	// FedApart counts the regular federation configurations installed
	// after the rings formed by a member that came into it apart from
	// another member, the same incarnation, of its regular configuration
	// before (fedApart: the federation ring split, though every regular
	// configuration may have every site), per member that installed one.
	FedApart int
	// SoloHeld counts the federation rings of a site alone kept out of
	// its bridge, as the agent does (gateway.Grace: in a new gateway
	// term's grace, gateway.SoloGrace, or before the domain's stream
	// started at the node), SoloEnded the graces that ended with such a
	// ring let through (the site went on alone).
	SoloHeld, SoloEnded int
	// Latency lists, per service level, the virtual time from each
	// client message's submission on its local ring to each of its
	// deliveries.
	Latency map[localring.Service][]time.Duration
	// Takeover is the timeline of a gateway crash (FaultGatewayCrash),
	// nil for the other faults.
	Takeover *Takeover
	Trace    []evs.Event             // the domain's trace, every node
	FedTrace []evs.Event             // the federation ring's trace
	Bridges  map[string]bridge.Stats // by node id
	// LogEntries is the bridges' Config.LogEntries.
	LogEntries int
	// NodeViolations are the node-level trace's (the domconf layer; none
	// with Options.BridgeOnly); NodeTrace is that trace, every node: the
	// configurations its View installed, and the messages it delivered
	// and was told it sent in them; NodeOrphans counts the messages
	// evs.Orphans took out of it; Views are the Views' counters, by node
	// id.
	NodeViolations []evs.Violation
	NodeTrace      []evs.Event
	NodeOrphans    int
	Views          map[string]domconf.Stats
	// NodeUnsettled says, one line a node, where the node-level layer
	// did not end as a settled run must: every node alive at the end in
	// one regular configuration of exactly the nodes alive at the end, no
	// round open (EVS 2.5 at the node level; the checker cannot see a
	// round that never completes).
	NodeUnsettled []string
	// Reforms counts the federation ring formed again because a View
	// asked for it (domconf Ready.Reform) at its site's active gateway,
	// or its bridge did (bridge Ready.Reform: its site blocked).
	Reforms int
	// Isolated says whether Options.isolate found a node to cut off.
	Isolated bool
	// TransKilled names the gateway Options.transKill killed ("" if
	// none), TransDelivered the federation messages its bridge got in
	// the transitional configuration before it died.
	TransKilled    string
	TransDelivered int
	// TermFirstRing is the sites of the first regular federation
	// configuration the victim site's new gateway term handed its bridge
	// (FaultGatewayCrash).
	TermFirstRing []string
	// Hidden says, with Options.hide, how far its Up went: "" when it did
	// not happen (no node that is no gateway, or the active gateway did
	// not deliver the Up before hide's time ran out), else "local" (the
	// dead gateway delivered it on its local ring) or "ordered" (its
	// federation member delivered it too), with "+seen" when a standby
	// delivered it on its local ring before the kill after all.
	Hidden string
	// HiddenCopies counts the federation members (incarnations of a
	// site's member) whose Up of Options.hide's message the federation
	// ring delivered: 1 when the domain ordered it once, 2 when the new
	// gateway term submitted it again after its predecessor's member got
	// it ordered (the sites then drop the copy as a duplicate: no trace
	// shows it).
	HiddenCopies int
	// SplitAlone counts, with Options.deafThird, the victim site's Ups
	// that the site cut off delivered in its transitional configuration
	// and the third site did not have there: it delivered them in no
	// configuration, or in a regular one the site cut off never
	// installed (its ring with the victim's new term).
	SplitAlone int
	// Strays counts, with FaultStrayHistory, the nodes of the victim site
	// that applied a regular configuration of its part alone, one the
	// active gateway never applied, when the site's ring was whole again:
	// positions of another history (with FaultStrayGateway, the old
	// gateway if it applied one that the new gateway never applied).
	// Restarted counts the restarts the nodes applied (bridge
	// Stats.Restarted: a node of another history than its active
	// gateway's leaves its configuration for one of its site alone and
	// goes on at the gateway's regular one).
	Strays, Restarted int
	// Waited counts the submissions of bridges (local ring and
	// federation) that waited for their paused node or member and went
	// in once it ran again (flushSubmissions).
	Waited int
	// Resumes counts the gateways that resumed their term with a new
	// federation member after a gateway of their site fenced it
	// (resumeFenced, as the agent) or after their site's ring held every
	// node they lost again (resumeHealed); HealResumes counts the latter
	// as asked (gateway.Grace.Healed).
	Resumes, HealResumes int
	// Outranked counts the local rings formed again by a gateway fenced
	// by a newer one of its site, still active in the same configuration
	// gateway.OutrankedGrace later (outrankedStep, as the agent).
	Outranked int
	// StallLosses counts, with FaultProcessStall, the token losses of the
	// local ring nodes [0] and of the federation ring's members [1] from
	// the stall on: the rings whose token timeout it passed.
	StallLosses [2]int
	// StallSettled is, with FaultProcessStall, the virtual time from the
	// stall's end (the resume; its nodes wake within stallSpread of it)
	// (with FaultStarvation, from the starvation's end: every node runs
	// from there on) to the last configuration anything installed: a local ring's or
	// the federation ring's regular one, a domain configuration at a
	// bridge, a View's at a node (0 when none came after the stall).
	StallSettled time.Duration
	// StallApart names, with FaultProcessStall and FaultStarvation, the
	// nodes alive at the end whose last domain configuration is not a
	// regular one of every site: the domain did not come back whole.
	StallApart []string
	// Starved says, with FaultStarvation, what the starvation did: the
	// pauses, the client messages delivered during it (over every node),
	// and, from its start on, the regular local ring and federation
	// configurations installed, the domain configurations the bridges
	// installed, and the members the local rings and the federation ring
	// took out (localring.Stats.Evictions).
	Starved Starved
	// AloneAfterHeal gives, with FaultStrayGatewayRingFirst, for each
	// node of the victim site, the virtual time from its local ring whole
	// again to its first delivery of a client message in a regular domain
	// configuration of its site alone, -1 for a node that had none: with
	// the federation links cut on (Outage longer than gateway.SoloGrace),
	// the site goes on alone as a site cut off does
	// (TestStrayRingHealsFirst; gateway.Grace.Healed).
	AloneAfterHeal map[string]time.Duration
	// Handover names the gateway Options.handover handed the role to, once
	// every node of its site applied the release ("" if it did not
	// happen).
	Handover string
	// Outage is what the network and the rings showed while the fault
	// lasted.
	Outage Outage
	// Networks is what each ring's network was set to do and did, with
	// Options.Packets or Options.Persistent (nil without): the sites'
	// local rings in the topology's order, then the federation ring.
	// Disconnected names the node a persistent fault took out of its
	// site's ring for good ("" for none): no connected member.
	Networks     []Network
	Disconnected string
	// Steady is how long a run with a persistent fault went on past
	// Options.Settle until its rings and the domain's configurations had
	// gone unchanged for steadyFor; Unsteady, if they never had within
	// steadyWithin, says so (a liveness failure) and what changed last.
	Steady   time.Duration
	Unsteady string
}

// Outage is what the network and the rings showed from the fault's
// injection to what ends it (Options.Outage later): evidence, each kind
// of fault in its own way, that it did what its kind says, which the
// tests check per kind (effects.check). Result.Injected counts the fault
// actions; these count what the actions did.
type Outage struct {
	// Blocked counts the packets dropped on blocked links: of the local
	// rings [0] and of the federation ring [1] (FaultCut,
	// FaultPartialCut, FaultLocalCut, FaultStrayGateway).
	Blocked [2]int
	// Fenced counts the federation members that learned that a newer
	// incarnation of their site superseded them: with FaultLocalCut, the
	// old gateway's, once its site made another node the gateway.
	Fenced int
	// WithUncut counts, with FaultPartialCut, the regular federation
	// configurations installed (one a member) that held the victim site
	// and a site it was not cut off from: the cut is not a cut from
	// every site.
	WithUncut int
	// Rotation is the federation ring's mean token rotation from the
	// start of the load to the fault [0] and while the fault lasted [1],
	// over the members that ran throughout each (localring.Stats.Rotation):
	// with FaultWANDelay, the changed delays show in it.
	Rotation [2]time.Duration
}

// Starved is what FaultStarvation did (Result.Starved).
type Starved struct {
	// Rings, Domain and Views split Result.StallSettled by what installed
	// the configuration: a local ring or the federation ring, a bridge,
	// a View (0 when none came after the end).
	Rings, Domain, Views              time.Duration
	Pauses, Delivered                 int
	LocalConfs, FedConfs, DomainConfs int
	LocalEvictions, FedEvictions      int
}

// Failed reports whether the run found anything wrong.
func (r *Result) Failed() bool {
	return len(r.Violations) > 0 || len(r.NodeViolations) > 0 || len(r.NodeUnsettled) > 0 || r.Lost > 0 || r.Duplicated > 0 || r.ElidedNeeded > 0
}

type node struct {
	id       localring.NodeID
	site     *site
	slot     int // in site.ring
	fslot    int // in the federation cluster, -1 when not a gateway
	inc      uint64
	b        *bridge.Site
	v        *domconf.View       // nil with Options.BridgeOnly, and before its first local ring event
	vconf    string              // the View's configuration installed last
	prevc    string              // the one before it (Options.breakView)
	conf     bridge.DomainConf   // the domain configuration it installed last
	reform   bool                // its View asked for the federation ring to form again (domconf Ready.Reform), while it was the active gateway
	reformAt uint64              // the federation ring it asked at (domconf Ready.Ring)
	local    [][]byte            // to submit on the local ring
	fed      [][]byte            // to submit on the federation ring
	waited   [2]int              // of local and fed, how many waited for the paused node or member
	seen     map[string]int      // deliveries per client payload
	confs    []bridge.DomainConf // domain configurations installed, in order
	ungated  gateway.Ungated     // its local ring without a gateway of the domain (gateway.PartGrace)
	msgs     int                 // messages in its stream
	held     *bridge.Entry       // a message Options.corrupt holds back
	// installs counts the domain configurations it installed after the
	// rings formed; continued the federation configurations it went
	// through without one (bridge.DomainConf.Continues).
	installs, continued int
	// reformAsk is the ask handed to its federation member, carried out at
	// the member's next token visit (gateway.ReformAsk, as the agent's
	// runner does).
	reformAsk *gateway.ReformAsk
	// blocked: its bridge asked for the federation ring blockedAt to
	// form again (bridge Ready.Reform: a node of the domain's
	// configuration out of the site's ring while Safe messages wait).
	blocked   bool
	blockedAt uint64
	// As the agent: a new gateway term's federation member keeps its
	// rings of its site alone out of the bridge until it joins another
	// site, for at most gateway.SoloGrace, and every member its rings
	// before the domain's stream started (gateway.Grace, on the
	// federation cluster's clock: fedTime; one member per node, nil).
	grace gateway.Grace
	// The site's active gateway in its last regular local ring
	// configuration (federation.ActiveGateway), that configuration's ring
	// sequence number, and the epoch of the terms agreed in it
	// (federation.Role: a handover's release or a resumption, each the
	// next); resumed the configuration and epoch of its last resumption
	// (resumeFenced: one a term).
	activeGW string
	lseq     uint64
	epoch    uint64
	resumed  struct{ lseq, epoch uint64 }
	// outranked: its federation member was fenced by a gateway of its
	// site active in a configuration not older than its own, in
	// configuration lseq, and it did not resume (resumeFenced); its local
	// ring forms again above above at until if that configuration is
	// still its last (outrankedStep). Zero when not.
	outranked struct {
		lseq, above uint64
		until       time.Duration
	}
	// lmembers are the nodes of its last regular local ring
	// configuration (gateway.Grace.Healed).
	lmembers []string
}

// fedTime is the federation cluster's virtual clock as a time.Time, for
// gateway.Grace.
func (h *hier) fedTime() time.Time { return time.Time{}.Add(h.fed.Elapsed()) }

// startGrace starts the grace of node n's new federation member, as the
// agent's startSolo: only once the domain's stream started at the node
// (before, its rings alone are kept out anyway).
func (h *hier) startGrace(n *node) {
	n.grace.Stop()
	if !n.b.Last().IsZero() {
		n.grace.Start(nil, h.fedTime().Add(gateway.SoloGrace(h.fed.Config)))
	}
}

// endSolo lets a ring held back by a gateway term's grace through to the
// bridge once the grace is over, as the agent's endSolo: the site goes on
// alone in the domain. First, as the agent's takeFederation, an active
// gateway whose grace Keep started holds its member's ring of its site
// alone while its site's ring holds every node it lost resumes its term
// (gateway.Grace.Healed): the ring alone may come up after the local
// heal, where the local install did not ask (TestStrayShortCutHeals).
// Here, after the step, not in fedEvent: resumeHealed crashes the member.
func (h *hier) endSolo() {
	for _, n := range h.fslots {
		if n.activeGW == string(n.id) && n.grace.Healed(n.lmembers) {
			h.resumeHealed(n)
			continue
		}
		held := n.grace.End(h.fedTime(), nil, n.b.Active())
		if held == nil {
			continue
		}
		h.logf("%s: the gateway's federation member found no other site within its grace; the site goes on alone", n.id)
		h.fx.soloEnded++
		n.b.FedInstall(held)
		h.drain(n)
	}
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
	ntrace  []evs.Event // the node-level trace (domconf)
	sent    []string    // client payloads
	from    []*node     // their senders
	victim  *site
	where   map[string]string // client payload -> the configuration it was delivered in
	lostLog []string
	formed  bool // the rings had their time to form: count terms and configurations
	delays  [][]time.Duration
	fx      struct{ injected, upInFlight, terms, fedConfs, partial, apart, reforms, soloHeld, soloEnded, strays, waited, resumes, healResumes, outranked int }
	tl      *timeline // a gateway crash's, from the kill on
	stalled *node     // the standby Options.stall paused
	// FaultProcessStall: the nodes to resume, each at its time (the
	// federation cluster's elapsed time); stalledAll from the stall on.
	wakes      []wake
	stalledAll bool
	// stallEnd is when the stall ended (the federation cluster's elapsed
	// time), settled when the last configuration was installed after it
	// (changed; Result.StallSettled).
	stallEnd, settled time.Duration
	settledBy         [3]time.Duration // settled, by settleKind
	// FaultStarvation: whether it runs (it ends at stallEnd), each
	// starving node's state (paused or running, until when), and the
	// counts of Result.Starved (evictions: those before it, to subtract).
	starving bool
	starveAt map[*node]starveState
	starved  Starved
	starveEv [2]int
	// FaultStrayGatewayRingFirst: when the victim site's local ring was
	// whole again (the site's clock), and each of its nodes' first
	// delivery of a client message after it in a regular domain
	// configuration of its site alone (Result.AloneAfterHeal).
	healAt  time.Duration
	aloneAt map[*node]time.Duration
	// stallLosses are the token losses of the local ring nodes and of the
	// federation ring's members before the stall (tokenLosses).
	stallLosses [2]int
	// Options.recut: what heals the second cut (nil before it), and
	// when it began; recutOver once healed.
	recutHeal func()
	recutAt   time.Duration
	recutOver bool
	resumed   bool // and resumed
	// Options.killTaker: the standby that took over was killed.
	takerKilled bool
	// Options.isolate: the node cut off, and whether it is back.
	isolated   *node
	isolateEnd bool
	// Options.transKill: faulted once the fault started; armed is the
	// gateway whose member installed a transitional configuration, dying
	// the one to crash at the end of the step (its bridge sees nothing
	// more), killed the one killed and transMsgs what its bridge got in
	// the transitional configuration.
	faulted      bool
	armed, dying *node
	killed       string
	transMsgs    int
	// The sites of the victim's new term's first federation ring handed
	// to its bridge (Result.TermFirstRing).
	termFirst []string
	// other is the site Options.cutOther cuts off.
	other *site
	// Options.hide: the Up's client payload, the gateway and the
	// standbys of its site, whether the gateway delivered it on its local
	// ring and its federation member did, and whether a standby did
	// before the kill.
	hidePayload            []byte
	hideGW                 *node
	hideStandbys           []*node
	hideLocal, hideOrdered bool
	hideSeen               bool
	// The federation members whose copy of the Up the federation ring
	// delivered (Result.HiddenCopies).
	hideCopies map[localring.Member]bool
	// Options.handover: the old and new gateways, when the old one's
	// member leaves, the nodes that applied the release, and the cut
	// after it: what heals it, and when. The new gateway stays active
	// until the site's next regular local configuration, where the plan's
	// order decides again (federation.Role keeps a handover's gateway
	// only through a configuration of the same members; no run of
	// Options.handover changes its site's ring after it).
	hovFrom, hovTo *node
	hovLeave       time.Duration
	hovApplied     int
	hovHeal        func()
	hovCutAt       time.Duration
	lastAt         map[*node]time.Duration // every node's last delivery
	sentAt         map[string]time.Duration
	latency        map[localring.Service][]time.Duration
	// elided counts the stubs in the nodes' streams, elidedNeeded those
	// of messages their site needs (Options.Elide).
	elided, elidedNeeded int
	// The outage (Result.Outage): what it found so far, whether it lasts,
	// the sites the victim is cut off from (FaultPartialCut), the counts
	// and rotations at its start, and the rotations once the rings
	// formed.
	outage   Outage
	inOutage bool
	// downInFlight: Result.DownInFlight.
	downInFlight bool
	cutFrom      []*site
	atOutage     outageMark
	atFormed     map[*localring.Node]localring.Histogram
	// net is the run's packet and persistent faults (Options.Packets,
	// Options.Persistent), nil without them.
	net *netState
	// lastChangeAt is when a configuration was installed last (the
	// federation cluster's elapsed time), lastChange which (changed);
	// steadyAfter and unsteady are Result.Steady and Result.Unsteady.
	lastChangeAt time.Duration
	lastChange   string
	steadyAfter  time.Duration
	unsteady     string

	// fedApart follows the federation members' configurations
	// (Result.FedApart).
	fedApart fedApart
}

// outageMark is what outageStart notes for outageEnd.
type outageMark struct {
	blocked [2]int
	fenced  int
	rot     map[*localring.Node]localring.Histogram
}

// Run runs one seed.
func Run(seed uint64, opts Options) (*Result, error) {
	opts.defaults()
	h, err := newHier(seed, opts)
	if err != nil {
		return nil, err
	}
	h.run(opts.Form, false)
	h.formed = true
	h.atFormed = h.rotations()
	h.packetsOn()
	h.run(opts.Load/3, true)
	h.victim = h.sites[h.rng.IntN(len(h.sites))]
	if opts.victim != "" {
		i := slices.IndexFunc(h.sites, func(s *site) bool { return s.name == opts.victim })
		if i < 0 {
			return nil, fmt.Errorf("hiersim: no site %q for the fault", opts.victim)
		}
		h.victim = h.sites[i]
	}
	h.faulted = true
	h.outageStart()
	undo := h.inject(h.victim)
	h.run(opts.Outage, opts.Fault != FaultProcessStall) // a stalled process's clients send nothing
	h.outageEnd()
	undo()
	h.run(opts.Load-opts.Load/3-opts.Outage, true)
	h.packetsOff()
	h.tl.close(h.fed.Elapsed())
	h.run(opts.Settle, false)
	if opts.Persistent || opts.persistentVictim {
		h.runSteady()
	}
	return h.result(seed), nil
}

// runSteady runs on after Options.Settle until the rings and the
// domain's configurations have gone unchanged for steadyFor, with no ring
// node's messages waiting to be sent (Options.Persistent), within
// steadyWithin (Result.Steady, Result.Unsteady).
func (h *hier) runSteady() {
	within := steadyWithin
	if h.opts.steadyWithin > 0 {
		within = h.opts.steadyWithin
	}
	from := h.fed.Elapsed()
	for !h.steady() {
		if now := h.fed.Elapsed(); now-from >= within {
			h.unsteady = fmt.Sprintf("liveness: the rings and the domain's configurations did not go unchanged for %v within %v of the run's end with its persistent faults on (the last change: %s at %.3f s)", steadyFor, within, h.lastChange, h.lastChangeAt.Seconds())
			h.logf("%s", h.unsteady)
			return
		}
		h.run(h.opts.Step, false)
	}
	h.steadyAfter = h.fed.Elapsed() - from
	h.logf("steady: no configuration changed for %v, %v past the run's end (Options.Persistent)", steadyFor, h.steadyAfter)
}

// steady reports whether no configuration has changed for steadyFor and
// no ring node has messages waiting to be sent (runSteady).
func (h *hier) steady() bool {
	if h.fed.Elapsed()-h.lastChangeAt < steadyFor {
		return false
	}
	return !slices.ContainsFunc(h.clusters(), func(c *sim.Cluster) bool { return !c.Quiet() })
}

// newHier builds the hierarchy of seed and opts (defaults applied), every
// ring node started and no time run.
func newHier(seed uint64, opts Options) (*hier, error) {
	f, err := topology.Load(opts.Topology)
	if err != nil {
		return nil, err
	}
	plan := f.Plan()
	var dom *topology.Domain
	for _, d := range plan.FederationDomains() {
		if opts.Domain == "" || d.Name == opts.Domain {
			dom = d
			break
		}
	}
	if dom == nil {
		return nil, fmt.Errorf("hiersim: %s has no federation domain %q", opts.Topology, opts.Domain)
	}
	h := &hier{opts: opts, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), dom: dom, byID: map[localring.NodeID]*node{}, where: map[string]string{}, lastAt: map[*node]time.Duration{},
		sentAt: map[string]time.Duration{}, latency: map[localring.Service][]time.Duration{}}
	if err := h.build(f, seed); err != nil {
		return nil, err
	}
	if opts.Packets != PacketsOff || opts.Persistent || opts.persistentVictim {
		h.drawNet(seed)
	}
	for _, s := range h.sites {
		s.ring.StartAll()
	}
	return h, nil
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
	var ranks []int // the gateway's rank in its site's list, by federation slot
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
			bc := bridge.Config{Domain: h.dom.Name, Site: name, Node: id, LogEntries: h.opts.logEntries}
			for _, g := range federation.NewRole(h.dom, name).Gateways() {
				bc.Gateways = append(bc.Gateways, localring.NodeID(g))
			}
			if h.opts.Elide {
				bc.Elide = func(e *bridge.Entry) []byte {
					if needsSite(name, e.Payload) {
						return nil
					}
					return append([]byte(elidedPrefix), e.Payload...)
				}
			}
			b, err := bridge.New(bc)
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
			for rank, id := range append([]string{g.Active}, g.Standby...) {
				n := h.byID[localring.NodeID(id)]
				if n == nil {
					return fmt.Errorf("hiersim: gateway %s of site %s is not one of its nodes", id, name)
				}
				n.fslot = len(fids)
				ranks = append(ranks, rank)
				fids = append(fids, localring.NodeID(name))
				h.fslots = append(h.fslots, n)
			}
		}
		s.ring.OnEvent = h.localEvent(s)
		h.sites = append(h.sites, s)
	}
	h.fed = sim.NewClusterOf(seed^0xfed, fids)
	h.fed.Config = federation.RingConfig(f, h.dom)
	// As federation.NewConfig: each gateway of a site numbers the rings
	// it forms in a lane of its own (its rank), and a new member starts
	// above the highest ring number its site knows (RingSeqFloor; here
	// the highest any member of the site reached, where the agent has
	// what its active gateway published on the local ring, which the
	// margin covers), so that a standby that takes over cut off from
	// every other site does not form a ring of its site alone with the
	// id of a ring of every site (r:8:ams at seeds 1, 4 and 5 of
	// TestCutAsGatewayDiesWithinGrace without it: EVS 2.2 and 7 in the
	// federation ring's trace).
	for slot, rank := range ranks {
		h.fed.Config.RingSeqLanes = max(h.fed.Config.RingSeqLanes, rank+1)
		h.fed.SetRingSeqLane(slot, rank)
	}
	h.fed.RingSeqFloor = federation.RingSeqFloor
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
	h.delays = delays
	h.fed.OnEvent = h.fedEvent
	return nil
}

// localEvent feeds a site's local ring events to the node's bridge.
func (h *hier) localEvent(s *site) func(localring.NodeID, uint64, localring.Event) {
	return func(id localring.NodeID, inc uint64, e localring.Event) {
		n := h.byID[id]
		n.inc = inc
		if n.v == nil && !h.opts.BridgeOnly {
			v, err := domconf.New(domconf.Config{Domain: h.dom.Name, Site: s.name, Self: localring.Member{ID: id, Inc: inc}})
			if err != nil {
				panic(err) // a site and a node id are always set
			}
			n.v = v
		}
		switch e.Kind {
		case localring.EventInstall:
			h.tl.localInstall(s, e.Conf, s.ring.Elapsed())
			active := false
			if e.Conf.Kind == localring.Regular {
				h.changed(n, settleRing, e.Conf.ID)
				if h.starving {
					h.starved.LocalConfs++
				}
				gw, _, ok := federation.ActiveGateway(h.dom, s.name, e.Conf.MemberIDs())
				active = ok && gw == string(id)
				n.activeGW, n.lseq, n.epoch, n.lmembers = "", e.Conf.Ring.Seq, 0, e.Conf.MemberIDs()
				if ok {
					n.activeGW = gw
				}
				if n.v != nil {
					// As the agent: the View sees the configuration
					// before the bridge (agent, domainsLocalEvent).
					n.v.LocalInstall(e.Conf)
				}
			}
			was := n.b.Active()
			n.b.LocalInstall(e.Conf, active)
			if e.Conf.Kind == localring.Regular && n.ungated.Install(n.activeGW != "", time.Time{}.Add(s.ring.Elapsed())) {
				// As the agent: another configuration of the node's
				// part of its site without a gateway.
				n.b.NoGateway()
			}
			if e.Conf.Kind == localring.Regular && n.fslot >= 0 {
				switch {
				case active && !was:
					if h.formed {
						h.fx.terms++
					}
					h.tl.term(s.ring.Elapsed())
					h.fed.Start(n.fslot)
					h.startGrace(n)
				case !active && was:
					h.fed.Crash(n.fslot)
					n.grace.Stop()
				case n.b.CutOff() && !n.b.Last().IsZero():
					// As the agent: the gateway lost members of its
					// site, one of which may take over; its member's
					// rings of its site alone wait for the grace.
					h.logf("%s: the active gateway's local ring lost members of its site; its federation member's rings of its site alone wait for a grace", n.id)
					n.grace.Keep(nil, h.fedTime().Add(gateway.SoloGrace(h.fed.Config)), n.b.Lost())
				case active && n.grace.Healed(e.Conf.MemberIDs()):
					h.resumeHealed(n)
				}
			}
		case localring.EventDeliver:
			if string(e.Msg.Payload) == handoverRelease {
				h.release(n)
				break
			}
			if string(e.Msg.Payload) == gatewayResume {
				h.resumeDelivered(n, string(e.Msg.ID.Sender))
				break
			}
			if h.hidePayload != nil && bytes.Contains(e.Msg.Payload, h.hidePayload) {
				switch {
				case n == h.hideGW:
					h.hideLocal = true
				case slices.Contains(h.hideStandbys, n) && h.tl == nil:
					h.hideSeen = true
				}
			}
			n.b.LocalDeliver(&e.Msg)
		}
		h.drain(n)
	}
}

// fedEvent feeds the federation ring's events to the active gateway's
// bridge.
func (h *hier) fedEvent(id localring.NodeID, inc uint64, e localring.Event) {
	if e.Kind == localring.EventInstall {
		m := localring.Member{ID: id, Inc: inc}
		if apart := h.fedApart.install(m, e.Conf); len(apart) > 0 && h.formed {
			h.fx.apart++
			h.logf("%s came into federation configuration %s apart from %v, members of its configuration before (the federation ring split)", m, e.Conf.ID, apart)
		}
	}
	var n *node
	for i, g := range h.fslots {
		if fn := h.fed.Node(i); fn != nil && fn.ID() == (localring.Member{ID: id, Inc: inc}) {
			n = g
		}
	}
	if n == nil || n == h.dying {
		return
	}
	if n == h.armed && e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular {
		// Options.transKill: its process dies before its bridge sees
		// the regular configuration.
		h.logf("%s dies before its bridge sees federation configuration %s (Options.transKill)", n.id, e.Conf.ID)
		h.armed, h.dying, h.killed = nil, n, string(n.id)
		return
	}
	switch e.Kind {
	case localring.EventInstall:
		if e.Conf.Kind == localring.Regular {
			h.changed(n, settleRing, e.Conf.ID)
			if h.starving {
				h.starved.FedConfs++
			}
		}
		if h.formed && e.Conf.Kind == localring.Regular {
			h.fx.fedConfs++
			if len(e.Conf.Members) < len(h.sites) {
				h.fx.partial++
			}
		}
		if h.inOutage && e.Conf.Kind == localring.Regular && h.cutFrom != nil && h.withUncut(e.Conf) {
			h.outage.WithUncut++
		}
		if e.Conf.Kind == localring.Regular && len(e.Conf.Members) == len(h.sites) {
			h.tl.mark(markFedRing, n.site, h.fed.Elapsed())
		}
		if n.grace.StartsAlone(e.Conf, nil, !n.b.Last().IsZero()) {
			if e.Conf.Kind == localring.Regular {
				h.fx.soloHeld++
				h.logf("%s: federation ring %s of its site alone kept out of the bridge (gateway.Grace, as the agent)", n.id, e.Conf.ID)
			}
			return
		}
		if e.Conf.Kind == localring.Regular {
			// As the agent: what the bridge asked for in the ring
			// that ended, at its deliveries this step, is not sent
			// in this one (bridge.RingBound).
			n.fed = slices.DeleteFunc(n.fed, bridge.RingBound)
		}
		n.b.FedInstall(e.Conf)
		if e.Conf.Kind == localring.Transitional && h.opts.transKill && h.faulted && h.killed == "" && h.armed == nil && n.site != h.victim && n.b.Active() {
			h.armed = n
		}
		if e.Conf.Kind == localring.Regular && h.tl != nil && h.termFirst == nil && n.site == h.victim && n.b.Active() {
			h.termFirst = e.Conf.MemberIDs()
			slices.Sort(h.termFirst)
		}
	case localring.EventDeliver:
		if n.grace.Alone() {
			return
		}
		if n == h.armed {
			h.transMsgs++
		}
		if h.hidePayload != nil && bridge.FedService(e.Msg.Payload) == localring.Safe && bytes.Contains(e.Msg.Payload, h.hidePayload) {
			// An Up of it (catch-up answers are Agreed).
			h.hideOrdered = h.hideOrdered || n == h.hideGW
			h.hideCopies[localring.Member{ID: e.Msg.ID.Sender, Inc: e.Msg.ID.Inc}] = true
		}
		before := n.b.Stats()
		n.b.FedDeliver(&e.Msg)
		if after := n.b.Stats(); after.CatchUps+after.Gaps > before.CatchUps+before.Gaps {
			h.tl.mark(markCaughtUp, n.site, h.fed.Elapsed())
		}
	case localring.EventSuperseded:
		h.logf("%s: federation member %s#%d fenced", n.id, id, inc)
		n.b.FedStopped()
		h.resumeFenced(n)
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
	stream := r.Stream
	if h.opts.corrupt != corruptNone && n == h.sites[0].nodes[len(h.sites[0].nodes)-1] {
		stream = h.spoil(n, stream)
	}
	for _, e := range stream {
		if e.Elided {
			e.Payload = e.Payload[len(elidedPrefix):]
			h.elided++
			if needsSite(n.site.name, e.Payload) {
				h.elidedNeeded++
				h.lostLog = append(h.lostLog, fmt.Sprintf("%s applied a stub of %s, which its site needs", n.id, e.Payload))
			}
		}
		h.logf("%s stream %d %s %s %s", n.id, e.Kind, e.Pos, e.Conf.ID, e.Origin)
		if n.v != nil {
			n.v.Entry(&e)
		}
		announce := e.Kind == bridge.EntryMessage && isAnnounce(e.Payload)
		switch e.Kind {
		case bridge.EntryConfig:
			if e.Conf.Kind == localring.Regular && len(e.Conf.Sites) == len(h.sites) {
				h.tl.mark(markSynced, n.site, n.site.ring.Elapsed())
			}
			if e.Conf.Continues != "" {
				// No change of the domain's configuration: the node
				// stays in the one it is in (bridge, "Failover without
				// a configuration change").
				n.continued++
				continue
			}
			if h.formed {
				n.installs++
			}
			h.changed(n, settleDomain, e.Conf.ID)
			if h.starving {
				h.starved.DomainConfs++
			}
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
			if e.Conf.Part != nil {
				// A configuration of the node's part of its site, cut
				// off from the domain (bridge.Site.NoGateway): its
				// members are named.
				members = slices.Clone(e.Conf.Part)
			}
			slices.Sort(members)
			l.Conf = &evs.Conf{ID: e.Conf.ID, Kind: e.Conf.Kind.String(), Members: members}
			l.ConfID = e.Conf.ID
			h.trace = append(h.trace, l)
		case bridge.EntrySend:
			if e.Gone {
				// Its site dropped it as done elsewhere: no send in this
				// node's configuration (bridge Entry.Gone).
				continue
			}
			l := h.line(n, evs.EvSend)
			l.ConfID = e.Conf.ID
			l.Msg = e.Origin.ID.String()
			l.Svc = e.Svc.String()
			l.Hash = tracemap.Hash(e.Payload)
			h.trace = append(h.trace, l)
		case bridge.EntryMessage:
			l := h.line(n, evs.EvDeliver)
			l.ConfID = n.conf.ID
			l.Msg = e.Origin.ID.String()
			l.Svc = e.Svc.String()
			l.Hash = tracemap.Hash(e.Payload)
			if !e.InDoubt {
				// One in doubt has no domain position (bridge.Entry.InDoubt).
				l.Order = tracemap.DomainOrder(e.Pos)
			}
			h.trace = append(h.trace, l)
			if announce {
				continue // the View's, not a client's
			}
			n.seen[string(e.Payload)]++
			if h.starving {
				h.starved.Delivered++
			}
			h.tl.deliver(n, n.site.ring.Elapsed())
			h.lastAt[n] = n.site.ring.Elapsed()
			if at, ok := h.sentAt[string(e.Payload)]; ok {
				h.latency[e.Svc] = append(h.latency[e.Svc], n.site.ring.Elapsed()-at)
			}
			if h.healAt > 0 && n.site == h.victim && n.conf.Kind == localring.Regular && slices.Equal(n.conf.Sites, []string{n.site.name}) {
				if _, ok := h.aloneAt[n]; !ok {
					h.aloneAt[n] = n.site.ring.Elapsed() - h.healAt
				}
			}
			if _, ok := h.where[string(e.Payload)]; !ok {
				h.where[string(e.Payload)] = n.conf.ID
			}
		}
	}
	if r.Reform && n.b.Active() {
		// The bridge's site is blocked (bridge Ready.Reform): as the
		// View's ask, the member forms the ring again once settled; no
		// configuration the stream brings covers it (the ring it was
		// asked in is the one to leave).
		why := "a node of the domain's configuration is out of the site's ring while Safe messages wait"
		if r.Stray {
			why = "an Up of a member apart waits for the member's restart"
		}
		h.logf("%s bridge asks for the federation ring to form again: %s", n.id, why)
		n.blocked, n.blockedAt = true, r.Ring
	}
	if n.v != nil {
		h.drainView(n)
		if n.b.SetDomainMembers(n.v.SiteMembers()) {
			h.drain(n)
		}
	}
}

// isAnnounce reports whether a domain message is a domconf announcement.
func isAnnounce(p []byte) bool { return len(p) > 0 && p[0] == domconf.AnnounceKind }

// drainView takes a View's output, as the agent does (agent,
// domainOutput): its announcements go up through the local ring (an Up
// of the bridge, Agreed, at the end of the step), its events to the
// node-level trace, mapped by tracemap as the agent's trace maps its
// group layer's (a send told outside any configuration is sent again by
// the group layer and has no line; a delivery's order is its domain
// position).
func (h *hier) drainView(n *node) {
	r := n.v.Ready()
	if h.opts.breakView == viewNoAnnounce && h.formed && n.site == h.sites[0] {
		r.Up = nil
	}
	for _, p := range r.Up {
		n.local = append(n.local, n.b.EncodeUp(localring.Agreed, p))
	}
	if len(r.Up) > 0 {
		h.logf("%s announces", n.id)
	}
	if r.Reform {
		h.logf("%s view asks for the federation ring to form again (active gateway %v, settled %v)", n.id, n.b.Active(), n.b.Settled())
	}
	if r.Covered {
		n.reform = false // as the agent: a regular configuration came after the ask
	}
	if r.Reform && n.b.Active() {
		// As the agent: the site's active gateway has its federation
		// member form the ring again, at the end of a step once its ring
		// has settled (the agent's runner does it on its own goroutine).
		n.reform, n.reformAt = true, r.Ring
	}
	proc := tracemap.Proc{Node: string(n.id), Inc: n.inc, Domain: h.dom.Name}
	for i := range r.Events {
		e := &r.Events[i]
		if h.opts.breakView != viewBreakNone && h.formed && n == h.sites[0].nodes[len(h.sites[0].nodes)-1] && !h.breakEvent(n, e) {
			continue
		}
		if e.Kind == localring.EventInstall {
			h.logf("%s view installs %s %s %v", n.id, e.Conf.Kind, e.Conf.ID, e.Conf.MemberIDs())
			n.prevc, n.vconf = n.vconf, e.Conf.ID
			h.changed(n, settleView, e.Conf.ID)
		}
		if e.Kind == localring.EventSend && (e.Msg.Conf == "" || e.Msg.Conf == groups.SentElsewhere) {
			continue
		}
		l, ok := proc.Ring(e)
		if !ok {
			continue
		}
		if l.Ev == evs.EvDeliver && l.Order != 0 {
			l.Order = tracemap.DomainOrder(domconf.Position(e.Msg.Order))
		}
		h.ntrace = append(h.ntrace, l)
	}
}

// breakEvent applies Options.breakView to event e of node n's View, once,
// and reports whether e stays.
func (h *hier) breakEvent(n *node, e *localring.Event) bool {
	switch b := h.opts.breakView; {
	case b == viewSkipDelivery && e.Kind == localring.EventDeliver && e.Msg.Conf == n.vconf && strings.HasPrefix(n.vconf, "dr:"):
		h.opts.breakView = viewBreakNone
		return false
	case b == viewNoTransitional && e.Kind == localring.EventInstall && e.Conf.Kind == localring.Transitional:
		h.opts.breakView = viewBreakNone
		return false
	case b == viewUnsent && e.Kind == localring.EventSend && e.Msg.Conf != "":
		e.Msg.Conf = ""
		h.opts.breakView = viewBreakNone
	case b == viewWrongConf && e.Kind == localring.EventDeliver && n.prevc != "" && e.Msg.Conf == n.vconf:
		e.Msg.Conf = n.prevc
		h.opts.breakView = viewBreakNone
	}
	return true
}

func (h *hier) logf(format string, a ...any) {
	if h.opts.Log != nil {
		fmt.Fprintf(h.opts.Log, "%8.3fms ", float64(h.fed.Elapsed().Microseconds())/1000)
		fmt.Fprintf(h.opts.Log, format, a...)
		fmt.Fprintln(h.opts.Log)
	}
}

// spoil applies Options.corrupt to node n's stream at its corruptAt-th
// message (a swap holds it back until after the next one).
func (h *hier) spoil(n *node, stream []bridge.Entry) []bridge.Entry {
	var out []bridge.Entry
	for _, e := range stream {
		if e.Kind != bridge.EntryMessage {
			out = append(out, e)
			continue
		}
		n.msgs++
		switch {
		case n.held != nil:
			out = append(out, e, *n.held)
			n.held = nil
			h.opts.corrupt = corruptNone
		case n.msgs != corruptAt:
			out = append(out, e)
		case h.opts.corrupt == corruptDrop:
			h.opts.corrupt = corruptNone
		case h.opts.corrupt == corruptDuplicate:
			out = append(out, e, e)
			h.opts.corrupt = corruptNone
		case h.opts.corrupt == corruptSwap:
			n.held = &e
		}
	}
	return out
}

// flushSubmissions submits what the bridges asked for during the step.
// A submission can make a ring deliver at once (a node that holds the
// token sends, and delivers its own Agreed message), and the bridge asks
// for more: that waits for the end of the next step.
func (h *hier) flushSubmissions() {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			local, fed := n.local, n.fed
			n.local, n.fed = nil, nil
			// A paused node's process is stopped, not dead: what its
			// bridge submits waits in the process until the ring node (or
			// the federation member) runs again, as an agent's own
			// submission does, whatever paused it. A crashed node's is
			// lost with it (SubmitPayload fails).
			if s.ring.Paused(n.slot) {
				if len(local) > n.waited[0] {
					h.logf("%s: its node is paused, %d local submissions wait", n.id, len(local))
				}
				n.local, local, n.waited[0] = local, nil, len(local)
			} else {
				if s.ring.Alive(n.slot) {
					h.fx.waited += n.waited[0]
				}
				n.waited[0] = 0
			}
			for _, p := range local {
				_ = s.ring.SubmitPayload(n.slot, localring.Agreed, p)
			}
			if n.fslot >= 0 && h.fed.Paused(n.fslot) {
				if len(fed) > n.waited[1] {
					h.logf("%s: its federation member is paused, %d federation submissions wait", n.id, len(fed))
				}
				n.fed, fed, n.waited[1] = fed, nil, len(fed)
			} else {
				if n.fslot >= 0 && h.fed.Alive(n.fslot) {
					h.fx.waited += n.waited[1]
				}
				n.waited[1] = 0
			}
			if n.fslot >= 0 && h.fed.Alive(n.fslot) {
				for _, p := range fed {
					_ = h.fed.SubmitClassPayload(n.fslot, bridge.FedClass(p), bridge.FedService(p), p)
				}
				if n.blocked && n.b.Settled() {
					// The bridge's ask (drain): carried out as the View's,
					// unless the member is in a newer ring already.
					if n.b.FedRing() == n.blockedAt && n.reformAsk == nil {
						n.reform, n.reformAt = true, n.blockedAt
					}
					n.blocked = false
				}
				if n.reform && n.b.Settled() && n.b.FedRing() != n.reformAt {
					// As the agent: the member is in a newer ring than
					// the one the View asked at, whose entry covers it.
					h.logf("%s drops its request to form the ring again: asked in ring %d, in ring %d now", n.id, n.reformAt, n.b.FedRing())
					n.reform = false
				}
				if n.reform && n.b.Settled() {
					// As the agent: the runner carries the ask out at its
					// member's next token visit (gateway.ReformAsk).
					n.reformAsk = gateway.NewReformAsk(h.fed.Node(n.fslot))
					n.reform = false
				}
				switch due, pending := n.reformAsk.Due(h.fed.Node(n.fslot)); {
				case due:
					h.fx.reforms++
					h.tl.reform(h.fed.Elapsed())
					h.fed.Reform(n.fslot)
					n.reformAsk = nil
				case !pending && n.reformAsk != nil:
					h.logf("%s drops its request to form the ring again: its member left the ring or started a membership round first", n.id)
					n.reformAsk = nil
				}
			}
			n.reform = n.reform && n.b.Active()
			n.blocked = n.blocked && n.b.Active()
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
		if n := h.dying; n != nil {
			h.dying = nil
			n.site.ring.Crash(n.slot)
			h.fed.Crash(n.fslot)
			h.fx.injected++
		}
		h.endSolo()
		if load && h.rng.Float64() < perStep {
			h.send()
		}
		h.flushSubmissions()
		h.wakeStep()
		h.starveStep()
		h.stallStep()
		h.killTakerStep()
		h.recutStep()
		h.isolateStep()
		h.handoverStep()
		h.ungatedStep()
		h.outrankedStep()
	}
}

// outrankedStep has every node whose federation member a newer gateway of
// its site fenced, and that did not resume (resumeFenced), ask its local
// ring to form again above the fencer's configuration once
// gateway.OutrankedGrace passed with its configuration unchanged and
// itself still its active gateway, its part at least half of the site
// (gateway.Outranks), as the agent does: the ring formed again makes it
// active with an incarnation above the fencer's.
func (h *hier) outrankedStep() {
	for _, s := range h.sites {
		for _, n := range s.nodes {
			o := &n.outranked
			switch {
			case o.lseq == 0:
			case n.lseq != o.lseq || n.activeGW != string(n.id):
				*o = struct {
					lseq, above uint64
					until       time.Duration
				}{}
			case s.ring.Alive(n.slot) && !s.ring.Paused(n.slot) && s.ring.Elapsed() >= o.until && gateway.Outranks(len(n.lmembers), len(s.nodes)):
				h.logf("%s: still its site's active gateway in local ring %d, fenced by a newer one %v ago: its local ring forms again above %d", n.id, n.lseq, gateway.OutrankedGrace, o.above)
				s.ring.ReformAbove(n.slot, o.above)
				h.fx.outranked++
				o.lseq = 0
			}
		}
	}
}

// ungatedStep has every node whose local ring has had no gateway of the
// domain for gateway.PartGrace leave the domain's configuration, as the
// agent does (bridge.Site.NoGateway).
func (h *hier) ungatedStep() {
	for _, s := range h.sites {
		now := time.Time{}.Add(s.ring.Elapsed())
		for _, n := range s.nodes {
			if s.ring.Alive(n.slot) && !s.ring.Paused(n.slot) && n.ungated.Due(now) {
				h.logf("%s: no gateway of the domain in its local ring for %v: it leaves the domain's configuration", n.id, gateway.PartGrace)
				n.b.NoGateway()
				h.drain(n)
			}
		}
	}
}

// handoverRelease is the local ring message of Options.handover's
// release (not a bridge message: the bridges never see it).
const handoverRelease = "\x00hiersim:handover-release"

// handoverDrain is how long Options.handover's old gateway drains its
// federation member before it leaves the ring (the agent's drain timeout).
const handoverDrain = 500 * time.Millisecond

// handoverStep carries out Options.handover: once the old gateway drained
// for handoverDrain, its member leaves the ring, its bridge's term ends,
// and it submits the release on its local ring.
func (h *hier) handoverStep() {
	if h.hovHeal != nil && h.fed.Elapsed() >= h.hovCutAt+h.opts.Outage {
		h.logf("site %s: the cut after the handover heals (Options.handover)", h.hovTo.site.name)
		h.hovHeal()
		h.hovHeal = nil
	}
	n := h.hovFrom
	if n == nil || h.fed.Elapsed() < h.hovLeave {
		return
	}
	h.hovFrom = nil
	h.logf("%s: its federation member leaves the ring; release submitted (Options.handover)", n.id)
	h.fed.Leave(n.fslot)
	gateway.Handover{B: n.b, Self: string(n.id)}.Stopped()
	h.drain(n)
	n.local = append(n.local, []byte(handoverRelease))
}

// release applies Options.handover's release at node n, at its delivery
// on the local ring (gateway.Handover.Released, as the agent's
// releaseDelivered): the role moves to the new gateway, which starts its
// federation member with a grace.
func (h *hier) release(n *node) {
	to := h.hovTo
	n.epoch++
	if (gateway.Handover{B: n.b, Self: string(n.id)}).Released(string(to.id), n.epoch) {
		h.logf("%s is the active gateway: handover released (Options.handover)", n.id)
		if h.formed {
			h.fx.terms++
		}
		h.fed.Start(n.fslot)
		h.startGrace(n)
	}
	if h.hovApplied++; h.hovApplied == len(n.site.nodes) && h.opts.handover.cut {
		h.logf("site %s cut off from every other site for %v at the handover's release (Options.handover)", n.site.name, h.opts.Outage)
		h.hovHeal, h.hovCutAt = h.cut(n.site, nil), h.fed.Elapsed()
	}
}

// gatewayResume is the local ring message of an active gateway that
// resumes its term with a new federation member (resumeFenced; the
// agent's Role.Resume request; not a bridge message).
const gatewayResume = "\x00hiersim:resume"

// resumeFenced handles the fence of node n's federation member, as the
// agent's resumeFenced: if its last regular local configuration still
// makes it the active gateway, the fencer is a gateway of its site that
// was active in another configuration (a part of a split local ring, or
// the configuration before a heal that gave the role back to n), and n
// resumes its term with the next epoch and a new member, once a term.
// The agent does not resume when the fencer's incarnation is above the
// one it would take (a newer configuration's gateway): here, when
// another node of the site is active in a configuration not older than
// n's. Without it the site had no gateway in the domain until its local
// ring changed again.
func (h *hier) resumeFenced(n *node) {
	if n.activeGW != string(n.id) || n.resumed.lseq == n.lseq && n.resumed.epoch == n.epoch {
		return
	}
	for _, o := range n.site.nodes {
		if o != n && o.b.Active() && o.lseq >= n.lseq {
			h.logf("%s: fenced by %s, active in a configuration not older than its own: it does not resume", n.id, o.id)
			n.outranked.lseq, n.outranked.above, n.outranked.until = n.lseq, o.lseq, n.site.ring.Elapsed()+gateway.OutrankedGrace
			return
		}
	}
	n.resumed.lseq, n.resumed.epoch = n.lseq, n.epoch
	h.logf("%s: fenced while its local ring makes it the active gateway: it resumes with a new federation member", n.id)
	n.local = append(n.local, []byte(gatewayResume))
}

// resumeHealed ends node n's federation member, held by a grace Keep
// started (gateway.Grace.Healed: the site's local ring holds every node
// it lost, n still its active gateway), and resumes its term with a new
// member (bridge Site.ResumeHeld), as the agent's resumeHealed.
func (h *hier) resumeHealed(n *node) {
	h.logf("%s: its site's local ring holds every node it lost while its federation member, held, reaches no other site: it resumes with a new federation member", n.id)
	h.fx.healResumes++
	n.grace.Stop()
	h.fed.Crash(n.fslot)
	n.b.ResumeHeld()
	gateway.Handover{B: n.b, Self: string(n.id)}.Stopped()
	h.drain(n)
	n.resumed.lseq, n.resumed.epoch = n.lseq, n.epoch
	n.local = append(n.local, []byte(gatewayResume))
}

// resumeDelivered applies gateway from's resumption at node n, at its
// delivery on the local ring (as the agent's Role.Resume and
// gateway.Handover.Released): refused unless from is the active gateway
// of n's configuration; from starts a new term with the next epoch, and
// a new federation member with a grace.
func (h *hier) resumeDelivered(n *node, from string) {
	if n.activeGW != from {
		h.logf("%s: %s's resumption ignored: the role is %q's here", n.id, from, n.activeGW)
		return
	}
	n.epoch++
	if (gateway.Handover{B: n.b, Self: string(n.id)}).Released(from, n.epoch) {
		h.logf("%s resumes its gateway term (epoch %d)", n.id, n.epoch)
		h.fx.resumes++
		if h.formed {
			h.fx.terms++
		}
		h.fed.Start(n.fslot)
		h.startGrace(n)
	}
}

// isolateStep carries out Options.isolate: it cuts a node of the victim
// site that is no gateway off from the rest of its local ring
// isolate.after after the kill, and heals the local ring isolate.d later.
func (h *hier) isolateStep() {
	is := h.opts.isolate
	if is.d == 0 || h.tl == nil || h.isolateEnd {
		return
	}
	since := h.fed.Elapsed() - h.tl.kill
	s := h.victim
	if h.isolated == nil {
		if since < is.after {
			return
		}
		var rest []int
		for _, n := range s.nodes {
			switch {
			case n.fslot < 0 && h.isolated == nil:
				h.isolated = n
			case s.ring.Alive(n.slot):
				rest = append(rest, n.slot)
			}
		}
		if h.isolated == nil {
			h.isolateEnd = true // every node of the site is a gateway
			return
		}
		h.logf("%s cut off from the rest of its local ring for %v (Options.isolate)", h.isolated.id, is.d)
		h.partition(s, []int{h.isolated.slot}, rest)
		return
	}
	if since >= is.after+is.d {
		h.logf("%s: its local ring heals (Options.isolate)", h.isolated.id)
		h.healRing(s)
		h.isolateEnd = true
	}
}

// stallStep carries out Options.stall: it pauses the site's new active
// gateway once its term is stall.after old, and resumes it stall.d later.
func (h *hier) stallStep() {
	st := h.opts.stall
	if st.d == 0 || h.tl == nil || h.tl.t.Term == 0 {
		return
	}
	since := h.fed.Elapsed() - h.tl.kill - h.tl.t.Term
	switch n := h.stalled; {
	case n == nil && since >= st.after:
		if n = h.active(h.victim); n != nil {
			h.logf("%s paused for %v (Options.stall)", n.id, st.d)
			n.site.ring.Pause(n.slot)
			h.fed.Pause(n.fslot)
			h.stalled = n
		}
	case n != nil && !h.resumed && since >= st.after+st.d:
		h.logf("%s resumes (Options.stall)", n.id)
		n.site.ring.Resume(n.slot)
		h.fed.Resume(n.fslot)
		h.resumed = true
	}
}

// killTakerStep carries out Options.killTaker: it kills the site's new
// active gateway once its term is killTaker old.
func (h *hier) killTakerStep() {
	d := h.opts.killTaker
	if d == 0 || h.takerKilled || h.tl == nil || h.tl.t.Term == 0 || h.fed.Elapsed()-h.tl.kill-h.tl.t.Term < d {
		return
	}
	h.takerKilled = true
	if n := h.active(h.victim); n != nil {
		h.logf("%s killed, %v into its term (Options.killTaker)", n.id, d)
		n.site.ring.Crash(n.slot)
		h.fed.Crash(n.fslot)
		h.fx.injected++
	}
}

// recutStep carries out Options.recut: it cuts the victim site off again
// once its new gateway's member's first ring of every site is recut.after
// old, and heals the cut recut.d later.
func (h *hier) recutStep() {
	rc := h.opts.recut
	if rc.d == 0 || h.tl == nil || h.recutOver {
		return
	}
	now := h.fed.Elapsed()
	if h.recutHeal == nil {
		at, ok := h.tl.marks[markFedRing][h.victim.name]
		if !ok || now < h.tl.kill+at+rc.after {
			return
		}
		h.logf("site %s cut off from every other site again for %v, %v after its new gateway's first ring of every site (Options.recut)", h.victim.name, rc.d, rc.after)
		h.recutHeal, h.recutAt = h.cut(h.victim, nil), now
		return
	}
	if now >= h.recutAt+rc.d {
		h.logf("site %s: the second cut heals (Options.recut)", h.victim.name)
		h.recutHeal()
		h.recutOver = true
	}
}

// inject applies the run's fault at site s and returns what ends it.
func (h *hier) inject(s *site) (undo func()) {
	gw := h.active(s)
	h.logf("fault %s at site %s (gateway %v)", h.opts.Fault, s.name, gw != nil)
	if gw != nil && h.opts.Fault != FaultNone {
		h.fx.upInFlight = gw.b.Pending()
		h.downInFlight = downsInFlight(gw)
	}
	var heal func()
	switch f := h.opts.Fault; {
	case f == FaultCut:
		heal = h.cut(s, nil)
	case f == FaultPartialCut:
		o := h.otherSite(s)
		h.cutFrom = []*site{o}
		heal = h.cut(s, o)
	case f == FaultWANDelay:
		heal = h.changeDelays()
	case f == FaultProcessStall:
		heal = h.stallAll()
	case f == FaultStarvation:
		heal = h.starve(s)
	case gw == nil:
	case h.opts.handover.on:
		for _, n := range s.nodes {
			if n != gw && n.fslot >= 0 && s.ring.Alive(n.slot) && h.hovTo == nil {
				h.hovTo = n
			}
		}
		if h.hovTo != nil {
			h.logf("handover from %s to %s agreed: %s drains its federation member (Options.handover)", gw.id, h.hovTo.id, gw.id)
			for _, n := range s.nodes {
				if !s.ring.Alive(n.slot) {
					continue
				}
				if (gateway.Handover{B: n.b, Self: string(n.id)}).Agreed(string(gw.id)) {
					h.hovFrom, h.hovLeave = n, h.fed.Elapsed()+handoverDrain
				}
				h.drain(n)
			}
			h.fx.injected++
		}
	case f == FaultGatewayCrash:
		if h.opts.downs {
			if gw = h.awaitDowns(s, gw); gw == nil {
				break
			}
		}
		var o *site
		if h.opts.cutOther {
			o = h.otherSite(s)
			h.other = o
		}
		if h.opts.deafThird > 0 && o != nil {
			gw = h.deafen(s, o)
			if gw == nil {
				break
			}
		}
		if h.opts.hide.on {
			gw = h.hideUp(s, gw)
			if gw == nil {
				break
			}
		}
		s.ring.Crash(gw.slot)
		h.fed.Crash(gw.fslot)
		h.fx.injected++
		h.tl = newTimeline(h, gw)
		if h.hidePayload != nil {
			// The sender is cut off at the kill, then the standbys hear
			// again: nothing brings them the Up but its Again.
			h.isolateStep()
			for _, b := range h.hideStandbys {
				s.ring.DeafMulticast(b.slot, 0)
			}
		}
		if o != nil {
			h.logf("site %s cut off from every other site for %v at %s's gateway's kill (Options.cutOther)", o.name, h.opts.Outage, s.name)
			heal = h.cut(o, nil)
		}
		if h.opts.cutAsDies.on {
			h.run(h.opts.cutAsDies.after, true)
			h.logf("site %s cut off from every other site for %v, %v after its gateway's kill (Options.cutAsDies)", s.name, h.opts.Outage, h.opts.cutAsDies.after)
			heal = h.cut(s, nil)
		}
	case f == FaultTwoGatewayCrashes:
		o := h.otherSite(s)
		s.ring.Crash(gw.slot)
		h.fed.Crash(gw.fslot)
		h.fx.injected++
		// The second up to 300 ms later, under load: its gateway may
		// inject meanwhile what the first site's missed, so that its site
		// is at base and the first behind it.
		h.run(time.Duration(h.rng.IntN(300))*time.Millisecond, true)
		if gw2 := h.active(o); gw2 != nil {
			o.ring.Crash(gw2.slot)
			h.fed.Crash(gw2.fslot)
			h.fx.injected++
		}
	case f == FaultGatewayPause:
		if h.opts.downs {
			if gw = h.awaitDowns(s, gw); gw == nil {
				break
			}
		}
		s.ring.Pause(gw.slot)
		h.fed.Pause(gw.fslot)
		h.fx.injected++
		heal = func() {
			s.ring.Resume(gw.slot)
			h.fed.Resume(gw.fslot)
		}
	case f == FaultStrayHistory, f == FaultStrayGateway, f == FaultStrayGatewayRingFirst:
		heal = h.strayHistory(s, gw)
	case f == FaultLocalCut:
		var rest []int
		for _, n := range s.nodes {
			if n != gw {
				rest = append(rest, n.slot)
			}
		}
		h.partition(s, []int{gw.slot}, rest)
		h.fx.injected++
		heal = func() { h.healRing(s) }
	}
	if heal == nil {
		return func() {}
	}
	return heal
}

// tokenLosses sums the token losses (localring.Stats.TokenLosses) of the
// local ring nodes and of the federation ring's members that run.
func (h *hier) tokenLosses() (n [2]int) {
	for _, s := range h.sites {
		for _, nd := range s.nodes {
			if rn := s.ring.Node(nd.slot); rn != nil {
				n[0] += int(rn.Stats().TokenLosses)
			}
		}
	}
	for i := range h.fslots {
		if rn := h.fed.Node(i); rn != nil {
			n[1] += int(rn.Stats().TokenLosses)
		}
	}
	return n
}

// changed notes a configuration installed now at node n, of kind k, for
// Result.StallSettled and runSteady (not the node a persistent fault
// takes out of its site's ring: its own configurations change as they
// will).
func (h *hier) changed(n *node, k settleKind, id string) {
	if h.net == nil || h.net.mute != n {
		h.lastChangeAt, h.lastChange = h.fed.Elapsed(), fmt.Sprintf("%s installed %s", n.id, id)
	}
	if h.stalledAll {
		h.settled = h.fed.Elapsed()
		h.settledBy[k] = h.settled
	}
}

// settleKind is what installed a configuration (h.changed): a ring
// (local or federation), a bridge (a domain configuration), a View (a
// node-level one).
type settleKind int

const (
	settleRing settleKind = iota
	settleDomain
	settleView
)

// wake is a node of FaultProcessStall to resume: slot of cluster c, at
// (the federation cluster's elapsed time), its timers before or after its
// socket buffer.
type wake struct {
	c           *sim.Cluster
	slot        int
	at          time.Duration
	timersFirst bool
}

// stallSpread is the time over which FaultProcessStall's nodes resume:
// a process that comes back from a stall runs its agents' goroutines on
// a few cores, each through what waited for it, not at one instant.
const stallSpread = 50 * time.Millisecond

// wakeStep resumes the nodes of FaultProcessStall whose time came.
func (h *hier) wakeStep() {
	now := h.fed.Elapsed()
	rest := h.wakes[:0]
	for _, wk := range h.wakes {
		switch {
		case wk.at > now:
			rest = append(rest, wk)
		case wk.timersFirst:
			wk.c.ResumeTimersFirst(wk.slot)
		default:
			wk.c.Resume(wk.slot)
		}
	}
	h.wakes = rest
}

// stallAll carries out FaultProcessStall: it pauses every node of every
// site and every federation member, and returns what resumes them, each
// at a time within stallSpread that the seed draws, its timers firing
// before or after it reads its socket buffer (the seed draws that too:
// after SIGCONT the Go runtime may run either first).
func (h *hier) stallAll() (resume func()) {
	h.stalledAll = true
	h.stallLosses = h.tokenLosses()
	for _, s := range h.sites {
		for _, n := range s.nodes {
			s.ring.Pause(n.slot)
		}
	}
	for i := range h.fslots {
		h.fed.Pause(i)
	}
	h.fx.injected++
	return func() {
		now := h.fed.Elapsed()
		h.stallEnd = now
		add := func(c *sim.Cluster, slot int) {
			at := now + time.Duration(h.rng.Int64N(int64(stallSpread)))
			h.wakes = append(h.wakes, wake{c: c, slot: slot, at: at, timersFirst: h.rng.IntN(2) == 0})
		}
		for _, s := range h.sites {
			for _, n := range s.nodes {
				add(s.ring, n.slot)
			}
		}
		for i := range h.fslots {
			add(h.fed, i)
		}
		h.wakeStep()
	}
}

// starveState is a starving node's: paused or running, until when (the
// federation cluster's elapsed time).
type starveState struct {
	paused bool
	until  time.Duration
}

// starve carries out FaultStarvation (at site s only with starve.site):
// every node starts in a running slice, starveStep pauses and resumes
// them, and what it returns ends the starvation (each paused node
// resumes at once).
func (h *hier) starve(s *site) (end func()) {
	st := &h.opts.starve
	if st.run == (span{}) {
		st.run = span{20 * time.Millisecond, 300 * time.Millisecond}
	}
	if st.pause == (span{}) {
		st.pause = span{20 * time.Millisecond, 300 * time.Millisecond}
	}
	h.stalledAll, h.starving = true, true
	h.starveAt = map[*node]starveState{}
	h.starveEv = h.evictions()
	now := h.fed.Elapsed()
	for _, o := range h.sites {
		if st.site && o != s {
			continue
		}
		for _, n := range o.nodes {
			h.starveAt[n] = starveState{until: now + h.slice(st.run)}
			if st.together {
				h.starveAt[n] = starveState{until: now + st.run.min}
			}
		}
	}
	h.fx.injected++
	return func() {
		h.starving = false
		h.stallEnd = h.fed.Elapsed()
		for _, o := range h.sites {
			for _, n := range o.nodes {
				if h.starveAt[n].paused {
					h.starveResume(n)
				}
			}
		}
		h.starveAt = map[*node]starveState{}
	}
}

// span is a range of durations, [min, max).
type span struct{ min, max time.Duration }

// slice draws a duration in r.
func (h *hier) slice(r span) time.Duration {
	return r.min + time.Duration(h.rng.Int64N(int64(max(1, r.max-r.min))))
}

// starveStep pauses and resumes the starving nodes whose slice ended.
func (h *hier) starveStep() {
	if !h.starving {
		return
	}
	now := h.fed.Elapsed()
	var all *starveState // with starve.together: the first node's slice, drawn for all
	// In a fixed order: the map's would make the seed's draws vary.
	for _, s := range h.sites {
		for _, n := range s.nodes {
			ns, ok := h.starveAt[n]
			if !ok || now < ns.until {
				continue
			}
			if ns.paused {
				h.starveResume(n)
				next := starveState{until: now + h.slice(h.opts.starve.run)}
				if h.opts.starve.together {
					if all == nil {
						all = &next
					}
					next = *all
				}
				h.starveAt[n] = next
				continue
			}
			if !s.ring.Alive(n.slot) {
				continue
			}
			s.ring.Pause(n.slot)
			if n.fslot >= 0 {
				h.fed.Pause(n.fslot) // a crashed or stopped member: nothing
			}
			h.starved.Pauses++
			next := starveState{paused: true, until: now + h.slice(h.opts.starve.pause)}
			if h.opts.starve.together {
				if all == nil {
					all = &next
				}
				next = *all
			}
			h.starveAt[n] = next
		}
	}
}

// starveResume resumes node n's ring node and federation member, their
// timers before or after what their socket buffers queued (the seed
// draws it).
func (h *hier) starveResume(n *node) {
	first := h.rng.IntN(2) == 0
	for _, c := range []struct {
		c    *sim.Cluster
		slot int
	}{{n.site.ring, n.slot}, {h.fed, n.fslot}} {
		if c.slot < 0 {
			continue
		}
		if first {
			c.c.ResumeTimersFirst(c.slot)
		} else {
			c.c.Resume(c.slot)
		}
	}
}

// evictions sums the evictions (localring.Stats.Evictions) of the local
// ring nodes and of the federation ring's members that run.
func (h *hier) evictions() (n [2]int) {
	for _, s := range h.sites {
		for _, nd := range s.nodes {
			if rn := s.ring.Node(nd.slot); rn != nil {
				n[0] += int(rn.Stats().Evictions)
			}
		}
	}
	for i := range h.fslots {
		if rn := h.fed.Node(i); rn != nil {
			n[1] += int(rn.Stats().Evictions)
		}
	}
	return n
}

// strayHistory carries out FaultStrayHistory, FaultStrayGateway and
// FaultStrayGatewayRingFirst at site s, whose active gateway is gw: it
// splits the site's local ring in gw alone and the rest, cuts one part's
// gateways off from every federation member (the rest's, or gw with the
// two others), runs for gateway.SoloGrace and strayAlone under load (the
// two others: half of gateway.SoloGrace or Options.strayCut, then
// FaultStrayGateway heals gw's links and runs for strayAlone), heals the
// local ring, and returns what heals the federation links (nothing more
// with FaultStrayGateway).
func (h *hier) strayHistory(s *site, gw *node) (heal func()) {
	alone := h.opts.Fault == FaultStrayGateway || h.opts.Fault == FaultStrayGatewayRingFirst
	var rest []int
	var links [][2]int
	for _, n := range s.nodes {
		if n != gw {
			rest = append(rest, n.slot)
		}
		if n.fslot < 0 || (n == gw) != alone {
			continue
		}
		for j := range h.fslots {
			if j != n.fslot {
				links = append(links, [2]int{n.fslot, j}, [2]int{j, n.fslot})
			}
		}
	}
	h.partition(s, []int{gw.slot}, rest)
	for _, l := range links {
		h.fed.Block(l[0], l[1])
	}
	h.fx.injected++
	d := gateway.SoloGrace(h.fed.Config) + strayAlone
	cut := "the rest's gateways"
	if alone {
		d, cut = gateway.SoloGrace(h.fed.Config)/2, "it"
		if h.opts.strayCut > 0 {
			d = h.opts.strayCut
		}
	}
	h.logf("site %s split: %s alone, %s cut off from every federation member, for %v (%s)", s.name, gw.id, cut, d, h.opts.Fault)
	h.run(d, true)
	// The part cut off went on in a history of its own: its nodes'
	// configuration is a regular one of their site alone that the other
	// part's active gateway never applied.
	var ref *node
	for _, n := range s.nodes {
		if n.b.Active() && (n == gw) != alone {
			ref = n
		}
	}
	for _, n := range s.nodes {
		if c := n.b.Conf(); (n == gw) == alone && c.Kind == localring.Regular && slices.Equal(c.Sites, []string{s.name}) && (ref == nil || c.ID != ref.b.Conf().ID) {
			h.fx.strays++
		}
	}
	if h.opts.Fault == FaultStrayGateway {
		for _, l := range links {
			h.fed.Unblock(l[0], l[1])
		}
		links = nil
		h.logf("site %s: %s's federation links heal first (%s)", s.name, gw.id, h.opts.Fault)
		h.run(strayAlone, true)
	}
	h.logf("site %s's local ring whole again, %d nodes in a history of their part alone (%s)", s.name, h.fx.strays, h.opts.Fault)
	h.healRing(s)
	h.fx.injected++
	if h.opts.Fault == FaultStrayGatewayRingFirst {
		h.healAt, h.aloneAt = s.ring.Elapsed(), map[*node]time.Duration{}
	}
	return func() {
		for _, l := range links {
			h.fed.Unblock(l[0], l[1])
		}
	}
}

// deafen carries out Options.deafThird before the kill of site s's
// active gateway, o being the site cut off at it: the third site's
// gateways receive no federation multicast for deafThird, under load,
// and hear again. It returns s's active gateway then, the one to kill
// (nil if it has none).
func (h *hier) deafen(s, o *site) *node {
	var third []*node
	for _, n := range h.fslots {
		if n.site != s && n.site != o {
			third = append(third, n)
		}
	}
	h.logf("site %s's gateways deaf to federation multicasts for %v before %s's gateway's kill (Options.deafThird)", third[0].site.name, h.opts.deafThird, s.name)
	for _, n := range third {
		h.fed.DeafMulticast(n.fslot, 1)
	}
	h.run(h.opts.deafThird, true)
	for _, n := range third {
		h.fed.DeafMulticast(n.fslot, 0)
	}
	gw := h.active(s)
	if gw != nil {
		h.fx.upInFlight = gw.b.Pending()
	}
	return gw
}

// hideMax is how long Options.hide waits for the active gateway to
// deliver its Up (and its member to, with hide.ordered).
const hideMax = 3 * time.Second

// hideUp carries out Options.hide before the kill of site s's active
// gateway gw: the node isolate cuts off sends an Up that gw's standbys do
// not receive, and the run goes on (under load) until gw delivered it on
// its local ring, or its federation member did (hide.ordered). It
// returns s's active gateway then, the one to kill (nil if none); the
// caller kills it, cuts the sender off and lets the standbys hear again.
func (h *hier) hideUp(s *site, gw *node) *node {
	var sender *node
	for _, n := range s.nodes {
		switch {
		case n.fslot < 0 && sender == nil && s.ring.Alive(n.slot):
			sender = n
		case n != gw && n.fslot >= 0:
			h.hideStandbys = append(h.hideStandbys, n)
		}
	}
	if sender == nil || len(h.hideStandbys) == 0 {
		return gw
	}
	for _, b := range h.hideStandbys {
		s.ring.DeafMulticast(b.slot, 1)
	}
	p := h.sendFrom(sender)
	if p == "" {
		return gw
	}
	h.hidePayload, h.hideGW, h.hideCopies = []byte(p), gw, map[localring.Member]bool{}
	h.logf("%s sends %s, which %s's standbys do not receive (Options.hide)", sender.id, p, s.name)
	for end := h.fed.Elapsed() + hideMax; h.fed.Elapsed() < end; {
		if h.hideOrdered || h.hideLocal && !h.opts.hide.ordered {
			break
		}
		h.run(h.opts.Step, true)
	}
	return h.active(s)
}

// otherSite returns a site other than s, the seed's pick.
func (h *hier) otherSite(s *site) *site {
	o := h.sites[h.rng.IntN(len(h.sites)-1)]
	if o == s {
		o = h.sites[len(h.sites)-1]
	}
	return o
}

// cut cuts the gateways of site s off from those of site to (every
// other site when to is nil), both ways, and returns what heals it.
func (h *hier) cut(s, to *site) (heal func()) {
	var links [][2]int
	for i, a := range h.fslots {
		for j, b := range h.fslots {
			if a.site == s && b.site != s && (to == nil || b.site == to) {
				links = append(links, [2]int{i, j}, [2]int{j, i})
			}
		}
	}
	for _, l := range links {
		h.fed.Block(l[0], l[1])
	}
	h.fx.injected++
	return func() {
		for _, l := range links {
			h.fed.Unblock(l[0], l[1])
		}
	}
}

// changeDelays sets every link between sites to between 0.5 and 4 times
// its delay, each direction on its own, and returns what sets them back.
func (h *hier) changeDelays() (undo func()) {
	changed := make([][]time.Duration, len(h.delays))
	for i, row := range h.delays {
		changed[i] = slices.Clone(row)
		for j := range row {
			if h.fslots[i].site != h.fslots[j].site {
				changed[i][j] = time.Duration(float64(row[j]) * (0.5 + 3.5*h.rng.Float64()))
			}
		}
	}
	h.fed.SetDelays(changed)
	h.fx.injected++
	return func() {
		h.fed.SetDelays(h.delays)
		h.fx.injected++
	}
}

// downsMax is how long Options.downs waits for the active gateway to
// forward both ways.
const downsMax = 5 * time.Second

// awaitDowns carries out Options.downs before the crash or pause of site
// s's active gateway gw: it runs the hierarchy, under load, a step at a
// time, until the site's active gateway has Downs on their way round its
// local ring and Ups not ordered yet, for downsMax at most. It returns
// the site's active gateway then (nil if none).
func (h *hier) awaitDowns(s *site, gw *node) *node {
	for end := h.fed.Elapsed() + downsMax; gw != nil && h.fed.Elapsed() < end; gw = h.active(s) {
		if downsInFlight(gw) && gw.b.Pending() > 0 {
			break
		}
		h.run(h.opts.Step, true)
	}
	if gw != nil {
		h.fx.upInFlight, h.downInFlight = gw.b.Pending(), downsInFlight(gw)
		h.logf("%s forwards both ways: %d Ups not ordered, Downs up to %s on their way, %s applied (Options.downs)", gw.id, h.fx.upInFlight, gw.b.Injected(), gw.b.Last())
	}
	return gw
}

// downsInFlight reports whether gateway n injected Downs that its local
// ring has not delivered back to it yet.
func downsInFlight(n *node) bool { return n.b.Last().Less(n.b.Injected()) }

// outageStart notes what Result.Outage counts from the fault on.
func (h *hier) outageStart() {
	h.inOutage = true
	h.atOutage = outageMark{blocked: h.blocked(), fenced: h.fed.Superseded(), rot: h.rotations()}
	h.outage.Rotation[0] = meanRotation(h.atFormed, h.atOutage.rot)
}

// outageEnd completes Result.Outage as the fault ends.
func (h *hier) outageEnd() {
	h.inOutage = false
	b := h.blocked()
	h.outage.Blocked = [2]int{b[0] - h.atOutage.blocked[0], b[1] - h.atOutage.blocked[1]}
	h.outage.Fenced = h.fed.Superseded() - h.atOutage.fenced
	h.outage.Rotation[1] = meanRotation(h.atOutage.rot, h.rotations())
}

// blocked sums the packets dropped on blocked links (sim.Injected) of
// the local rings and of the federation ring.
func (h *hier) blocked() [2]int {
	var n [2]int
	for _, s := range h.sites {
		n[0] += s.ring.Injected().Blocked
	}
	n[1] = h.fed.Injected().Blocked
	return n
}

// rotations returns the token rotation histograms of the federation
// members that run, by member.
func (h *hier) rotations() map[*localring.Node]localring.Histogram {
	m := map[*localring.Node]localring.Histogram{}
	for i := range h.fslots {
		if rn := h.fed.Node(i); rn != nil {
			m[rn] = rn.Stats().Rotation
		}
	}
	return m
}

// meanRotation returns the mean token rotation since from of the members
// of to that ran at from too.
func meanRotation(from, to map[*localring.Node]localring.Histogram) time.Duration {
	var count uint64
	var sum time.Duration
	for rn, h := range to {
		was, ok := from[rn]
		if !ok {
			continue
		}
		h.Count -= was.Count
		h.Sum -= was.Sum
		count += h.Count
		sum += h.Sum
	}
	if count == 0 {
		return 0
	}
	return sum / time.Duration(count)
}

// withUncut reports whether federation configuration c holds the victim
// site and a site it is not cut off from (h.cutFrom).
func (h *hier) withUncut(c *localring.Configuration) bool {
	has := func(s *site) bool {
		return slices.ContainsFunc(c.Members, func(m localring.Member) bool { return string(m.ID) == s.name })
	}
	if !has(h.victim) {
		return false
	}
	for _, s := range h.sites {
		if s != h.victim && !slices.Contains(h.cutFrom, s) && has(s) {
			return true
		}
	}
	return false
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
// message up: every other message Safe, the others Agreed (by the count
// of messages sent, so that the seed's random choices stay those of the
// runs before Safe messages were sent).
func (h *hier) send() {
	s := h.sites[h.rng.IntN(len(h.sites))]
	h.sendFrom(s.nodes[h.rng.IntN(len(s.nodes))])
}

// sendFrom has node n send one message up, if its domain configuration is
// regular, and returns its payload ("" if it sent none).
func (h *hier) sendFrom(n *node) string {
	s := n.site
	if n.conf.Kind != localring.Regular || !s.ring.Alive(n.slot) {
		return ""
	}
	payload := []byte("m" + strconv.Itoa(len(h.sent)) + "@" + string(n.id))
	svc := localring.Agreed
	if len(h.sent)%2 == 1 && !h.opts.agreedOnly {
		svc = localring.Safe
	}
	if s.ring.SubmitPayload(n.slot, localring.Agreed, n.b.EncodeUp(svc, payload)) == nil {
		h.sentBy(n, svc, payload)
		return string(payload)
	}
	return ""
}

// sentBy records client payload, sent by node n with service svc: every
// node of the domain owes it from here on.
func (h *hier) sentBy(n *node, svc localring.Service, payload []byte) {
	h.logf("%s sends %s %s", n.id, svc, payload)
	h.sent = append(h.sent, string(payload))
	h.from = append(h.from, n)
	h.sentAt[string(payload)] = n.site.ring.Elapsed()
}

func (h *hier) result(seed uint64) *Result {
	r := &Result{Seed: seed, Domain: h.dom.Name, Trace: h.trace, FedTrace: h.fed.Trace(), Bridges: map[string]bridge.Stats{}, Latency: h.latency, LogEntries: cmp.Or(h.opts.logEntries, bridge.DefaultLogEntries)}
	for id, n := range h.byID {
		r.Bridges[string(id)] = n.b.Stats()
	}
	if h.stalledAll {
		now := h.tokenLosses()
		r.StallLosses = [2]int{now[0] - h.stallLosses[0], now[1] - h.stallLosses[1]}
		r.StallSettled = max(0, h.settled-h.stallEnd)
	}
	if h.starveAt != nil {
		r.Starved = h.starved
		for k, at := range h.settledBy {
			d := max(0, at-h.stallEnd)
			switch settleKind(k) {
			case settleRing:
				r.Starved.Rings = d
			case settleDomain:
				r.Starved.Domain = d
			case settleView:
				r.Starved.Views = d
			}
		}
		ev := h.evictions()
		r.Starved.LocalEvictions, r.Starved.FedEvictions = ev[0]-h.starveEv[0], ev[1]-h.starveEv[1]
	}
	if h.aloneAt != nil {
		r.AloneAfterHeal = map[string]time.Duration{}
		for _, n := range h.victim.nodes {
			d, ok := h.aloneAt[n]
			if !ok {
				d = -1
			}
			r.AloneAfterHeal[string(n.id)] = d
		}
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
	trace, orphans, bad := h.orphans()
	r.Orphans = orphans
	r.Violations = append(r.Violations, bad...)
	r.Violations = append(r.Violations, evs.Check(trace, evs.Options{Failed: failed, Quiescent: true, DomainOrder: true})...)
	r.Sent = len(h.sent)
	r.Networks = h.networks()
	r.Steady, r.Unsteady = h.steadyAfter, h.unsteady
	for _, n := range h.byID {
		if h.disconnected(n) {
			r.Disconnected = string(n.id)
		}
	}
	r.Lost, r.Duplicated = h.lostAndDuplicated()
	r.LostLog = h.lostLog
	r.Elided, r.ElidedNeeded = h.elided, h.elidedNeeded
	r.Violations = append(r.Violations, h.oneOrder()...)
	if !h.opts.BridgeOnly {
		r.NodeTrace = h.ntrace
		r.NodeViolations, r.NodeOrphans = CheckNodeTrace(h.dom.Name, h.ntrace, failed)
		r.Views = map[string]domconf.Stats{}
		for id, n := range h.byID {
			if n.v != nil {
				r.Views[string(id)] = n.v.Stats()
			}
		}
		r.NodeUnsettled = h.unsettled()
		r.Reforms = h.fx.reforms
	}
	r.Injected, r.UpInFlight, r.Terms, r.FedConfs = h.fx.injected, h.fx.upInFlight, h.fx.terms, h.fx.fedConfs
	r.Fenced = h.fed.Superseded()
	r.DownInFlight = h.downInFlight
	r.Outage = h.outage
	r.PartialFed, r.FedApart = h.fx.partial, h.fx.apart
	r.SoloHeld, r.SoloEnded = h.fx.soloHeld, h.fx.soloEnded
	r.Waited, r.Resumes, r.HealResumes, r.Outranked = h.fx.waited, h.fx.resumes, h.fx.healResumes, h.fx.outranked
	r.Strays = h.fx.strays
	for _, st := range r.Bridges {
		r.Restarted += int(st.Restarted)
	}
	r.Isolated = h.isolated != nil
	r.TransKilled, r.TransDelivered = h.killed, h.transMsgs
	r.TermFirstRing = h.termFirst
	r.SplitAlone = h.splitAlone()
	r.HiddenCopies = len(h.hideCopies)
	if h.hidePayload != nil && h.hideLocal && h.tl != nil {
		r.Hidden = map[bool]string{false: "local", true: "ordered"}[h.hideOrdered]
		if h.hideSeen {
			r.Hidden += "+seen"
		}
	}
	if h.hovTo != nil && h.hovApplied == len(h.hovTo.site.nodes) {
		r.Handover = string(h.hovTo.id)
	}
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if s.ring.Alive(n.slot) {
				r.Installs += n.installs
				r.Continued += n.continued
				if h.stalledAll && (n.conf.Kind != localring.Regular || len(n.conf.Sites) != len(h.sites)) {
					r.StallApart = append(r.StallApart, string(n.id))
				}
			}
		}
	}
	if h.tl != nil {
		r.Takeover = h.tl.result(h)
	}
	return r
}

// splitAlone counts Result.SplitAlone from the domain's trace.
func (h *hier) splitAlone() int {
	if h.opts.deafThird == 0 || h.other == nil || h.tl == nil {
		return 0
	}
	siteOf := func(node string) string { return h.byID[localring.NodeID(node)].site.name }
	kind, atOther := map[string]string{}, map[string]bool{}
	inTrans, atThird := map[string]bool{}, map[string]string{}
	for _, e := range h.trace {
		site := siteOf(e.Node)
		switch e.Ev {
		case evs.EvInstall:
			kind[e.Conf.ID] = e.Conf.Kind
			if site == h.other.name {
				atOther[e.Conf.ID] = true
			}
		case evs.EvDeliver:
			if !strings.HasPrefix(e.Msg, h.victim.name+"-") {
				continue
			}
			switch {
			case site == h.other.name && kind[e.ConfID] == localring.Transitional.String():
				inTrans[e.Msg] = true
			case site != h.other.name && site != h.victim.name:
				atThird[e.Msg] = e.ConfID
			}
		}
	}
	n := 0
	for m := range inTrans {
		if c, ok := atThird[m]; !ok || kind[c] == localring.Regular.String() && !atOther[c] {
			n++
		}
	}
	return n
}

// unsettled returns, one line a node, where a node alive at the end is not
// in the one regular configuration of every node alive at the end, or has
// a round open (Result.NodeUnsettled).
func (h *hier) unsettled() []string {
	var live []string
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if s.ring.Alive(n.slot) && !h.disconnected(n) {
				live = append(live, string(n.id))
			}
		}
	}
	slices.Sort(live)
	var out []string
	first := ""
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if !s.ring.Alive(n.slot) || h.disconnected(n) {
				continue
			}
			c := n.v.Current()
			switch {
			case c == nil:
				out = append(out, fmt.Sprintf("%s installed no node-level configuration", n.id))
			case c.Kind != localring.Regular || n.v.InRound():
				out = append(out, fmt.Sprintf("%s ended in %s %s (round open: %v)", n.id, c.Kind, c.ID, n.v.InRound()))
			case !slices.Equal(c.MemberIDs(), live):
				out = append(out, fmt.Sprintf("%s ended in %s of %v, not of the nodes alive, %v", n.id, c.ID, c.MemberIDs(), live))
			case first == "":
				first = c.ID
			case c.ID != first:
				out = append(out, fmt.Sprintf("%s ended in %s, another node in %s", n.id, c.ID, first))
			}
		}
	}
	return out
}

// CheckNodeTrace checks a domain's node-level trace (the configurations
// domconf installed and the messages delivered and sent in them) as the
// agent's cross-site tests check the agents' traces (tests/fednetns): the
// deliveries of messages no one recorded as sent taken out (evs.Orphans:
// their senders crashed before the federation ordered them) and each one
// whose sender did not fail reported (evs.LiveOrphans, EVS 1.1), then
// evs.Check with the failed processes, DomainOrder and Quiescent (the run
// settles before it ends), and HierarchyOrder. It returns the violations
// and the number of orphans.
func CheckNodeTrace(domain string, trace []evs.Event, failed map[evs.Proc]bool) ([]evs.Violation, int) {
	kept, orphans, vs := evs.Orphans(domain, trace)
	vs = append(vs, evs.LiveOrphans(trace, kept, failed)...)
	vs = append(vs, evs.Check(kept, evs.Options{Failed: failed, Quiescent: true, DomainOrder: true})...)
	vs = append(vs, OneOrder(domain, kept)...)
	return vs, orphans
}

// orphans returns the domain's trace without its orphans (evs.Orphans).
func (h *hier) orphans() ([]evs.Event, int, []evs.Violation) {
	return evs.Orphans(h.dom.Name, h.trace)
}

// owes reports whether n must deliver a message of sender from that was
// delivered in configuration conf: n installed conf and stayed connected
// with the sender (conf is n's last configuration, or the next one
// includes the sender's site and the sender installed it too). A site
// without a gateway is not in the domain's configuration (see
// gateway/bridge): what the others deliver meanwhile is not its; nor is
// what its site delivers to a node that went on in another history, in
// a part of its site alone (FaultStrayHistory: the sender never installs
// that part's configurations).
func (n *node) owes(conf string, from *node) bool {
	for i, c := range n.confs {
		if c.ID == conf {
			if i == len(n.confs)-1 {
				return true
			}
			next := n.confs[i+1]
			return slices.Contains(next.Sites, from.site.name) && slices.ContainsFunc(from.confs, func(c bridge.DomainConf) bool { return c.ID == next.ID })
		}
	}
	return false
}

// lostAndDuplicated counts, over the nodes alive at the end, the client
// messages of live senders a node did not deliver although it owed them
// (or that no one delivered), and the deliveries of a message a node had
// delivered already. A node a persistent fault took out of its site's
// ring (disconnected) is no connected member: it owes nothing, and what
// it sent that no one delivered is not lost for the others (what it sent
// and others delivered, they owe as any message); its duplicates count.
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
			if h.disconnected(n) {
				continue
			}
			for i, m := range h.sent {
				from := h.from[i]
				if !from.site.ring.Alive(from.slot) {
					continue
				}
				conf, ok := h.where[m]
				if !ok && h.disconnected(from) {
					continue
				}
				if (!ok || n.owes(conf, from)) && n.seen[m] == 0 {
					lost++
					h.lostLog = append(h.lostLog, fmt.Sprintf("%s lost %s (delivered in %q)", n.id, m, conf))
				}
			}
		}
	}
	return lost, dup
}

// HierarchyOrder is EVS.md property 9 as the simulator checks it on the
// domain's streams: every two nodes deliver the messages and install the
// configurations they have in common in one order.
var HierarchyOrder = evs.Property{Num: "9", Name: "hierarchy order"}

// oneOrder checks HierarchyOrder over every node's stream (the domain's
// trace, node by node: its installs and deliveries).
func (h *hier) oneOrder() []evs.Violation {
	return OneOrder(h.dom.Name, h.trace)
}

// OneOrder checks HierarchyOrder over a domain's trace: for every two
// processes, the configurations both installed and the messages both
// delivered come in the same order.
func OneOrder(domain string, trace []evs.Event) []evs.Violation {
	type item = string
	seqs := map[evs.Proc][]item{}
	var procs []evs.Proc
	for _, e := range trace {
		var it item
		switch e.Ev {
		case evs.EvInstall:
			it = "conf " + e.Conf.ID
		case evs.EvDeliver:
			it = "msg " + e.Msg
		default:
			continue
		}
		p := evs.Proc{Node: e.Node, Inc: e.Inc}
		if _, ok := seqs[p]; !ok {
			procs = append(procs, p)
		}
		seqs[p] = append(seqs[p], it)
	}
	var out []evs.Violation
	for i, a := range procs {
		at := map[item]int{}
		for k, it := range seqs[a] {
			at[it] = k
		}
		for _, b := range procs[i+1:] {
			last, lastIt := -1, ""
			for _, it := range seqs[b] {
				k, ok := at[it]
				if !ok {
					continue
				}
				if k < last {
					out = append(out, evs.Violation{Property: HierarchyOrder, Domain: domain, Procs: []evs.Proc{b, a},
						Detail: fmt.Sprintf("%s has %s after %s, %s before", b, it, lastIt, a)})
					break
				}
				last, lastIt = k, it
			}
		}
	}
	return out
}
