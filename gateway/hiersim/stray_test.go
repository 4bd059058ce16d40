package hiersim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// FaultStrayHistory (a site's local ring split, the part without its
// active gateway alone in a federation ring of its own for longer than
// gateway.SoloGrace, then the ring whole again) leaves nodes of another
// history than their active gateway's: each restarts at the gateway's
// next regular configuration, through a transitional configuration of its
// site alone, and the run ends with every node in one regular
// configuration of them all (bridge, "Members of another history").
// Every seed makes strays. Before the bridge restarted them, every run
// failed: the strays (or, with one ahead of the gateway, every node of
// the domain) ended outside the final configuration (NodeUnsettled).
//
// Clients send Safe messages too (every other one): they wait for every
// node of the domain's configuration, the strays away included, until a
// ring formed again at the blocked site's request changes the
// configuration (bridge, "What holds means"). While the Acks waited for
// the members of the site's local ring alone, every seed broke EVS 7
// (node and site level: the strays never delivered what the others
// delivered Safe in a configuration that named them). The checks are every run's (report), with three differences that come
// from the bridge-level domain trace naming every node of a member site:
// a restarted node installs the domain's configuration after those of its
// part's own federation ring, whose ring sequence numbers are another
// component's (EVS 2.3 on the configuration ids there; the node level's,
// numbered by domain position, grow); the Ups a node of another history
// sends before its restart and the domain orders before it are not lost
// at it and its part (the node level discards them everywhere); and the
// gateway that restarts members counts them (LocalGaps).
func TestStrayHistory(t *testing.T) {
	parallel(t)
	var fx effects
	log := openLog(t)
	eachSeed(*first, seedCount(), func(seed uint64) {
		o := Options{Topology: topologyFile, Fault: FaultStrayHistory, Log: log}
		r, err := Run(seed, o)
		if err != nil {
			t.Error(err)
			return
		}
		fx.add(r)
		checkStrays(t, o, r)
	})
	t.Log(&fx)
	if fx.strays < fx.seeds || fx.restarted < fx.strays {
		t.Errorf("%d nodes of another history than their gateway's over %d seeds, %d restarts: want one a seed at least, each restarted", fx.strays, fx.seeds, fx.restarted)
	}
	if !t.Failed() {
		fx.check(t, FaultStrayHistory)
	}
}

// checkStrays is report for a run of FaultStrayHistory, with its two
// differences (see TestStrayHistory), and every node that came back in
// another history restarted.
func checkStrays(t *testing.T, o Options, r *Result) {
	t.Helper()
	if r.Restarted < r.Strays {
		t.Errorf("seed %d (fault=%s): %d nodes came back in another history, %d restarts", r.Seed, o.Fault, r.Strays, r.Restarted)
	}
	restarted := map[string]bool{}
	bridges := map[string]bridge.Stats{}
	for id, st := range r.Bridges {
		restarted[id] = st.Restarted > 0
		if st.Strays > 0 {
			st.LocalGaps = 0 // the members it restarted
		}
		bridges[id] = st
	}
	c := *r
	c.Bridges = bridges
	// A restarted node's Ups that the domain ordered before its restart:
	// it and its part never apply them, and every other node's View
	// discards them (their sender is no member of its configuration
	// there; the node-level checks see it).
	c.LostLog, c.Lost = nil, 0
	for _, l := range r.LostLog {
		var loser, msg string
		if _, err := fmt.Sscanf(l, "%s lost %s", &loser, &msg); err == nil && restarted[loser] && restarted[msg[strings.LastIndex(msg, "@")+1:]] {
			continue
		}
		c.LostLog = append(c.LostLog, l)
		c.Lost++
	}
	c.Violations = slices.DeleteFunc(slices.Clone(r.Violations), func(v evs.Violation) bool {
		return v.Property == evs.ConfOrder && len(v.Procs) > 0 && restarted[v.Procs[0].Node] && strings.Contains(v.Detail, "ring sequence numbers must increase")
	})
	report(t, o, &c)
}

// TestStrayGatewayLongCut runs FaultStrayGateway with the old gateway cut
// off from its site and from every other site for 3 s longer than
// gateway.SoloGrace (Options.strayCut), under the checks of every fault:
// its grace (gateway.Grace.Keep) holds its federation member's rings of
// its site alone for as long as the cut lasts, the new term's member
// fences it once the links heal, and its site's ring whole again brings
// it what it missed. When the grace ended with the ring alone let
// through, it went on alone without the Safe messages the others
// delivered in a configuration that named it: every one of seeds 1-10
// failed, 9 with EVS 7 (bridge or node level) among the violations their
// reports list, 9 with node-level 1.1, 6 with EVS 6, 5 with lost
// messages (bridge, "Not waited for").
func TestStrayGatewayLongCut(t *testing.T) {
	parallel(t)
	grace := gateway.SoloGrace(fedRing(t))
	runSeedsWith(t, Options{Fault: FaultStrayGateway, strayCut: grace + 3*time.Second}, seedCount())
}

// TestStrayGatewayRingFirst runs FaultStrayGatewayRingFirst (the old
// gateway cut off from its site and from the federation within its grace,
// its site's local ring whole again before its federation links heal)
// under every check of the gateway faults (runSeedsWith). The old gateway
// takes the role back while its member, cut off, still runs; at the links'
// heal the others fence that member, and the gateway resumes with a new
// one (Result.Resumes, one a seed at least, effects.check: resumeFenced,
// as the agent's). Without the resumption every one of seeds 1-10 failed:
// nodes ended out of the final configuration (NodeUnsettled), messages
// were lost, and EVS broke (seed 1: EVS 7 at ams-1; seed 2: node-level
// 1.1). The cut lasts half the federation's token and consensus timeouts
// (1.9 s; Options.strayCut) and the links heal 1 s after the local heal
// (Outage): the old gateway's member, cut off, forms no ring of its site
// alone before them, so its grace Keep holds nothing at the local heal
// nor after it, gateway.Grace.Healed does not resume it, and the fence
// does (at each of seeds 1-30, none resumed at a heal). With the links
// cut for 5 s (the default Outage) it forms that ring after the local
// heal and resumes there (TestStrayShortCutHeals): each of seeds 1-30,
// none fenced (1.5 s: 11 of 30). Cut off for 4, 5, 6 or 8 s, or for half
// of gateway.SoloGrace as FaultStrayGateway is, it held that ring at the
// local heal and resumed there at each of seeds 1-10 (as in
// TestStrayRingHealsFirst), and none was fenced; cut off for 3 s (its
// links 5 s more), each was fenced before the driver asked Healed after
// the local heal too, and resumes at the heal since (seeds 1-10). A third
// of seedCount's seeds (10).
func TestStrayGatewayRingFirst(t *testing.T) {
	parallel(t)
	c := fedRing(t)
	cut := (c.TokenTimeout + c.ConsensusTimeout) / 2
	runSeedsWith(t, Options{Fault: FaultStrayGatewayRingFirst, strayCut: cut, Outage: time.Second}, max(1, seedCount()/3))
}

// TestStrayRingHealsFirst runs FaultStrayGatewayRingFirst with the old
// gateway cut off from its site and from every other site for 3 s longer
// than gateway.SoloGrace (Options.strayCut: its grace Keep holds its
// member's ring of its site alone), then its site's ring whole again (the
// role back at it) and its federation links cut for SoloGrace + 3 s more
// (Outage), under every check of report: every node of the site must
// deliver client messages in a regular domain configuration of its site
// alone within SoloGrace and aloneSlack of the local heal
// (Result.AloneAfterHeal). The gateway ends its held member and resumes
// its term with a new one (gateway.Grace.Healed), whose predecessor is
// the other part's gateway (bridge Site.ResumeHeld). With the hold kept
// on, no node of the site went on alone at any of seeds 1-20 (every EVS
// check passed); resuming with its own held term taken for the
// predecessor, every node went on alone 21.66-22.16 s after the heal, but
// 9 of seeds 1-20 broke EVS 6 and 9 (the Ups in doubt the other part's
// gateway submitted, delivered in the new term's pending order).
func TestStrayRingHealsFirst(t *testing.T) {
	parallel(t)
	grace := gateway.SoloGrace(fedRing(t))
	bound := grace + aloneSlack
	log := openLog(t)
	eachSeed(*first, seedCount(), func(seed uint64) {
		o := Options{Topology: topologyFile, Log: log, Fault: FaultStrayGatewayRingFirst, strayCut: grace + 3*time.Second, Outage: grace + 3*time.Second, BridgeOnly: layerOff(t, FaultStrayGatewayRingFirst)}
		r, err := Run(seed, o)
		if err != nil {
			t.Error(err)
			return
		}
		report(t, o, r)
		if r.HealResumes == 0 {
			t.Errorf("seed %d: the old gateway did not resume its term at its site's ring whole again (gateway.Grace.Healed)", seed)
		}
		for id, d := range r.AloneAfterHeal {
			if d < 0 || d > bound {
				t.Errorf("seed %d: %s delivered in no configuration of its site alone within %v of its local ring whole again (%v; -1: none to the end)", seed, id, bound, d)
			}
		}
	})
}

// TestStrayShortCutHeals runs TestStrayRingHealsFirst's scenario with
// the old gateway cut off for TestStrayGatewayRingFirst's cut (half the
// federation's token and consensus timeouts, 1.9 s) and its links for
// gateway.SoloGrace + 3 s more: its member forms its ring of its site
// alone only after the local heal, where gateway.Grace.Healed is asked
// again (the driver's step, as the agent's takeFederation), and the
// gateway resumes its term there (Result.HealResumes, one a seed). Every
// node of the site must deliver in a regular domain configuration of its
// site alone within SoloGrace and aloneSlack of the local heal, under
// every check of report. Asked at local ring installs only, the hold kept
// every node of the site out of such a configuration until the links
// healed at each of seeds 1-10 (every EVS check passing). The Ups in
// doubt the new term delivers there include some the other part's
// gateway got ordered just before its member ended at the local heal,
// among them the old gateway's own, which the other part had before the
// cut and the old gateway noted for it only at its Again after the heal:
// with the bridge before its Relay (gateway/bridge, "The order of Ups in
// doubt is the predecessor's"), 44 of seeds 1-100 broke EVS 6 and 9.
func TestStrayShortCutHeals(t *testing.T) {
	parallel(t)
	c := fedRing(t)
	grace := gateway.SoloGrace(c)
	bound := grace + aloneSlack
	log := openLog(t)
	eachSeed(*first, seedCount(), func(seed uint64) {
		o := Options{Topology: topologyFile, Log: log, Fault: FaultStrayGatewayRingFirst, strayCut: (c.TokenTimeout + c.ConsensusTimeout) / 2, Outage: grace + 3*time.Second, BridgeOnly: layerOff(t, FaultStrayGatewayRingFirst)}
		r, err := Run(seed, o)
		if err != nil {
			t.Error(err)
			return
		}
		report(t, o, r)
		if r.HealResumes == 0 {
			t.Errorf("seed %d: the old gateway did not resume its term once its member held a ring of its site alone after the local heal (gateway.Grace.Healed)", seed)
		}
		for id, d := range r.AloneAfterHeal {
			if d < 0 || d > bound {
				t.Errorf("seed %d: %s delivered in no configuration of its site alone within %v of its local ring whole again (%v; -1: none to the end)", seed, id, bound, d)
			}
		}
	})
}

// aloneSlack is how long after gateway.SoloGrace from the local heal
// TestStrayRingHealsFirst lets the site take to go on alone: a
// resumption's local message, the new member's ring of its site alone,
// and the bridge's configurations (60-560 ms at seeds 1-30: every node
// 21.66-22.16 s after the heal).
const aloneSlack = 3 * time.Second

// fedRing returns the federation ring's configuration of topologyFile's
// first federation domain (its timeouts: gateway.SoloGrace).
func fedRing(t *testing.T) localring.Config {
	f, err := topology.Load(topologyFile)
	if err != nil {
		t.Fatal(err)
	}
	return federation.RingConfig(f, f.Plan().FederationDomains()[0])
}

// Every run's check (report) takes a site's members behind its nodes'
// logs (Stats.LocalGaps) for a failure only beyond those its active
// gateways took apart (Stats.Strays): under TestStarvationLong's
// starvation (regional seed 83 at f85ef4a) the active gateway counted 3
// and took 3 apart, each restarted, and the run failed on that count
// alone; at regional seed 172 of 101-300 a-3, the phase's answerer but
// not the active gateway, counted a-2 behind its log (a-2's position in
// a configuration of its own history), a-1, the active gateway, took
// a-2 apart and restarted it, and the run failed on a-3's count alone.
// The other counters fail a run at any node.
func TestBadStatsStrays(t *testing.T) {
	for _, c := range []struct {
		st   map[string]bridge.Stats
		logs int
		bad  bool
	}{
		{map[string]bridge.Stats{"a-1": {LocalGaps: 3, Strays: 3}}, bridge.DefaultLogEntries, false},
		{map[string]bridge.Stats{"a-1": {LocalGaps: 3, Strays: 5}}, bridge.DefaultLogEntries, false},
		{map[string]bridge.Stats{"a-1": {LocalGaps: 3, Strays: 2}}, bridge.DefaultLogEntries, true},
		{map[string]bridge.Stats{"a-1": {LocalGaps: 1}}, bridge.DefaultLogEntries, true},
		// Seed 172: the answerer's gap, the gateway's stray.
		{map[string]bridge.Stats{"a-1": {LocalGaps: 1, Strays: 2}, "a-3": {LocalGaps: 1}}, bridge.DefaultLogEntries, false},
		{map[string]bridge.Stats{"a-1": {Strays: 1}, "a-3": {LocalGaps: 2}}, bridge.DefaultLogEntries, true},
		// Another site's strays do not count.
		{map[string]bridge.Stats{"a-3": {LocalGaps: 1}, "b-1": {Strays: 1}}, bridge.DefaultLogEntries, true},
		{map[string]bridge.Stats{"a-1": {BeyondLog: 1}}, bridge.DefaultLogEntries, true},
		{map[string]bridge.Stats{"a-1": {BeyondLog: 1}}, 64, false},
		{map[string]bridge.Stats{"a-1": {Malformed: 1, Strays: 1}}, bridge.DefaultLogEntries, true},
		{map[string]bridge.Stats{"a-1": {NotSafe: 1}}, bridge.DefaultLogEntries, true},
		{map[string]bridge.Stats{"a-1": {}}, bridge.DefaultLogEntries, false},
	} {
		got := strayGaps(c.st)
		for id, st := range c.st {
			if b := badStats(id, st, c.logs); b != "" {
				got = append(got, b)
			}
		}
		if (len(got) > 0) != c.bad {
			t.Errorf("%+v, log of %d: %q, want failing %v", c.st, c.logs, got, c.bad)
		}
	}
}
