package agent_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/internal/tracemap"
)

// crossSiteYAML is three sites of two nodes each; a has two gateways (a-1
// active, a-2 standby), b and c one each. Group orders spans every site;
// group a-only is not in the file, so it is local to its sender's site.
const crossSiteYAML = `version: 1
cluster: xs
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405"]
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405"]
    nodes: [{id: b-1}, {id: b-2}]
    gateways: [b-1]
  - name: c
    unicast: ["10.3.0.1:5405", "10.3.0.2:5405"]
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 2ms}
  - {between: [b, c], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

// TestCrossSiteGroup runs three sites' agents in this process (each
// site's local ring on a fake network, the federation ring over QUIC on
// loopback through the WAN emulator: internal/sites) with a client at
// every node in group orders, which spans the sites. Every client
// multicasts; the active gateway of site a stops in the middle of it, and
// a-2 takes over. Every client at b and c must get every message of every
// client that stayed connected exactly once; a-2's client gets its own;
// nobody gets a message twice; the domain's views reach every client with
// the same members; and the agents' traces pass the EVS checker, the
// domain's with its domain-wide order.
//
// Point-to-point messages to a member at another site (b-2 to a-2 in the
// steady state, c-1 to b-2 while the domain loses site a's gateway, a-2
// to c-2 once a is back), interleaved with the sender's multicasts to
// orders: the target gets each once, in the order sent among the
// sender's multicasts, and no other client gets them (p2pInterleaved);
// the traces have them, for the EVS checker, at every node of the domain.
func TestCrossSiteGroup(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs three sites and a federation ring over QUIC")
	var rec deliveries
	w := sites.NewForTest(t, sites.Config{Topology: []byte(crossSiteYAML), FedTrace: true, OnDeliver: rec.add})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := w.Nodes()
	w.JoinForTest(ctx, t, "orders", ids...)
	st := w.Node("b-2").Agent().Status()
	if len(st.Domains) != 1 || st.Domains[0].Role != "member" || st.Domains[0].Active != "b-1" || st.PlanHash == "" {
		t.Errorf("b-2's status: plan %q, domains %+v", st.PlanHash, st.Domains)
	}
	if st := w.Node("a-1").Agent().Status(); len(st.Domains) != 1 || st.Domains[0].Role != "active gateway" {
		t.Errorf("a-1's status: domains %+v", st.Domains)
	}

	// What is refused across sites, with an error the client can act on.
	b1 := w.Node("b-1")
	refused(ctx, t, b1, "a point-to-point message to a member of no group at another site", "a-2:nobody is a member of no group; point-to-point messages go to members as views list them (point-to-point messages from site b to site a go through federation domain fed/global:a+b+c", func(c *client.Client) error {
		return c.Send(ctx, "a-2:nobody", client.Agreed, 0, []byte("p2p"))
	})
	p2pInterleaved(ctx, t, w, &rec, "steady", "orders", "b-2", "a-2", client.Agreed, 20)
	// Safe: a Safe point-to-point message is Safe across the domain, as a
	// Safe multicast is, and keeps its order with the sender's multicasts.
	p2pInterleaved(ctx, t, w, &rec, "safe", "orders", "c-2", "b-1", client.Safe, 10)

	phase := func(name string, senders []string, count int) {
		t.Helper()
		if err := w.Run(sites.Load{Phase: name, Senders: senders, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: count}); err != nil {
			t.Fatal(err)
		}
		c := w.Count(name, senders, 30*time.Second)
		t.Log(c)
		if c.Sent != count*len(senders) || !c.OK() {
			t.Errorf("%v, want %d sent and nothing lost or duplicated for members that stayed connected", c, count*len(senders))
		}
	}
	// Steady state: every client multicasts, and every client gets every
	// message once.
	phase("steady", ids, 60)

	// Safe across sites: clients of two sites multicast Safe, and every
	// client of every site gets every message once, each only after every
	// site of the domain said its members hold it (the bridge's marks:
	// every node held them back until one came), judged with the rest by
	// the EVS checker below (7: a Safe message delivered in a regular
	// configuration reaches every member of it).
	safe := []string{"a-2", "c-1"}
	if err := w.Run(sites.Load{Phase: "safe", Senders: safe, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: 30, Service: client.Safe}); err != nil {
		t.Fatal(err)
	}
	if c := w.Count("safe", safe, 30*time.Second); c.Sent != 30*len(safe) || !c.OK() {
		t.Errorf("%v, want %d Safe messages sent and nothing lost or duplicated", c, 30*len(safe))
	} else {
		t.Log(c)
	}
	for _, id := range ids {
		// A ring change under a loaded host's stalls may end a
		// configuration first: its Safe messages are then delivered in
		// the transitional configuration (Bridge.SafeInTrans).
		if st := w.Node(id).Agent().Status(); len(st.Domains) != 1 || st.Domains[0].Bridge.SafeMarked == 0 {
			t.Errorf("%s: domains %+v: want the Safe messages held until a mark said every site holds them", id, st.Domains)
		}
	}

	// a's active gateway stops; b and c go on multicasting: their clients,
	// which stay connected, get every message of theirs once.
	if err := w.Stop("a-1"); err != nil {
		t.Fatal(err)
	}
	p2pInterleaved(ctx, t, w, &rec, "failover-a", "orders", "a-2", "b-1", client.Agreed, 20)
	p2pInterleaved(ctx, t, w, &rec, "failover", "orders", "c-1", "b-2", client.Agreed, 20)
	phase("failover", []string{"b-1", "b-2", "c-1", "c-2"}, 60)

	// a-2 takes over for a: a comes back into the domain (a partition and
	// a merge for it), and every client that stayed connected gets every
	// message of every one of them once.
	live := []string{"a-2", "b-1", "b-2", "c-1", "c-2"}
	if err := w.WaitView("orders", live, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	phase("merged", live, 40)
	merged := p2pInterleaved(ctx, t, w, &rec, "merged", "orders", "a-2", "c-2", client.Agreed, 20)
	if st := w.Node("a-2").Agent().Status(); len(st.Domains) != 1 || st.Domains[0].Role != "active gateway" {
		t.Errorf("a-2's status after the failover: %+v", st.Domains)
	}
	for _, id := range live {
		for _, d := range w.Node(id).Agent().Status().Domains {
			if d.Bridge.NotSafe > 0 {
				t.Errorf("%s: %d federation messages delivered below Safe (the bridge needs Safe to number alike at every site)", id, d.Bridge.NotSafe)
			}
		}
	}

	// The point-to-point messages are in the domain's traces, for the
	// checker: sent by a-2, delivered once at every node of the domain
	// (to a client at c-2 only), as a site's agents trace a local one.
	checkP2PLines(t, w, "a-2 to c-2", "a-2", "c-2", "fed/global:a+b+c", merged.direct, live, merged.complete)
	checkTraces(t, w, true)
}

// checkTraces runs the EVS checker over the agents' traces of w, and with
// fed over its federation rings' traces too, and fails on any violation.
func checkTraces(t *testing.T, w *sites.World, fed bool) {
	t.Helper()
	check := func(what string, read func() (sites.Result, error)) {
		t.Helper()
		res, err := read()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s' traces: %d lines by domain %v", what, res.Events, res.ByDomain)
		if len(res.Violations) > 0 {
			t.Errorf("EVS violations in the %s' traces: %v", what, res.Violations)
		}
	}
	check("agents", w.Check)
	if fed {
		check("federation rings", w.CheckFederation)
	}
}

// refused has node's client send with send, and waits until the agent
// refuses it with an error that contains text.
func refused(ctx context.Context, t *testing.T, n *sites.Node, what, text string, send func(*client.Client) error) {
	t.Helper()
	err := send(n.Client())
	if err == nil {
		err = n.Client().Flush(ctx)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err == nil || !strings.Contains(err.Error(), text) {
		if slices.ContainsFunc(n.Errors(), func(e string) bool { return strings.Contains(e, text) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not refused with %q (got %v; errors %q)", what, text, err, n.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveries records the payloads each node's client got, in order.
type deliveries struct {
	mu sync.Mutex
	by map[string][]string
}

func (d *deliveries) add(x sites.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = map[string][]string{}
	}
	d.by[x.Node] = append(d.by[x.Node], x.Payload)
}

// of returns the payloads node's client got that begin with prefix.
func (d *deliveries) of(node, prefix string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, p := range d.by[node] {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// p2pRound is what p2pInterleaved sent and how it went.
type p2pRound struct {
	direct []string // the point-to-point payloads, in the order sent
	// complete says the target's client got every message of the round;
	// otherwise the two were apart for some of it (separated counts the
	// messages it did not get).
	complete  bool
	separated int
}

// p2pInterleaved has from's client send n rounds of a multicast to group
// and a point-to-point message to to's client at level svc, and checks that
// to's client gets them once each, in the order sent, and that no other
// client gets a point-to-point message. As sites.Count, it excuses the
// messages to's client did not get when the two members were apart
// (sites.Apart, in either one's views of group) at some time from the
// first send on: EVS makes a member deliver what a sender sent only while
// the two stay connected, and a sender's agent refuses a point-to-point
// message to a member its views do not list (a host too loaded to keep
// its rings, or the sender's site going through its gateway's failover).
func p2pInterleaved(ctx context.Context, t *testing.T, w *sites.World, rec *deliveries, tag, group, from, to string, svc client.Service, n int) p2pRound {
	t.Helper()
	prefix := fmt.Sprintf("p2p-%s %s>%s ", tag, from, to)
	c := w.Node(from).Client()
	var want []string
	var r p2pRound
	start := time.Now()
	for i := range n {
		m, p := fmt.Sprintf("%smulticast %d", prefix, i), fmt.Sprintf("%sdirect %d", prefix, i)
		if err := c.MulticastWait(ctx, svc, 0, []string{group}, []byte(m)); err != nil {
			t.Fatalf("%s multicasts: %v", from, err)
		}
		if err := c.SendWait(ctx, w.Member(to), svc, 0, []byte(p)); err != nil {
			t.Fatalf("%s sends to %s: %v", from, w.Member(to), err)
		}
		want, r.direct = append(want, m, p), append(r.direct, p)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("%s flushes: %v", from, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.of(to, prefix)) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	got := rec.of(to, prefix)
	if !isSubsequence(got, want) {
		t.Errorf("%s: %s's client got %s's messages twice or out of the order sent:\n%s\nwant:\n%s", tag, to, from, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r.complete, r.separated = len(got) == len(want), len(want)-len(got)
	if now := time.Now(); !r.complete && !sites.Apart(w.Node(to).Views(group), w.Member(from), start, now, true) &&
		!sites.Apart(w.Node(from).Views(group), w.Member(to), start, now, true) {
		t.Errorf("%s: %s's client got %d of %s's messages, and the two stayed connected:\n%s\nwant each once, in the order sent:\n%s\n%s's client's errors: %q", tag, to, len(got), from, strings.Join(got, "\n"), strings.Join(want, "\n"), from, w.Node(from).Errors())
	} else if !r.complete {
		t.Logf("%s: %s's client got %d of %s's %d messages, in order; the rest not where the two were apart", tag, to, len(got), from, len(want))
	}
	for _, id := range w.Running() {
		if id == to {
			continue
		}
		for _, p := range r.direct {
			if k := w.Node(id).Got(p); k != 0 {
				t.Errorf("%s: %s's client got the point-to-point message %q for %s %d times", tag, id, p, to, k)
			}
		}
	}
	return r
}

// p2pLines counts, by domain and event ("DOMAIN deliver"), the lines of
// node id's trace of messages to no group with one of payloads.
func p2pLines(t *testing.T, w *sites.World, id string, payloads []string) map[string]int {
	t.Helper()
	hashes := map[string]bool{}
	for _, p := range payloads {
		hashes[tracemap.Hash([]byte(p))] = true
	}
	es, err := evs.ReadFile(filepath.Join(w.Dir(), id+".trace"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, e := range es {
		if hashes[e.Hash] && len(e.Groups) == 0 {
			lines[e.Domain+" "+e.Ev]++
		}
	}
	return lines
}

// twoP2PDomainsYAML has sites a and b in two federation domains (group
// ab-regional in fed/regional:a+b, abc-global in fed/global:a+b+c).
const twoP2PDomainsYAML = `version: 1
cluster: p2ptwo
classes:
  - {name: regional, budget: 100ms}
  - {name: global, budget: 30s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405"], nodes: [{id: a-1}], gateways: [a-1]}
  - {name: b, unicast: ["10.2.0.1:5405", "10.2.0.2:5405"], nodes: [{id: b-1}, {id: b-2}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], nodes: [{id: c-1}], gateways: [c-1]}
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 2ms}
  - {between: [b, c], rtt: 2ms}
groups:
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: ["*"]}
`

// TestCrossSiteP2PTwoDomains: point-to-point messages between two sites
// that share two federation domains go through the tightest class's
// (a to b: fed/regional:a+b), in order with the sender's multicasts to
// that domain's groups; also to a member listed only in the other
// domain's views (b-2 is only in abc-global); and between sites that
// share only the global domain (c to a), through it. Each reaches its
// target once and no other client; the traces show the domain and pass
// the EVS checker.
func TestCrossSiteP2PTwoDomains(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs three sites and two federation rings over QUIC")
	var rec deliveries
	w := sites.NewForTest(t, sites.Config{Topology: []byte(twoP2PDomainsYAML), OnDeliver: rec.add})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for g, ids := range map[string][]string{"ab-regional": {"a-1", "b-1"}, "abc-global": {"a-1", "b-2", "c-1"}} {
		w.JoinForTest(ctx, t, g, ids...)
	}
	const reg, glob = "fed/regional:a+b", "fed/global:a+b+c"
	ab := p2pInterleaved(ctx, t, w, &rec, "ab", "ab-regional", "a-1", "b-1", client.Agreed, 20)
	ca := p2pInterleaved(ctx, t, w, &rec, "ca", "abc-global", "c-1", "a-1", client.Agreed, 20)

	// b-2 is in no group of the regional domain: a-1's agent finds it in
	// the global domain's views, and sends through the regional one.
	c := w.Node("a-1").Client()
	start := time.Now()
	var other []string
	for i := range 10 {
		p := fmt.Sprintf("p2p-other a-1>b-2 direct %d", i)
		if err := c.SendWait(ctx, w.Member("b-2"), client.Agreed, 0, []byte(p)); err != nil {
			t.Fatal(err)
		}
		other = append(other, p)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.of("b-2", "p2p-other ")) < len(other) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	// As p2pInterleaved: what b-2 did not get is excused where a-1 and
	// b-2 were apart; b-2 has no view of the regional domain, its views
	// of abc-global (the same sites' rings and links) stand for it.
	got := rec.of("b-2", "p2p-other ")
	otherComplete := slices.Equal(got, other)
	if now := time.Now(); !otherComplete && (!isSubsequence(got, other) ||
		!sites.Apart(w.Node("b-2").Views("abc-global"), w.Member("a-1"), start, now, true) &&
			!sites.Apart(w.Node("a-1").Views("abc-global"), w.Member("b-2"), start, now, true)) {
		t.Errorf("b-2's client got %q, want %q (errors at a-1: %q)", got, other, w.Node("a-1").Errors())
	}
	for _, id := range []string{"a-1", "b-1", "c-1"} {
		for _, p := range other {
			if k := w.Node(id).Got(p); k != 0 {
				t.Errorf("%s's client got %q %d times", id, p, k)
			}
		}
	}

	checkTraces(t, w, false)
	checkP2PLines(t, w, "a-1 to b-1", "a-1", "b-1", reg, ab.direct, []string{"a-1", "b-1", "b-2"}, ab.complete)
	checkP2PLines(t, w, "a-1 to b-2", "a-1", "b-2", reg, other, []string{"a-1", "b-1", "b-2"}, otherComplete)
	checkP2PLines(t, w, "c-1 to a-1", "c-1", "a-1", glob, ca.direct, []string{"a-1", "b-1", "b-2", "c-1"}, ca.complete)
}

// checkP2PLines checks that the point-to-point messages from node from
// that to's client got are in the domain's traces, as the agents trace
// local point-to-point messages: sent at from, delivered once at to and
// at from, in domain and no other, and at the other nodes of the domain
// (nodes) once each when strict (the round was complete, nobody apart),
// else at most once.
func checkP2PLines(t *testing.T, w *sites.World, name, from, to, domain string, sent, nodes []string, strict bool) {
	t.Helper()
	var payloads []string
	for _, p := range sent {
		if w.Node(to).Got(p) > 0 {
			payloads = append(payloads, p)
		}
	}
	if len(payloads) == 0 {
		t.Logf("%s: no point-to-point message got through (the two were apart): no trace lines to check", name)
		return
	}
	for _, id := range nodes {
		got := p2pLines(t, w, id, payloads)
		want := map[string]int{domain + " " + evs.EvDeliver: len(payloads)}
		if id == from {
			want[domain+" "+evs.EvSend] = len(payloads)
		}
		if !strict && id != from && id != to && len(got) == 1 && got[domain+" "+evs.EvDeliver] <= len(payloads) {
			continue
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: %s's trace has %v lines of the %d point-to-point messages that got through, want %v", name, id, got, len(payloads), want)
		}
	}
}

// isSubsequence reports whether got is a subsequence of want: each once,
// in want's order.
func isSubsequence(got, want []string) bool {
	k := 0
	for _, p := range got {
		for k < len(want) && want[k] != p {
			k++
		}
		if k == len(want) {
			return false
		}
		k++
	}
	return true
}
