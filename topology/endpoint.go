package topology

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// A gateway runs one federation ring per federation domain of its site,
// each on a QUIC endpoint of its own (one QUIC endpoint carries one
// federation ring). The endpoints follow from the file and the plan alone,
// so that every gateway computes its peers' the same way: the site's k-th
// federation domain (k counted from 0, in the plan's domain order, among
// the federation domains that include the site) uses the host of the
// gateway's QUIC endpoint in the file (Site.QUICEndpoint) and its port
// plus k. A site in one federation domain uses its endpoint as written; a
// site in three uses ports P, P+1 and P+2, which its firewall must let in.

// DomainEndpoint returns the endpoint of a gateway's k-th federation
// domain: base ("host:port", the endpoint of its first) with port+k. Port
// 0 (a listen address: any free port) stays 0. It fails when base is not
// host:port or the port would pass 65535.
func DomainEndpoint(base string, k int) (string, error) {
	host, port, err := net.SplitHostPort(base)
	if err != nil {
		return "", fmt.Errorf("topology: QUIC endpoint %q is not host:port; write it as gw.example.net:7400", base)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("topology: QUIC endpoint %q has bad port %q; use a number from 0 to 65535", base, port)
	}
	if p == 0 && k >= 0 {
		return base, nil
	}
	if k < 0 || p+k > 65535 {
		return "", fmt.Errorf("topology: QUIC endpoint %q: federation domain %d of the site would use port %d, beyond 65535 (each federation domain of a site uses the next port)", base, k+1, p+k)
	}
	if k == 0 {
		return base, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+k)), nil
}

// SiteDomainIndex returns k: the place of federation domain among the
// federation domains of p that include site, in plan order (the port
// offset of its endpoints, DomainEndpoint); -1 when site is not in it.
func (p *Plan) SiteDomainIndex(domain, site string) int {
	k := 0
	for i := range p.Domains {
		d := &p.Domains[i]
		if d.Kind != FederationDomain || !slices.Contains(d.Sites, site) {
			continue
		}
		if d.Name == domain {
			return k
		}
		k++
	}
	return -1
}

// GatewayEndpoint returns the QUIC endpoint of node, a gateway of its
// site in f, for federation domain of p (DomainEndpoint of its endpoint in
// the file, offset by SiteDomainIndex). It fails when node is not in f,
// its site is not in domain, or it has no valid endpoint.
func (p *Plan) GatewayEndpoint(f *File, domain, node string) (string, error) {
	s, n, ok := f.Node(node)
	if !ok {
		return "", fmt.Errorf("topology: node %q is not in topology file %s", node, f.Name())
	}
	k := p.SiteDomainIndex(domain, s.Name)
	if k < 0 {
		return "", fmt.Errorf("topology: site %s of node %s is not in federation domain %s; `atoll plan %s` lists the domains and their sites", s.Name, node, domain, f.Name())
	}
	base := s.QUICEndpoint(n)
	if base == "" {
		return "", fmt.Errorf("topology: gateway %s of site %s has no QUIC endpoint: set quic: HOST:PORT on the site or on the node", node, s.Name)
	}
	ep, err := DomainEndpoint(base, k)
	if err != nil {
		return "", fmt.Errorf("topology: gateway %s of site %s, domain %s: %s", node, s.Name, domain, strings.TrimPrefix(err.Error(), "topology: "))
	}
	return ep, nil
}
