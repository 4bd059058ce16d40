package main

import (
	"bufio"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/atoll-gcs/atoll/topology"
)

// The firewall check reads the host's rules (`nft list ruleset`, or
// `iptables-save` where nft is missing) and finds the base chains of the
// input and output hooks that drop the UDP ports the node needs before
// accepting them. It reads rules as text, so it judges the common forms
// (dport N, dport { N, M }, dport N-M, --dport, --dports); it does not
// follow jumps to other chains.

// udpPort is a port the node needs, and why.
type udpPort struct {
	port int
	what string
}

// nodePorts returns the UDP ports of the node: the ring's, and the QUIC
// endpoint's on a gateway-eligible node.
func (d *doctor) nodePorts() []udpPort {
	ports := []udpPort{{int(d.cfg.Transport.Bind.Port()), "the ring's port"}}
	if g := d.cfg.Transport.Group; g.IsValid() && int(g.Port()) != ports[0].port {
		ports = append(ports, udpPort{int(g.Port()), "the ring's multicast port"})
	}
	if s, _, ok := d.topo.Node(d.node); ok && slices.Contains(s.Gateways, d.node) {
		// One QUIC port per federation domain of the site (the first
		// domain's is the file's endpoint, the k-th's its port plus k).
		p := d.topo.Plan()
		for i := range p.Domains {
			dom := &p.Domains[i]
			if dom.Kind != topology.FederationDomain || !slices.Contains(dom.Sites, s.Name) {
				continue
			}
			ep, err := p.GatewayEndpoint(d.topo, dom.Name, d.node)
			if err != nil {
				continue
			}
			if i := strings.LastIndexByte(ep, ':'); i >= 0 {
				if port, err := strconv.Atoi(ep[i+1:]); err == nil {
					ports = append(ports, udpPort{port, "the QUIC endpoint " + ep + " of domain " + dom.Name})
				}
			}
		}
	}
	return ports
}

// firewall checks the host's firewall rules against the node's ports.
func (d *doctor) firewall(command func(name string, args ...string) ([]byte, error)) {
	ports := d.nodePorts()
	var finds []fwFinding
	out, err := command("nft", "list", "ruleset")
	switch {
	case errors.Is(err, exec.ErrNotFound):
		out, err = command("iptables-save")
		if errors.Is(err, exec.ErrNotFound) {
			d.line(docInfo, "firewall", "neither nft nor iptables-save is installed: the firewall was not checked")
			return
		}
		if err != nil {
			d.line(docWarn, "firewall", fmt.Sprintf("cannot read the firewall rules (iptables-save: %v): run doctor as root to check them", err))
			return
		}
		finds = iptablesFindings(string(out), ports)
	case err != nil:
		d.line(docWarn, "firewall", fmt.Sprintf("cannot read the firewall rules (nft list ruleset: %v): run doctor as root to check them", err))
		return
	default:
		finds = nftFindings(string(out), ports)
	}
	for _, f := range finds {
		d.line(f.verdict, "firewall", f.msg)
	}
	if len(finds) == 0 {
		var ps []string
		for _, p := range ports {
			ps = append(ps, strconv.Itoa(p.port))
		}
		d.line(docOK, "firewall", "no rule of the input or output hooks drops UDP port "+strings.Join(ps, ", "))
	}
}

// fwFinding is one problem (or note) found in the rules.
type fwFinding struct {
	verdict, msg string
}

// fwChain is one base chain being read.
type fwChain struct {
	name     string // "inet filter input"
	hook     string // input, output, or another (not checked)
	policy   string // accept or drop
	accepted map[int]bool
	finds    *[]fwFinding
	ports    []udpPort
}

// rule judges one rule with its verdict (accept, drop or reject) and the
// ports it matches.
func (c *fwChain) rule(text, verdict string, matched []int) {
	if c.hook != "input" && c.hook != "output" {
		return
	}
	for _, p := range c.ports {
		if !slices.Contains(matched, p.port) {
			continue
		}
		switch {
		case verdict == "accept":
			c.accepted[p.port] = true
		case c.accepted[p.port]:
			*c.finds = append(*c.finds, fwFinding{docInfo, fmt.Sprintf("%s accepts UDP %d (%s) from some sources only, then drops it (%q): check that every node of the site is among them", c.name, p.port, p.what, text)})
		default:
			*c.finds = append(*c.finds, fwFinding{docFail, fmt.Sprintf("%s drops UDP %d, %s: %q; accept the site's nodes before it (docs/OPERATIONS.md, Firewall)", c.name, p.port, p.what, text)})
		}
	}
}

// end judges the chain's policy.
func (c *fwChain) end() {
	if (c.hook != "input" && c.hook != "output") || c.policy != "drop" {
		return
	}
	for _, p := range c.ports {
		if !c.accepted[p.port] {
			*c.finds = append(*c.finds, fwFinding{docFail, fmt.Sprintf("%s has policy drop and no rule accepts UDP %d (%s): add one for the site's nodes (docs/OPERATIONS.md, Firewall)", c.name, p.port, p.what)})
		}
	}
}

// nftFindings reads `nft list ruleset`.
func nftFindings(ruleset string, ports []udpPort) []fwFinding {
	var finds []fwFinding
	var table string
	var c *fwChain
	sc := bufio.NewScanner(strings.NewReader(ruleset))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "table" && len(f) >= 3:
			table = f[1] + " " + f[2]
		case f[0] == "chain" && len(f) >= 2:
			c = &fwChain{name: "nftables chain " + table + " " + f[1], accepted: map[int]bool{}, finds: &finds, ports: ports, policy: "accept"}
		case c == nil:
		case f[0] == "}":
			c.end()
			c = nil
		case f[0] == "type":
			if i := slices.Index(f, "hook"); i >= 0 && i+1 < len(f) {
				c.hook = f[i+1]
			}
			if i := slices.Index(f, "policy"); i >= 0 && i+1 < len(f) {
				c.policy = strings.TrimSuffix(f[i+1], ";")
			}
		default:
			if strings.Contains(line, "tcp dport") {
				continue
			}
			verdict := ""
			for _, w := range f {
				if w == "accept" || w == "drop" || w == "reject" {
					verdict = w
				}
			}
			if verdict != "" {
				c.rule(line, verdict, dports(f, "dport"))
			}
		}
	}
	return finds
}

// iptablesFindings reads `iptables-save`: the INPUT and OUTPUT chains of
// the filter table.
func iptablesFindings(save string, ports []udpPort) []fwFinding {
	var finds []fwFinding
	chains := map[string]*fwChain{}
	for _, name := range []string{"INPUT", "OUTPUT"} {
		chains[name] = &fwChain{name: "iptables chain " + name, hook: strings.ToLower(name), policy: "accept", accepted: map[int]bool{}, finds: &finds, ports: ports}
	}
	filter := false
	sc := bufio.NewScanner(strings.NewReader(save))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case strings.HasPrefix(f[0], "*"):
			filter = f[0] == "*filter"
		case !filter:
		case strings.HasPrefix(f[0], ":") && len(f) >= 2:
			if c := chains[f[0][1:]]; c != nil {
				c.policy = strings.ToLower(f[1])
			}
		case f[0] == "-A" && len(f) >= 2 && chains[f[1]] != nil:
			if slices.Contains(f, "tcp") {
				continue
			}
			if i := slices.Index(f, "-j"); i >= 0 && i+1 < len(f) {
				verdict := strings.ToLower(f[i+1])
				if verdict == "accept" || verdict == "drop" || verdict == "reject" {
					chains[f[1]].rule(line, verdict, append(dports(f, "--dport"), dports(f, "--dports")...))
				}
			}
		}
	}
	chains["INPUT"].end()
	chains["OUTPUT"].end()
	return finds
}

// dports returns the ports after the word key in f: "5405", "5405-5410",
// "5405,7400" or an nftables set "{ 5405, 7400 }". Ranges are expanded up
// to a bound.
func dports(f []string, key string) []int {
	i := slices.Index(f, key)
	if i < 0 || i+1 >= len(f) {
		return nil
	}
	rest := f[i+1:]
	var words []string
	if rest[0] == "{" {
		for _, w := range rest[1:] {
			if w == "}" {
				break
			}
			words = append(words, w)
		}
	} else {
		words = rest[:1]
	}
	var ports []int
	for _, w := range words {
		for _, item := range strings.Split(strings.Trim(w, ","), ",") {
			lo, hi, isRange := strings.Cut(strings.ReplaceAll(item, ":", "-"), "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				continue
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 65535 {
					continue
				}
			}
			for p := a; p <= b; p++ {
				ports = append(ports, p)
			}
		}
	}
	return ports
}
