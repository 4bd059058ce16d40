package hiersim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// Takeover is the timeline of a gateway crash (FaultGatewayCrash): every
// duration is virtual time since the kill, zero when the step did not
// happen.
type Takeover struct {
	Victim string // the site whose active gateway was killed
	// TokenTimeout is the federation ring's token timeout (the domain's
	// plan): issue 9 wants every site delivering again within twice it.
	TokenTimeout time.Duration
	// Rotation is the federation ring's token rotation the plan predicts
	// for the domain (topology.Latency.Rotation).
	Rotation time.Duration
	// LocalRing is when the victim site's local ring first installed a
	// regular configuration without the dead gateway; Term when the
	// standby became the active gateway (and started its federation
	// member).
	LocalRing, Term time.Duration
	// Reform is when the federation ring was first formed again at a
	// View's ask (domconf Ready.Reform: the victim site's announcement
	// without the dead gateway takes effect at the ring after the
	// failover's).
	Reform time.Duration
	// By site: FedRing, when its gateway's federation member installed a
	// regular configuration of every site; CaughtUp, when its gateway
	// applied a catch-up (only a site that was behind: the victim's);
	// Synced, when its first node put the domain's new regular
	// configuration in its stream (the Sync phase and any catch-up over,
	// and the Down through the local ring); Delivered, when its last node
	// delivered a message again.
	FedRing, CaughtUp, Synced, Delivered map[string]time.Duration
	// Gap is, by site, the longest time a node went without a delivery
	// from the kill on, counted from the kill (what the kill caused);
	// Idle how long the site's nodes had gone without one at the kill
	// (the longest), which a gap counted from the last delivery before
	// the kill would add.
	Gap, Idle map[string]time.Duration
}

// String is the timeline on one line per site.
func (t *Takeover) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s's gateway killed: local ring without it +%v, standby active +%v, ring formed again at a View's ask +%v", t.Victim, ms(t.LocalRing), ms(t.Term), ms(t.Reform))
	sites := make([]string, 0, len(t.Gap))
	for s := range t.Gap {
		sites = append(sites, s)
	}
	slices.Sort(sites)
	for _, s := range sites {
		caught := ""
		if d, ok := t.CaughtUp[s]; ok {
			caught = fmt.Sprintf(", caught up +%v", ms(d))
		}
		fmt.Fprintf(&b, "\n\t%s: federation ring +%v%s, new configuration +%v, delivering again +%v; gap %v from the kill (idle %v before it)",
			s, ms(t.FedRing[s]), caught, ms(t.Synced[s]), ms(t.Delivered[s]), ms(t.Gap[s]), ms(t.Idle[s]))
	}
	return b.String()
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// A timeline's per-site marks.
const (
	markFedRing = iota
	markCaughtUp
	markSynced
	nMarks
)

// timeline records a gateway crash's steps; a nil timeline records
// nothing (no crash, or before it).
type timeline struct {
	t      Takeover
	kill   time.Duration // virtual time of the kill
	killed localring.NodeID
	marks  [nMarks]map[string]time.Duration
	before map[*node]time.Duration // a node's last delivery before the kill
	last   map[*node]time.Duration // its last delivery
	first  map[*node]time.Duration // its first since the kill
	gap    map[*node]time.Duration // its longest time without one since the kill
	end    time.Duration           // the end of the load (0 until then)
}

func newTimeline(h *hier, gw *node) *timeline {
	tl := &timeline{kill: h.fed.Elapsed(), killed: gw.id, before: maps.Clone(h.lastAt), last: maps.Clone(h.lastAt),
		first: map[*node]time.Duration{}, gap: map[*node]time.Duration{}}
	tl.t.Victim, tl.t.TokenTimeout, tl.t.Rotation = gw.site.name, h.dom.Timeouts.Token.D(), h.dom.Latency.Rotation.D()
	for i := range tl.marks {
		tl.marks[i] = map[string]time.Duration{}
	}
	return tl
}

// localInstall marks the victim site's first regular configuration
// without the dead gateway.
func (tl *timeline) localInstall(s *site, c *localring.Configuration, now time.Duration) {
	if tl == nil || s.name != tl.t.Victim || c.Kind != localring.Regular || tl.t.LocalRing != 0 {
		return
	}
	if !slices.Contains(c.MemberIDs(), string(tl.killed)) {
		tl.t.LocalRing = now - tl.kill
	}
}

// term marks the standby's gateway term.
func (tl *timeline) term(now time.Duration) {
	if tl != nil && tl.t.Term == 0 {
		tl.t.Term = now - tl.kill
	}
}

// reform marks the first ring formed again at a View's ask.
func (tl *timeline) reform(now time.Duration) {
	if tl != nil && tl.t.Reform == 0 {
		tl.t.Reform = now - tl.kill
	}
}

// mark records the first time site s reached step k.
func (tl *timeline) mark(k int, s *site, now time.Duration) {
	if tl == nil {
		return
	}
	if _, ok := tl.marks[k][s.name]; !ok {
		tl.marks[k][s.name] = now - tl.kill
	}
}

// deliver notes a delivery at node n while the load lasts.
func (tl *timeline) deliver(n *node, now time.Duration) {
	if tl == nil || tl.end != 0 {
		return
	}
	if _, ok := tl.first[n]; !ok {
		tl.first[n] = now - tl.kill
	}
	tl.gap[n] = max(tl.gap[n], now-max(tl.last[n], tl.kill))
	tl.last[n] = now
}

// close ends the timeline at the end of the load: without messages sent,
// none are delivered.
func (tl *timeline) close(now time.Duration) {
	if tl != nil && tl.end == 0 {
		tl.end = now
	}
}

// result sums the timeline up by site, over the nodes alive at the end:
// the end of the load closes every node's last gap.
func (tl *timeline) result(h *hier) *Takeover {
	t := tl.t
	t.FedRing, t.CaughtUp, t.Synced = tl.marks[markFedRing], tl.marks[markCaughtUp], tl.marks[markSynced]
	t.Delivered, t.Gap, t.Idle = map[string]time.Duration{}, map[string]time.Duration{}, map[string]time.Duration{}
	tl.close(h.fed.Elapsed())
	end := tl.end
	for _, s := range h.sites {
		for _, n := range s.nodes {
			if !s.ring.Alive(n.slot) {
				continue
			}
			first, ok := tl.first[n]
			if !ok {
				first = end - tl.kill
			}
			t.Delivered[s.name] = max(t.Delivered[s.name], first)
			t.Gap[s.name] = max(t.Gap[s.name], tl.gap[n], end-max(tl.last[n], tl.kill))
			if b, ok := tl.before[n]; ok {
				t.Idle[s.name] = max(t.Idle[s.name], tl.kill-b)
			}
		}
	}
	return &t
}
