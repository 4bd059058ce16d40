package topology

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// base is a small valid file; cases edit it with strings.Replace.
const base = `version: 1
cluster: test
classes:
  - {name: fast, budget: 2ms}
  - {name: slow, budget: 500ms, throughput: 10Mbit/s}
sites:
  - name: a
    multicast: 239.192.0.1
    quic: a.example.net:7400
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1]
  - name: b
    unicast: [10.0.0.1, "10.0.0.2:5405"]
    bind: 10.0.0.1
    quic: b.example.net:7400
    nodes: [{id: b-1}, {id: b-2, bind: 10.0.0.2}]
    gateways: [b-1, b-2]
links:
  - {between: [a, b], rtt: 20ms, bandwidth: 1Gbit/s}
groups:
  - {name: g1, class: fast, sites: [a]}
  - {name: g2, class: slow, sites: [a, b]}
`

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func errorsOf(t *testing.T, src string) ErrorList {
	t.Helper()
	_, err := Parse("test.yaml", []byte(src))
	if err == nil {
		return nil
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse returned %T, want ErrorList: %v", err, err)
	}
	for _, e := range list {
		if e.File != "test.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" || e.Fix == "" {
			t.Errorf("incomplete error %#v", e)
		}
	}
	return list
}

func TestBaseIsValid(t *testing.T) {
	f := mustParse(t, base)
	if f.Cluster != "test" || len(f.Sites) != 2 || f.Links[0].RTT.D() != 20*time.Millisecond || f.Classes[1].Throughput != 10_000_000 {
		t.Fatalf("decoded wrongly: %+v", f)
	}
}

func TestMistakes(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string // "line:col: path: message fragment"
	}{
		{"unknown key", "cluster: test", "cluster: test\nclustr: x", "3:1: clustr: unknown key \"clustr\"; did you mean \"cluster\"?"},
		{"duplicate key", "cluster: test", "cluster: test\ncluster: again", "3:1: cluster: key \"cluster\" appears twice (first at line 2)"},
		{"bad version", "version: 1", "version: 3", "1:10: version: unsupported version 3"},
		{"missing version", "version: 1\n", "", "1:1: version: version is missing"},
		{"version not int", "version: 1", "version: one", "1:10: version: expected an integer, found \"one\""},
		{"duration without unit", "budget: 2ms", "budget: 2", "4:26: classes[0].budget: duration \"2\" has no unit"},
		{"bad duration", "budget: 2ms", "budget: soon", "4:26: classes[0].budget: cannot parse duration \"soon\""},
		{"negative duration", "budget: 2ms", "budget: -2ms", "4:26: classes[0].budget: duration \"-2ms\" is negative"},
		{"zero budget", "budget: 2ms", "budget: 0s", "4:26: classes[0].budget: budget is zero"},
		{"missing budget", "{name: fast, budget: 2ms}", "{name: fast}", "4:5: classes[0].budget: budget is missing"},
		{"bad bandwidth", "throughput: 10Mbit/s", "throughput: 10", "5:45: classes[1].throughput: bandwidth \"10\" has no unit"},
		{"duplicate class", "name: slow", "name: fast", "5:12: classes[1].name: class \"fast\" is defined twice (first at line 4)"},
		{"list expected", "gateways: [a-1]", "gateways: a-1", "11:15: sites[0].gateways: expected a list, found \"a-1\""},
		{"mapping expected", "nodes: [{id: a-1}, {id: a-2}]", "nodes: [a-1, a-2]", "10:13: sites[0].nodes[0]: expected a mapping of keys to values, found \"a-1\""},
		{"duplicate site", "name: b", "name: a", "12:11: sites[1].name: site \"a\" is defined twice (first at line 7)"},
		{"bad site name", "name: b", "name: B_2", "12:11: sites[1].name: site name \"B_2\" is not a DNS label"},
		{"no transport", "    multicast: 239.192.0.1\n", "", "7:5: sites[0]: neither multicast nor unicast is set"},
		{"both transports", "multicast: 239.192.0.1", "multicast: 239.192.0.1\n    unicast: [10.1.1.1]", "9:14: sites[0].unicast: both multicast and unicast are set"},
		{"not multicast", "multicast: 239.192.0.1", "multicast: 10.0.0.1", "8:16: sites[0].multicast: 10.0.0.1 is not a multicast address"},
		{"multicast with port", "multicast: 239.192.0.1", "multicast: 239.192.0.1:5405", "write the group alone (multicast: 239.192.0.1) and the port as port: 5405"},
		{"bad unicast", "unicast: [10.0.0.1,", "unicast: [ten,", "13:15: sites[1].unicast[0]: \"ten\" is not an IP address or IP:port"},
		{"unicast missing a node", "unicast: [10.0.0.1, \"10.0.0.2:5405\"]", "unicast: [10.0.0.1, 10.0.0.3]", "13:14: sites[1].unicast: node \"b-2\" binds 10.0.0.2:5405, which is not in unicast"},
		{"too few peers", "unicast: [10.0.0.1, \"10.0.0.2:5405\"]", "unicast: [10.0.0.1]", "unicast lists 1 peer for 2 nodes"},
		{"port range", "multicast: 239.192.0.1", "multicast: 239.192.0.1\n    port: 0", "9:11: sites[0].port: port 0 is out of range"},
		{"same endpoint", "{id: b-2, bind: 10.0.0.2}", "{id: b-2, bind: 10.0.0.1}", "16:24: sites[1].nodes[1]: nodes \"b-1\" and \"b-2\" both bind 10.0.0.1:5405"},
		{"duplicate node id", "{id: b-1}", "{id: a-1}", "16:18: sites[1].nodes[0].id: node id \"a-1\" is also used in site \"a\" (line 10)"},
		{"gateway of other site", "gateways: [a-1]", "gateways: [b-1]", "11:16: sites[0].gateways[0]: gateway \"b-1\" is a node of site \"b\", not of site \"a\""},
		{"unknown gateway", "gateways: [a-1]", "gateways: [a-3]", "11:16: sites[0].gateways[0]: gateway \"a-3\" is not a node of site \"a\"; did you mean \"a-1\"?"},
		{"gateway twice", "gateways: [a-1]", "gateways: [a-1, a-1]", "11:21: sites[0].gateways[1]: gateway \"a-1\" is listed twice"},
		{"no gateways", "    gateways: [a-1]\n", "", "7:11: sites[0].name: group \"g2\" spans site \"a\" and others, but the site has no gateways"},
		{"no quic", "    quic: a.example.net:7400\n", "", "10:16: sites[0].gateways[0]: group \"g2\" spans site \"a\" and others, but gateway \"a-1\" has no QUIC endpoint"},
		{"bad quic", "quic: a.example.net:7400", "quic: a.example.net", "9:11: sites[0].quic: QUIC endpoint \"a.example.net\" is not host:port"},
		{"quic port clash", "quic: a.example.net:7400", "quic: a.example.net:5405", "gateway \"a-1\" would use UDP port 5405 for both QUIC and the local ring"},
		{"overlapping multicast", "unicast: [10.0.0.1, \"10.0.0.2:5405\"]", "multicast: 239.192.0.1", "sites[1].multicast: multicast group 239.192.0.1 port 5405 is also used by site \"a\" (line 8)"},
		{"bad bind literal", "bind: 10.0.0.1", "bind: 10.0.0", "14:11: sites[1].bind: bind \"10.0.0\" is neither an IP address nor a go-sockaddr template"},
		{"bad template", "bind: 10.0.0.1", "bind: '{{ GetPrivateIP '", "14:11: sites[1].bind: bind template does not parse"},
		{"unknown template function", "bind: 10.0.0.1", "bind: '{{ GetPrivIP }}'", "function \"GetPrivIP\" not defined"},
		{"template yields no address", "bind: 10.0.0.1", "bind: '{{ GetAllInterfaces | attr \"name\" }}'", "bind template yields \"lo\" on a sample host, which is not an IP address"},
		{"template range", "bind: 10.0.0.1", "bind: '{{ range 3 }}x{{ end }}'", "only pipelines"},
		{"link unknown site", "between: [a, b]", "between: [a, c]", "19:19: links[0].between[1]: unknown site \"c\""},
		{"link to itself", "between: [a, b]", "between: [a, a]", "19:15: links[0].between: link joins site \"a\" to itself"},
		{"link of three", "between: [a, b]", "between: [a, b, a]", "19:15: links[0].between: a link joins two sites, not 3"},
		{"duplicate link", "groups:", "  - {between: [b, a], rtt: 21ms}\ngroups:", "20:15: links[1].between: link b–a is declared twice (first at line 19)"},
		{"missing rtt", "rtt: 20ms, ", "", "19:5: links[0].rtt: rtt is missing"},
		{"unknown class", "class: slow", "class: slwo", "22:23: groups[1].class: unknown class \"slwo\"; did you mean \"slow\"?"},
		{"unknown group site", "sites: [a, b]", "sites: [a, bb]", "22:40: groups[1].sites[1]: unknown site \"bb\"; did you mean \"b\"?"},
		{"star with others", "sites: [a, b]", "sites: [\"*\", b]", "groups[1].sites[0]: \"*\" stands for every site and cannot be combined with others"},
		{"duplicate group", "name: g2", "name: g1", "22:12: groups[1].name: group \"g1\" is defined twice (first at line 21)"},
		{"bad group name", "name: g2", "name: \"g 2\"", "groups[1].name: group name \"g 2\" is not valid"},
		{"empty sites", "sites: [a, b]", "sites: []", "22:36: groups[1].sites: sites is empty"},
		{"bad principal", "sites: [a, b]}", "sites: [a, b], acl: {join: [root, \"uid:x\", \"node:zz\", \"cn:svc\"]}}", "groups[1].acl.join[0]: principal \"root\" is not valid"},
		{"budget not met", "class: slow", "class: fast", "22:23: groups[1].class: group \"g2\" (class fast) spans a, b: predicted 71.6ms > budget 2ms; its farthest link is a–b rtt 20ms and its ring a→b alone rotates in 20.2ms"},
		{"budget fix", "class: slow", "class: fast", "move the group to class slow (budget 500ms)"},
		{"unreachable", "links:\n  - {between: [a, b], rtt: 20ms, bandwidth: 1Gbit/s}\n", "", "20:36: groups[1].sites: group \"g2\" spans sites a and b, but no chain of links joins them; add a link: {between: [a, b], rtt: MEASURED}"},
		{"bandwidth", "bandwidth: 1Gbit/s", "bandwidth: 5Mbit/s", "19:45: links[0].bandwidth: link a→b may have to carry 10Mbit/s of federation traffic (domains fed/slow:a+b) but declares 5Mbit/s"},
		{"too many stripes", "bandwidth: 1Gbit/s}", "bandwidth: 1Gbit/s, stripes: 65}", "19:63: links[0].stripes: stripes 65 is not between 1 and 64"},
		{"zero stripes", "bandwidth: 1Gbit/s}", "bandwidth: 1Gbit/s, stripes: 0}", "links[0].stripes: stripes 0 is not between 1 and 64"},
		{"stripes fix", "bandwidth: 1Gbit/s}", "bandwidth: 1Gbit/s, stripes: -2}", "leave it out for one"},
		{"implausible rtt", "rtt: 20ms", "rtt: 20h", "19:28: links[0].rtt: rtt 20h0m0s is longer than 10s; check the unit"},
		{"implausible hold", "multicast: 239.192.0.1", "multicast: 239.192.0.1\n    token_hold: 100s", "9:17: sites[0].token_hold: token_hold 1m40s is longer than 10s"},
		{"merge key", "cluster: test", "cluster: test\n<<: {x: 1}", "3:1: <<: merge keys (<<) are not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(base, c.old, c.new, 1)
			if src == base {
				t.Fatalf("case does not change the file: %q not found", c.old)
			}
			errs := errorsOf(t, src)
			var all []string
			for _, e := range errs {
				s := strings.TrimPrefix(e.Error(), "test.yaml:")
				if strings.Contains(s, c.want) {
					return
				}
				all = append(all, s)
			}
			t.Errorf("no error contains %q; got:\n%s", c.want, strings.Join(all, "\n"))
		})
	}
}

func TestEveryMistakeAtOnce(t *testing.T) {
	src := strings.NewReplacer("version: 1", "version: 2", "budget: 2ms", "budget: 2", "gateways: [a-1]", "gateways: [a-9]", "class: slow", "class: nope").Replace(base)
	errs := errorsOf(t, src)
	if len(errs) != 4 {
		t.Fatalf("got %d errors, want 4:\n%v", len(errs), errs)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i-1].Line > errs[i].Line {
			t.Errorf("errors out of order: %v", errs)
		}
	}
	if !strings.HasPrefix(errs.Error(), "topology: test.yaml has 4 mistakes:\ntest.yaml:1:10: version:") {
		t.Errorf("ErrorList.Error() = %q", errs.Error())
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{File: "f.yaml", Line: 3, Col: 7, Path: "sites[0].name", Msg: "site name is missing", Fix: "add one"}
	if got, want := e.Error(), "f.yaml:3:7: sites[0].name: site name is missing; add one"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{File: "f.yaml", Line: 1, Col: 1, Msg: "YAML syntax: x"}
	if got, want := e.Error(), "f.yaml:1:1: YAML syntax: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		src  string
		want string
	}{
		{"version: 1\ncluster: [a, b\n", "YAML syntax"},
		{"version: 1\n\tcluster: x\n", "2:1: YAML syntax: found a tab character that violates indentation; indent with spaces, not tabs"},
		{"version: 1\ncluster: \x01x\n", "2:10: control character U+0001"},
		{"version: 1\ncluster: \xffx\n", "2:10: invalid UTF-8 byte 0xff"},
		{"version: 1\ncluster: *nope\n", "2:10: YAML syntax: unknown anchor 'nope' referenced; define the anchor with &nope"},
		{"version: 1\n---\ncluster: x\n", "2:1: a second YAML document"},
		{"", "1:1: file is empty"},
		{"# only a comment\n", "1:1: file is empty"},
		{"- a\n- b\n", "1:1: expected the file to be a mapping"},
		{"just a string", "1:1: expected the file to be a mapping"},
		{"version: 1\ncluster: x\nsites:\n  - name: a\n   nodes: []\n", "YAML syntax"},
	}
	for _, c := range cases {
		f, err := Parse("s.yaml", []byte(c.src))
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%q: got %v, want an ErrorList", c.src, err)
			continue
		}
		if f != nil && strings.Contains(c.want, "YAML syntax") {
			t.Errorf("%q: got a File for a syntax error", c.src)
		}
		if !strings.Contains(list[0].Error(), c.want) {
			t.Errorf("%q: first error %q does not contain %q", c.src, list[0], c.want)
		}
		for _, e := range list {
			if e.Line < 1 || e.Col < 1 {
				t.Errorf("%q: error without position: %#v", c.src, e)
			}
		}
	}
}

func TestAliases(t *testing.T) {
	// Aliases are allowed and expanded...
	src := strings.Replace(base, "nodes: [{id: a-1}, {id: a-2}]", "nodes: &n [{id: a-1}, {id: a-2}]", 1)
	mustParse(t, src)
	// ...but a "billion laughs" file is cut short: 1000 nodes behind one
	// alias, a site behind another, and the site repeated.
	var b strings.Builder
	b.WriteString("version: 1\ncluster: x\nsites:\n  - &s\n    name: a\n    multicast: 239.192.0.1\n    nodes: &n\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - {id: n%d}\n", i)
	}
	b.WriteString("  - {name: b, multicast: 239.192.0.2, nodes: *n}\n")
	for range 2000 {
		b.WriteString("  - *s\n")
	}
	// The error proves the walk stopped at maxValues; a wall-clock bound
	// here would only measure the machine's load.
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("alias bomb: got %v", err)
	}
}

func TestFileTooLarge(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileBytes+1))
	if err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("got %v", err)
	}
}

func TestUnits(t *testing.T) {
	for s, want := range map[string]Bandwidth{"1Gbit/s": 1e9, "10Mbps": 1e7, "12.5MB/s": 1e8, "64kbit/s": 64e3, "2 Tbit/s": 2e12, "800bit/s": 800} {
		var b Bandwidth
		if p := b.parseScalar(s); p != nil || b != want {
			t.Errorf("parse %q = %v, %v; want %v", s, b, p, want)
		}
	}
	for b, want := range map[Bandwidth]string{1e9: "1Gbit/s", 2.5e9: "2.5Gbit/s", 64e3: "64kbit/s", 800: "800bit/s", 0: "0bit/s"} {
		if got := b.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(b), got, want)
		}
	}
	for s, want := range map[string]time.Duration{"8ms": 8 * time.Millisecond, "200us": 200 * time.Microsecond, "200µs": 200 * time.Microsecond, "1.5s": 1500 * time.Millisecond} {
		var d Duration
		if p := d.parseScalar(s); p != nil || d.D() != want {
			t.Errorf("parse %q = %v, %v; want %v", s, d, p, want)
		}
	}
	if got := Duration(150 * time.Microsecond).String(); got != "150us" {
		t.Errorf("Duration.String() = %q", got)
	}
}

func TestAccessors(t *testing.T) {
	f := mustParse(t, base)
	s, n, ok := f.Node("b-2")
	if !ok || s.Name != "b" || n.ID != "b-2" {
		t.Fatalf("Node(b-2) = %v, %v, %v", s, n, ok)
	}
	if got := s.BindTemplate(n); got != "10.0.0.2" {
		t.Errorf("BindTemplate = %q", got)
	}
	a, _ := f.Site("a")
	if got := a.BindTemplate(&a.Nodes[0]); got != DefaultBind {
		t.Errorf("default BindTemplate = %q", got)
	}
	if got := a.RingPort(&a.Nodes[0]); got != DefaultPort {
		t.Errorf("RingPort = %d", got)
	}
	if got := s.QUICEndpoint(n); got != "b.example.net:7400" {
		t.Errorf("QUICEndpoint = %q", got)
	}
	if f.Name() != "test.yaml" {
		t.Errorf("Name = %q", f.Name())
	}
}

// TestLargeFileIsQuick feeds Parse a file near the size limit with
// thousands of sites and thousands of groups on every site: checking must
// stay near linear, and the planner refuses the world rather than plan it.
func TestLargeFileIsQuick(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ncluster: big\nclasses: [{name: c, budget: 1s}]\nsites:\n")
	for i := range 8000 {
		fmt.Fprintf(&b, "  - {name: s%d, multicast: 239.192.%d.%d, nodes: [{id: n%d}]}\n", i, i/250, i%250+1, i)
	}
	b.WriteString("groups:\n")
	for i := 0; b.Len() < MaxFileBytes-100; i++ {
		fmt.Fprintf(&b, "  - {name: g%d, class: c, sites: [\"*\"]}\n", i)
	}
	start := time.Now()
	_, err := Parse("big.yaml", []byte(b.String()))
	// The limits catch quadratic work (minutes), not slow machines: this
	// takes well under a second, a few under -race.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Parse of %d bytes took %v", b.Len(), d)
	}
	var list ErrorList
	if !errors.As(err, &list) || !strings.Contains(err.Error(), "8000 sites are more than the planner handles (64)") {
		t.Fatalf("got %.300v", err)
	}
	t.Logf("%d bytes, %d mistakes, %v", b.Len(), len(list), time.Since(start))

	// One site with tens of thousands of nodes, all gateways, all in
	// unicast, most of them missing from it.
	b.Reset()
	b.WriteString("version: 1\ncluster: big\nsites:\n  - name: a\n    bind: 10.0.0.1\n    unicast: [10.0.0.1]\n    nodes:\n")
	n := 0
	for ; b.Len() < MaxFileBytes/2; n++ {
		fmt.Fprintf(&b, "      - {id: n%d, port: %d}\n", n, 1+n%65000)
	}
	b.WriteString("    gateways: [")
	for i := 0; b.Len() < MaxFileBytes-100; i++ {
		fmt.Fprintf(&b, "n%d, ", i%(n+10))
	}
	b.WriteString("x]\n")
	start = time.Now()
	f, err := Parse("nodes.yaml", []byte(b.String()))
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Parse of %d nodes took %v", n, d)
	}
	if f == nil || err == nil {
		t.Fatalf("got %v, %.300v", f, err)
	}
	if p := f.Plan(); len(p.Domains) != 1 || len(p.Domains[0].Ring) != n {
		t.Errorf("plan of %d nodes: %+v", n, p.Domains)
	}
	t.Logf("%d nodes: %v", n, time.Since(start))
}

func TestSecurity(t *testing.T) {
	f := mustParse(t, base+"security: {mode: auth, cipher: chacha20-poly1305, key_file: /etc/atoll/atoll.key, key_epoch: 2}\n")
	if s := f.Security; s == nil || s.Mode != "auth" || s.Cipher != "chacha20-poly1305" || s.KeyFile != "/etc/atoll/atoll.key" || s.KeyEpoch != 2 {
		t.Fatalf("security decoded as %+v", f.Security)
	}
	for _, c := range []struct{ src, want string }{
		{"security: {mode: plain}\n", `test.yaml:23:18: security.mode: unknown security mode "plain"`},
		{"security: {cipher: aes}\n", `test.yaml:23:20: security.cipher: unknown cipher "aes"`},
		{"security: {mode: none, key_file: k}\n", "test.yaml:23:34: security.key_file: mode none uses no key"},
		{"security: {key_epoch: -1}\n", "test.yaml:23:23: security.key_epoch: key epoch -1 is out of range"},
		{"security: {keyfile: k}\n", "security.keyfile"},
	} {
		list := errorsOf(t, base+c.src)
		if len(list) != 1 || !strings.Contains(list[0].Error(), c.want) {
			t.Errorf("%q: got %v, want one error starting %q", c.src, list, c.want)
		}
	}
}

func TestFederationRingPackets(t *testing.T) {
	for _, m := range RingPacketModes {
		f := mustParse(t, base+"federation: {ring_packets: "+m+"}\n")
		if f.Federation == nil || f.Federation.RingPackets != m {
			t.Fatalf("federation decoded as %+v", f.Federation)
		}
	}
	noBandwidth := strings.Replace(base, "rtt: 20ms, bandwidth: 1Gbit/s", "rtt: 20ms", 1)
	for _, c := range []struct{ src, want string }{
		{base + "federation: {ring_packets: tcp}\n", `test.yaml:23:28: federation.ring_packets: unknown ring packet transport "tcp"`},
		{noBandwidth + "federation: {ring_packets: udp}\n", "federation.ring_packets: ring_packets udp sends at each link's declared bandwidth, but links a-b declare none"},
		{base + "federation: {ringpackets: udp}\n", "federation.ringpackets"},
	} {
		list := errorsOf(t, c.src)
		if len(list) != 1 || !strings.Contains(list[0].Error(), c.want) {
			t.Errorf("%q: got %v, want one error containing %q", c.src, list, c.want)
		}
	}
	// streams and datagrams need no bandwidth.
	mustParse(t, noBandwidth+"federation: {ring_packets: datagrams}\n")
}

// TestFederationUnneeded: federation.unneeded is stubs (the default) or
// full, and File.Stubs says which.
func TestFederationUnneeded(t *testing.T) {
	for src, want := range map[string]bool{
		"":                                      true,
		"federation: {ring_packets: streams}\n": true,
		"federation: {unneeded: stubs}\n":       true,
		"federation: {unneeded: full}\n":        false,
	} {
		if got := mustParse(t, base+src).Stubs(); got != want {
			t.Errorf("%q: Stubs() %v, want %v", src, got, want)
		}
	}
	list := errorsOf(t, base+"federation: {unneeded: none}\n")
	if want := `test.yaml:23:24: federation.unneeded: unknown way to bring down unneeded messages "none"`; len(list) != 1 || !strings.Contains(list[0].Error(), want) {
		t.Errorf("got %v, want one error containing %q", list, want)
	}
}
