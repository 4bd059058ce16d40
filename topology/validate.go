package topology

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/atoll-gcs/atoll/groups"
)

var (
	labelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	nodeIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	groupRE  = regexp.MustCompile(groups.GroupPatternSyntax)
	hostRE   = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// Validate finds every mistake in f: the mistakes of the file itself (see
// Check) and what the planner must reject (budgets that cannot be met,
// sites without a path between them, links too slow for their traffic).
// The list is in file order; it is empty when f is good.
func (f *File) Validate() ErrorList {
	errs := f.Check()
	for _, r := range f.Plan().Rejections {
		errs = append(errs, &Error{File: f.name, Line: r.pos.Line, Col: r.pos.Col, Path: r.Path, Msg: r.Msg, Fix: r.Fix})
	}
	return errs.sort()
}

// Check finds the mistakes of the file itself, without planning: missing
// and malformed values, duplicate names and ids, unknown references, a
// gateway that is not a node of its site, bad bind templates, overlapping
// multicast groups and ports, sites that need a gateway or a QUIC endpoint
// and have none.
func (f *File) Check() ErrorList {
	c := &checker{f: f}
	c.file()
	return c.errs.sort()
}

type checker struct {
	f       *File
	errs    ErrorList
	nodes   map[string]nodeRef // node id → where it is defined (first definition)
	siteIdx map[string]int     // site name → index of its first definition
}

type nodeRef struct{ site, node int }

// add records a mistake at key of the mapping at (whose path is path).
func (c *checker) add(at positions, path, key, msg, fix string) {
	p := at.get(key)
	c.errs = append(c.errs, &Error{File: c.f.name, Line: p.Line, Col: p.Col, Path: join(path, key), Msg: msg, Fix: fix})
}

// required reports a missing key, unless it was present with a bad value
// (already reported by the decoder). It returns true when the key was set.
func (c *checker) required(at positions, path, key string, set bool, what, fix string) bool {
	if set {
		return true
	}
	if at.has(key) {
		if !at.bad(key) {
			c.add(at, path, key, what+" is empty", fix)
		}
		return false
	}
	c.add(at, path, key, what+" is missing", fix)
	return false
}

func (c *checker) file() {
	f := c.f
	if c.required(f.at, "", "version", f.Version != 0, "version", "add \"version: 1\" at the top") && f.Version != 1 {
		c.add(f.at, "", "version", fmt.Sprintf("unsupported version %d", f.Version), "this atoll reads version 1")
	}
	if c.required(f.at, "", "cluster", f.Cluster != "", "cluster name", "add \"cluster: NAME\", such as cluster: prod-eu") && !labelRE.MatchString(f.Cluster) {
		c.add(f.at, "", "cluster", fmt.Sprintf("cluster name %q is not a DNS label", f.Cluster), "use 1-63 lower-case letters, digits and '-', such as prod-eu")
	}
	c.classes()
	c.sites()
	c.links()
	c.groups()
	c.gatewaysNeeded()
	c.security()
	c.federation()
}

// Security modes and ciphers, as package localring/seal names them.
var (
	securityModes   = []string{"encrypt", "auth", "none"}
	securityCiphers = []string{"aes-256-gcm", "chacha20-poly1305"}
)

func (c *checker) security() {
	s := c.f.Security
	if s == nil || s.at.bad("") {
		return
	}
	const path = "security"
	if s.Mode != "" && !s.at.bad("mode") && !slices.Contains(securityModes, s.Mode) {
		c.add(s.at, path, "mode", fmt.Sprintf("unknown security mode %q", s.Mode), "use encrypt (the default), auth, or none (insecure)")
	}
	if s.Cipher != "" && !s.at.bad("cipher") && !slices.Contains(securityCiphers, s.Cipher) {
		c.add(s.at, path, "cipher", fmt.Sprintf("unknown cipher %q", s.Cipher), "use aes-256-gcm (the default) or chacha20-poly1305")
	}
	if s.Mode == "none" && s.KeyFile != "" {
		c.add(s.at, path, "key_file", "mode none uses no key, but a key file is set", "remove key_file, or choose mode encrypt or auth to use the key")
	}
	if s.KeyEpoch < 0 || s.KeyEpoch > 1<<31 {
		c.add(s.at, path, "key_epoch", fmt.Sprintf("key epoch %d is out of range", s.KeyEpoch), "use 0 for the first key and add one at every rotation")
	}
}

// RingPacketModes are the values of federation.ring_packets.
var RingPacketModes = []string{"streams", "datagrams", "udp"}

func (c *checker) federation() {
	fd := c.f.Federation
	if fd == nil || fd.at.bad("") {
		return
	}
	const path = "federation"
	if fd.Unneeded != "" && !fd.at.bad("unneeded") && fd.Unneeded != UnneededStubs && fd.Unneeded != UnneededFull {
		c.add(fd.at, path, "unneeded", fmt.Sprintf("unknown way to bring down unneeded messages %q", fd.Unneeded), "use stubs or full, or leave it out (stubs)")
	}
	if fd.RingPackets == "" || fd.at.bad("ring_packets") {
		return
	}
	if !slices.Contains(RingPacketModes, fd.RingPackets) {
		c.add(fd.at, path, "ring_packets", fmt.Sprintf("unknown ring packet transport %q", fd.RingPackets), "use streams, datagrams or udp, or leave it out (udp where a link of the ring declares its bandwidth, else streams)")
		return
	}
	if fd.RingPackets != "udp" {
		return
	}
	var missing []string
	for _, l := range c.f.Links {
		if l.Bandwidth == 0 && len(l.Between) == 2 {
			missing = append(missing, l.Between[0]+"-"+l.Between[1])
		}
	}
	if len(missing) > 0 {
		c.add(fd.at, path, "ring_packets", fmt.Sprintf("ring_packets udp sends at each link's declared bandwidth, but links %s declare none", strings.Join(missing, ", ")),
			"declare links[].bandwidth on every link (what the path really carries), or use streams")
	}
}

func (c *checker) classes() {
	seen := map[string]int{}
	for i := range c.f.Classes {
		cl := &c.f.Classes[i]
		if cl.at.bad("") {
			continue // not a mapping; reported by the decoder
		}
		path := index("classes", i)
		if c.required(cl.at, path, "name", cl.Name != "", "class name", "add \"name: NAME\", such as name: regional") {
			c.label(cl.at, path, "name", cl.Name, "class name", "realtime")
			if j, dup := seen[cl.Name]; dup {
				c.add(cl.at, path, "name", fmt.Sprintf("class %q is defined twice (first at line %d)", cl.Name, c.f.Classes[j].at.get("name").Line), "remove or rename one of them")
			} else {
				seen[cl.Name] = i
			}
		}
		if c.required(cl.at, path, "budget", cl.Budget != 0 || cl.at.has("budget"), "budget", "add \"budget: DURATION\", such as budget: 40ms") && cl.Budget == 0 && !cl.at.bad("budget") {
			c.add(cl.at, path, "budget", "budget is zero", "give a positive latency budget, such as 2ms")
		}
	}
}

func (c *checker) label(at positions, path, key, v, what, example string) {
	if !labelRE.MatchString(v) {
		c.add(at, path, key, fmt.Sprintf("%s %q is not a DNS label", what, v), fmt.Sprintf("use 1-63 lower-case letters, digits and '-', such as %s", example))
	}
}

func (c *checker) sites() {
	f := c.f
	if len(f.Sites) == 0 && !f.at.bad("sites") {
		c.add(f.at, "", "sites", "no sites", "add at least one site with its nodes (see docs/TOPOLOGY.md)")
	}
	seenSite := map[string]int{}
	seenNode := map[string]nodeRef{}
	c.nodes, c.siteIdx = seenNode, seenSite

	type mcast struct {
		group netip.Addr
		port  int
	}
	seenGroup := map[mcast]int{}
	seenPeer := map[netip.AddrPort]int{}
	for i := range f.Sites {
		s := &f.Sites[i]
		path := index("sites", i)
		if s.at.bad("") {
			continue // not a mapping; reported by the decoder
		}
		if c.required(s.at, path, "name", s.Name != "", "site name", "add \"name: NAME\", such as name: fra") {
			c.label(s.at, path, "name", s.Name, "site name", "fra")
			if j, dup := seenSite[s.Name]; dup {
				c.add(s.at, path, "name", fmt.Sprintf("site %q is defined twice (first at line %d)", s.Name, f.Sites[j].at.get("name").Line), "remove or rename one of them")
			} else {
				seenSite[s.Name] = i
			}
		}
		if (s.Bind != "" || s.at.has("bind")) && !s.at.bad("bind") {
			c.bind(s.at, path, "bind", s.Bind)
		}
		c.port(s.at, path, "port", s.Port)
		c.atMost(s.at, path, "lan_rtt", s.LANRTT, "lan_rtt")
		c.atMost(s.at, path, "token_hold", s.TokenHold, "token_hold")
		port := s.RingPort(nil)

		// Transport: multicast group or unicast peers.
		hasM, hasU := s.Multicast != "" || s.at.has("multicast"), len(s.Unicast) > 0 || s.at.has("unicast")
		switch {
		case hasM && hasU:
			c.add(s.at, path, "unicast", "both multicast and unicast are set", "keep multicast on LANs that carry it, unicast elsewhere; remove the other")
		case !hasM && !hasU:
			c.add(s.at, path, "", "neither multicast nor unicast is set", "add \"multicast: 239.192.X.Y\" or \"unicast: [node addresses]\"")
		}
		if hasM && !s.at.bad("multicast") {
			g, err := netip.ParseAddr(s.Multicast)
			switch {
			case err != nil:
				fix := "write an IP multicast group such as 239.192.1.1"
				if ap, err := netip.ParseAddrPort(s.Multicast); err == nil {
					fix = fmt.Sprintf("write the group alone (multicast: %s) and the port as port: %d", ap.Addr(), ap.Port())
				}
				c.add(s.at, path, "multicast", fmt.Sprintf("%q is not an IP address", s.Multicast), fix)
			case !g.IsMulticast():
				c.add(s.at, path, "multicast", fmt.Sprintf("%s is not a multicast address", g), "use an address in 239.192.0.0/14 (organisation-local) or ff05::/16")
			default:
				k := mcast{g, port}
				if j, dup := seenGroup[k]; dup {
					c.add(s.at, path, "multicast", fmt.Sprintf("multicast group %s port %d is also used by site %q (line %d); rings that can hear each other would merge", g, port, f.Sites[j].Name, f.Sites[j].at.get("multicast").Line), "give each site its own group or port")
				} else {
					seenGroup[k] = i
				}
			}
		}
		local := map[netip.AddrPort]int{}
		for k, u := range s.Unicast {
			key := index("unicast", k)
			if s.at.bad(key) {
				continue
			}
			ap, err := netip.ParseAddrPort(u)
			if err != nil {
				a, err2 := netip.ParseAddr(u)
				if err2 != nil {
					c.add(s.at, path, key, fmt.Sprintf("%q is not an IP address or IP:port", u), "write the node's address, such as 10.4.0.11 or 10.4.0.11:5405 (names are not resolved)")
					continue
				}
				ap = netip.AddrPortFrom(a, uint16(port))
			}
			if ap.Port() == 0 {
				c.add(s.at, path, key, fmt.Sprintf("%q has port 0", u), "give a port between 1 and 65535, or none for the site's port")
				continue
			}
			if _, dup := local[ap]; dup {
				c.add(s.at, path, key, fmt.Sprintf("peer %s is listed twice", ap), "remove one of them")
				continue
			}
			local[ap] = k
			if j, dup := seenPeer[ap]; dup && j != i {
				c.add(s.at, path, key, fmt.Sprintf("peer %s is also listed by site %q", ap, f.Sites[j].Name), "a node belongs to one site; fix the address")
			}
			seenPeer[ap] = i
		}
		if hasU && !s.at.bad("unicast") && len(s.Unicast) < len(s.Nodes) {
			c.add(s.at, path, "unicast", fmt.Sprintf("unicast lists %s for %s", plural(len(s.Unicast), "peer", "peers"), plural(len(s.Nodes), "node", "nodes")), "list the address of every node of the site")
		}

		// Nodes.
		if len(s.Nodes) == 0 && !s.at.bad("nodes") {
			c.add(s.at, path, "nodes", "site has no nodes", "add at least one node, such as nodes: [{id: "+cmp.Or(s.Name, "site")+"-1}]")
		}
		endpoints := map[netip.AddrPort]string{}
		for k := range s.Nodes {
			n := &s.Nodes[k]
			np := join(path, index("nodes", k))
			if n.at.bad("") {
				continue
			}
			if c.required(n.at, np, "id", n.ID != "", "node id", "add \"id: ID\", such as id: "+s.Name+"-1") {
				if !nodeIDRE.MatchString(n.ID) {
					c.add(n.at, np, "id", fmt.Sprintf("node id %q is not valid", n.ID), "use lower-case letters, digits, '.', '_' and '-', such as "+s.Name+"-1")
				}
				if r, dup := seenNode[n.ID]; dup {
					other := f.Sites[r.site]
					c.add(n.at, np, "id", fmt.Sprintf("node id %q is also used in site %q (line %d)", n.ID, other.Name, other.Nodes[r.node].at.get("id").Line), "node ids are unique in the cluster; rename one")
				} else {
					seenNode[n.ID] = nodeRef{i, k}
				}
			}
			if (n.Bind != "" || n.at.has("bind")) && !n.at.bad("bind") {
				c.bind(n.at, np, "bind", n.Bind)
			}
			c.port(n.at, np, "port", n.Port)
			if (n.QUIC != "" || n.at.has("quic")) && !n.at.bad("quic") {
				c.endpoint(n.at, np, "quic", n.QUIC)
			}
			// A literal bind address gives the node's endpoint, which a
			// unicast site must list and no other node may share.
			if a, err := netip.ParseAddr(strings.TrimSpace(s.BindTemplate(n))); err == nil && n.ID != "" {
				ep := netip.AddrPortFrom(a, uint16(s.RingPort(n)))
				if other, dup := endpoints[ep]; dup {
					c.add(n.at, np, "", fmt.Sprintf("nodes %q and %q both bind %s", other, n.ID, ep), "give one of them another address or port")
				}
				endpoints[ep] = n.ID
				if hasU && !s.at.bad("unicast") && len(local) > 0 {
					if _, ok := local[ep]; !ok {
						c.add(s.at, path, "unicast", fmt.Sprintf("node %q binds %s, which is not in unicast", n.ID, ep), "add "+ep.String()+" to unicast")
					}
				}
			}
		}
		if (s.QUIC != "" || s.at.has("quic")) && !s.at.bad("quic") {
			c.endpoint(s.at, path, "quic", s.QUIC)
		}
	}
	// Gateways refer to nodes; check them once every node is known.
	for i := range f.Sites {
		s := &f.Sites[i]
		path := index("sites", i)
		seen := map[string]bool{}
		var ids []string // the site's node ids, for suggestions
		for k, g := range s.Gateways {
			key := index("gateways", k)
			if s.at.bad(key) {
				continue
			}
			if seen[g] {
				c.add(s.at, path, key, fmt.Sprintf("gateway %q is listed twice", g), "remove one of them")
				continue
			}
			seen[g] = true
			r, ok := seenNode[g]
			switch {
			case !ok:
				if ids == nil {
					for j := range s.Nodes {
						ids = append(ids, s.Nodes[j].ID)
					}
				}
				fix := "list ids of this site's nodes: " + strings.Join(ids[:min(len(ids), 20)], ", ")
				if len(ids) > 20 {
					fix += ", ..."
				}
				if m := closest(g, ids); m != "" {
					fix = fmt.Sprintf("did you mean %q?", m)
				}
				c.add(s.at, path, key, fmt.Sprintf("gateway %q is not a node of site %q", g, s.Name), fix)
			case r.site != i:
				c.add(s.at, path, key, fmt.Sprintf("gateway %q is a node of site %q, not of site %q", g, f.Sites[r.site].Name, s.Name), "a gateway must be a node of its own site; move it or list one of "+s.Name+"'s nodes")
			default:
				n := &s.Nodes[r.node]
				qp := quicPort(s.QUICEndpoint(n))
				if qp != 0 && qp == s.RingPort(n) {
					c.add(s.at, path, key, fmt.Sprintf("gateway %q would use UDP port %d for both QUIC and the local ring", g, qp), "give the QUIC endpoint another port, such as 7400")
				}
			}
		}
	}
}

func quicPort(ep string) int {
	_, p, err := net.SplitHostPort(ep)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func (c *checker) bind(at positions, path, key, tmpl string) {
	if err := CheckBind(tmpl); err != nil {
		c.add(at, path, key, strings.TrimPrefix(err.Error(), "topology: "), `write an IP address or a go-sockaddr template such as '{{ GetPrivateInterfaces | include "network" "10.0.0.0/8" | attr "address" }}'`)
	}
}

// atMost rejects durations beyond MaxDelay, which are almost always a
// wrong unit ("160h" for "160ms") and would only make the planner's sums
// meaningless.
func (c *checker) atMost(at positions, path, key string, d Duration, what string) {
	if d.D() > MaxDelay {
		c.add(at, path, key, fmt.Sprintf("%s %s is longer than %s", what, d, Duration(MaxDelay)), "check the unit: RTTs and hold times are milliseconds or microseconds, such as 160ms")
	}
}

func (c *checker) port(at positions, path, key string, p int) {
	if (p != 0 || at.has(key)) && !at.bad(key) && (p < 1 || p > 65535) {
		c.add(at, path, key, fmt.Sprintf("port %d is out of range", p), "use a UDP port between 1 and 65535, such as 5405")
	}
}

func (c *checker) endpoint(at positions, path, key, ep string) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		c.add(at, path, key, fmt.Sprintf("QUIC endpoint %q is not host:port", ep), "write host:port, such as fra.gw.example.net:7400 or [2001:db8::1]:7400")
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		c.add(at, path, key, fmt.Sprintf("QUIC endpoint %q has bad port %q", ep, port), "use a UDP port between 1 and 65535, such as 7400")
	}
	if _, err := netip.ParseAddr(host); err != nil && !hostRE.MatchString(host) {
		c.add(at, path, key, fmt.Sprintf("QUIC endpoint %q has no valid host", ep), "give a DNS name or IP address that other sites can reach")
	}
}

func (c *checker) siteNames() []string {
	var names []string
	for _, s := range c.f.Sites {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return names
}

func (c *checker) unknownSite(at positions, path, key, name string) {
	names := c.siteNames()
	fix := "use one of the sites: " + strings.Join(names, ", ")
	if m := closest(name, names); m != "" {
		fix = fmt.Sprintf("did you mean %q?", m)
	}
	c.add(at, path, key, fmt.Sprintf("unknown site %q", name), fix)
}

func (c *checker) links() {
	f := c.f
	seen := map[[2]string]int{}
	for i := range f.Links {
		l := &f.Links[i]
		path := index("links", i)
		if l.at.bad("") {
			continue
		}
		if c.required(l.at, path, "between", len(l.Between) > 0, "between", "add \"between: [SITE, SITE]\"") {
			if len(l.Between) != 2 {
				c.add(l.at, path, "between", fmt.Sprintf("a link joins two sites, not %d", len(l.Between)), "write between: [SITE, SITE]; declare one link per pair")
			} else {
				ok := true
				for k, name := range l.Between {
					key := index("between", k)
					if _, found := c.siteIdx[name]; !found && !l.at.bad(key) {
						c.unknownSite(l.at, path, key, name)
						ok = false
					}
				}
				a, b := l.Between[0], l.Between[1]
				if ok && a == b {
					c.add(l.at, path, "between", fmt.Sprintf("link joins site %q to itself", a), "give the site's own round-trip time as lan_rtt on the site")
				} else if ok {
					k := [2]string{min(a, b), max(a, b)}
					if j, dup := seen[k]; dup {
						c.add(l.at, path, "between", fmt.Sprintf("link %s–%s is declared twice (first at line %d)", a, b, f.Links[j].at.get("between").Line), "keep one link per pair of sites")
					} else {
						seen[k] = i
					}
				}
			}
		}
		if c.required(l.at, path, "rtt", l.RTT != 0 || l.at.has("rtt"), "rtt", "add the measured round-trip time, such as rtt: 8ms") && l.RTT == 0 && !l.at.bad("rtt") {
			c.add(l.at, path, "rtt", "rtt is zero", "give the measured round-trip time, such as 8ms")
		}
		c.atMost(l.at, path, "rtt", l.RTT, "rtt")
		if (l.Stripes != 0 || l.at.has("stripes")) && !l.at.bad("stripes") && (l.Stripes < 1 || l.Stripes > MaxStripes) {
			c.add(l.at, path, "stripes", fmt.Sprintf("stripes %d is not between 1 and %d", l.Stripes, MaxStripes),
				"give the number of QUIC connections between the two sites' gateways, such as stripes: 4, or leave it out for one")
		}
	}
}

// MaxStripes is the most QUIC connections a link may declare
// (links[].stripes); the federation transport accepts as many per peer.
const MaxStripes = 64

var principalKinds = []string{"user", "uid", "unixgroup", "gid", "cn", "node"}

func (c *checker) groups() {
	f := c.f
	seen := map[string]int{}
	var classNames []string
	for _, cl := range f.Classes {
		if cl.Name != "" && !slices.Contains(classNames, cl.Name) {
			classNames = append(classNames, cl.Name)
		}
	}
	for i := range f.Groups {
		g := &f.Groups[i]
		path := index("groups", i)
		if g.at.bad("") {
			continue
		}
		if c.required(g.at, path, "name", g.Name != "", "group name", "add \"name: NAME\", such as name: orders") {
			if !groupRE.MatchString(g.Name) {
				c.add(g.at, path, "name", fmt.Sprintf("group name %q is not valid", g.Name), groups.GroupNameRule+", with '*' and '?' for patterns")
			}
			if j, dup := seen[g.Name]; dup {
				c.add(g.at, path, "name", fmt.Sprintf("group %q is defined twice (first at line %d)", g.Name, f.Groups[j].at.get("name").Line), "remove or rename one of them")
			} else {
				seen[g.Name] = i
			}
		}
		if c.required(g.at, path, "class", g.Class != "", "class", "add \"class: NAME\" naming one of the classes") {
			if !slices.Contains(classNames, g.Class) {
				fix := "use one of the classes: " + strings.Join(classNames, ", ")
				if len(classNames) == 0 {
					fix = "define the class under classes"
				} else if m := closest(g.Class, classNames); m != "" {
					fix = fmt.Sprintf("did you mean %q?", m)
				}
				c.add(g.at, path, "class", fmt.Sprintf("unknown class %q", g.Class), fix)
			}
		}
		if c.required(g.at, path, "sites", len(g.Sites) > 0, "sites", "list the sites the group's members run in, or [\"*\"] for all") {
			dup := map[string]bool{}
			for k, s := range g.Sites {
				key := index("sites", k)
				switch {
				case g.at.bad(key):
				case s == "*":
					if len(g.Sites) > 1 {
						c.add(g.at, path, key, `"*" stands for every site and cannot be combined with others`, `write sites: ["*"] or list the sites`)
					}
				case dup[s]:
					c.add(g.at, path, key, fmt.Sprintf("site %q is listed twice", s), "remove one of them")
				default:
					dup[s] = true
					if _, ok := c.siteIdx[s]; !ok {
						c.unknownSite(g.at, path, key, s)
					}
				}
			}
		}
		if g.ACL != nil {
			ap := join(path, "acl")
			for _, list := range []struct {
				key   string
				items []string
			}{{"join", g.ACL.Join}, {"send", g.ACL.Send}} {
				for k, p := range list.items {
					key := index(list.key, k)
					if !g.ACL.at.bad(key) {
						c.principal(g.ACL.at, ap, key, p)
					}
				}
			}
		}
	}
}

func (c *checker) principal(at positions, path, key, p string) {
	if p == "*" {
		return
	}
	kind, v, ok := strings.Cut(p, ":")
	if !ok || v == "" || !slices.Contains(principalKinds, kind) {
		c.add(at, path, key, fmt.Sprintf("principal %q is not valid", p), "write \"*\" or KIND:VALUE with KIND one of "+strings.Join(principalKinds, ", ")+", such as user:alice or cn:orders-svc")
		return
	}
	switch kind {
	case "uid", "gid":
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			c.add(at, path, key, fmt.Sprintf("%s %q is not a number", kind, v), "write a numeric id, such as "+kind+":1000")
		}
	case "node":
		if _, ok := c.nodes[v]; !ok {
			c.add(at, path, key, fmt.Sprintf("no node %q", v), "name a node id defined under sites")
		}
	}
}

// gatewaysNeeded checks that every site that shares a group with another
// site can take part in a federation ring: it needs gateway-eligible nodes
// and a QUIC endpoint for each.
func (c *checker) gatewaysNeeded() {
	f := c.f
	known := map[string]bool{}
	for _, s := range f.Sites {
		if s.Name != "" {
			known[s.Name] = true
		}
	}
	// Groups on every site ("*") are kept apart so that a file with many
	// sites and many such groups costs sites + groups, not their product.
	var everywhere []string
	spans := map[string][]string{} // site → multi-site groups listing it
	for _, g := range f.Groups {
		if slices.Contains(g.Sites, "*") {
			if len(known) > 1 {
				everywhere = append(everywhere, strconv.Quote(g.Name))
			}
			continue
		}
		var sites []string
		for _, s := range g.Sites {
			if known[s] && !slices.Contains(sites, s) {
				sites = append(sites, s)
			}
		}
		if len(sites) < 2 {
			continue
		}
		for _, s := range sites {
			spans[s] = append(spans[s], strconv.Quote(g.Name))
		}
	}
	first := map[string]bool{}
	for i := range f.Sites {
		s := &f.Sites[i]
		n := len(everywhere) + len(spans[s.Name])
		if first[s.Name] || n == 0 || s.at.bad("gateways") {
			continue // duplicate sites are reported elsewhere
		}
		first[s.Name] = true
		// Name at most three groups.
		groups := slices.Clone(spans[s.Name][:min(3, len(spans[s.Name]))])
		groups = append(groups, everywhere[:min(3-len(groups), len(everywhere))]...)
		if n > 3 {
			groups = append(groups, fmt.Sprintf("and %d more", n-3))
		}
		path := index("sites", i)
		what := fmt.Sprintf("groups %s span site %q and others", strings.Join(groups, ", "), s.Name)
		if n == 1 {
			what = fmt.Sprintf("group %s spans site %q and others", groups[0], s.Name)
		}
		if len(s.Gateways) == 0 {
			key := "gateways"
			if !s.at.has(key) {
				key = "name"
			}
			c.add(s.at, path, key, what+", but the site has no gateways", "list gateway-eligible node ids, such as gateways: ["+s.Name+"-1]")
			continue
		}
		for k, id := range s.Gateways {
			r, ok := c.nodes[id]
			if !ok || r.site != i {
				continue
			}
			n := &s.Nodes[r.node]
			if s.QUICEndpoint(n) == "" {
				key := index("gateways", k)
				c.add(s.at, path, key, fmt.Sprintf("%s, but gateway %q has no QUIC endpoint", what, id), "set quic: HOST:PORT on the site or on the node")
			}
		}
	}
}

// groupSites returns the distinct known sites of g in file order, with "*"
// expanded to every site.
func (f *File) groupSites(g *Group) []string {
	var out []string
	for _, s := range g.Sites {
		if s == "*" {
			out = out[:0]
			for _, site := range f.Sites {
				if site.Name != "" && !slices.Contains(out, site.Name) {
					out = append(out, site.Name)
				}
			}
			return out
		}
		if _, ok := f.Site(s); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
