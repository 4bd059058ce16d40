package topology

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	sockaddr "github.com/hashicorp/go-sockaddr"
	socktmpl "github.com/hashicorp/go-sockaddr/template"
)

// Bind addresses are go-sockaddr templates
// (https://pkg.go.dev/github.com/hashicorp/go-sockaddr/template), such as
//
//	{{ GetPrivateInterfaces | include "network" "10.1.0.0/16" | attr "address" }}
//
// or literal IP addresses. The file is checked without looking at the
// machine it is checked on: CheckBind parses the template and evaluates it
// against a made-up sample host, which finds syntax errors, unknown
// functions, bad selectors, bad regular expressions and pipelines that do
// not end in addresses. ResolveBind, called by an agent at start, evaluates
// it against the real host and insists on exactly one address.

// maxTemplateOutput bounds what a template may write.
const maxTemplateOutput = 4096

// CheckBind reports whether tmpl is a usable bind address: a literal IP
// address, or a go-sockaddr template that parses, uses only pipelines (no
// range, if, define or template actions) and, on a sample host, evaluates to
// IP addresses. The result does not depend on the host it runs on.
func CheckBind(tmpl string) error {
	if strings.TrimSpace(tmpl) == "" {
		return errors.New("topology: bind template is empty")
	}
	if !strings.Contains(tmpl, "{{") {
		if _, err := netip.ParseAddr(strings.TrimSpace(tmpl)); err != nil {
			return fmt.Errorf("topology: bind %q is neither an IP address nor a go-sockaddr template", tmpl)
		}
		return nil
	}
	out, err := evalBind(tmpl, sampleHost())
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(out) {
		if _, err := netip.ParseAddr(f); err != nil {
			return fmt.Errorf("topology: bind template yields %q on a sample host, which is not an IP address", f)
		}
	}
	return nil
}

// ResolveBind evaluates the bind template tmpl on this host and returns the
// one IP address it yields. It fails, listing the candidates, when the
// template yields no address or several: the host's addresses in the first
// case, the matches in the second.
func ResolveBind(tmpl string) (netip.Addr, error) {
	ifs, err := sockaddr.GetAllInterfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("topology: listing this host's addresses: %w", err)
	}
	var defaultIf string
	if ri, err := sockaddr.NewRouteInfo(); err == nil {
		defaultIf, _ = ri.GetDefaultInterfaceName()
	}
	return resolveBind(tmpl, newHost(ifs, defaultIf))
}

// host is the part of a machine a bind template can see, with the answers
// of the functions that are costly to compute (go-sockaddr rebuilds its RFC
// tables on every call) worked out once.
type host struct {
	ifs       sockaddr.IfAddrs
	defaultIf string // name of the interface with the default route

	private, public       sockaddr.IfAddrs // as GetPrivateInterfaces, GetPublicInterfaces
	privateIPs, publicIPs string           // as GetPrivateIPs, GetPublicIPs
}

func newHost(ifs sockaddr.IfAddrs, defaultIf string) host {
	h := host{ifs: ifs, defaultIf: defaultIf}
	usable, _ := sockaddr.FilterIfByType(slices.Clone(ifs), sockaddr.TypeIP)
	usable, _, _ = sockaddr.IfByFlag("forwardable", usable)
	usable, _, _ = sockaddr.IfByFlag("up", usable)
	sockaddr.OrderedIfAddrBy(sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(usable)
	usable = h.byDefault(usable)
	h.private, h.public, _ = sockaddr.IfByRFC("6890", usable)

	ips, _ := sockaddr.FilterIfByType(slices.Clone(ifs), sockaddr.TypeIP)
	sockaddr.OrderedIfAddrBy(sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(ips)
	priv, pub, _ := sockaddr.IfByRFC("6890", ips)
	_, priv, _ = sockaddr.IfByRFC(sockaddr.ForwardingBlacklistRFC, priv)
	h.privateIPs, h.publicIPs = joinIPs(priv), joinIPs(pub)
	return h
}

// byDefault orders addresses on the default interface first, stably.
func (h host) byDefault(ifs sockaddr.IfAddrs) sockaddr.IfAddrs {
	out := make(sockaddr.IfAddrs, 0, len(ifs))
	for _, first := range []bool{true, false} {
		for _, ifa := range ifs {
			if (ifa.Name == h.defaultIf) == first {
				out = append(out, ifa)
			}
		}
	}
	return out
}

func joinIPs(ifs sockaddr.IfAddrs) string {
	list := make([]string, 0, len(ifs))
	for _, ifa := range ifs {
		list = append(list, ipString(ifa))
	}
	return strings.Join(list, " ")
}

func resolveBind(tmpl string, h host) (netip.Addr, error) {
	out := tmpl
	if strings.Contains(tmpl, "{{") {
		var err error
		if out, err = evalBind(tmpl, h); err != nil {
			return netip.Addr{}, err
		}
	}
	var addrs []netip.Addr
	for _, f := range strings.Fields(out) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("topology: bind template %q yields %q, which is not an IP address; end the pipeline with attr \"address\"", tmpl, f)
		}
		addrs = append(addrs, a)
	}
	switch len(addrs) {
	case 1:
		return addrs[0], nil
	case 0:
		return netip.Addr{}, fmt.Errorf("topology: bind template %q matches no address on this host; its addresses are %s; change the template to select one of them",
			tmpl, describeHost(h))
	}
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	return netip.Addr{}, fmt.Errorf("topology: bind template %q matches %d addresses on this host (%s); narrow it, e.g. with include \"network\" \"CIDR\" or | limit 1",
		tmpl, len(addrs), strings.Join(list, ", "))
}

func describeHost(h host) string {
	if len(h.ifs) == 0 {
		return "none"
	}
	var list []string
	for _, ifa := range h.ifs {
		if ip := sockaddr.ToIPAddr(ifa.SockAddr); ip != nil {
			list = append(list, ifa.Name+" "+(*ip).String())
		}
	}
	slices.Sort(list)
	return strings.Join(list, ", ")
}

// evalBind parses and evaluates a bind template against h. Every function
// that would look at the real machine is replaced by one that looks at h,
// so evaluation is deterministic and never runs commands.
func evalBind(tmpl string, h host) (string, error) {
	t, err := template.New("bind").Option("missingkey=error").
		Funcs(socktmpl.SourceFuncs).Funcs(socktmpl.SortFuncs).
		Funcs(socktmpl.FilterFuncs).Funcs(socktmpl.HelperFuncs).
		Funcs(h.funcs()).
		Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("topology: bind template does not parse: %s", strings.TrimPrefix(err.Error(), "template: bind:"))
	}
	if t.Tree == nil || len(t.Templates()) > 1 {
		return "", errors.New("topology: bind template may not define templates")
	}
	if err := onlyPipelines(t.Tree.Root); err != nil {
		return "", err
	}
	var out limitedWriter
	if err := t.Execute(&out, h.ifs); err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "template: ") {
			// Keep "error calling include: invalid include selector ..."
			// and drop the "template: bind:1:3: executing ..." prefix.
			if j := strings.Index(msg, "error calling"); j >= 0 {
				msg = msg[j:]
			}
		}
		return "", fmt.Errorf("topology: bind template fails: %s", msg)
	}
	return out.String(), nil
}

// onlyPipelines rejects control structures, so that evaluating a template
// from a file is cheap and cannot loop.
func onlyPipelines(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			if err := onlyPipelines(c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.ActionNode, *parse.CommentNode:
		return nil
	}
	return fmt.Errorf("topology: bind template uses %q; only pipelines such as {{ GetPrivateInterfaces | attr \"address\" }} are allowed", n.String())
}

type limitedWriter struct{ strings.Builder }

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) > maxTemplateOutput {
		return 0, fmt.Errorf("output longer than %d bytes", maxTemplateOutput)
	}
	return w.Builder.Write(p)
}

// funcs returns the go-sockaddr template functions that look at the
// machine or the network, reimplemented over h and without DNS.
func (h host) funcs() template.FuncMap {
	all := func() sockaddr.IfAddrs { return slices.Clone(h.ifs) }
	first := func(ifs sockaddr.IfAddrs) string {
		if len(ifs) == 0 {
			return ""
		}
		return ipString(ifs[0])
	}
	named := func(re string) (sockaddr.IfAddrs, error) {
		ifs, _, err := sockaddr.IfByName(re, all())
		if err != nil {
			return nil, err
		}
		sockaddr.OrderedIfAddrBy(sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(ifs)
		return ifs, nil
	}
	// The "network" selector hands its argument to sockaddr.NewIPAddr,
	// which falls back to a DNS lookup for what is not an address; check
	// it first so that evaluating a template never touches the network.
	checkNetworks := func(selector, param string) error {
		if !strings.EqualFold(selector, "network") {
			return nil
		}
		for _, n := range strings.Split(param, "|") {
			if _, err := netip.ParsePrefix(n); err != nil {
				if _, err := netip.ParseAddr(n); err != nil {
					return fmt.Errorf("network %q is not an IP address or CIDR prefix", n)
				}
			}
		}
		return nil
	}
	return template.FuncMap{
		"include": func(selector, param string, ifs sockaddr.IfAddrs) (sockaddr.IfAddrs, error) {
			if err := checkNetworks(selector, param); err != nil {
				return nil, err
			}
			return sockaddr.IncludeIfs(selector, param, ifs)
		},
		"exclude": func(selector, param string, ifs sockaddr.IfAddrs) (sockaddr.IfAddrs, error) {
			if err := checkNetworks(selector, param); err != nil {
				return nil, err
			}
			return sockaddr.ExcludeIfs(selector, param, ifs)
		},
		"GetAllInterfaces": func() (sockaddr.IfAddrs, error) { return all(), nil },
		"GetDefaultInterfaces": func() (sockaddr.IfAddrs, error) {
			var out sockaddr.IfAddrs
			for _, ifa := range h.ifs {
				if h.defaultIf != "" && ifa.Name == h.defaultIf {
					out = append(out, ifa)
				}
			}
			return out, nil
		},
		"GetPrivateInterfaces": func() (sockaddr.IfAddrs, error) { return slices.Clone(h.private), nil },
		"GetPublicInterfaces":  func() (sockaddr.IfAddrs, error) { return slices.Clone(h.public), nil },
		"GetPrivateIP":         func() (string, error) { return first(h.private), nil },
		"GetPublicIP":          func() (string, error) { return first(h.public), nil },
		"GetPrivateIPs":        func() (string, error) { return h.privateIPs, nil },
		"GetPublicIPs":         func() (string, error) { return h.publicIPs, nil },
		"GetInterfaceIP": func(re string) (string, error) {
			ifs, err := named(re)
			if err != nil {
				return "", err
			}
			ifs, _, _ = sockaddr.IfByFlag("forwardable", ifs)
			return first(ifs), nil
		},
		"GetInterfaceIPs": func(re string) (string, error) {
			ifs, err := named(re)
			return joinIPs(ifs), err
		},
		"sort": func(keys string, ifs sockaddr.IfAddrs) (sockaddr.IfAddrs, error) {
			// SortIfBy's "default" key asks the operating system for
			// the default route on every comparison; sort by h's
			// default interface instead.
			var rest []string
			byDef, last := false, false
			for _, k := range strings.Split(keys, ",") {
				switch strings.TrimSpace(strings.ToLower(k)) {
				case "default", "+default":
					byDef = true
				case "-default":
					byDef, last = true, true
				default:
					rest = append(rest, k)
				}
			}
			out := ifs
			if len(rest) > 0 {
				var err error
				if out, err = sockaddr.SortIfBy(strings.Join(rest, ","), ifs); err != nil {
					return nil, err
				}
			}
			if byDef {
				out = h.byDefault(out)
				if last {
					// Default interface last: rotate its block to the end.
					n := 0
					for n < len(out) && out[n].Name == h.defaultIf {
						n++
					}
					out = append(slices.Clone(out[n:]), out[:n]...)
				}
			}
			return out, nil
		},
	}
}

func ipString(ifa sockaddr.IfAddr) string {
	if ip := sockaddr.ToIPAddr(ifa.SockAddr); ip != nil {
		return (*ip).NetIP().String()
	}
	return ""
}

// sampleHost is the made-up machine CheckBind evaluates templates against:
// a loopback, two private networks, a public one, and IPv6.
var sampleHost = sync.OnceValue(func() host {
	mk := func(name string, idx int, flags net.Flags, cidrs ...string) sockaddr.IfAddrs {
		var out sockaddr.IfAddrs
		for _, c := range cidrs {
			ip, err := sockaddr.NewIPAddr(c)
			if err != nil {
				panic(fmt.Sprintf("topology: bad sample address %q: %v", c, err))
			}
			out = append(out, sockaddr.IfAddr{SockAddr: ip, Interface: net.Interface{Index: idx, MTU: 1500, Name: name, Flags: flags}})
		}
		return out
	}
	up := net.FlagUp | net.FlagBroadcast | net.FlagMulticast
	var ifs sockaddr.IfAddrs
	ifs = append(ifs, mk("lo", 1, net.FlagUp|net.FlagLoopback, "127.0.0.1/8", "::1/128")...)
	ifs = append(ifs, mk("eth0", 2, up, "10.1.0.10/16", "fe80::10/64")...)
	ifs = append(ifs, mk("eth1", 3, up, "192.168.1.10/24")...)
	ifs = append(ifs, mk("eth2", 4, up, "203.0.113.10/24", "2001:db8::10/64")...)
	return newHost(ifs, "eth0")
})
