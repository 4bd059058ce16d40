package agent

import (
	"testing"

	"github.com/atoll-gcs/atoll/topology"
)

// TestP2PDomain: a point-to-point message between two sites is ordered in
// the first federation domain of the plan that holds both, the tightest
// class's (a and b share a regional and a global domain: the regional
// one); none when no domain holds both.
func TestP2PDomain(t *testing.T) {
	const yaml = `version: 1
cluster: p2p
classes:
  - {name: regional, budget: 100ms}
  - {name: global, budget: 30s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405"], quic: "10.1.0.1:7000", nodes: [{id: a-1}], gateways: [a-1]}
  - {name: b, unicast: ["10.2.0.1:5405"], quic: "10.2.0.1:7000", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], quic: "10.3.0.1:7000", nodes: [{id: c-1}], gateways: [c-1]}
  - {name: d, unicast: ["10.4.0.1:5405"], quic: "10.4.0.1:7000", nodes: [{id: d-1}], gateways: [d-1]}
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: 200ms}
  - {between: [b, c], rtt: 200ms}
  - {between: [a, d], rtt: 200ms}
groups:
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: [a, b, c]}
`
	f, err := topology.Parse("p2p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	if len(plan.Rejections) > 0 {
		t.Fatalf("plan rejections: %+v", plan.Rejections)
	}
	for _, c := range []struct{ from, to, want string }{
		{"a", "b", "fed/regional:a+b"},
		{"b", "a", "fed/regional:a+b"},
		{"a", "c", "fed/global:a+b+c"},
		{"c", "b", "fed/global:a+b+c"},
		{"a", "d", ""},
		{"d", "c", ""},
	} {
		got := ""
		if d := p2pDomain(plan, c.from, c.to); d != nil {
			got = d.Name
		}
		if got != c.want {
			t.Errorf("p2pDomain(%s, %s) = %q, want %q", c.from, c.to, got, c.want)
		}
	}
	if d := p2pDomain(nil, "a", "b"); d != nil {
		t.Errorf("p2pDomain without a plan = %s", d.Name)
	}
}
