package topology

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/topology.schema.json")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test ./topology -update and review the diff):\n--- got\n%s", path, got)
	}
}

var examples = []string{"single-site", "europe-asia", "hub-and-spoke"}

// TestGolden plans every example of deploy/examples in every format, and
// validates the broken file.
func TestGolden(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			f, err := Load(filepath.Join("..", "deploy", "examples", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			p := f.Plan()
			if len(p.Rejections) > 0 {
				t.Errorf("example has rejections: %+v", p.Rejections)
			}
			for _, format := range []Format{FormatTable, FormatJSON, FormatDOT} {
				var b bytes.Buffer
				if err := p.Write(&b, format); err != nil {
					t.Fatal(err)
				}
				ext := map[Format]string{FormatTable: ".golden", FormatJSON: ".json.golden", FormatDOT: ".dot.golden"}[format]
				golden(t, name+ext, b.Bytes())
			}
		})
	}
	t.Run("broken", func(t *testing.T) {
		_, err := Load(filepath.Join("testdata", "broken.yaml"))
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("Load(broken.yaml) = %v, want an ErrorList", err)
		}
		var b bytes.Buffer
		for _, e := range list {
			fmt.Fprintln(&b, e)
		}
		golden(t, "broken.golden", b.Bytes())
	})
}

// TestDOTRendersToSVG renders every example's picture with Graphviz.
func TestDOTRendersToSVG(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot is not on PATH (apt-get install graphviz); the DOT text is still checked by TestGolden")
	}
	for _, name := range append(slices.Clone(examples), "broken") {
		path := filepath.Join("..", "deploy", "examples", name+".yaml")
		if name == "broken" {
			path = filepath.Join("testdata", "broken.yaml")
		}
		f, _ := Load(path)
		var in bytes.Buffer
		if err := f.Plan().Write(&in, FormatDOT); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(dot, "-Tsvg")
		cmd.Stdin = &in
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%s: dot -Tsvg: %v\n%s", name, err, stderr.String())
		}
		if !bytes.Contains(out.Bytes(), []byte("<svg")) {
			t.Fatalf("%s: dot produced no SVG", name)
		}
	}
}

func TestDefault(t *testing.T) {
	f := Default()
	if errs := f.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	p := f.Plan()
	if len(p.Domains) != 4 || len(p.Rejections) != 0 {
		t.Errorf("default plan: %d domains, %d rejections", len(p.Domains), len(p.Rejections))
	}
	if pc, ok := p.Lookup("demo.room1"); !ok || pc.Domain != "fed/regional:alpha+beta+gamma" {
		t.Errorf("Lookup(demo.room1) = %+v, %v", pc, ok)
	}
	if !bytes.Equal(DefaultYAML(), defaultYAML) {
		t.Error("DefaultYAML differs from the embedded file")
	}
}

func TestLookup(t *testing.T) {
	f := mustParse(t, strings.Replace(base, "groups:", "groups:\n  - {name: \"g*\", class: slow, sites: [b]}", 1))
	p := f.Plan()
	for name, want := range map[string]string{"g1": "site/a", "g2": "fed/slow:a+b", "g3": "site/b", "gx": "site/b"} {
		pc, ok := p.Lookup(name)
		if !ok || pc.Domain != want {
			t.Errorf("Lookup(%q) = %+v, %v; want domain %s", name, pc, ok, want)
		}
	}
	if _, ok := p.Lookup("other"); ok {
		t.Error("Lookup(other) found a placement")
	}
	if _, ok := p.Domain("fed/slow:a+b"); !ok {
		t.Error("Domain(fed/slow:a+b) not found")
	}
}

// world builds a file for planner tests: sites on a plane (RTT = distance
// in ms), all pairs linked, each site with two nodes and a gateway.
func world(pos map[string][2]float64, classes map[string]time.Duration, groups ...Group) *File {
	f := &File{Version: 1, Cluster: "w", name: "w.yaml"}
	var names []string
	for n := range pos {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		f.Sites = append(f.Sites, Site{Name: n, Multicast: fmt.Sprintf("239.192.0.%d", i+1), QUIC: n + ".example.net:7400",
			Nodes: []Node{{ID: n + "-1"}, {ID: n + "-2"}}, Gateways: []string{n + "-1", n + "-2"}})
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			d := math.Hypot(pos[a][0]-pos[b][0], pos[a][1]-pos[b][1])
			f.Links = append(f.Links, Link{Between: []string{a, b}, RTT: Duration(time.Duration(d * float64(time.Millisecond)))})
		}
	}
	var cnames []string
	for c := range classes {
		cnames = append(cnames, c)
	}
	slices.Sort(cnames)
	for _, c := range cnames {
		f.Classes = append(f.Classes, Class{Name: c, Budget: Duration(classes[c])})
	}
	f.Groups = groups
	return f
}

func TestPlanConflict(t *testing.T) {
	// a–b and b–c are 10ms apart, a–c 20ms: each pair meets 50ms alone
	// (36.6ms), but the one domain holding both groups would span a, b, c
	// (71.9ms).
	f := world(map[string][2]float64{"a": {0, 0}, "b": {10, 0}, "c": {20, 0}}, map[string]time.Duration{"tight": 50 * time.Millisecond, "loose": time.Second},
		Group{Name: "ab", Class: "tight", Sites: []string{"a", "b"}},
		Group{Name: "bc", Class: "tight", Sites: []string{"b", "c"}})
	if errs := f.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
	p := f.Plan()
	if len(p.Rejections) != 1 || p.Rejections[0].Kind != RejectConflict || p.Rejections[0].Group != "bc" {
		t.Fatalf("rejections = %+v", p.Rejections)
	}
	r := p.Rejections[0]
	for _, want := range []string{`group "bc" (class tight) meets its budget alone`, `shares site b with group "ab"`, "span a, b, c", "> budget 50ms", "link a–c rtt 20ms"} {
		if !strings.Contains(r.Msg, want) {
			t.Errorf("message %q lacks %q", r.Msg, want)
		}
	}
	if !strings.Contains(r.Fix, "move this group or the others to class loose (budget 1s)") || r.Path != "groups[1].class" {
		t.Errorf("fix %q, path %q", r.Fix, r.Path)
	}
}

// fedNames returns the names of p's federation domains, in order.
func fedNames(p *Plan) []string {
	var names []string
	for _, d := range p.FederationDomains() {
		names = append(names, d.Name)
	}
	return names
}

func TestPlanPrefersFewerDomains(t *testing.T) {
	// Two pairs far enough apart to be separate components, close enough
	// that one domain of all four still meets the budget.
	pos := map[string][2]float64{"a": {0, 0}, "b": {5, 0}, "c": {0, 5}, "d": {5, 5}}
	f := world(pos, map[string]time.Duration{"c": 60 * time.Millisecond},
		Group{Name: "ab", Class: "c", Sites: []string{"a", "b"}},
		Group{Name: "cd", Class: "c", Sites: []string{"c", "d"}})
	feds := fedNames(f.Plan())
	if !slices.Equal(feds, []string{"fed/c:a+b+c+d"}) {
		t.Errorf("federation domains = %v, want one", feds)
	}
	// With a tighter budget they stay apart (a pair predicts 19.1ms, the
	// four 35.7ms).
	f.Classes[0].Budget = Duration(25 * time.Millisecond)
	feds = fedNames(f.Plan())
	if !slices.Equal(feds, []string{"fed/c:a+b", "fed/c:c+d"}) {
		t.Errorf("federation domains = %v, want two", feds)
	}
}

func TestPlanCrossClassPlacementAndGateways(t *testing.T) {
	f := mustParse(t, mustRead(t, "../deploy/examples/europe-asia.yaml"))
	p := f.Plan()
	pc, _ := p.Lookup("presence")
	if pc.Domain != "fed/regional:ams+fra+par" || !strings.Contains(pc.Reason, "formed for class regional") {
		t.Errorf("presence placed %+v", pc)
	}
	// ams, fra and par are in the regional domain first: their endpoints
	// of the global one are at the next port.
	d, _ := p.Domain("fed/global:ams+fra+par+sin")
	want := []Gateway{
		{Site: "ams", Active: "ams-2", Standby: []string{"ams-1"}, Endpoint: "gw.ams.example.net:7401"},
		{Site: "fra", Active: "fra-2", Standby: []string{"fra-1"}, Endpoint: "gw.fra.example.net:7401"},
		{Site: "par", Active: "par-2", Standby: []string{"par-1"}, Endpoint: "gw.par.example.net:7401"},
		{Site: "sin", Active: "sin-1", Standby: []string{"sin-2"}, Endpoint: "sin-1.gw.example.net:7400"},
	}
	if fmt.Sprint(d.Gateways) != fmt.Sprint(want) {
		t.Errorf("global gateways = %+v, want %+v", d.Gateways, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlanDerivedLinksAndBandwidth(t *testing.T) {
	f := mustParse(t, mustRead(t, "../deploy/examples/hub-and-spoke.yaml"))
	p := f.Plan()
	var found bool
	for _, l := range p.Links {
		if l.Between == [2]string{"mad", "mil"} {
			found = true
			if l.RTT.D() != 37*time.Millisecond || !slices.Equal(l.Via, []string{"hub"}) {
				t.Errorf("mad–mil = %+v, want 37ms via hub", l)
			}
		}
	}
	if !found {
		t.Error("mad–mil not among the plan's links")
	}
	// Squeeze the sao–hub link: sao reaches ten sites through it.
	for i := range f.Links {
		if slices.Equal(f.Links[i].Between, []string{"hub", "sao"}) {
			f.Links[i].Bandwidth = 30_000_000
		}
	}
	p = f.Plan()
	if len(p.Rejections) != 1 || p.Rejections[0].Kind != RejectBandwidth {
		t.Fatalf("rejections = %+v", p.Rejections)
	}
	// Global load 2 groups × 2Mbit/s = 4Mbit/s; sao sends it to ten sites
	// through hub (nyc is direct): 40Mbit/s.
	if r := p.Rejections[0]; r.Need != 40_000_000 || r.Have != 30_000_000 || !strings.Contains(r.Msg, "link sao→hub") {
		t.Errorf("rejection = %+v", r)
	}
}

// randomFile builds a random world for property tests: sites on a plane,
// links on a random connected graph (so some RTTs are derived), random
// classes and groups.
func randomFile(rng *rand.Rand) *File {
	n := 1 + rng.IntN(8)
	f := &File{Version: 1, Cluster: "r", name: "r.yaml"}
	type pt struct{ x, y float64 }
	pts := make([]pt, n)
	for i := range n {
		name := fmt.Sprintf("s%d", i)
		pts[i] = pt{rng.Float64() * 200, rng.Float64() * 200}
		s := Site{Name: name, Multicast: fmt.Sprintf("239.192.0.%d", i+1), QUIC: name + ".example.net:7400"}
		for k := range 1 + rng.IntN(4) {
			s.Nodes = append(s.Nodes, Node{ID: fmt.Sprintf("%s-%d", name, k)})
		}
		s.Gateways = []string{s.Nodes[0].ID}
		if len(s.Nodes) > 1 {
			s.Gateways = append(s.Gateways, s.Nodes[1].ID)
		}
		f.Sites = append(f.Sites, s)
	}
	dist := func(a, b int) Duration {
		return Duration(time.Duration((1 + math.Hypot(pts[a].x-pts[b].x, pts[a].y-pts[b].y)) * float64(time.Millisecond)))
	}
	for i := 1; i < n; i++ { // a random tree, then extra links
		j := rng.IntN(i)
		f.Links = append(f.Links, Link{Between: []string{f.Sites[j].Name, f.Sites[i].Name}, RTT: dist(i, j)})
	}
	for range rng.IntN(n * 2) {
		a, b := rng.IntN(n), rng.IntN(n)
		if a == b || slices.ContainsFunc(f.Links, func(l Link) bool {
			return l.Between[0] == f.Sites[a].Name && l.Between[1] == f.Sites[b].Name || l.Between[1] == f.Sites[a].Name && l.Between[0] == f.Sites[b].Name
		}) {
			continue
		}
		f.Links = append(f.Links, Link{Between: []string{f.Sites[a].Name, f.Sites[b].Name}, RTT: dist(a, b)})
	}
	for k := range 1 + rng.IntN(3) {
		f.Classes = append(f.Classes, Class{Name: fmt.Sprintf("c%d", k), Budget: Duration(time.Duration(1+rng.IntN(600)) * time.Millisecond)})
	}
	for k := range rng.IntN(10) {
		var sites []string
		for _, s := range f.Sites {
			if rng.IntN(3) == 0 {
				sites = append(sites, s.Name)
			}
		}
		if len(sites) == 0 {
			sites = []string{f.Sites[rng.IntN(n)].Name}
		}
		f.Groups = append(f.Groups, Group{Name: fmt.Sprintf("g%d", k), Class: f.Classes[rng.IntN(len(f.Classes))].Name, Sites: sites})
	}
	return f
}

// naiveDomainLatency recomputes a federation domain's prediction the slow
// way: RTTs by Bellman-Ford relaxation over the declared links, the ring
// order by trying every order.
func naiveDomainLatency(f *File, sites []string) Latency {
	n := len(f.Sites)
	idx := map[string]int{}
	for i, s := range f.Sites {
		idx[s.Name] = i
	}
	const inf = time.Duration(math.MaxInt64 / 4)
	d := make([][]time.Duration, n)
	direct := make([][]time.Duration, n)
	for i := range d {
		d[i] = make([]time.Duration, n)
		direct[i] = make([]time.Duration, n)
		for j := range d[i] {
			d[i][j], direct[i][j] = inf, -1
		}
		d[i][i] = 0
	}
	for _, l := range f.Links {
		a, b := idx[l.Between[0]], idx[l.Between[1]]
		d[a][b], d[b][a] = l.RTT.D(), l.RTT.D()
		direct[a][b], direct[b][a] = l.RTT.D(), l.RTT.D()
	}
	for changed := true; changed; {
		changed = false
		for i := range n {
			for j := range n {
				for k := range n {
					if d[i][k]+d[k][j] < d[i][j] {
						d[i][j] = d[i][k] + d[k][j]
						changed = true
					}
				}
			}
		}
	}
	for i := range n {
		for j := range n {
			if direct[i][j] >= 0 {
				d[i][j] = direct[i][j]
			}
		}
	}
	hold := make([]time.Duration, n)
	local := make([]Latency, n)
	for i, s := range f.Sites {
		hold[i] = s.tokenHold().D()
		local[i] = localLatency(len(s.Nodes), s.lanRTT().D(), s.tokenHold().D())
	}
	members := make([]int, len(sites))
	for k, s := range sites {
		members[k] = idx[s]
	}
	best := Latency{Max: Duration(inf)}
	var perm func(k int)
	perm = func(k int) {
		if k == len(members) {
			if l := PredictFederatedLatency(members, d, hold, local); l.Rotation < best.Rotation || best.Max == Duration(inf) {
				best = l
			}
			return
		}
		for i := k; i < len(members); i++ {
			members[k], members[i] = members[i], members[k]
			perm(k + 1)
			members[k], members[i] = members[i], members[k]
		}
	}
	perm(1)
	return best
}

// TestPlanProperties checks the planner's promises on many random worlds,
// against naive recomputation.
func TestPlanProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := range 300 {
		f := randomFile(rng)
		if errs := f.Check(); len(errs) > 0 {
			t.Fatalf("iteration %d: random file is invalid: %v", iter, errs)
		}
		p := f.Plan()
		budget := map[string]Duration{}
		for _, c := range f.Classes {
			budget[c.Name] = c.Budget
		}
		rejected := map[string]bool{}
		for _, r := range p.Rejections {
			rejected[r.Group] = true
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("iteration %d: %s\nplan:\n%s", iter, fmt.Sprintf(format, args...), p.JSON())
		}
		for _, d := range p.Domains {
			if d.Kind != FederationDomain {
				continue
			}
			if len(d.Sites) < 2 {
				fail("federation domain %s has %d sites", d.Name, len(d.Sites))
			}
			if d.Latency.Max > budget[d.Class] {
				fail("domain %s predicts %v > budget %v", d.Name, d.Latency.Max, budget[d.Class])
			}
			ring := slices.Clone(d.Ring)
			slices.Sort(ring)
			if !slices.Equal(ring, d.Sites) {
				fail("domain %s ring %v is not its sites %v", d.Name, d.Ring, d.Sites)
			}
			// The prediction depends on the ring order only through the
			// rotation, so the optimal order gives one answer.
			if naive := naiveDomainLatency(f, d.Sites); naive != d.Latency {
				fail("domain %s: planner predicts %+v, naive recomputation %+v", d.Name, d.Latency, naive)
			}
			if len(d.Gateways) != len(d.Sites) {
				fail("domain %s has %d gateway roles for %d sites", d.Name, len(d.Gateways), len(d.Sites))
			}
			for _, e := range p.Domains {
				if e.Kind == FederationDomain && e.Class == d.Class && e.Name < d.Name {
					for _, s := range e.Sites {
						if slices.Contains(d.Sites, s) {
							fail("domains %s and %s of one class share site %s", e.Name, d.Name, s)
						}
					}
					// Greedy merging stopped: their union must not fit.
					if u := naiveDomainLatency(f, append(slices.Clone(e.Sites), d.Sites...)); u.Max <= budget[d.Class] {
						fail("domains %s and %s could merge: predicted %v ≤ %v", e.Name, d.Name, u.Max, budget[d.Class])
					}
				}
			}
		}
		for _, pc := range p.Groups {
			if rejected[pc.Group] != (pc.Domain == "") {
				fail("group %s: rejected %v but domain %q", pc.Group, rejected[pc.Group], pc.Domain)
			}
			if pc.Domain == "" {
				continue
			}
			d, ok := p.Domain(pc.Domain)
			if !ok {
				fail("group %s placed in unknown domain %s", pc.Group, pc.Domain)
			}
			for _, s := range pc.Sites {
				if !slices.Contains(d.Sites, s) {
					fail("group %s has site %s outside its domain %s", pc.Group, s, d.Name)
				}
			}
			if d.Latency.Max > pc.Budget {
				fail("group %s in %s: %v > budget %v", pc.Group, d.Name, d.Latency.Max, pc.Budget)
			}
			for _, e := range p.Domains {
				if len(e.Sites) < len(d.Sites) && e.Latency.Max <= pc.Budget && !slices.ContainsFunc(pc.Sites, func(s string) bool { return !slices.Contains(e.Sites, s) }) {
					fail("group %s placed in %s but the smaller %s also fits", pc.Group, d.Name, e.Name)
				}
			}
		}
		for _, r := range p.Rejections {
			if r.Msg == "" || r.Fix == "" || r.Path == "" || r.Line < 1 || r.Col < 1 {
				fail("incomplete rejection %+v", r)
			}
			if r.Kind == RejectLatency && r.Predicted <= r.Budget {
				fail("latency rejection with predicted %v ≤ budget %v", r.Predicted, r.Budget)
			}
		}
		// Determinism: the order of sites and links in the file does not
		// matter.
		g := *f
		g.Sites = slices.Clone(f.Sites)
		g.Links = slices.Clone(f.Links)
		rng.Shuffle(len(g.Sites), func(i, j int) { g.Sites[i], g.Sites[j] = g.Sites[j], g.Sites[i] })
		rng.Shuffle(len(g.Links), func(i, j int) { g.Links[i], g.Links[j] = g.Links[j], g.Links[i] })
		if a, b := p.JSON(), g.Plan().JSON(); !bytes.Equal(a, b) {
			fail("plan changes when sites and links are shuffled:\n%s", b)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, s := range []string{"table", "json", "dot"} {
		f, err := ParseFormat(s)
		if err != nil || f.String() != s {
			t.Errorf("ParseFormat(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil || !strings.HasPrefix(err.Error(), "topology: ") {
		t.Errorf("ParseFormat(yaml) = %v", err)
	}
	for _, s := range []fmt.Stringer{SiteDomain, FederationDomain, RejectLatency, RejectConflict, RejectUnreachable, RejectBandwidth, RejectLimit, Format(9), DomainKind(9), RejectionKind(9)} {
		if s.String() == "" {
			t.Errorf("%#v has no name", s)
		}
	}
}

// bigWorld has n sites at random points, all pairs linked, and n/2
// two-site groups of one class.
func bigWorld(n int, budget time.Duration) *File {
	rng := rand.New(rand.NewPCG(13, 14))
	f := &File{Version: 1, Cluster: "big"}
	type pt struct{ x, y float64 }
	pts := make([]pt, n)
	for i := range n {
		pts[i] = pt{rng.Float64() * 300, rng.Float64() * 300}
		id := fmt.Sprintf("n%d", i)
		f.Sites = append(f.Sites, Site{Name: fmt.Sprintf("s%02d", i), Multicast: fmt.Sprintf("239.192.%d.1", i), QUIC: "gw.example.net:7400", Nodes: []Node{{ID: id}}, Gateways: []string{id}})
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			rtt := (1 + math.Hypot(pts[i].x-pts[j].x, pts[i].y-pts[j].y)) * float64(time.Millisecond)
			f.Links = append(f.Links, Link{Between: []string{f.Sites[i].Name, f.Sites[j].Name}, RTT: Duration(rtt)})
		}
	}
	f.Classes = []Class{{Name: "c", Budget: Duration(budget)}}
	for g := range n / 2 {
		f.Groups = append(f.Groups, Group{Name: fmt.Sprintf("g%d", g), Class: "c", Sites: []string{f.Sites[2*g].Name, f.Sites[2*g+1].Name}})
	}
	return f
}

// TestPlanLimits plans the largest world the planner accepts under budgets
// that make it merge little, much and everything, and checks that a bigger
// one is refused with a reason.
func TestPlanLimits(t *testing.T) {
	for _, budget := range []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, time.Hour} {
		start := time.Now()
		p := bigWorld(MaxSites, budget).Plan()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("planning %d sites with budget %v took %v", MaxSites, budget, d)
		}
		if budget == time.Hour && (len(p.Domains) != MaxSites+1 || len(p.Rejections) != 0) {
			t.Errorf("with an unlimited budget: %d domains, %d rejections; want every site in one federation domain", len(p.Domains), len(p.Rejections))
		}
	}
	p := bigWorld(MaxSites+1, time.Hour).Plan()
	if len(p.Rejections) != 1 || p.Rejections[0].Kind != RejectLimit || len(p.Domains) != 0 {
		t.Errorf("too many sites: rejections %+v, %d domains", p.Rejections, len(p.Domains))
	}
}

// TestPlanShowsStripes: a link's stripes (links[].stripes) reach the plan's
// link, its JSON and its table (atoll plan); a derived link has none.
func TestPlanShowsStripes(t *testing.T) {
	src := strings.Replace(mustRead(t, "../deploy/examples/hub-and-spoke.yaml"), "between: [hub, sao], rtt:", "stripes: 4, between: [hub, sao], rtt:", 1)
	src = strings.Replace(src, "between: [hub, lon], rtt:", "stripes: 1, between: [hub, lon], rtt:", 1)
	if !strings.Contains(src, "stripes: 4") || !strings.Contains(src, "stripes: 1") {
		t.Fatal("set-up: no hub–sao or hub–lon link in hub-and-spoke.yaml")
	}
	p := mustParse(t, src).Plan()
	for _, l := range p.Links {
		want := 0
		switch l.Between {
		case [2]string{"hub", "sao"}:
			want = 4
		case [2]string{"hub", "lon"}: // declared 1: one connection, not the transport's default
			want = 1
		}
		if l.Stripes != want {
			t.Errorf("link %v: %d stripes, want %d", l.Between, l.Stripes, want)
		}
	}
	var table, js strings.Builder
	if err := p.Write(&table, FormatTable); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(&js, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "4 QUIC stripes"); n != 1 || !strings.Contains(js.String(), `"stripes": 4`) || strings.Count(table.String(), "1 QUIC connection") != 1 {
		t.Errorf("the plan shows the stripes %d times in its table (want 1), JSON has them: %v\n%s", n, strings.Contains(js.String(), `"stripes": 4`), table.String())
	}
}
