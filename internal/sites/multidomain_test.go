package sites_test

import (
	"context"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
)

// twoDomainsYAML is the isolation benchmark's world: a and b 10 ms apart,
// c 200 ms from both; ab-regional lives in fed/regional:a+b and abc-global
// in fed/global:a+b+c, so a and b are in both federation domains.
const twoDomainsYAML = `version: 1
cluster: twodom
classes:
  - {name: regional, budget: 100ms}
  - {name: global, budget: 30s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"], nodes: [{id: a-1}, {id: a-2}, {id: a-3}], gateways: [a-1, a-2]}
  - {name: b, unicast: ["10.2.0.1:5405", "10.2.0.2:5405", "10.2.0.3:5405"], nodes: [{id: b-1}, {id: b-2}, {id: b-3}], gateways: [b-1, b-2]}
  - {name: c, unicast: ["10.3.0.1:5405", "10.3.0.2:5405"], nodes: [{id: c-1}, {id: c-2}], gateways: [c-1, c-2]}
links:
  - {between: [a, b], rtt: 10ms, bandwidth: 100Mbit/s}
  - {between: [a, c], rtt: 200ms, bandwidth: 10Mbit/s}
  - {between: [b, c], rtt: 200ms, bandwidth: 10Mbit/s}
groups:
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: ["*"]}
`

// TestTwoDomainsShareSites: sites a and b are in two federation domains
// whose groups run under load at once, each domain with its own
// federation ring and its own active gateway per site. Every member gets
// every message of both groups once, unless it was apart from the sender
// (sites.Apart: a site's ring that splits under CPU load) or the sender
// got it in a transitional view (sites.DeliveredApart: a federation token
// lost under load); the traces pass the EVS checker with
// each domain's order; the bridges of both domains at a and b saw the
// other domain's messages on their local ring and took none of them.
func TestTwoDomainsShareSites(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs eight agents and two federation rings over the WAN emulator")
	w := sites.NewForTest(t, sites.Config{Topology: []byte(twoDomainsYAML), FedTrace: true})
	const reg, glob = "fed/regional:a+b", "fed/global:a+b+c"
	for _, d := range []string{reg, glob} {
		if _, ok := w.Plan().Domain(d); !ok {
			t.Fatalf("the plan has no domain %s", d)
		}
	}
	w.StartForTest(t, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all, ab := w.Nodes(), append(w.SiteNodes("a"), w.SiteNodes("b")...)
	for g, ids := range map[string][]string{"ab-regional": ab, "abc-global": all} {
		w.JoinForTest(ctx, t, g, ids...)
	}
	err := w.Run(
		sites.Load{Phase: "load", Senders: ab, Groups: []string{"ab-regional"}, Every: 20 * time.Millisecond, For: 3 * time.Second},
		sites.Load{Phase: "load", Senders: all, Groups: []string{"abc-global"}, Every: 50 * time.Millisecond, Size: 500, For: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := w.Count("load", all, 60*time.Second)
	t.Log(c)
	if c.Sent == 0 || !c.OK() {
		t.Errorf("%v", c)
	}
	lat := w.TakeLatencies()
	for _, g := range []string{"ab-regional", "abc-global"} {
		if len(lat[g]) == 0 {
			t.Errorf("no delivery of %s", g)
		}
	}
	for _, id := range ab {
		for _, d := range w.Node(id).Agent().Status().Domains {
			if st := d.Bridge; st.Malformed != 0 || st.OtherDomain == 0 || st.Applied == 0 {
				t.Errorf("%s, domain %s: bridge %+v: want its domain's Downs applied, the other domain's messages counted apart, none malformed", id, d.Domain, st)
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
	for _, d := range []string{reg, glob} {
		if res.ByDomain[d] == 0 {
			t.Errorf("no trace line of domain %s", d)
		}
	}
	fed, err := w.CheckFederation()
	if err != nil {
		t.Fatal(err)
	}
	if len(fed.Violations) > 0 {
		t.Errorf("EVS violations in the federation rings' traces: %v", fed.Violations)
	}
}
