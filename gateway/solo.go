package gateway

import (
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// soloGraceRounds is SoloGrace in membership rounds of the federation
// ring: a member that starts joins the other sites' ring within one or
// two when they are reachable.
const soloGraceRounds = 4

// SoloGrace is how long a gateway term's new federation member, started
// by a failover, a handover or a resumption once the domain's stream has
// started, keeps its rings of its site alone out of the bridge (the
// Grace, which the agent and gateway/hiersim's driver keep):
// soloGraceRounds membership rounds (merge, consensus and token timeouts)
// of the ring's settings c. Until it has joined another site, a new term
// cannot learn what its predecessor's member got ordered in the last
// ring: the other sites deliver those Ups there. Joining them within the
// grace, the site catches up from their answer (hiersim
// TestCutAsGatewayDiesWithinGrace, TestCrashThenLongStall), and a
// failover whose new member joins them before a ring without the site
// settles changes no configuration (gateway/bridge, "Failover without a
// configuration change"): a ring of the site alone, formed first while
// its new member looks for the others, would make every failover a
// partition and a merge of the site.
// After the grace the site goes on alone, a partition of it: waiting on
// would keep a site cut off as its gateway died out of the domain for as
// long as it is cut off (EVS.md 2.5; internal/sites
// TestFailoverKeepsConfiguration). The grace is no safety bound: a term
// that leaves the domain's configuration before it learned the fate of
// the Ups its predecessor may have submitted delivers them in its site's
// transitional configuration, without a domain position, and submits
// none of them (gateway/bridge Entry.InDoubt, "Catch-up, and the bound";
// hiersim TestCutAsGatewayDies: a site cut off for 30 s as its gateway
// dies, which broke EVS 6 and 1.3 at 97 of seeds 1-100 while the term
// submitted them again in its ring alone).
//
// An old term's rings of its site alone, once its local ring lost
// members of the site while it stayed active (Grace.Keep), are held for
// as long as its member finds no other site if one forms within the
// grace: another node of the site may have taken over, and the domain
// delivers Safe messages, without this gateway, in a configuration that
// still names it (gateway/bridge, "Not waited for").
func SoloGrace(c localring.Config) time.Duration {
	return soloGraceRounds * (c.MergeTimeout + c.ConsensusTimeout + c.TokenTimeout)
}

// Grace is what a driver keeps of a gateway term's grace (SoloGrace) for
// one domain, the agent's and gateway/hiersim's alike: which federation
// ring configurations its bridge does not see, and the last ring of the
// gateway alone it held back.
//
// Every gateway starts alone: a ring of its member alone before the
// domain's stream started at the node (the site has applied nothing) is
// kept out of the bridge; if the bridge numbered that ring's entries, the
// sites would come to the first common ring with histories of their own,
// to be merged as a partition (with the bridge before its Have phase,
// the agent's TestCrossSiteGroup lost and duplicated messages after such
// a start). A site that is alone later goes through the bridge.
//
// A member started by a handover, a failover or a resumption once the
// site's stream has started (Start) also starts alone: its rings of
// itself alone are kept out until it joins another site, and if its
// bridge numbered there, the site's history would part from the others'
// exactly where its predecessor's last ring left entries the site has
// not applied yet; joining them first, the site catches up (bridge
// CatchUp). It waits at most the grace; then the ring held back goes
// through the bridge (End).
type Grace struct {
	on     bool
	member any // the member the grace is for
	until  time.Time
	held   *localring.Configuration // the last ring of the member alone, held back
	alone  bool
	kept   bool     // started by Keep: no end by time
	lost   []string // with kept, the nodes of the site its local ring lost
}

// Start starts the grace of a new term's member until until. member is
// any comparable value that tells the driver's members apart (nil for a
// driver that runs one member at a time).
func (g *Grace) Start(member any, until time.Time) {
	g.on, g.member, g.until, g.held, g.kept, g.lost = true, member, until, nil, false, nil
}

// Keep starts the grace of member until until, as Start, unless one is
// on already (a new term's, which holds on as it is). A driver calls it
// when its active gateway's local ring lost members of the site and the
// node stayed active (bridge Site.CutOff): another node of the site may
// have taken over where it cannot see, its term's member speaking for the
// site among the other sites, and the gateway, if it is cut off from them
// too, must not go on in a ring of its site alone (gateway/bridge, "Not
// waited for"). Unlike a new term's, this grace lets no ring through when
// it is over: a ring alone that it held back stays held until the member
// joins another site (the new term's member fences it, or the site's
// ring whole again makes another node the gateway, or brings it what it
// missed), the node is no longer active, or the site's ring holds every
// node it lost again (Healed: the driver resumes the term). Over with nothing held (the
// member stayed among the other sites: no new term of its site joined
// them), it ends (End). lost names the nodes of the site the local
// ring lost (Healed); a Keep while one Keep started is on adds them.
func (g *Grace) Keep(member any, until time.Time, lost []string) {
	if !g.on {
		g.Start(member, until)
		g.kept = true
	}
	if g.kept {
		for _, id := range lost {
			if !slices.Contains(g.lost, id) {
				g.lost = append(g.lost, id)
			}
		}
	}
}

// Healed reports whether a grace Keep started holds a ring of the site
// alone (KeptHold) while members, the nodes of the gateway's regular
// local ring configuration in which it is still the site's active
// gateway, hold every node the local ring lost since: none of them can
// speak for the site among the other sites any more (the role is this
// node's in their configuration too), so the hold guards nothing, but
// the member it holds cannot go on: the domain may have delivered Safe
// messages without it in a configuration that names it. The driver ends
// the member and resumes the term with a new one (a new incarnation and
// a new term's grace, Start): the new term catches up if it joins
// another site within its grace, and its site goes on alone after it
// (gateway/bridge, "Not waited for"). Without it the site stayed held
// until a federation link healed. The driver asks at each regular local
// ring install and again once the grace holds a ring alone that came
// after the local ring was whole again (the agent's takeFederation,
// gateway/hiersim's step: TestStrayRingHealsFirst, TestStrayShortCutHeals).
func (g *Grace) Healed(members []string) bool {
	return g.KeptHold() && !slices.ContainsFunc(g.lost, func(id string) bool { return !slices.Contains(members, id) })
}

// Stop ends the grace, if any, without letting anything through.
func (g *Grace) Stop() { g.on, g.member, g.held, g.kept, g.lost = false, nil, nil, false, nil }

// StartsAlone reports whether the bridge does not see federation ring
// configuration c of member: a ring of the gateway alone during its
// term's grace, or before the domain's stream started at the node
// (started false: bridge Site.Last is zero); a transitional configuration
// as the regular one before it. A ring with another site ends the grace.
func (g *Grace) StartsAlone(c *localring.Configuration, member any, started bool) bool {
	if c.Kind != localring.Regular {
		return g.alone
	}
	fresh := g.on && g.member == member
	if len(c.Members) > 1 && fresh {
		g.Stop()
	}
	g.alone = len(c.Members) == 1 && (!started || fresh)
	if g.alone && fresh {
		g.held = c
	}
	return g.alone
}

// KeptHold reports whether a grace Keep started holds a ring of the site
// alone: the gateway's federation member finds no other site, and it
// applies nothing of the domain until it reaches one or is no longer the
// site's active gateway (the driver tells the operator).
func (g *Grace) KeptHold() bool { return g.on && g.kept && g.held != nil }

// Alone reports whether the last regular configuration was kept out of
// the bridge: its deliveries are kept out too.
func (g *Grace) Alone() bool { return g.alone }

// Deadline returns when the grace ends, if a ring is held back (a new
// term's grace) or if none is (Keep's).
func (g *Grace) Deadline() (time.Time, bool) { return g.until, g.on && (g.held != nil) != g.kept }

// End ends the grace once it is over at now with a ring held back, and
// returns that ring for the driver to hand to its bridge (FedInstall):
// nil if the grace is not over, or is another member's, or the node is
// no longer the site's active gateway (active false). The site then goes
// on alone in the domain. A grace Keep started ends over only with
// nothing held, and lets nothing through.
func (g *Grace) End(now time.Time, member any, active bool) *localring.Configuration {
	if !g.on || now.Before(g.until) {
		return nil
	}
	if g.kept {
		if g.held == nil {
			g.Stop()
		}
		return nil
	}
	if g.held == nil {
		return nil
	}
	held, same := g.held, g.member == member
	g.Stop()
	if !same || !active {
		return nil
	}
	g.alone = false
	return held
}

// PartGrace is how long a node's local ring stays without a gateway of a
// domain (federation.ActiveGateway finds none in its regular
// configurations, one after another) before the node leaves the domain's
// configuration for one of its part of the site (bridge.Site.NoGateway):
// longer than the ring takes to let back a node it took out (a second),
// and than the moments a node spends out of its site's ring when it is
// paused, starved or cut off for a few seconds, which it comes back from
// in the domain's configuration, its site's re-injection bringing what it
// missed (gateway/hiersim TestAgainUnseen and TestAgainAroundDoubt cut a
// node that is no gateway off for 3 s; left at once, it delivered its Up
// the others had not ordered alone, and no Again brought it up).
const PartGrace = 5 * time.Second

// OutrankedGrace is how long a gateway whose federation member a newer
// gateway of its site fenced (from a part of its split local ring with a
// higher sequence number) waits, still the active gateway of its local
// ring's configuration, before it asks its local ring to form again above
// the fencer's (localring.Node.ReformAbove): the parts usually merge
// first. The ring formed again makes it active with an incarnation above
// the fencer's. Only a part with at least half of its site's nodes
// (Outranks) does: the smaller part of a split site cannot tell a fencer
// that crashed from one that lives on in the larger part, and would take
// the role from it one grace after every fence (hiersim's stray gateway,
// a gateway alone of fra's three nodes, seed 71). Without it, a part
// whose ring never changed again (the other part's gateway crashed before
// a packet of it came through) had no gateway in the domain for good:
// hiersim's gateway crash at seeds 21, 74 and 85 with packets=all, where
// one of sin's two nodes, alone, stayed in the domain's configuration to
// the end, and the others delivered its Ups that its View never told it
// sent (node-level EVS 1.1). Where two halves of a site live on apart,
// both in the federation, they take the role in turn, one grace after the
// other.
const OutrankedGrace = PartGrace

// Outranks reports whether a part of a site's split local ring, of
// members nodes out of the site's site nodes, takes the role back after
// OutrankedGrace: at least half of them.
func Outranks(members, site int) bool { return 2*members >= site }

// Ungated is what a driver keeps, for one domain, of its node's local
// ring without a gateway of the domain (PartGrace), the agent's and
// gateway/hiersim's alike.
type Ungated struct {
	on, left bool
	until    time.Time
}

// Install is a regular configuration of the local ring at now; gw says
// whether it holds a gateway of the domain. It reports whether the
// driver calls bridge.Site.NoGateway now: the node left the domain's
// configuration already, and this is another configuration of its part
// (the bridge changes nothing for the same members). A configuration
// without a gateway starts the grace, one with a gateway ends it.
func (u *Ungated) Install(gw bool, now time.Time) bool {
	switch {
	case gw:
		*u = Ungated{}
	case !u.on:
		u.on, u.until = true, now.Add(PartGrace)
	}
	return u.left
}

// Due reports whether the grace is over at now with the local ring still
// without a gateway: the driver calls bridge.Site.NoGateway, once.
func (u *Ungated) Due(now time.Time) bool {
	if !u.on || u.left || now.Before(u.until) {
		return false
	}
	u.left = true
	return true
}

// Deadline returns when the grace ends, while one runs.
func (u *Ungated) Deadline() (time.Time, bool) { return u.until, u.on && !u.left }
