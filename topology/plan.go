package topology

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Plan is the planner's answer for one topology file: the EVS domains with
// their ring orders, predicted latencies, timeouts and gateways, where each
// group lives and why, and what could not be done and how to fix it.
// Everything in it is sorted, so equal files give byte-equal plans.
type Plan struct {
	// Cluster is the cluster name from the file.
	Cluster string `json:"cluster"`
	// Domains are the site domains (one per site, sorted by name), then
	// the federation domains (tightest class first, then by name).
	Domains []Domain `json:"domains"`
	// Groups are the group placements in file order.
	Groups []Placement `json:"groups"`
	// Links are the site pairs that federation domains use, with the RTT
	// the planner assumed for them (declared, or derived from a chain of
	// declared links).
	Links []PlannedLink `json:"links"`
	// Rejections say what the planner could not do, with the numbers and a
	// fix. A plan with rejections is not fit to run.
	Rejections []Rejection `json:"rejections"`
}

// DomainKind says whether a domain is one site's local ring or a
// federation of sites.
type DomainKind int

// Domain kinds.
const (
	SiteDomain DomainKind = iota + 1
	FederationDomain
)

func (k DomainKind) String() string {
	switch k {
	case SiteDomain:
		return "site"
	case FederationDomain:
		return "federation"
	}
	return "DomainKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes k as its name.
func (k DomainKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Domain is one EVS domain: the scope of one total order.
type Domain struct {
	// Name is the domain's name as written in traces: "site/NAME" for a
	// site's local ring, "fed/CLASS:SITE+SITE+..." for a federation domain
	// formed for a class.
	Name string `json:"name"`
	// Kind is site or federation.
	Kind DomainKind `json:"kind"`
	// Class is the class a federation domain was formed for; empty for
	// site domains. Groups of looser classes may also live in it.
	Class string `json:"class,omitempty"`
	// Sites are the domain's sites, sorted.
	Sites []string `json:"sites"`
	// Ring is the token order: node ids for a site domain, site names for a
	// federation domain (whose ring is among the sites' active gateways).
	Ring []string `json:"ring"`
	// ExactOrder reports whether Ring is proven to minimise the rotation
	// time (see RingOrder).
	ExactOrder bool `json:"exact_order"`
	// Latency is the predicted delivery latency of the domain: agreed on a
	// site's ring; for a federation domain, end to end through the local
	// rings with the federation ring's Safe delivery
	// (PredictFederatedLatency). Its Rotation is the rotation of the
	// domain's own ring.
	Latency Latency `json:"latency"`
	// RingLatency is, for a federation domain, the prediction of its
	// federation ring alone (PredictAgreedLatency among the gateways):
	// Agreed delivery from gateway to gateway, without the local rings
	// and the Safe rotations that Latency adds. It is what a benchmark of
	// the federation ring by itself measures. Zero for a site domain,
	// whose Latency is its ring's.
	RingLatency Latency `json:"ring_latency,omitzero"`
	// Timeouts are the derived timers of the domain's ring.
	Timeouts Timeouts `json:"timeouts"`
	// Gateways give, for each site of a federation domain, its active and
	// standby gateways.
	Gateways []Gateway `json:"gateways,omitempty"`
	// Groups are the groups placed in the domain, in file order.
	Groups []string `json:"groups"`
}

// Gateway is the gateway role of one site in one federation domain.
type Gateway struct {
	// Site is the site name.
	Site string `json:"site"`
	// Active is the node that carries the domain's traffic for the site;
	// empty when the site has no gateway-eligible node.
	Active string `json:"active"`
	// Standby are the other eligible nodes, in takeover order.
	Standby []string `json:"standby"`
	// Endpoint is the active gateway's QUIC endpoint for this domain: its
	// endpoint in the file with the port offset by the domain's place
	// among the site's federation domains (Plan.GatewayEndpoint).
	Endpoint string `json:"endpoint"`
}

// Placement says where one group (or group pattern) lives.
type Placement struct {
	// Group is the group name or pattern.
	Group string `json:"group"`
	// Class and Budget are the group's latency class and its budget.
	Class  string   `json:"class"`
	Budget Duration `json:"budget"`
	// Sites are the group's sites, sorted.
	Sites []string `json:"sites"`
	// Domain is the name of the domain the group lives in; empty when the
	// group was rejected.
	Domain string `json:"domain"`
	// Latency is the prediction of that domain.
	Latency Latency `json:"latency"`
	// Reason explains the choice in a sentence.
	Reason string `json:"reason"`
}

// PlannedLink is the RTT the planner assumed between two sites.
type PlannedLink struct {
	// Between are the two sites, sorted.
	Between [2]string `json:"between"`
	// RTT is the declared RTT, or the sum along the shortest chain of
	// declared links.
	RTT Duration `json:"rtt"`
	// Via lists the sites the chain passes through; empty for a declared
	// link.
	Via []string `json:"via,omitempty"`
	// Stripes is the declared link's stripes (links[].stripes): how many
	// QUIC connections at most carry the federation rings between the two
	// sites. 0 (left out) means the transport's default
	// (transport.DefaultStripes).
	Stripes int `json:"stripes,omitempty"`
}

// RejectionKind classifies a rejection.
type RejectionKind int

// Rejection kinds.
const (
	// RejectLatency: the group's sites cannot meet its class budget even in
	// a domain of their own.
	RejectLatency RejectionKind = iota + 1
	// RejectConflict: the group meets its budget alone, but shares sites
	// with other groups of its class and the one domain holding them all
	// would not.
	RejectConflict
	// RejectUnreachable: no chain of declared links joins two of the
	// group's sites.
	RejectUnreachable
	// RejectBandwidth: a link declares less bandwidth than the federation
	// traffic that may cross it.
	RejectBandwidth
	// RejectLimit: the file has more than MaxSites sites; nothing is
	// planned.
	RejectLimit
	// RejectEndpoint: a site's QUIC port plus the number of its other
	// federation domains passes 65535 (DomainEndpoint).
	RejectEndpoint
)

// MaxSites is the largest number of sites the planner forms federation
// domains for. It bounds the planner's work (forming domains evaluates
// many candidate rings); a bigger world is better split into clusters.
const MaxSites = 64

func (k RejectionKind) String() string {
	switch k {
	case RejectLatency:
		return "latency"
	case RejectConflict:
		return "conflict"
	case RejectUnreachable:
		return "unreachable"
	case RejectBandwidth:
		return "bandwidth"
	case RejectLimit:
		return "limit"
	case RejectEndpoint:
		return "endpoint"
	}
	return "RejectionKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes k as its name.
func (k RejectionKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Rejection is something the planner could not do.
type Rejection struct {
	Kind RejectionKind `json:"kind"`
	// Group is the rejected group (latency, conflict, unreachable).
	Group string `json:"group,omitempty"`
	// Link names the two sites of the link to blame, when there is one.
	Link []string `json:"link,omitempty"`
	// Predicted and Budget are the predicted latency and the class budget
	// it exceeds (latency, conflict).
	Predicted Duration `json:"predicted,omitempty"`
	Budget    Duration `json:"budget,omitempty"`
	// Need and Have are the bandwidth the link may have to carry and the
	// bandwidth it declares (bandwidth).
	Need Bandwidth `json:"need,omitempty"`
	Have Bandwidth `json:"have,omitempty"`
	// Path is the field of the file the rejection is about.
	Path string `json:"path"`
	// Line and Col locate Path in the file.
	Line int `json:"line"`
	Col  int `json:"col"`
	// Msg says what is wrong and Fix what to do about it.
	Msg string `json:"msg"`
	Fix string `json:"fix"`

	pos Pos
}

// Plan runs the planner on f. It never fails: parts of the file that are
// invalid (see Check) are left out, and what cannot be planned is listed in
// the plan's Rejections. The algorithms and the latency model are described
// in docs/PLANNER.md.
func (f *File) Plan() *Plan {
	pl := newPlanner(f)
	return pl.run()
}

// Lookup returns the placement of the group called name: the entry with
// exactly that name, else the first pattern that matches it.
func (p *Plan) Lookup(name string) (*Placement, bool) {
	for i := range p.Groups {
		if p.Groups[i].Group == name {
			return &p.Groups[i], true
		}
	}
	for i := range p.Groups {
		if ok, err := path.Match(p.Groups[i].Group, name); err == nil && ok {
			return &p.Groups[i], true
		}
	}
	return nil, false
}

// Domain returns the domain with the given name.
func (p *Plan) Domain(name string) (*Domain, bool) {
	for i := range p.Domains {
		if p.Domains[i].Name == name {
			return &p.Domains[i], true
		}
	}
	return nil, false
}

// FederationDomains returns the plan's federation domains, in the
// plan's order (the domains that span sites and run a federation ring).
func (p *Plan) FederationDomains() []*Domain {
	var out []*Domain
	for i := range p.Domains {
		if p.Domains[i].Kind == FederationDomain {
			out = append(out, &p.Domains[i])
		}
	}
	return out
}

// JSON returns the plan as indented JSON.
func (p *Plan) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		panic(fmt.Sprintf("topology: plan does not encode: %v", err))
	}
	return b.Bytes()
}

const unreachable = time.Duration(-1)

type planner struct {
	f     *File
	sites []*Site // valid sites, sorted by name
	idx   map[string]int
	rtt   [][]time.Duration // effective RTT; unreachable when no chain
	next  [][]int           // first hop of the shortest chain of declared links (used for pairs without a link of their own)
	link  [][]int           // index of the declared link, or -1
	hold  []time.Duration
	local []Latency
	cache map[string]*evaluation

	plan    *Plan
	fed     []*fedDomain // federation domains built so far
	classes []*Class     // valid classes, tightest first
}

type fedDomain struct {
	class *Class
	sites []int // sorted
	ev    *evaluation
}

// evaluation is the planner's verdict on a set of sites as one domain.
type evaluation struct {
	sites   []int
	order   []int // ring order, site indices
	exact   bool
	lat     Latency
	ok      bool   // every pair is reachable
	far     [2]int // pair with the largest RTT (or an unreachable pair)
	maxRTT  time.Duration
	fedRing Latency // the federation ring alone
}

func newPlanner(f *File) *planner {
	pl := &planner{f: f, idx: map[string]int{}, cache: map[string]*evaluation{}, plan: &Plan{Cluster: f.Cluster}}
	for i := range f.Sites {
		s := &f.Sites[i]
		if s.Name == "" {
			continue
		}
		if _, dup := pl.idx[s.Name]; dup {
			continue
		}
		pl.idx[s.Name] = -1
		pl.sites = append(pl.sites, s)
	}
	slices.SortFunc(pl.sites, func(a, b *Site) int { return cmp.Compare(a.Name, b.Name) })
	n := len(pl.sites)
	if n > MaxSites {
		return pl // run refuses to plan
	}
	for i, s := range pl.sites {
		pl.idx[s.Name] = i
		pl.hold = append(pl.hold, s.tokenHold().D())
		pl.local = append(pl.local, localLatency(max(len(s.Nodes), 1), s.lanRTT().D(), s.tokenHold().D()))
	}
	pl.rtt = make([][]time.Duration, n)
	pl.next = make([][]int, n)
	pl.link = make([][]int, n)
	for i := range n {
		pl.rtt[i] = make([]time.Duration, n)
		pl.next[i] = make([]int, n)
		pl.link[i] = make([]int, n)
		for j := range n {
			pl.rtt[i][j], pl.next[i][j], pl.link[i][j] = unreachable, -1, -1
		}
		pl.rtt[i][i], pl.next[i][i] = 0, i
	}
	for k, l := range f.Links {
		if len(l.Between) != 2 || l.RTT <= 0 {
			continue
		}
		a, okA := pl.idx[l.Between[0]]
		b, okB := pl.idx[l.Between[1]]
		if !okA || !okB || a == b || pl.link[a][b] >= 0 {
			continue
		}
		pl.link[a][b], pl.link[b][a] = k, k
		r := min(l.RTT.D(), MaxDelay) // keeps the sums below far from overflow
		pl.rtt[a][b], pl.rtt[b][a] = r, r
		pl.next[a][b], pl.next[b][a] = b, a
	}
	// Floyd–Warshall over declared links fills in the pairs without a
	// link of their own; declared links keep their RTT even when a chain
	// is shorter, since gateways connect directly.
	dist := make([][]time.Duration, n)
	for i := range n {
		dist[i] = slices.Clone(pl.rtt[i])
	}
	for k := range n {
		for i := range n {
			if dist[i][k] < 0 {
				continue
			}
			for j := range n {
				if dist[k][j] < 0 {
					continue
				}
				if d := dist[i][k] + dist[k][j]; dist[i][j] < 0 || d < dist[i][j] {
					dist[i][j] = d
					pl.next[i][j] = pl.next[i][k]
				}
			}
		}
	}
	for i := range n {
		for j := range n {
			if pl.link[i][j] < 0 && i != j {
				pl.rtt[i][j] = dist[i][j]
			}
		}
	}
	// Classes: valid and distinct, tightest budget first.
	seen := map[string]bool{}
	for i := range f.Classes {
		c := &f.Classes[i]
		if c.Name == "" || c.Budget <= 0 || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		pl.classes = append(pl.classes, c)
	}
	slices.SortStableFunc(pl.classes, func(a, b *Class) int { return cmp.Or(cmp.Compare(a.Budget, b.Budget), cmp.Compare(a.Name, b.Name)) })
	return pl
}

// chain returns the sites strictly between a and b on the shortest chain
// of declared links.
func (pl *planner) chain(a, b int) []int {
	var via []int
	for cur := pl.next[a][b]; cur >= 0 && cur != b && len(via) < len(pl.sites); cur = pl.next[cur][b] {
		via = append(via, cur)
	}
	return via
}

func setKey(s []int) string {
	var b strings.Builder
	for _, i := range s {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	return b.String()
}

// eval predicts the latency of the sites s (sorted) as one domain.
func (pl *planner) eval(s []int) *evaluation {
	key := setKey(s)
	if ev, ok := pl.cache[key]; ok {
		return ev
	}
	ev := &evaluation{sites: s, ok: true, far: [2]int{s[0], s[0]}}
	for x, a := range s {
		for _, b := range s[x+1:] {
			switch r := pl.rtt[a][b]; {
			case r < 0:
				if ev.ok {
					ev.ok, ev.far = false, [2]int{a, b}
				}
			case ev.ok && r > ev.maxRTT:
				ev.maxRTT, ev.far = r, [2]int{a, b}
			}
		}
	}
	if ev.ok {
		if len(s) == 1 {
			ev.order, ev.exact, ev.lat = []int{s[0]}, true, pl.local[s[0]]
		} else {
			w := make([][]time.Duration, len(s))
			for x, a := range s {
				w[x] = make([]time.Duration, len(s))
				for y, b := range s {
					w[x][y] = pl.rtt[a][b]
				}
			}
			ord, exact := RingOrder(w)
			ev.order, ev.exact = make([]int, len(ord)), exact
			for k, x := range ord {
				ev.order[k] = s[x]
			}
			ev.lat = PredictFederatedLatency(ev.order, pl.rtt, pl.hold, pl.local)
			ev.fedRing = PredictAgreedLatency(ev.order, pl.rtt, pl.hold)
		}
	}
	pl.cache[key] = ev
	return ev
}

// planGroup is a group that can be planned: known class, known sites.
type planGroup struct {
	i     int // index in File.Groups
	g     *Group
	class *Class
	sites []int // sorted site indices
}

func (pl *planner) groups() []planGroup {
	var out []planGroup
	seen := map[string]bool{}
	for i := range pl.f.Groups {
		g := &pl.f.Groups[i]
		if g.Name == "" || seen[g.Name] {
			continue
		}
		seen[g.Name] = true
		ci := slices.IndexFunc(pl.classes, func(c *Class) bool { return c.Name == g.Class })
		if ci < 0 {
			continue
		}
		var sites []int
		for _, s := range pl.f.groupSites(g) {
			if k, ok := pl.idx[s]; ok {
				sites = append(sites, k)
			}
		}
		if len(sites) == 0 {
			continue
		}
		slices.Sort(sites)
		out = append(out, planGroup{i: i, g: g, class: pl.classes[ci], sites: sites})
	}
	return out
}

func (pl *planner) names(s []int) []string {
	out := make([]string, len(s))
	for k, i := range s {
		out[k] = pl.sites[i].Name
	}
	return out
}

func union(a, b []int) []int {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func subset(a, b []int) bool { // a ⊆ b, both sorted
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}

// rejectEndpoint rejects the plan's QUIC endpoint of site s for its
// federation domain d: the port offset passes 65535 (DomainEndpoint).
func (pl *planner) rejectEndpoint(s *Site, d *Domain, err error) {
	r := Rejection{Kind: RejectEndpoint, Msg: fmt.Sprintf("site %s, domain %s: %v", s.Name, d.Name, err),
		Fix: "give the site's QUIC endpoint a lower port: its k-th federation domain uses the port plus k"}
	for i := range pl.f.Sites {
		if pl.f.Sites[i].Name == s.Name {
			r.Path, r.pos = join(index("sites", i), "quic"), s.at.get("quic")
			break
		}
	}
	pl.plan.Rejections = append(pl.plan.Rejections, r)
}

func (pl *planner) reject(r Rejection, pg planGroup, key string) {
	r.Path = join(index("groups", pg.i), key)
	r.pos = pg.g.at.get(key)
	pl.plan.Rejections = append(pl.plan.Rejections, r)
}

func (pl *planner) run() *Plan {
	if len(pl.sites) > MaxSites {
		// Refuse outright: the plan of a world this size would be as large
		// as its sites times its groups.
		pos := pl.f.at.get("sites")
		pl.plan.Rejections = []Rejection{{Kind: RejectLimit, Path: "sites", pos: pos, Line: pos.Line, Col: pos.Col,
			Msg: fmt.Sprintf("%d sites are more than the planner handles (%d); nothing is planned", len(pl.sites), MaxSites),
			Fix: "split the world into several clusters"}}
		pl.plan.Domains, pl.plan.Groups, pl.plan.Links = []Domain{}, []Placement{}, []PlannedLink{}
		return pl.plan
	}
	groups := pl.groups()
	for _, c := range pl.classes {
		pl.planClass(c, groups)
	}
	pl.buildDomains(groups)
	pl.bandwidth()
	for i := range pl.plan.Rejections {
		r := &pl.plan.Rejections[i]
		r.Line, r.Col = max(r.pos.Line, 1), max(r.pos.Col, 1)
	}
	slices.SortStableFunc(pl.plan.Rejections, func(a, b Rejection) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return pl.plan
}

// planClass forms the federation domains of class c: the sites of its
// multi-site groups that no tighter domain already serves are joined into
// components (groups that share a site must share a domain); a group that
// would push its component over the budget is rejected; then components
// are merged greedily while the merged domain still meets the budget.
func (pl *planner) planClass(c *Class, groups []planGroup) {
	budget := c.Budget.D()
	type comp struct {
		sites []int
		owner map[int]string // site → the first group that brought it in
	}
	var comps []*comp
	for _, pg := range groups {
		if pg.class != c {
			continue
		}
		if len(pg.sites) == 1 {
			if l := pl.local[pg.sites[0]]; l.Max.D() > budget {
				pl.rejectLatency(pg, pl.eval(pg.sites))
			}
			continue
		}
		ev := pl.eval(pg.sites)
		if !ev.ok {
			a, b := pl.sites[ev.far[0]].Name, pl.sites[ev.far[1]].Name
			pl.reject(Rejection{Kind: RejectUnreachable, Group: pg.g.Name, Link: []string{a, b},
				Msg: fmt.Sprintf("group %q spans sites %s and %s, but no chain of links joins them", pg.g.Name, a, b),
				Fix: fmt.Sprintf("add a link: {between: [%s, %s], rtt: MEASURED}", a, b)}, pg, "sites")
			continue
		}
		if slices.ContainsFunc(pl.fed, func(d *fedDomain) bool { return subset(pg.sites, d.sites) && d.ev.lat.Max.D() <= budget }) {
			continue // a tighter class's domain serves it; see placement
		}
		if ev.lat.Max.D() > budget {
			pl.rejectLatency(pg, ev)
			continue
		}
		var touching []*comp
		merged := pg.sites
		for _, cp := range comps {
			if slices.ContainsFunc(cp.sites, func(s int) bool { _, ok := slices.BinarySearch(pg.sites, s); return ok }) {
				touching = append(touching, cp)
				merged = union(merged, cp.sites)
			}
		}
		if len(touching) > 0 {
			mev := pl.eval(merged)
			if !mev.ok || mev.lat.Max.D() > budget {
				owners := map[int]string{}
				for _, cp := range touching {
					maps.Copy(owners, cp.owner)
				}
				pl.rejectConflict(pg, ev, mev, owners)
				continue
			}
		}
		nc := &comp{sites: merged, owner: map[int]string{}}
		for _, cp := range touching {
			maps.Copy(nc.owner, cp.owner)
		}
		for _, s := range pg.sites {
			if _, ok := nc.owner[s]; !ok {
				nc.owner[s] = pg.g.Name
			}
		}
		comps = slices.DeleteFunc(comps, func(cp *comp) bool { return slices.Contains(touching, cp) })
		comps = append(comps, nc)
	}
	// Prefer fewer domains: merge the pair whose union predicts the least
	// latency, as long as it meets the budget.
	for {
		bi, bj := -1, -1
		var best time.Duration
		for i := range comps {
			for j := i + 1; j < len(comps); j++ {
				ev := pl.eval(union(comps[i].sites, comps[j].sites))
				if ev.ok && ev.lat.Max.D() <= budget && (bi < 0 || ev.lat.Max.D() < best) {
					bi, bj, best = i, j, ev.lat.Max.D()
				}
			}
		}
		if bi < 0 {
			break
		}
		comps[bi].sites = union(comps[bi].sites, comps[bj].sites)
		maps.Copy(comps[bi].owner, comps[bj].owner)
		comps = slices.Delete(comps, bj, bj+1)
	}
	for _, cp := range comps {
		pl.fed = append(pl.fed, &fedDomain{class: c, sites: cp.sites, ev: pl.eval(cp.sites)})
	}
}

// looserClass returns the class with the smallest budget of at least d.
func (pl *planner) looserClass(d time.Duration) *Class {
	for _, c := range pl.classes {
		if c.Budget.D() >= d {
			return c
		}
	}
	return nil
}

func (pl *planner) linkText(a, b int) string {
	s := fmt.Sprintf("%s–%s rtt %s", pl.sites[a].Name, pl.sites[b].Name, Duration(pl.rtt[a][b]))
	if via := pl.chain(a, b); pl.link[a][b] < 0 && len(via) > 0 {
		s += " (via " + strings.Join(pl.names(via), ", ") + ")"
	}
	return s
}

func (pl *planner) rejectLatency(pg planGroup, ev *evaluation) {
	budget := pg.class.Budget
	r := Rejection{Kind: RejectLatency, Group: pg.g.Name, Predicted: ev.lat.Max, Budget: budget}
	var fixes []string
	if c := pl.looserClass(ev.lat.Max.D()); c != nil {
		fixes = append(fixes, fmt.Sprintf("move the group to class %s (budget %s)", c.Name, c.Budget))
	} else {
		fixes = append(fixes, fmt.Sprintf("add a class with a budget of at least %s", ev.lat.Max))
	}
	if len(pg.sites) == 1 {
		s := pl.sites[pg.sites[0]]
		r.Msg = fmt.Sprintf("group %q (class %s) runs in site %s only, whose local ring predicts %s > budget %s (%d nodes, lan_rtt %s, token_hold %s)",
			pg.g.Name, pg.class.Name, s.Name, ev.lat.Max, budget, max(len(s.Nodes), 1), s.lanRTT(), s.tokenHold())
		fixes = append(fixes, "or lower the site's token_hold or node count")
	} else {
		a, b := ev.far[0], ev.far[1]
		r.Link = []string{pl.sites[a].Name, pl.sites[b].Name}
		r.Msg = fmt.Sprintf("group %q (class %s) spans %s: predicted %s > budget %s; its farthest link is %s and its ring %s alone rotates in %s",
			pg.g.Name, pg.class.Name, strings.Join(pl.names(pg.sites), ", "), ev.lat.Max, budget,
			pl.linkText(a, b), strings.Join(pl.names(ev.order), "→"), ev.fedRing.Rotation)
		// Suggest the site whose removal helps most, if that meets the
		// budget.
		bestSite, bestLat := -1, time.Duration(math.MaxInt64)
		for _, s := range pg.sites {
			rest := slices.DeleteFunc(slices.Clone(pg.sites), func(x int) bool { return x == s })
			if e := pl.eval(rest); e.ok && e.lat.Max.D() <= budget.D() && e.lat.Max.D() < bestLat {
				bestSite, bestLat = s, e.lat.Max.D()
			}
		}
		switch {
		case bestSite >= 0 && len(pg.sites) == 2:
			other := pg.sites[0]
			if other == bestSite {
				other = pg.sites[1]
			}
			fixes = append(fixes, fmt.Sprintf("or keep it in site %s only (predicted then %s)", pl.sites[other].Name, Duration(bestLat)))
		case bestSite >= 0:
			fixes = append(fixes, fmt.Sprintf("or drop site %s from its sites (predicted then %s)", pl.sites[bestSite].Name, Duration(bestLat)))
		}
	}
	r.Fix = strings.Join(fixes, ", ")
	pl.reject(r, pg, "class")
}

// rejectConflict rejects a group that fits alone but not together with the
// groups whose sites it shares; owners maps the sites of those groups'
// component to a group that brought each in.
func (pl *planner) rejectConflict(pg planGroup, alone, merged *evaluation, owners map[int]string) {
	budget := pg.class.Budget
	var shared []int
	var otherNames []string
	for _, s := range pg.sites {
		o, ok := owners[s]
		if !ok {
			continue
		}
		shared = append(shared, s)
		if q := strconv.Quote(o); !slices.Contains(otherNames, q) {
			otherNames = append(otherNames, q)
		}
	}
	r := Rejection{Kind: RejectConflict, Group: pg.g.Name, Predicted: merged.lat.Max, Budget: budget}
	link := ""
	if merged.ok {
		r.Link = []string{pl.sites[merged.far[0]].Name, pl.sites[merged.far[1]].Name}
		link = ", link " + pl.linkText(merged.far[0], merged.far[1])
	}
	r.Msg = fmt.Sprintf("group %q (class %s) meets its budget alone (predicted %s ≤ %s) but shares site %s with group %s; one %s domain holding them all would span %s and predict %s > budget %s%s",
		pg.g.Name, pg.class.Name, alone.lat.Max, budget, strings.Join(pl.names(shared), ", "), strings.Join(otherNames, ", "),
		pg.class.Name, strings.Join(pl.names(merged.sites), ", "), merged.lat.Max, budget, link)
	fix := "move this group or the others to a class with a larger budget"
	if c := pl.looserClass(merged.lat.Max.D()); c != nil {
		fix = fmt.Sprintf("move this group or the others to class %s (budget %s)", c.Name, c.Budget)
	}
	r.Fix = fix + fmt.Sprintf(", or stop sharing site %s", strings.Join(pl.names(shared), ", "))
	pl.reject(r, pg, "class")
}

// buildDomains lists the domains, places every group in the smallest
// domain that holds all its sites and meets its budget, and assigns the
// gateways.
func (pl *planner) buildDomains(groups []planGroup) {
	p := pl.plan
	for i, s := range pl.sites {
		ids := make([]string, 0, len(s.Nodes))
		for _, n := range s.Nodes {
			if n.ID != "" {
				ids = append(ids, n.ID)
			}
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		p.Domains = append(p.Domains, Domain{
			Name: "site/" + s.Name, Kind: SiteDomain, Sites: []string{s.Name}, Ring: ids, ExactOrder: true,
			Latency: pl.local[i], Timeouts: DeriveTimeouts(pl.local[i].Rotation.D(), s.lanRTT().D()), Groups: []string{},
		})
	}
	fedStart := len(p.Domains)
	slices.SortStableFunc(pl.fed, func(a, b *fedDomain) int {
		return cmp.Or(cmp.Compare(a.class.Budget, b.class.Budget), cmp.Compare(a.class.Name, b.class.Name), slices.Compare(a.sites, b.sites))
	})
	for _, d := range pl.fed {
		names := pl.names(d.sites)
		p.Domains = append(p.Domains, Domain{
			Name: "fed/" + d.class.Name + ":" + strings.Join(names, "+"), Kind: FederationDomain, Class: d.class.Name,
			Sites: names, Ring: pl.names(d.ev.order), ExactOrder: d.ev.exact, Latency: d.ev.lat,
			RingLatency: d.ev.fedRing, Timeouts: DeriveTimeouts(d.ev.fedRing.Rotation.D(), d.ev.maxRTT), Groups: []string{},
		})
		for x, a := range d.sites {
			for _, b := range d.sites[x+1:] {
				pl.addLink(a, b)
			}
		}
	}
	slices.SortFunc(p.Links, func(a, b PlannedLink) int {
		return cmp.Or(cmp.Compare(a.Between[0], b.Between[0]), cmp.Compare(a.Between[1], b.Between[1]))
	})
	// Placement.
	rejected := map[string]bool{}
	for _, r := range p.Rejections {
		rejected[r.Group] = true
	}
	domainSites := func(d *Domain) []int {
		out := make([]int, len(d.Sites))
		for k, s := range d.Sites {
			out[k] = pl.idx[s]
		}
		return out
	}
	for _, pg := range groups {
		pc := Placement{Group: pg.g.Name, Class: pg.class.Name, Budget: pg.class.Budget, Sites: pl.names(pg.sites)}
		best := -1
		if !rejected[pg.g.Name] {
			for k := range p.Domains {
				d := &p.Domains[k]
				if d.Latency.Max > pg.class.Budget || !subset(pg.sites, domainSites(d)) {
					continue
				}
				if best < 0 || cmp.Or(cmp.Compare(len(d.Sites), len(p.Domains[best].Sites)), cmp.Compare(d.Latency.Max, p.Domains[best].Latency.Max)) < 0 {
					best = k
				}
			}
		}
		if best < 0 {
			pc.Reason = "rejected, see rejections"
			if !rejected[pg.g.Name] {
				// Cannot happen: a group that is not rejected has a domain.
				panic(fmt.Sprintf("topology: planner found no domain for group %q with sites %v", pg.g.Name, pc.Sites))
			}
		} else {
			d := &p.Domains[best]
			pc.Domain, pc.Latency = d.Name, d.Latency
			d.Groups = append(d.Groups, pg.g.Name)
			switch {
			case d.Kind == SiteDomain:
				pc.Reason = fmt.Sprintf("all members in site %s: its local ring predicts %s ≤ budget %s", d.Sites[0], d.Latency.Max, pg.class.Budget)
			case d.Class == pg.class.Name:
				pc.Reason = fmt.Sprintf("smallest domain holding %s: predicts %s ≤ budget %s", strings.Join(pc.Sites, ", "), d.Latency.Max, pg.class.Budget)
			default:
				pc.Reason = fmt.Sprintf("smallest domain holding %s (formed for class %s): predicts %s ≤ budget %s", strings.Join(pc.Sites, ", "), d.Class, d.Latency.Max, pg.class.Budget)
			}
		}
		p.Groups = append(p.Groups, pc)
	}
	// Gateways: in each site, spread the federation domains over its
	// eligible nodes in turn.
	for _, s := range pl.sites {
		var eligible []string
		nodes := map[string]*Node{}
		for k := range s.Nodes {
			nodes[s.Nodes[k].ID] = &s.Nodes[k]
		}
		listed := map[string]bool{}
		for _, id := range s.Gateways {
			if _, ok := nodes[id]; ok && !listed[id] {
				listed[id] = true
				eligible = append(eligible, id)
			}
		}
		turn := 0
		for k := fedStart; k < len(p.Domains); k++ {
			d := &p.Domains[k]
			if !slices.Contains(d.Sites, s.Name) {
				continue
			}
			gw := Gateway{Site: s.Name, Standby: []string{}}
			if m := len(eligible); m > 0 {
				gw.Active = eligible[turn%m]
				for x := 1; x < m; x++ {
					gw.Standby = append(gw.Standby, eligible[(turn+x)%m])
				}
				gw.Endpoint = s.QUICEndpoint(nodes[gw.Active])
				if ep, err := DomainEndpoint(gw.Endpoint, turn); err == nil {
					gw.Endpoint = ep
				} else if quicPort(gw.Endpoint) > 0 {
					pl.rejectEndpoint(s, d, err)
				}
			}
			turn++
			d.Gateways = append(d.Gateways, gw)
		}
	}
	if p.Links == nil {
		p.Links = []PlannedLink{}
	}
	if p.Rejections == nil {
		p.Rejections = []Rejection{}
	}
	if p.Groups == nil {
		p.Groups = []Placement{}
	}
}

func (pl *planner) addLink(a, b int) {
	if pl.sites[a].Name > pl.sites[b].Name {
		a, b = b, a
	}
	l := PlannedLink{Between: [2]string{pl.sites[a].Name, pl.sites[b].Name}, RTT: Duration(pl.rtt[a][b])}
	if k := pl.link[a][b]; k < 0 {
		l.Via = pl.names(pl.chain(a, b))
	} else if st := pl.f.Links[k].Stripes; st > 0 {
		l.Stripes = st
	}
	if !slices.ContainsFunc(pl.plan.Links, func(x PlannedLink) bool { return x.Between == l.Between }) {
		pl.plan.Links = append(pl.plan.Links, l)
	}
}

// bandwidth checks links that declare a bandwidth against the federation
// traffic that may cross them. A federation domain's load is the sum of the
// throughput of the classes of its groups. The token holder sends each
// message to every other site directly, over the chain of declared links
// between them; in the worst case all of a domain's load comes from one
// site, so a link direction carries load × (the most destinations any one
// site reaches through it).
func (pl *planner) bandwidth() {
	p := pl.plan
	throughput := map[string]float64{} // group → its class's throughput
	for _, pc := range p.Groups {
		for _, c := range pl.classes {
			if c.Name == pc.Class {
				throughput[pc.Group] = float64(c.Throughput)
			}
		}
	}
	type dir struct{ link, from int }
	need := map[dir]float64{}
	contrib := map[int][]string{}
	for _, d := range p.Domains {
		if d.Kind != FederationDomain {
			continue
		}
		var load float64
		for _, g := range d.Groups {
			load += throughput[g]
		}
		if load == 0 {
			continue
		}
		sites := make([]int, len(d.Sites))
		for k, s := range d.Sites {
			sites[k] = pl.idx[s]
		}
		most := map[dir]int{}
		for _, a := range sites {
			count := map[dir]int{}
			for _, b := range sites {
				if a == b {
					continue
				}
				if l := pl.link[a][b]; l >= 0 {
					count[dir{l, a}]++
					continue
				}
				for u, hops := a, 0; u != b && hops < len(pl.sites); hops++ {
					v := pl.next[u][b]
					if v < 0 {
						break
					}
					if l := pl.link[u][v]; l >= 0 {
						count[dir{l, u}]++
					}
					u = v
				}
			}
			for k, c := range count {
				most[k] = max(most[k], c)
			}
		}
		for k, c := range most {
			need[k] += load * float64(c)
			if !slices.Contains(contrib[k.link], d.Name) {
				contrib[k.link] = append(contrib[k.link], d.Name)
			}
		}
	}
	for k := range pl.f.Links {
		l := &pl.f.Links[k]
		if l.Bandwidth <= 0 || len(l.Between) != 2 {
			continue
		}
		var worst float64
		from := ""
		for _, end := range l.Between {
			i, ok := pl.idx[end]
			if !ok {
				continue
			}
			if v := need[dir{k, i}]; v > worst {
				worst, from = v, end
			}
		}
		if worst <= float64(l.Bandwidth) {
			continue
		}
		to := l.Between[0]
		if to == from {
			to = l.Between[1]
		}
		slices.Sort(contrib[k])
		p.Rejections = append(p.Rejections, Rejection{
			Kind: RejectBandwidth, Link: []string{l.Between[0], l.Between[1]}, Need: Bandwidth(worst), Have: l.Bandwidth,
			Path: join(index("links", k), "bandwidth"), pos: l.at.get("bandwidth"),
			Msg: fmt.Sprintf("link %s→%s may have to carry %s of federation traffic (domains %s) but declares %s",
				from, to, Bandwidth(worst), strings.Join(contrib[k], ", "), l.Bandwidth),
			Fix: "raise the link's bandwidth, lower the classes' throughput, or place fewer groups across it",
		})
	}
}
