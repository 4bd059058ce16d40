package agent_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// The log lines of the two ways a gateway whose grace Keep holds its
// member resumes its term (agent/handover.go).
const (
	healedLine = "this gateway's local ring holds every node of its site it lost, while its federation ring member, held, reaches no other site: it resumes with a new member"
	fencedLine = "this gateway's federation ring member was fenced by another gateway of its site that was active in an older local ring configuration, and its local ring still makes it active: it resumes with a new member"
)

// resumedAt reports whether a node applied a resumption of a-1's term
// (Role.Resume, at the delivery of the request a-1 submitted on its
// local ring): a member a-1 started at a later local ring configuration
// is none.
func resumedAt(w *sites.World) bool {
	return slices.ContainsFunc(strings.Split(w.Logs(), "\n"), func(l string) bool {
		return strings.Contains(l, "the active gateway resumes its term: a new federation ring member") && strings.Contains(l, "gateway=a-1")
	})
}

// keepWorld starts yaml's two sites (handoverYAML's shape: a-1 the
// first gateway of site a, b-1 site b's), with every node's client in
// group orders, and returns the world, the domain and a function that
// gives a node's federation ring member's status (ok false: it runs
// none).
func keepWorld(t *testing.T, yaml string) (*sites.World, string, func(id string) (gateway.Stats, bool)) {
	t.Helper()
	w := sites.NewForTest(t, sites.Config{Topology: []byte(yaml), FedTrace: true})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w.JoinForTest(ctx, t, "orders", w.Nodes()...)
	dom := w.Node("a-1").Agent().Status().Domains[0].Domain
	member := func(id string) (gateway.Stats, bool) {
		for _, r := range w.Node(id).Agent().Status().Federation {
			if r.Domain == dom {
				return r, true
			}
		}
		return gateway.Stats{}, false
	}
	return w, dom, member
}

// soloGrace is gateway.SoloGrace of w's domain dom.
func soloGrace(w *sites.World, dom string) time.Duration {
	for _, d := range w.Plan().FederationDomains() {
		if d.Name == dom {
			return gateway.SoloGrace(federation.RingConfig(w.File(), d))
		}
	}
	return 0
}

// missing waits until node id's local ring lacks exactly the nodes want
// (none: whole).
func missing(t *testing.T, w *sites.World, id string, want ...string) {
	t.Helper()
	waitLong(t, id+"'s local ring without "+strings.Join(want, ", "), 30*time.Second, func() bool {
		m := slices.Sorted(slices.Values(w.Node(id).Agent().Status().Missing))
		return slices.Equal(m, want)
	})
}

// afterHeal checks the end of a keep-hold test: every node of both sites
// comes to one domain configuration once a-1's links healed, every
// client gets every message sent then, and the agents' and the
// federation rings' traces pass the EVS checker.
func afterHeal(t *testing.T, w *sites.World, dom string) {
	t.Helper()
	ids := w.Nodes()
	if err := w.WaitDomain(dom, ids, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(sites.Load{Phase: "after", Senders: ids, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: 20}); err != nil {
		t.Fatal(err)
	}
	if c := w.Count("after", ids, 30*time.Second); !c.OK() || c.Sent != 20*len(ids) {
		t.Errorf("after a-1's links healed: %v", c)
	}
	checkTraces(t, w, true)
}

// TestKeptHoldHealed: site a's active gateway a-1 is cut off from the
// rest of its site (a-2, a-3) and from every other site; a-2 takes over
// in the rest and its member joins b. a-1 stays active in its ring alone
// (bridge Site.CutOff), and its grace Keep holds its member's ring of a
// alone. Its site's ring whole again, with the role at a-1 and its links
// still cut, a-1 ends the held member and resumes its term with a new
// one (Agent.resumeHealed, asked at the local ring's install: a new
// incarnation, above a-2's), and once that member's grace is over with
// no other site found, a's nodes go on alone, in one domain configuration
// of the three of them, where a-2's messages reach a-1 and a-3. With the
// links healed, both sites come to one configuration again and every
// client gets every message. Without the resumption a stays held out of
// the domain until a-1's links heal: a-1 keeps its held member.
func TestKeptHoldHealed(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs two sites and a federation ring over QUIC")
	w, dom, member := keepWorld(t, handoverYAML)
	first, other := cutOffHeld(t, w, member)
	if !waitLong(t, "", 10*time.Second, func() bool {
		return strings.Contains(w.Logs(), "applies nothing of the domain until its member reaches another site")
	}) {
		t.Fatal("a-1's grace Keep does not hold its ring of a alone (no log line says so): the test does not cover the case")
	}
	if strings.Contains(w.Logs(), healedLine) {
		t.Fatal("a-1 resumed before its site's ring was whole again")
	}

	// The local ring whole again, the links still cut: a-1 resumes.
	w.HealLAN("a")
	missing(t, w, "a-1")
	var resumed gateway.Stats
	if !waitLong(t, "", 20*time.Second, func() bool {
		r, ok := member("a-1")
		resumed = r
		return ok && r.Incarnation != first.Incarnation
	}) {
		r, _ := member("a-1")
		t.Fatalf("a-1 runs member %#x (held: %#x) %v after its site's ring was whole again: it did not resume its term", r.Incarnation, first.Incarnation, r.Members)
	}
	if resumed.Incarnation <= other.Incarnation {
		t.Errorf("a-1 resumed with incarnation %#x, not above a-2's %#x", resumed.Incarnation, other.Incarnation)
	}
	if !strings.Contains(w.Logs(), healedLine) || !resumedAt(w) {
		t.Error("no log line says a-1 resumed at its site's ring whole again")
	}
	if _, ok := member("a-2"); ok {
		t.Error("a-2 still runs a federation ring member with the role at a-1")
	}

	// The new member's grace over, a goes on alone in the domain.
	as := w.SiteNodes("a")
	if err := w.WaitDomain(dom, as, soloGrace(w, dom)+30*time.Second); err != nil {
		t.Fatalf("site a did not go on alone: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := w.Send(ctx, "a-2", "orders", "alone")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range as {
		waitLong(t, id+" delivers a-2's message while a is alone", 30*time.Second, func() bool { return w.Node(id).Got(p) == 1 })
	}

	w.MendGateway("a-1")
	afterHeal(t, w, dom)
}

// oneGatewayYAML is handoverYAML with a-1 the only gateway of site a.
var oneGatewayYAML = strings.Replace(handoverYAML, "gateways: [a-1, a-2]", "gateways: [a-1]", 1)

// TestKeptHoldHealedLater: a-1, the only gateway of site a, is cut off
// from the rest of its site (its grace Keep starts, nothing held: its
// member still reaches b); the site's ring is whole again, and only then
// are a-1's links cut: its member forms a ring of a alone after the local
// heal, within the Keep's grace, which holds it. No local ring install
// comes after it; a-1 asks gateway.Grace.Healed again once the grace
// holds that ring (takeFederation) and resumes its term with a new
// member, and a goes on alone once that member's grace is over. Asked
// at local ring installs only, a stayed held until a-1's links healed.
func TestKeptHoldHealedLater(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs two sites and a federation ring over QUIC")
	w, dom, member := keepWorld(t, oneGatewayYAML)
	first, ok := member("a-1")
	if !ok {
		t.Fatal("a-1 runs no federation ring member")
	}
	if err := w.SplitLAN([]string{"a-1"}, []string{"a-2", "a-3"}); err != nil {
		t.Fatal(err)
	}
	missing(t, w, "a-1", "a-2", "a-3")
	w.HealLAN("a")
	missing(t, w, "a-1")
	w.CutGateway("a-1")
	cut := time.Now()
	if !waitLong(t, "", 30*time.Second, func() bool {
		return strings.Contains(w.Logs(), "applies nothing of the domain until its member reaches another site")
	}) {
		t.Fatal("a-1's grace Keep does not hold its ring of a alone (no log line says so): the test does not cover the case")
	}
	var resumed gateway.Stats
	if !waitLong(t, "", 20*time.Second, func() bool {
		r, ok := member("a-1")
		resumed = r
		return ok && r.Incarnation != first.Incarnation
	}) {
		r, _ := member("a-1")
		t.Fatalf("a-1 runs member %#x (held: %#x) %v %v after its links were cut: it did not resume its term", r.Incarnation, first.Incarnation, r.Members, time.Since(cut))
	}
	if resumed.Incarnation <= first.Incarnation {
		t.Errorf("a-1 resumed with incarnation %#x, not above its held member's %#x", resumed.Incarnation, first.Incarnation)
	}
	if !strings.Contains(w.Logs(), healedLine) || !resumedAt(w) {
		t.Error("no log line says a-1 resumed with its site's ring whole")
	}
	as := w.SiteNodes("a")
	if err := w.WaitDomain(dom, as, soloGrace(w, dom)+30*time.Second); err != nil {
		t.Fatalf("site a did not go on alone: %v", err)
	}
	w.MendGateway("a-1")
	afterHeal(t, w, dom)
}

// TestKeptHoldFenced: a-1 is cut off from the rest of its site and from
// every other site, and its grace Keep holds its member's ring of a
// alone while a-2's member speaks for a with b. Then a-1's local ring
// gets a-2 back but not a-3 (the role is a-1's again, a-2 stops its
// member; the hold stays: gateway.Grace.Healed wants every node lost),
// and a-1's links heal: b, which knows a-2's newer incarnation, fences
// the held member, and a-1, still active, resumes its term with a new
// member above a-2's (Agent.resumeFenced). Without the resumption a had
// no gateway in the domain until its local ring changed again.
func TestKeptHoldFenced(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs two sites and a federation ring over QUIC")
	w, dom, member := keepWorld(t, handoverYAML)
	first, other := cutOffHeld(t, w, member)
	if err := w.SplitLAN([]string{"a-1", "a-2"}, []string{"a-3"}); err != nil {
		t.Fatal(err)
	}
	missing(t, w, "a-1", "a-3")
	waitLong(t, "a-2 stops its member", 20*time.Second, func() bool { _, ok := member("a-2"); return !ok })
	if h, ok := member("a-1"); !ok || h.Incarnation != first.Incarnation {
		t.Fatalf("a-1 runs member %#x (%v), want its held one %#x: with a-3 away its hold must stay", h.Incarnation, ok, first.Incarnation)
	}
	w.MendGateway("a-1")
	if !waitLong(t, "", 30*time.Second, func() bool {
		r, ok := member("a-1")
		return ok && r.Incarnation > other.Incarnation && r.State == "operational" && slices.Equal(r.Members, []string{"a", "b"})
	}) {
		r, ok := member("a-1")
		t.Fatalf("a-1 runs member %#x (%v) %v after its links healed, want a new one above a-2's %#x in a ring with b: it did not resume after the fence", r.Incarnation, ok, r.Members, other.Incarnation)
	}
	if !strings.Contains(w.Logs(), fencedLine) || !resumedAt(w) {
		t.Error("no log line says a-1 resumed after the fence (a member a-1 started at a later local ring configuration is no resumption)")
	}
	if strings.Contains(w.Logs(), healedLine) {
		t.Error("a-1 resumed at a local heal: a-3 was away")
	}
	w.HealLAN("a")
	afterHeal(t, w, dom)
}

// cutOffHeld cuts a-1, site a's active gateway, off from the rest of its
// site (a-2, a-3), the local ring first so that its grace Keep is on
// before its member loses the other sites, then from every other site,
// and waits for a-2's member in a ring with b and a-1's held member in a
// ring of a alone. It returns a-1's member before the cut (held) and
// a-2's.
func cutOffHeld(t *testing.T, w *sites.World, member func(string) (gateway.Stats, bool)) (first, other gateway.Stats) {
	t.Helper()
	first, ok := member("a-1")
	if !ok {
		t.Fatal("a-1 runs no federation ring member")
	}
	if err := w.SplitLAN([]string{"a-1"}, []string{"a-2", "a-3"}); err != nil {
		t.Fatal(err)
	}
	missing(t, w, "a-1", "a-2", "a-3")
	w.CutGateway("a-1")
	waitLong(t, "a-2's member in a ring with b, and a-1's held member in a ring of a alone", 30*time.Second, func() bool {
		o, ok2 := member("a-2")
		h, ok1 := member("a-1")
		other = o
		return ok1 && ok2 && h.Incarnation == first.Incarnation && slices.Equal(h.Members, []string{"a"}) &&
			o.State == "operational" && slices.Equal(o.Members, []string{"a", "b"})
	})
	return first, other
}
