package topology

import (
	"strings"
	"testing"
)

// threeSites puts a and b in two federation domains (regional a+b and
// global a+b+c) and c in one; b's port is set by the test.
const threeSites = `version: 1
cluster: ports
classes:
  - {name: regional, budget: 100ms}
  - {name: global, budget: 2s}
sites:
  - {name: a, multicast: 239.192.1.1, quic: "gw.a.example.net:7400", nodes: [{id: a-1}, {id: a-2, quic: "10.1.0.2:7500"}], gateways: [a-1, a-2]}
  - {name: b, multicast: 239.192.2.1, quic: "gw.b.example.net:BPORT", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, multicast: 239.192.3.1, quic: "gw.c.example.net:7400", nodes: [{id: c-1}], gateways: [c-1]}
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: 200ms}
  - {between: [b, c], rtt: 200ms}
groups:
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: ["*"]}
`

// Each federation domain of a site has its own QUIC port: the file's for
// the site's first, plus k for its k-th, for every gateway (a node's own
// endpoint too), in the plan's gateways and in GatewayEndpoint alike; a
// port that would pass 65535 is a rejection of the plan.
func TestGatewayEndpoints(t *testing.T) {
	f, err := Parse("ports.yaml", []byte(strings.Replace(threeSites, "BPORT", "7400", 1)))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Plan()
	if len(p.Rejections) != 0 {
		t.Fatalf("rejections: %+v", p.Rejections)
	}
	const reg, glob = "fed/regional:a+b", "fed/global:a+b+c"
	for _, c := range []struct {
		domain, node, want string
		k                  int
	}{
		{reg, "a-1", "gw.a.example.net:7400", 0},
		{glob, "a-1", "gw.a.example.net:7401", 1},
		{reg, "a-2", "10.1.0.2:7500", 0},
		{glob, "a-2", "10.1.0.2:7501", 1},
		{reg, "b-1", "gw.b.example.net:7400", 0},
		{glob, "b-1", "gw.b.example.net:7401", 1},
		{glob, "c-1", "gw.c.example.net:7400", 0},
	} {
		s, _, _ := f.Node(c.node)
		if k := p.SiteDomainIndex(c.domain, s.Name); k != c.k {
			t.Errorf("SiteDomainIndex(%s, %s) = %d, want %d", c.domain, s.Name, k, c.k)
		}
		if ep, err := p.GatewayEndpoint(f, c.domain, c.node); err != nil || ep != c.want {
			t.Errorf("GatewayEndpoint(%s, %s) = %q, %v; want %q", c.domain, c.node, ep, err, c.want)
		}
	}
	for _, d := range p.Domains {
		for _, g := range d.Gateways {
			if want, _ := p.GatewayEndpoint(f, d.Name, g.Active); g.Endpoint != want {
				t.Errorf("plan: domain %s, site %s: endpoint %q, want %q", d.Name, g.Site, g.Endpoint, want)
			}
		}
	}
	if _, err := p.GatewayEndpoint(f, reg, "c-1"); err == nil {
		t.Error("GatewayEndpoint of c-1 in a domain without site c did not fail")
	}
	if k := p.SiteDomainIndex(reg, "c"); k != -1 {
		t.Errorf("SiteDomainIndex of c in %s = %d, want -1", reg, k)
	}

	// b's second domain would use port 65536.
	f, errs := Decode("ports.yaml", []byte(strings.Replace(threeSites, "BPORT", "65535", 1)))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	p = f.Plan()
	if len(p.Rejections) != 1 || p.Rejections[0].Kind != RejectEndpoint || p.Rejections[0].Path != "sites[1].quic" ||
		!strings.Contains(p.Rejections[0].Msg, "65536") || p.Rejections[0].Line == 0 {
		t.Fatalf("rejections %+v, want one of kind endpoint at sites[1].quic naming port 65536", p.Rejections)
	}
	if errs := f.Validate(); len(errs) != 1 {
		t.Errorf("Validate: %v, want the endpoint rejection", errs)
	}
	if _, err := p.GatewayEndpoint(f, "fed/global:a+b+c", "b-1"); err == nil || !strings.Contains(err.Error(), "65536") {
		t.Errorf("GatewayEndpoint beyond 65535: %v", err)
	}
	for _, c := range []struct {
		base string
		k    int
	}{{"nohost", 0}, {"h:-1", 0}, {"h:x", 0}, {"h:65535", 1}, {"h:7400", -1}} {
		if ep, err := DomainEndpoint(c.base, c.k); err == nil {
			t.Errorf("DomainEndpoint(%q, %d) = %q, want an error", c.base, c.k, ep)
		}
	}
	if ep, err := DomainEndpoint("[2001:db8::1]:7400", 2); err != nil || ep != "[2001:db8::1]:7402" {
		t.Errorf("DomainEndpoint of an IPv6 endpoint: %q, %v", ep, err)
	}
	if ep, err := DomainEndpoint("127.0.0.1:0", 1); err != nil || ep != "127.0.0.1:0" {
		t.Errorf("DomainEndpoint of a listen address on any port: %q, %v", ep, err)
	}
}
