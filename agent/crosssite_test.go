package agent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
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
func TestCrossSiteGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sites and a federation ring over QUIC")
	}
	if sites.RaceEnabled {
		// Six agents and three federation members in one process, with
		// the race detector's slowdown, miss federation tokens (202 ms
		// timeout) under load: the domain then re-forms again and again,
		// which is the failover and merge path (issue 9 item 4), not what
		// this test judges.
		t.Skip("judges a real-time federation ring: runs without the race detector only")
	}
	w := sites.NewForTest(t, sites.Config{Topology: []byte(crossSiteYAML), FedTrace: true})
	if err := w.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitDomains(45 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := w.Nodes()
	if err := w.Join(ctx, "orders", ids...); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", ids, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	st := w.Node("b-2").Agent().Status()
	if len(st.Domains) != 1 || st.Domains[0].Role != "member" || st.Domains[0].Active != "b-1" || st.PlanHash == "" {
		t.Errorf("b-2's status: plan %q, domains %+v", st.PlanHash, st.Domains)
	}
	if st := w.Node("a-1").Agent().Status(); len(st.Domains) != 1 || st.Domains[0].Role != "active gateway" {
		t.Errorf("a-1's status: domains %+v", st.Domains)
	}

	// What is refused across sites, with an error the client can act on.
	b1 := w.Node("b-1")
	refused := func(what, text string, send func(*client.Client) error) {
		t.Helper()
		err := send(b1.Client())
		if err == nil {
			err = b1.Client().Flush(ctx)
		}
		deadline := time.Now().Add(10 * time.Second)
		for err == nil || !strings.Contains(err.Error(), text) {
			if i := slices.IndexFunc(b1.Errors(), func(e string) bool { return strings.Contains(e, text) }); i >= 0 {
				err = fmt.Errorf("%s", b1.Errors()[i])
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not refused with %q (got %v)", what, text, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	refused("a point-to-point message to a member at another site", "point-to-point messages to a member at another site are not supported", func(c *client.Client) error {
		return c.Send(ctx, "a-2:app", client.Agreed, 0, []byte("p2p"))
	})
	refused("a Safe multicast to a group across sites", "safe service is not supported across sites", func(c *client.Client) error {
		return c.Multicast(ctx, client.Safe, 0, []string{"orders"}, []byte("safe"))
	})

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

	// a's active gateway stops; b and c go on multicasting: their clients,
	// which stay connected, get every message of theirs once.
	if err := w.Stop("a-1"); err != nil {
		t.Fatal(err)
	}
	phase("failover", []string{"b-1", "b-2", "c-1", "c-2"}, 60)

	// a-2 takes over for a: a comes back into the domain (a partition and
	// a merge for it), and every client that stayed connected gets every
	// message of every one of them once.
	live := []string{"a-2", "b-1", "b-2", "c-1", "c-2"}
	if err := w.WaitView("orders", live, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	phase("merged", live, 40)
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

	res, err := w.Check()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("agents' traces: %d lines by domain %v", res.Events, res.ByDomain)
	if len(res.Violations) > 0 {
		t.Errorf("EVS violations in the agents' traces: %v", res.Violations)
	}
	fed, err := w.CheckFederation()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("federation rings' traces: %d lines by domain %v", fed.Events, fed.ByDomain)
	if len(fed.Violations) > 0 {
		t.Errorf("EVS violations in the federation rings' traces: %v", fed.Violations)
	}
}
