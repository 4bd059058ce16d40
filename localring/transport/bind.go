package transport

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"text/template"

	sockaddr "github.com/hashicorp/go-sockaddr"
	sockaddrtmpl "github.com/hashicorp/go-sockaddr/template"
)

// ResolveBind evaluates a go-sockaddr template (as in Consul and Nomad:
// `{{ GetPrivateInterfaces | include "network" "10.1.0.0/16" | attr "address" }}`)
// against this host's interfaces and returns the one address it names. A
// plain address ("10.1.0.5") is a template too.
//
// A ring node binds exactly one address, so a template that matches no
// address, or several, is an error: a *BindError listing what matched and
// the host's addresses, with a narrower template to try. Unlike plain
// go-sockaddr, `attr` applied to several addresses yields all of them (and
// so this error) instead of silently the first; add `| limit 1` after a
// `sort` to choose one on purpose.
func ResolveBind(tmpl string) (netip.Addr, error) {
	addrs, err := evalBind(tmpl)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) != 1 {
		return netip.Addr{}, &BindError{Template: tmpl, Matched: addrs, Candidates: candidates()}
	}
	return addrs[0], nil
}

// evalBind evaluates tmpl and parses its output as addresses.
func evalBind(tmpl string) ([]netip.Addr, error) {
	ifAddrs, err := sockaddr.GetAllInterfaces()
	if err != nil {
		return nil, fmt.Errorf("transport: list interfaces for the bind template: %w", err)
	}
	t, err := template.New("bind").
		Option("missingkey=error").
		Funcs(sockaddrtmpl.SourceFuncs).
		Funcs(sockaddrtmpl.SortFuncs).
		Funcs(sockaddrtmpl.FilterFuncs).
		Funcs(sockaddrtmpl.HelperFuncs).
		Funcs(template.FuncMap{"attr": attrAll}).
		Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("transport: bind template `%s` does not parse: %w", tmpl, err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, ifAddrs); err != nil {
		return nil, fmt.Errorf("transport: bind template `%s`: %w", tmpl, err)
	}
	var addrs []netip.Addr
	for _, f := range strings.Fields(out.String()) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			if p, perr := netip.ParsePrefix(f); perr == nil {
				a, err = p.Addr(), nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("transport: bind template `%s` produced %.60q, which is not an IP address; end the template with `| attr \"address\"`", tmpl, f)
		}
		addrs = append(addrs, a.Unmap())
	}
	return addrs, nil
}

// attrAll is go-sockaddr's attr, except that on several addresses it
// returns the attribute of each, space-separated, instead of the first's.
func attrAll(selector string, in any) (string, error) {
	addrs, ok := in.(sockaddr.IfAddrs)
	if !ok || len(addrs) <= 1 {
		return sockaddrtmpl.Attr(selector, in)
	}
	vals := make([]string, 0, len(addrs))
	for _, a := range addrs {
		v, err := sockaddr.IfAttr(selector, a)
		if err != nil {
			return "", err
		}
		vals = append(vals, v)
	}
	return strings.Join(vals, " "), nil
}

// BindError reports a bind template that matched no address or several.
type BindError struct {
	// Template is the template as written.
	Template string
	// Matched are the addresses it produced: none, or more than one.
	Matched []netip.Addr
	// Candidates are this host's addresses, for the operator to choose
	// from.
	Candidates []Candidate
}

// Candidate is one address of this host.
type Candidate struct {
	Interface string       // e.g. "eth0"
	Prefix    netip.Prefix // the address with its network's prefix length
	Loopback  bool
}

func (c Candidate) String() string { return c.Prefix.Addr().String() + " on " + c.Interface }

func (e *BindError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transport: bind template `%s` ", e.Template)
	if len(e.Matched) == 0 {
		b.WriteString("matches no address of this host")
	} else {
		fmt.Fprintf(&b, "matches %d addresses (", len(e.Matched))
		for i, a := range e.Matched {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.describe(a))
		}
		b.WriteString("), but a ring node binds exactly one")
	}
	b.WriteString("; this host has ")
	if len(e.Candidates) == 0 {
		b.WriteString("no addresses")
	}
	for i, c := range e.Candidates {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.String())
	}
	if c, ok := e.example(); ok {
		network := c.Prefix.Masked().String()
		fmt.Fprintf(&b, `; select one by network, e.g. {{ GetAllInterfaces | include "network" %q | attr "address" }}, or by interface, e.g. {{ GetAllInterfaces | include "name" %q | include "type" %q | attr "address" }}`,
			network, c.Interface, ipType(c.Prefix.Addr()))
	}
	return b.String()
}

// describe names the interface of a, if it is one of this host's.
func (e *BindError) describe(a netip.Addr) string {
	for _, c := range e.Candidates {
		if c.Prefix.Addr() == a {
			return c.String()
		}
	}
	return a.String()
}

// example picks the candidate to show in the suggested templates: a
// matched one if any, else the first non-loopback, non-link-local one.
func (e *BindError) example() (Candidate, bool) {
	for _, a := range e.Matched {
		for _, c := range e.Candidates {
			if c.Prefix.Addr() == a && !c.Loopback {
				return c, true
			}
		}
	}
	for _, c := range e.Candidates {
		if !c.Loopback && !c.Prefix.Addr().IsLinkLocalUnicast() {
			return c, true
		}
	}
	if len(e.Candidates) > 0 {
		return e.Candidates[0], true
	}
	return Candidate{}, false
}

func ipType(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// candidates lists this host's addresses.
func candidates() []Candidate {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var cs []Candidate
	for i := range ifs {
		for _, p := range interfacePrefixes(&ifs[i]) {
			cs = append(cs, Candidate{Interface: ifs[i].Name, Prefix: p, Loopback: ifs[i].Flags&net.FlagLoopback != 0})
		}
	}
	return cs
}
