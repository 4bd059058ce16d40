package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// freeUDP returns a loopback UDP address no socket uses right now.
func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// TestGatewayRole runs three sites' agents in this process, each site's
// local ring on a fake network of its own and the federation ring over
// QUIC on loopback: site a has two gateways, a-1 active and a-2 standby.
// The federation ring forms with a-1 speaking for a; when a-1 stops,
// a-2's local ring makes it active and it speaks for a with a higher
// incarnation; when a-1 comes back, a-2 is no longer active and stops its
// member, and a-1 takes over again. Fenced by a-2's incarnation of an
// older configuration, a-1 resumes with the next epoch. The federation
// traces pass the EVS checker; the gateways warn that their certificates
// expire in 10 days.
func TestGatewayRole(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three federation ring changes over QUIC")
	}
	dir := t.TempDir()
	bEP, cEP := freeUDP(t), freeUDP(t)
	yaml := fmt.Sprintf(`version: 1
cluster: gr
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405"]
    quic: "127.0.0.1:1"
    nodes: [{id: a-1}, {id: a-2}]
    gateways: [a-1, a-2]
  - name: b
    unicast: ["10.2.0.1:5405"]
    quic: %q
    nodes: [{id: b-1}]
    gateways: [b-1]
  - name: c
    unicast: ["10.3.0.1:5405"]
    quic: %q
    nodes: [{id: c-1}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 2ms}
  - {between: [b, c], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`, bEP, cEP)
	f, err := topology.Parse("gr.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	certs := filepath.Join(dir, "certs")
	// Certificates valid for 10 more days: each agent warns at start.
	if _, err := pki.Make(f, pki.Options{Dir: certs, CertValidity: 10 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	key := seal.GenerateKey()
	logs := &syncbuf.Buffer{}
	nets := map[string]*transport.FakeNetwork{"a": {}, "b": {}, "c": {}}
	listen := map[string]string{"a-1": "127.0.0.1:0", "a-2": "127.0.0.1:0", "b-1": bEP, "c-1": cEP}
	type run struct {
		a      *Agent
		cancel context.CancelFunc
		done   chan error
	}
	agents := map[string]*run{}
	var traces []string
	start := func(node string) {
		t.Helper()
		site, _, _ := f.Node(node)
		cfg, err := FromTopology(f, node, PresetLAN)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(site.Nodes, func(n topology.Node) bool { return n.ID == node })
		nw, err := nets[site.Name].Listen(netip.MustParseAddrPort(site.Unicast[i]))
		if err != nil {
			t.Fatal(err)
		}
		trace := filepath.Join(dir, fmt.Sprintf("%s-%d.fed", node, len(traces)))
		traces = append(traces, trace)
		cfg.Network, cfg.Security = nw, Security{Key: key}
		cfg.DataDir, cfg.Logger, cfg.DrainTimeout = filepath.Join(dir, node), slogTo(logs), 200*time.Millisecond
		cfg.AdminSocket = "-"
		cfg.ClientSocket = "-"
		cfg.Federation = &Federation{File: f, Plan: plan, CertDir: certs, Listen: listen[node], TracePath: trace}
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", node, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &run{a: a, cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- a.Run(ctx) }()
		agents[node] = r
	}
	stop := func(node string) {
		t.Helper()
		r := agents[node]
		delete(agents, node)
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run(%s): %v", node, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("agent %s did not stop", node)
		}
	}
	t.Cleanup(func() {
		for n := range agents {
			stop(n)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	// fedRing waits until the named agents run federation members that
	// are operational in one configuration of a, b and c, and returns a's
	// incarnation in it.
	fedRing := func(nodes ...string) gateway.Stats {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ring, ok := "", true
			var st gateway.Stats
			for i, n := range nodes {
				fs := agents[n].a.Status().Federation
				if len(fs) != 1 || fs[0].State != "operational" || !slices.Equal(fs[0].Members, []string{"a", "b", "c"}) || (i > 0 && fs[0].Ring != ring) {
					ok = false
					break
				}
				ring = fs[0].Ring
				if fs[0].Site == "a" {
					st = fs[0]
				}
			}
			if ok {
				return st
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no federation ring of a, b, c at %v", nodes)
		return gateway.Stats{}
	}
	check := func() {
		t.Helper()
		var all []evs.Event
		for _, p := range traces {
			es, err := evs.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, es...)
		}
		if vs := evs.Check(all, evs.Options{}); len(vs) > 0 {
			var b strings.Builder
			evs.Report(&b, vs)
			t.Fatalf("EVS violations in the federation traces:\n%s", b.String())
		}
	}

	for _, n := range []string{"a-1", "a-2", "b-1", "c-1"} {
		start(n)
	}
	first := fedRing("a-1", "b-1", "c-1")
	if first.Node != "a-1" {
		t.Fatalf("a is spoken for by %s, want a-1", first.Node)
	}
	if fs := agents["a-2"].a.Status().Federation; len(fs) != 0 {
		t.Fatalf("the standby a-2 runs a federation member: %+v", fs)
	}
	checkFederationMetrics(t, agents["a-1"].a, first.Domain)
	for _, l := range []string{"federation ring formed", "certificate of a/a-1 expires on", "in 9 days"} {
		if !strings.Contains(logs.String(), l) {
			t.Errorf("no %q line", l)
		}
	}

	// a-1 stops: a-2 becomes active with a higher incarnation.
	stop("a-1")
	second := fedRing("a-2", "b-1", "c-1")
	if second.Node != "a-2" || second.Incarnation <= first.Incarnation {
		t.Fatalf("after a-1 stopped, a is spoken for by %s#%d (before: %s#%d)", second.Node, second.Incarnation, first.Node, first.Incarnation)
	}

	// a-1 returns: it is active again; a-2 stops its member.
	start("a-1")
	third := fedRing("a-1", "b-1", "c-1")
	if third.Incarnation <= second.Incarnation {
		t.Fatalf("a-1's new incarnation %d is not above a-2's %d", third.Incarnation, second.Incarnation)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(agents["a-2"].a.Status().Federation) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a-2 still runs a federation member after a-1 came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "no longer the site's active gateway") {
		t.Error("no line saying a-2 is no longer the active gateway")
	}

	// a-2 restarts: a's local ring changes twice, and a-1 stays active
	// and keeps its member, started in an older configuration than a's
	// current one.
	started := agents["a-1"].a.Status().Ring
	stop("a-2")
	start("a-2")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r1, r2 := agents["a-1"].a.Status().Ring, agents["a-2"].a.Status().Ring
		if r1 != started && r1 == r2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's local ring did not form again with a-2 (a-1 in %s, a-2 in %s; a-1's member started in %s)", r1, r2, started)
		}
	}
	if st := fedRing("a-1", "b-1", "c-1"); st.Incarnation != third.Incarnation {
		t.Fatalf("a is spoken for by %s#%d after a-2's restart, want a-1's member #%d kept", st.Node, st.Incarnation, third.Incarnation)
	}

	// a-1's member is fenced by an incarnation of its own site above its
	// own, of a-2 (rank 1) in the local ring configuration a-1's member
	// started in, older than a's current one, as when a-2 was active in
	// its part of a split local ring, the other sites heard of its member,
	// and the merged ring kept a-1 active with its older member (loadevs
	// "Flush timeouts"). The role is still a-1's: it resumes at once with
	// the next epoch, above the fencer, instead of leaving a without a
	// gateway until its local ring changes again.
	dom := agents["a-1"].a.doms[0].d.Name
	fencer := third.Incarnation | 1
	agents["a-1"].a.fed.runner(dom).r.Fence("a", fencer)
	fourth := third
	for deadline := time.Now().Add(30 * time.Second); fourth.Incarnation <= fencer; {
		if time.Now().After(deadline) {
			t.Fatalf("a-1 did not resume after its member was fenced by %d: a is spoken for by %s#%d", fencer, fourth.Node, fourth.Incarnation)
		}
		time.Sleep(20 * time.Millisecond)
		fourth = fedRing("a-1", "b-1", "c-1")
	}
	// Without a change of a's local ring in between, the resumed member
	// has the next epoch; a local ring that re-formed meanwhile (a loaded
	// machine, the race detector) moves the epoch on by one per change,
	// which is right too. Without the resumption a-1 would wait for a
	// local ring change that a quiet test never has, and the loop above
	// fails at its deadline; the log line below names the resumption.
	if fourth.Node != "a-1" || fourth.Incarnation < third.Incarnation+1<<federation.RankBits {
		t.Fatalf("after the fence a is spoken for by %s#%d, want a-1 with an epoch after #%d's", fourth.Node, fourth.Incarnation, third.Incarnation)
	}
	if len(agents["a-2"].a.Status().Federation) != 0 {
		t.Fatal("a-2 runs a federation member while a-1 is active")
	}
	if !strings.Contains(logs.String(), "it resumes with a new member") {
		t.Error("no line saying a-1 resumes after it was fenced")
	}

	// A fencer of a's current configuration (a-2, rank 1, in the ring
	// a-1's resumed member started in), as a-2's member after a clean
	// split of a's ring, which numbers both parts' rings alike: a-1 does
	// not resume (comparing incarnations, a-1 and a-2 resumed above each
	// other in turn, once a second, in tests/fednetns TestOutrankedNetns's
	// split). Its part, the whole site, outranks the fencer
	// (gateway.Outranks): after gateway.OutrankedGrace its local ring forms
	// again above the fencer's, and a-1 is active with a member above it.
	fencer = fourth.Incarnation | 1
	fenced := time.Now()
	agents["a-1"].a.fed.runner(dom).r.Fence("a", fencer)
	fifth := fourth
	for deadline := time.Now().Add(gateway.OutrankedGrace + 30*time.Second); fifth.Incarnation <= fencer; {
		if time.Now().After(deadline) {
			t.Fatalf("a-1 is not active again after its member was fenced by %d from its own configuration: a is spoken for by %s#%d", fencer, fifth.Node, fifth.Incarnation)
		}
		time.Sleep(20 * time.Millisecond)
		fifth = fedRing("a-1", "b-1", "c-1")
	}
	if took := time.Since(fenced); fifth.Node != "a-1" || federation.IncarnationSeq(fifth.Incarnation) <= federation.IncarnationSeq(fencer) || took < gateway.OutrankedGrace {
		t.Errorf("%v after the fence by %d, a is spoken for by %s#%d, want a-1 in a local ring numbered above the fencer's, after gateway.OutrankedGrace (%v)", took, fencer, fifth.Node, fifth.Incarnation, gateway.OutrankedGrace)
	}
	for _, l := range []string{"(the site's local ring is split, and the other part's configuration is not older)", "its local ring forms again above the fencer's"} {
		if !strings.Contains(logs.String(), l) {
			t.Errorf("no line saying %q", l)
		}
	}
	// The traces are checked once every agent stopped: the federation ring
	// carries the bridges' messages, and the trace files of running
	// agents, read one after the other, could show a delivery without the
	// send that came after the sender's file was read.
	for _, n := range []string{"a-1", "a-2", "b-1", "c-1"} {
		stop(n)
	}
	check()
}

// freeUDPPair returns a loopback port p such that p and p+1 are free right
// now.
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free UDP ports on loopback")
	return 0
}

// TestTwoFederationRings: sites a and b are in two federation domains
// (regional a+b, global a+b+c), each gateway runs both rings, the site's
// first domain at its QUIC endpoint's port and the second at the next
// (topology.Plan.GatewayEndpoint), with no per-domain addresses given: a-1
// listens where Federation.Listen says (offset for its second domain),
// b-1 and c-1 where the plan says, and every gateway dials its peers at
// the plan's endpoints. Both rings form; status names each domain's
// endpoint.
func TestTwoFederationRings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two federation rings over QUIC")
	}
	dir := t.TempDir()
	pa, pb, pc := freeUDPPair(t), freeUDPPair(t), freeUDP(t)
	yaml := fmt.Sprintf(`version: 1
cluster: two
classes:
  - {name: regional, budget: 1s}
  - {name: global, budget: 30s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405"], quic: "127.0.0.1:%d", nodes: [{id: a-1}], gateways: [a-1]}
  - {name: b, unicast: ["10.2.0.1:5405"], quic: "127.0.0.1:%d", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], quic: %q, nodes: [{id: c-1}], gateways: [c-1]}
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 20ms}
  - {between: [b, c], rtt: 20ms}
groups:
  - {name: ab, class: regional, sites: [a, b]}
  - {name: abc, class: global, sites: ["*"]}
`, pa, pb, pc)
	f, err := topology.Parse("two.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	const reg, glob = "fed/regional:a+b", "fed/global:a+b+c"
	if _, ok := plan.Domain(reg); !ok {
		t.Fatalf("the plan has no domain %s", reg)
	}
	certs := filepath.Join(dir, "certs")
	if _, err := pki.Make(f, pki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	key := seal.GenerateKey()
	logs := &syncbuf.Buffer{}
	agents := map[string]*Agent{}
	stops := map[string]func(){}
	// stopAll stops every agent still running (and is done at cleanup
	// too).
	stopAll := func() {
		for _, node := range slices.Sorted(maps.Keys(stops)) {
			stops[node]()
			delete(stops, node)
		}
	}
	t.Cleanup(func() {
		stopAll()
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	for _, node := range []string{"a-1", "b-1", "c-1"} {
		site, _, _ := f.Node(node)
		cfg, err := FromTopology(f, node, PresetLAN)
		if err != nil {
			t.Fatal(err)
		}
		nw, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort(site.Unicast[0]))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network, cfg.Security = nw, Security{Key: key}
		cfg.DataDir, cfg.Logger, cfg.DrainTimeout = filepath.Join(dir, node), slogTo(logs), 200*time.Millisecond
		cfg.AdminSocket, cfg.ClientSocket = "-", "-"
		cfg.Federation = &Federation{File: f, Plan: plan, CertDir: certs, TracePath: filepath.Join(dir, node+".fed")}
		if node == "a-1" {
			cfg.Federation.Listen = fmt.Sprintf("127.0.0.1:%d", pa)
		}
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", node, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		agents[node] = a
		stops[node] = func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run(%s): %v", node, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("agent %s did not stop", node)
			}
		}
	}
	want := map[string]map[string][]string{
		"a-1": {reg: {"a", "b"}, glob: {"a", "b", "c"}},
		"b-1": {reg: {"a", "b"}, glob: {"a", "b", "c"}},
		"c-1": {glob: {"a", "b", "c"}},
	}
	formed := func() string {
		for node, doms := range want {
			fs := agents[node].Status().Federation
			got := map[string][]string{}
			for _, s := range fs {
				if s.State == "operational" {
					got[s.Domain] = s.Members
				}
			}
			for d, m := range doms {
				if !slices.Equal(got[d], m) {
					return fmt.Sprintf("%s: domain %s members %v (want %v); federation status %+v", node, d, got[d], m, fs)
				}
			}
		}
		return ""
	}
	// One look decides: the rings form again right after they first form
	// (the sites' nodes, announced then, change the domains' configurations:
	// "a site's nodes changed"), so a second look could find them forming.
	msg := formed()
	for deadline := time.Now().Add(60 * time.Second); msg != "" && time.Now().Before(deadline); msg = formed() {
		time.Sleep(50 * time.Millisecond)
	}
	if msg != "" {
		t.Fatalf("the two federation rings did not form: %s", msg)
	}
	endpoints := map[string]string{}
	for node := range want {
		for _, d := range agents[node].Status().Domains {
			endpoints[node+" "+d.Domain] = d.Endpoint
		}
	}
	wantEP := map[string]string{
		"a-1 " + reg: fmt.Sprintf("127.0.0.1:%d", pa), "a-1 " + glob: fmt.Sprintf("127.0.0.1:%d", pa+1),
		"b-1 " + reg: fmt.Sprintf("127.0.0.1:%d", pb), "b-1 " + glob: fmt.Sprintf("127.0.0.1:%d", pb+1),
		"c-1 " + glob: pc,
	}
	if fmt.Sprint(endpoints) != fmt.Sprint(wantEP) {
		t.Errorf("status endpoints %v, want %v", endpoints, wantEP)
	}
	// One federation trace per node: a-1's and b-1's hold both rings'
	// lines, each naming its domain; together they pass the EVS checker.
	// They are read once every agent stopped: a domain message's send
	// line is written when the message comes down at its sender's site
	// (gateway/bridge, "When a message is sent"), which can be after the
	// other sites delivered it, so the files of running agents can show a
	// delivery without its send (the rings' own messages, the sites'
	// nodes announced after they first formed, are still being ordered).
	stopAll()
	var all []evs.Event
	for node, doms := range want {
		p := filepath.Join(dir, node+".fed")
		es, err := evs.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range es {
			seen[e.Domain] = true
		}
		for d := range doms {
			if !seen[d] {
				t.Errorf("%s's federation trace has no line of domain %s", node, d)
			}
		}
		all = append(all, es...)
	}
	if vs := evs.Check(all, evs.Options{}); len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		t.Errorf("EVS violations in the federation traces:\n%s", b.String())
	}
}

// checkFederationMetrics checks that a's metrics show its operational
// federation ring member of domain: labelled with the domain, the ring's
// three sites, a token rotation histogram with samples, and nothing the
// Prometheus linter objects to. The ring may be forming again when it is
// called (the sites' nodes, announced after the ring first formed, make
// it form again: "a site's nodes changed"; a token lost on a loaded
// machine too), so it waits up to 10 s for the member to be operational
// with the three sites and for a token rotation to be measured.
func checkFederationMetrics(t *testing.T, a *Agent, domain string) {
	t.Helper()
	problems, err := testutil.GatherAndLint(a.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	var got map[string]*dto.Metric
	var rotations uint64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mfs, err := a.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got, rotations = map[string]*dto.Metric{}, 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "domain" && l.GetValue() == domain {
						got[mf.GetName()] = m
						if mf.GetName() == "atoll_federation_token_rotation_seconds" {
							rotations += m.GetHistogram().GetSampleCount()
						}
					}
				}
			}
		}
		if got["atoll_federation_operational"].GetGauge().GetValue() == 1 && got["atoll_federation_members"].GetGauge().GetValue() == 3 && rotations > 0 ||
			time.Now().After(deadline) {
			break
		}
	}
	if v := got["atoll_federation_operational"].GetGauge().GetValue(); v != 1 {
		t.Errorf("atoll_federation_operational{domain=%q} = %v 10 s after the ring formed, want 1", domain, v)
	}
	if v := got["atoll_federation_members"].GetGauge().GetValue(); v != 3 {
		t.Errorf("atoll_federation_members{domain=%q} = %v, want 3", domain, v)
	}
	if v := got["atoll_federation_installs_total"].GetCounter().GetValue(); v < 1 {
		t.Errorf("atoll_federation_installs_total{domain=%q} = %v, want at least 1", domain, v)
	}
	for _, name := range []string{"atoll_federation_token_losses_total", "atoll_federation_retransmits_total", "atoll_federation_retransmits_not_queued_total", "atoll_federation_window_cuts_total", "atoll_federation_nacks_total", "atoll_federation_token_nacks_total", "atoll_federation_early_token_retransmits_total", "atoll_federation_ring_datagrams_refused_total", "atoll_domain_backlog_bytes", "atoll_domain_backlog_bound_bytes", "atoll_domain_downs_too_large_total", "atoll_federation_backlog_bytes", "atoll_federation_backlog_bound_bytes"} {
		if got[name] == nil {
			t.Errorf("no metric %s{domain=%q}", name, domain)
		}
	}
	if rotations == 0 {
		t.Errorf("atoll_federation_token_rotation_seconds{domain=%q} has no samples 10 s after the ring formed", domain)
	}
}
