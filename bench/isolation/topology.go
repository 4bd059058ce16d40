package isolation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/topology"
)

// The benchmark's groups, one per latency class.
const (
	ALocal     = "a-local"     // class realtime, site a only
	ABRegional = "ab-regional" // class regional, sites a and b
	ABCGlobal  = "abc-global"  // class global, sites a, b and c
)

// Groups are the benchmark's groups, tightest class first.
var Groups = []string{ALocal, ABRegional, ABCGlobal}

// groupSites are the sites of each group.
var groupSites = map[string][]string{ALocal: {"a"}, ABRegional: {"a", "b"}, ABCGlobal: {"a", "b", "c"}}

// siteNodes are the nodes of each site.
var siteNodes = map[string][]string{"a": {"a-1", "a-2", "a-3"}, "b": {"b-1", "b-2", "b-3"}, "c": {"c-1", "c-2"}}

// wantDomain is the domain the plan must put each group in.
var wantDomain = map[string]string{ALocal: "site/a", ABRegional: "fed/regional:a+b", ABCGlobal: "fed/global:a+b+c"}

// topologyYAML is the benchmark's topology. The budgets are chosen so
// that the planner puts a-local in site a's ring (its 2 ms budget fits a
// local ring, never a WAN link), ab-regional in a federation domain of a
// and b (40 ms fits the 10 ms link, not the 200 ms ones) and abc-global in
// one of a, b and c. The links to c declare the bandwidth cap the relay
// enforces; the global class's throughput stays under it, as the planner
// requires, and the saturation phase offers more than the cap. The QUIC
// endpoints are placeholders: the world of sites gives every site and
// federation domain its own loopback port.
const topologyYAML = `version: 1
cluster: isolation
classes:
  - {name: realtime, budget: 2ms}
  - {name: regional, budget: 40ms}
  - {name: global, budget: 1s, throughput: %s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"]
    quic: "127.0.0.1:1"
    nodes: [{id: a-1}, {id: a-2}, {id: a-3}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405", "10.2.0.3:5405"]
    quic: "127.0.0.1:2"
    nodes: [{id: b-1}, {id: b-2}, {id: b-3}]
    gateways: [b-1]
  - name: c
    unicast: ["10.3.0.1:5405", "10.3.0.2:5405"]
    quic: "127.0.0.1:3"
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: 200ms, bandwidth: %s}
  - {between: [b, c], rtt: 200ms, bandwidth: %s}
groups:
  - {name: a-local, class: realtime, sites: [a]}
%s  - {name: abc-global, class: global, sites: [a, b, c]}
`

// Topology returns the benchmark's topology file with the bandwidth cap
// of the links to c in bits per second, and the groups in groups (ALocal
// and ABCGlobal always; ABRegional when listed).
func Topology(capBits int64, groups []string) []byte {
	regional := ""
	if slices.Contains(groups, ABRegional) {
		regional = "  - {name: ab-regional, class: regional, sites: [a, b]}\n"
	}
	bw := fmt.Sprintf("%dbit/s", capBits)
	return fmt.Appendf(nil, topologyYAML, fmt.Sprintf("%dbit/s", capBits/2), bw, bw, regional)
}

// Plan parses the topology and checks that the planner put every group
// where the benchmark needs it: a-local in site a's ring, ab-regional in
// a federation domain of a and b, abc-global in one of a, b and c.
func Plan(yaml []byte, groups []string) (*topology.File, *topology.Plan, error) {
	f, err := topology.Parse("isolation.yaml", yaml)
	if err != nil {
		return nil, nil, fmt.Errorf("isolation: the benchmark's topology: %w", err)
	}
	p := f.Plan()
	if len(p.Rejections) > 0 {
		return nil, nil, fmt.Errorf("isolation: the planner rejected part of the benchmark's topology: %+v", p.Rejections)
	}
	var bad []string
	for _, g := range groups {
		pc, ok := p.Lookup(g)
		if !ok || pc.Domain != wantDomain[g] {
			got := "no domain"
			if ok {
				got = pc.Domain
			}
			bad = append(bad, fmt.Sprintf("%s in %s, not %s", g, got, wantDomain[g]))
		}
	}
	if len(bad) > 0 {
		return nil, nil, fmt.Errorf("isolation: the plan does not place the groups as the benchmark needs (%s); fix the benchmark's topology (bench/isolation/topology.go)", strings.Join(bad, "; "))
	}
	return f, p, nil
}

// members returns the nodes of group's sites.
func members(group string) []string {
	var out []string
	for _, s := range groupSites[group] {
		out = append(out, siteNodes[s]...)
	}
	return out
}

// allNodes returns every node, in site order.
func allNodes() []string { return members(ABCGlobal) }
