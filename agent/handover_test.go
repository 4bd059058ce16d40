package agent_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// handoverYAML is two sites: a has three nodes, two of them gateways (a-1
// active, a-2 standby), b two nodes, one gateway. Group orders spans both.
const handoverYAML = `version: 1
cluster: ho
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"]
    nodes: [{id: a-1}, {id: a-2}, {id: a-3}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405"]
    nodes: [{id: b-1}, {id: b-2}]
    gateways: [b-1]
links:
  - {between: [a, b], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

// TestHandover runs two sites (internal/sites) with a client at every
// node in group orders, which spans both, all multicasting every 5 ms,
// while an operator at a-3 (not a gateway) hands site a's gateway role
// from a-1 to a-2, and back (the next in takeover order). Each handover
// answers with who the role moved from and to once it took effect; the
// new gateway runs a federation member of a higher incarnation, the old
// one none; every node's status names the new one. No client gets a
// message twice; every client gets every message but those delivered at
// the other site while the other site's view had no member of its site
// (the site leaves the domain's configuration and joins it again, as at a
// failover: EVS), and none of those; after the handovers every client
// gets every message; the agents' and the federation rings' traces pass
// the EVS checker.
func TestHandover(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs two sites and a federation ring over QUIC")
	var w *sites.World
	// gaps: the messages b-1 got while its regular view of orders had no
	// member at a, and a-3 while its regular view had none at b (sent in
	// a configuration without the other site: it must not deliver them);
	// trans: those it got in a transitional view without them (sent in
	// the regular view before, with the other site, which may or may not
	// deliver them: EVS 1.3); sent: every message delivered anywhere.
	var mu sync.Mutex
	gaps := map[string]map[string]bool{"b-1": {}, "a-3": {}}
	trans := map[string]map[string]bool{"b-1": {}, "a-3": {}}
	other := map[string]string{"b-1": "a-", "a-3": "b-"}
	sent := map[string]bool{}
	onDeliver := func(d sites.Delivery) {
		if d.Phase != "load" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		sent[d.Payload] = true
		if gaps[d.Node] == nil {
			return
		}
		vs := w.Node(d.Node).Views("orders") // the reader appends them before the deliveries that follow
		if v := vs[len(vs)-1:]; len(v) > 0 && !slices.ContainsFunc(v[0].Members, func(m string) bool { return strings.HasPrefix(m, other[d.Node]) }) {
			if v[0].Transitional {
				trans[d.Node][d.Payload] = true
			} else {
				gaps[d.Node][d.Payload] = true
			}
		}
	}
	w = sites.NewForTest(t, sites.Config{Topology: []byte(handoverYAML), FedTrace: true, OnDeliver: onDeliver})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ids := w.Nodes()
	w.JoinForTest(ctx, t, "orders", ids...)
	a3 := w.Node("a-3").Agent()
	dom := a3.Status().Domains[0].Domain
	incOf := func(id string) uint64 {
		for _, r := range w.Node(id).Agent().Status().Federation {
			if r.Domain == dom {
				return r.Incarnation
			}
		}
		return 0
	}
	inc := incOf("a-1")
	if inc == 0 {
		t.Fatal("a-1 runs no federation ring member")
	}

	gen := w.Load(sites.Load{Phase: "load", Senders: ids, Groups: []string{"orders"}, Every: 5 * time.Millisecond})
	stopped := false
	defer func() {
		if !stopped {
			gen.Stop()
		}
	}()
	for i, want := range [][2]string{{"a-1", "a-2"}, {"a-2", "a-1"}} {
		waitLong(t, "messages sent before the handover", 30*time.Second, func() bool { return gen.Sent() >= 100*(i+1) })
		to := want[1]
		if i == 1 {
			to = "" // the next in takeover order: back to a-1
		}
		r, err := a3.Handover(ctx, dom, to)
		if err != nil {
			t.Fatalf("handover %d: %v", i+1, err)
		}
		// The epoch counts the handovers of the local configuration: a
		// configuration change between the two (a token loss under load)
		// starts it again.
		if !r.Agreed || r.From != want[0] || r.To != want[1] || r.Site != "a" || r.Epoch < 1 || r.LocalRing == "" {
			t.Errorf("handover %d: %+v, want it took effect, from %s to %s", i+1, r, want[0], want[1])
		}
		waitLong(t, want[1]+" runs the federation ring member and "+want[0]+" none", 30*time.Second, func() bool {
			return incOf(want[1]) > 0 && incOf(want[0]) == 0
		})
		if got := incOf(want[1]); got <= inc || got != r.Incarnation {
			t.Errorf("handover %d: %s's incarnation %#x, want %#x, above %#x", i+1, want[1], got, r.Incarnation, inc)
		}
		inc = incOf(want[1])
		for _, id := range ids {
			// The status is a snapshot the loop publishes after its pass.
			if !waitLong(t, "", 5*time.Second, func() bool {
				ds := w.Node(id).Agent().Status().Domains
				return len(ds) == 1 && (id[0] != 'a' || ds[0].Active == want[1] && ds[0].Handover == "")
			}) {
				t.Errorf("handover %d: %s's domain status %+v, want a's active gateway %s", i+1, id, w.Node(id).Agent().Status().Domains, want[1])
			}
		}
		if err := w.WaitDomain(dom, ids, 45*time.Second); err != nil {
			t.Fatalf("handover %d: %v", i+1, err)
		}
	}
	if _, err := a3.Handover(ctx, dom, "a-1"); !errors.Is(err, federation.ErrHandoverRefused) || !strings.Contains(err.Error(), "a-1 is the active gateway already") {
		t.Errorf("a handover to the active gateway: %v", err)
	}
	waitLong(t, "messages sent after the handovers", 30*time.Second, func() bool { return gen.Sent() >= 300 })
	stopped = true
	if err := gen.Stop(); err != nil {
		t.Fatal(err)
	}

	// Every message reaches some client (those the new gateway resubmits
	// come down once it joined the other site).
	if !waitLong(t, "", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) >= gen.Sent()
	}) {
		mu.Lock()
		t.Errorf("%d messages delivered somewhere, %d sent", len(sent), gen.Sent())
		mu.Unlock()
	}
	// Every client gets every message but those the other site got while
	// its view had no member of the receiver's site, and none of those it
	// got in a regular view without them.
	mu.Lock()
	all := slices.Sorted(maps.Keys(sent))
	mu.Unlock()
	for _, side := range []struct {
		receivers []string
		gap       string
	}{{[]string{"b-1", "b-2"}, "a-3"}, {[]string{"a-1", "a-2", "a-3"}, "b-1"}} {
		mu.Lock()
		skip, either := gaps[side.gap], trans[side.gap]
		mu.Unlock()
		var lost, dup, wrong int
		var missing []string
		waitLong(t, "", 30*time.Second, func() bool {
			lost, missing = 0, nil
			for _, id := range side.receivers {
				for _, p := range all {
					if !skip[p] && !either[p] && w.Node(id).Got(p) == 0 {
						lost++
						missing = append(missing, id+" lacks "+strings.Fields(p)[0])
					}
				}
			}
			return lost == 0
		})
		for _, id := range side.receivers {
			for _, p := range all {
				n := w.Node(id).Got(p)
				dup += max(n-1, 0)
				if skip[p] && n > 0 {
					wrong++
					missing = append(missing, id+" got "+strings.Fields(p)[0])
				}
			}
		}
		t.Logf("at %v: of %d messages, %d lost, %d duplicated; %d not delivered: the other site got them while its regular view had no member here; %d it got in a transitional view without them", side.receivers, len(all), lost, dup, len(skip), len(either))
		if lost > 0 || dup > 0 || wrong > 0 {
			t.Errorf("at %v: %d lost, %d duplicated, %d delivered that the other site got while its regular view had no member here (e.g. %v)", side.receivers, lost, dup, wrong, missing[:min(4, len(missing))])
		}
	}

	// After the handovers every client gets every message.
	if err := w.Run(sites.Load{Phase: "after", Senders: ids, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: 20}); err != nil {
		t.Fatal(err)
	}
	if c := w.Count("after", ids, 30*time.Second); !c.OK() || c.Sent != 20*len(ids) {
		t.Errorf("after the handovers: %v", c)
	}
	if evs := a3.Events(0); !slices.ContainsFunc(evs, func(e agent.MembershipEvent) bool { return e.Kind == agent.EventHandover && e.Member == "a-2" }) {
		t.Errorf("a-3's events have no handover to a-2: %+v", evs)
	}
	for _, id := range ids {
		st := w.Node(id).Agent().Status()
		for _, d := range st.Domains {
			// A node drops Downs that do not follow the last it applied
			// (bridge Stats.OutOfOrder) only after it missed some while
			// out of its local ring; on a loaded machine the site's ring
			// can lose its token during the run (the re-injection then
			// repairs the gap, which the counts above judge).
			outOfOrder := d.Bridge.OutOfOrder > 0 && st.Counters.TokenLosses == 0
			if d.Bridge.NotSafe > 0 || outOfOrder || d.Handover != "" {
				t.Errorf("%s: domain %+v (local ring's token losses: %d)", id, d, st.Counters.TokenLosses)
			}
		}
	}
	checkTraces(t, w, true)
}

// waitLong waits up to d for cond; after d it fails the test when what is
// not empty, and returns false.
func waitLong(t *testing.T, what string, d time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if what != "" {
				t.Fatalf("timed out after %s waiting for %s", d, what)
			}
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
