package sites_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/topology"
)

// TestFailoverKeepsConfiguration kills a site's active gateway (issue 9
// item 4): the site's members that stay connected must install no
// configuration of the domain without the other sites (a partition and a
// merge, in which they miss what the federation ordered after the last
// entry the old gateway brought down). Then the site is cut off as its
// gateway dies: its members must go on alone, and merge back when healed;
// the traces must pass the EVS checker.
//
// It failed, until two fixes: b's new gateway was kept out of the round
// its own join started (localring: TestFedTakeoverBound), and a, which
// dials b (the site whose name sorts first dials), kept its connection to
// the killed gateway until the idle timeout, so b's new gateway formed
// rings of b alone ([b-1 b-3], again and again) and went on alone in the
// domain after the grace (gateway.Runner redials when the ring hears of
// the new incarnation: transport.Redial).
func TestFailoverKeepsConfiguration(t *testing.T) {
	w, dom := startGlobal(t)
	without := func(ids []string, gone ...string) []string {
		return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(gone, id) })
	}
	all := w.Nodes()

	// b's active gateway killed: b's other members stay in the domain's
	// configurations with a and c.
	victim := activeGateway(t, w, "b", dom.Name)
	liveB := without(w.SiteNodes("b"), victim)
	at := traceSizes(t, w, liveB)
	if err := w.Kill(victim); err != nil {
		t.Fatal(err)
	}
	live := without(all, victim)
	if err := w.WaitDomain(dom.Name, live, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := activeGateway(t, w, "b", dom.Name); got == victim {
		t.Fatalf("%s is still b's active gateway", got)
	}
	others := slices.Concat(w.SiteNodes("a"), w.SiteNodes("c"))
	for _, id := range liveB {
		for _, c := range installsSince(t, w, id, at[id], dom.Name) {
			if slices.ContainsFunc(others, func(o string) bool { return !slices.Contains(c.Members, o) }) {
				t.Errorf("%s installed %s of %v after b's gateway died: a partition of b", id, c.ID, c.Members)
			}
		}
	}

	// a cut off as its active gateway dies: a's members go on alone, b
	// and c without a; healed, a merges back.
	victim = activeGateway(t, w, "a", dom.Name)
	if err := w.Isolate("a"); err != nil {
		t.Fatal(err)
	}
	if err := w.Kill(victim); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	live = without(live, victim)
	liveA := without(w.SiteNodes("a"), victim)
	if err := w.WaitDomain(dom.Name, liveA, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("a cut off as its gateway died: a's members alone after %v", time.Since(start).Round(time.Millisecond))
	if err := w.WaitDomain(dom.Name, without(live, liveA...), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := w.Rejoin("a"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitDomain(dom.Name, live, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	checkEVS(t, w)
}

// startGlobal starts worldYAML's sites, waits for their domains, and
// returns the world and its domain of the three sites. It skips with
// -short and under the race detector.
func startGlobal(t *testing.T) (*sites.World, *topology.Domain) {
	t.Helper()
	sites.SkipUnlessRealTime(t, "runs eight agents and a federation ring over the WAN emulator")
	w := sites.NewForTest(t, sites.Config{Topology: []byte(worldYAML)})
	var dom *topology.Domain
	for _, d := range w.Plan().FederationDomains() {
		if len(d.Sites) == 3 {
			dom = d
		}
	}
	if dom == nil {
		t.Fatal("no federation domain of the three sites in the plan")
	}
	w.StartForTest(t, 60*time.Second)
	return w, dom
}

// checkEVS runs the EVS checker over the world's traces and fails the
// test on a violation.
func checkEVS(t *testing.T, w *sites.World) {
	t.Helper()
	res, err := w.Check()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EVS check: %d trace lines %v", res.Events, res.ByDomain)
	if len(res.Violations) > 0 {
		t.Errorf("%d EVS violations, first %v", len(res.Violations), res.Violations[0])
	}
}

// traceSizes returns the sizes of the traces of ids.
func traceSizes(t *testing.T, w *sites.World, ids []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(w.Dir(), id+".trace"))
		if err != nil {
			t.Fatal(err)
		}
		out[id] = len(b)
	}
	return out
}

// installsSince returns the regular configurations of domain that node
// id's trace holds after offset from.
func installsSince(t *testing.T, w *sites.World, id string, from int, domain string) []evs.Conf {
	t.Helper()
	path := filepath.Join(w.Dir(), id+".trace")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1] // whole lines: the agent may be writing
	}
	es, err := evs.Read(bytes.NewReader(b[from:]), fmt.Sprintf("%s from %d", path, from))
	if err != nil {
		t.Fatal(err)
	}
	var out []evs.Conf
	for _, e := range es {
		if e.Ev == evs.EvInstall && e.Domain == domain && e.Conf.Kind == "reg" {
			out = append(out, *e.Conf)
		}
	}
	return out
}

// TestFailoverLastSite kills the active gateway of c, the site whose
// name sorts last, in the global domain: a and b dial c, and c's new
// gateway dials neither. Their connections to the killed gateway lasted
// until the QUIC idle timeout (15 s): no site heard of c's new
// incarnation to tell the others (gateway.Runner's redial), and c went on
// alone in the domain that long. c's new gateway announces itself
// (transport Config.Announce) to b (in this world a's gateways listen at
// ports of their own, which c cannot know: a learns of c's new gateway
// through b and redials), and the domain is whole again within seconds.
// The traces must pass the EVS checker.
func TestFailoverLastSite(t *testing.T) {
	w, dom := startGlobal(t)
	victim := activeGateway(t, w, "c", dom.Name)
	var live []string
	for _, id := range w.Nodes() {
		if id != victim {
			live = append(live, id)
		}
	}
	if err := w.Kill(victim); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Well below the 15 s idle timeout, with room for a loaded machine.
	const within = 8 * time.Second
	if err := w.WaitDomain(dom.Name, live, within); err != nil {
		t.Fatalf("after c's gateway %s was killed: %v", victim, err)
	}
	t.Logf("c's gateway %s killed: the global domain whole again after %v", victim, time.Since(start).Round(time.Millisecond))
	if got := activeGateway(t, w, "c", dom.Name); got == victim {
		t.Fatalf("%s is still c's active gateway", got)
	}
	checkEVS(t, w)
}
