package agent

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// domainSiteYAML is a site (a) in two federation domains (ab, abc) with
// a site-local group, as in atoll bench isolation.
const domainSiteYAML = `version: 1
cluster: snap
classes:
  - {name: realtime, budget: 2ms}
  - {name: regional, budget: 1s}
  - {name: global, budget: 30s}
sites:
  - {name: a, unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"], quic: "127.0.0.1:7001", nodes: [{id: a-1}, {id: a-2}, {id: a-3}], gateways: [a-1, a-2]}
  - {name: b, unicast: ["10.2.0.1:5405"], quic: "127.0.0.1:7002", nodes: [{id: b-1}], gateways: [b-1]}
  - {name: c, unicast: ["10.3.0.1:5405"], quic: "127.0.0.1:7003", nodes: [{id: c-1}], gateways: [c-1]}
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 20ms}
  - {between: [b, c], rtt: 20ms}
groups:
  - {name: a-local, class: realtime, sites: [a]}
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: [a, b, c]}
`

// newDomainAgent returns node a-1 of domainSiteYAML, not running: its
// group loop's parts are called directly.
func newDomainAgent(tb testing.TB) *Agent {
	tb.Helper()
	f, err := topology.Parse("snap.yaml", []byte(domainSiteYAML))
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := FromTopology(f, "a-1", PresetLAN)
	if err != nil {
		tb.Fatal(err)
	}
	nw, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.1.0.1:5405"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	cfg.Network, cfg.Security = nw, Security{Key: seal.GenerateKey()}
	cfg.DataDir, cfg.Logger = filepath.Join(dir, "a-1"), slogTo(io.Discard)
	cfg.AdminSocket, cfg.ClientSocket = "-", "-"
	cfg.Federation = &Federation{File: f, Plan: f.Plan(), Listen: "127.0.0.1:0"}
	a, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if len(a.doms) != 2 {
		tb.Fatalf("a-1 runs %d domain layers; want 2 (ab-regional's and abc-global's)", len(a.doms))
	}
	return a
}

// installSite installs a regular local ring configuration of the site's
// three nodes at a, as the group loop's site part does: a-1 becomes the
// site's active gateway of both domains and announces the site in each.
func installSite(a *Agent, seq uint64) {
	ring := localring.RingID{Seq: seq, Rep: "a-1"}
	conf := &localring.Configuration{ID: localring.RegularConfID(ring), Kind: localring.Regular, Ring: ring,
		Members: []localring.Member{{ID: "a-1", Inc: a.self.Inc}, {ID: "a-2", Inc: 1}, {ID: "a-3", Inc: 1}}}
	a.gl.conf = conf
	a.domainsLocalEvent(&localring.Event{Kind: localring.EventInstall, Conf: conf})
	clear(a.gl.queue)
	a.gl.queue = a.gl.queue[:0]
}

// BenchmarkGroupSnapshot: the group loop's status snapshot, published at
// the end of every pass, in a site with two federation domains.
func BenchmarkGroupSnapshot(b *testing.B) {
	a := newDomainAgent(b)
	installSite(a, 4)
	b.ReportAllocs()
	for b.Loop() {
		a.updateGroupSnapshot()
	}
}

// BenchmarkIdleRequests: the group loop's client request part with no
// request, in a site with two federation domains.
func BenchmarkIdleRequests(b *testing.B) {
	a := newDomainAgent(b)
	installSite(a, 4)
	b.ReportAllocs()
	for b.Loop() {
		a.takeClientRequests()
	}
}

// TestGroupSnapshotAllocs: the group loop's pass publishes the domains'
// status without allocating (it did 5 times a pass at a site with two
// federation domains: the slice, each domain's position and endpoint).
func TestGroupSnapshotAllocs(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	if n := testing.AllocsPerRun(100, a.updateGroupSnapshot); n != 0 {
		t.Errorf("updateGroupSnapshot: %v allocations a pass; want 0", n)
	}
}

// TestGroupSnapshotStatus: Status shows what the group loop's last pass
// published of each domain, formatted as before (position, role, active
// gateway, endpoint, configuration), and a Status returned before a pass
// keeps what it showed.
func TestGroupSnapshotStatus(t *testing.T) {
	a := newDomainAgent(t)
	a.updateGroupSnapshot()
	before := a.Status()
	installSite(a, 4)
	if got := a.Status().Domains; !equalDomains(got, before.Domains) {
		t.Fatalf("Status before the pass after the install: %+v; want what the pass before published, %+v", got, before.Domains)
	}
	a.doms[1].msgs, a.doms[1].unneeded = 7, 3
	a.updateGroupSnapshot()
	st := a.Status()
	if len(st.Domains) != 2 {
		t.Fatalf("Status: %d domains; want 2", len(st.Domains))
	}
	plan, file := a.cfg.Federation.Plan, a.cfg.Federation.File
	for i, d := range st.Domains {
		dl := a.doms[i]
		ep, err := plan.GatewayEndpoint(file, dl.d.Name, "a-1")
		if err != nil || ep == "" {
			t.Fatalf("GatewayEndpoint(%s, a-1): %q, %v", dl.d.Name, ep, err)
		}
		c := dl.v.Current()
		gw, _, _ := dl.role.Active()
		role := "standby"
		if gw == "a-1" {
			role = "active gateway"
		}
		want := DomainStatus{Domain: dl.d.Name, Sites: dl.d.Sites, Role: role, Active: gw, Endpoint: ep,
			Position: dl.b.Last().String(), Pending: dl.b.Pending(), Queued: dl.g.Pending(), Round: dl.v.InRound(),
			Connected: dl.b.Conf().Sites, Messages: dl.msgs, Unneeded: dl.unneeded, UnneededAs: "stubs",
			Backlog: dl.backlog(), BacklogBound: dl.bound, Bridge: dl.b.Stats(), View: dl.v.Stats(), Layer: dl.g.Stats()}
		if c != nil {
			want.Configuration, want.Members = c.ID, len(c.Members)
		}
		if !equalDomains([]DomainStatus{d}, []DomainStatus{want}) {
			t.Errorf("domain %d: %+v\nwant %+v", i, d, want)
		}
	}
	if d := st.Domains[0]; d.Role != "active gateway" || d.Active != "a-1" || d.Position != "0@0" {
		t.Errorf("domain %s: role %q, active %q, position %q; want a-1 the active gateway, at 0@0", d.Domain, d.Role, d.Active, d.Position)
	}
	if d := st.Domains[1]; d.Messages != 7 || d.Unneeded != 3 || d.Active == "" {
		t.Errorf("domain %s: messages %d, unneeded %d, active %q; want 7, 3 and an active gateway", d.Domain, d.Messages, d.Unneeded, d.Active)
	}
	for _, d := range before.Domains {
		if d.Role != "standby" || d.Active != "" || d.Messages != 0 {
			t.Errorf("a Status returned before the install changed: %+v", d)
		}
	}
}

// TestGroupSnapshotConcurrentStatus: Status reads the domains while the
// group loop publishes them (with -race: no data race on the snapshot
// the group loop overwrites in place).
func TestGroupSnapshotConcurrentStatus(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	a.updateGroupSnapshot()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			a.doms[0].msgs = uint64(i)
			a.updateGroupSnapshot()
		}
	}()
	var last uint64
	for range 200 {
		d := a.Status().Domains
		if len(d) != 2 || d[0].Messages < last {
			t.Fatalf("Status: %+v after messages %d", d, last)
		}
		last = d[0].Messages
	}
	<-done
}

func equalDomains(a, b []DomainStatus) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestIdleRequestsSkipDomains: a group loop pass with no client request
// and nothing from the domains' parts runs no domain output pass.
func TestIdleRequestsSkipDomains(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	a.takeClientRequests()
	before := []uint64{a.doms[0].passes, a.doms[1].passes}
	for range 10 {
		a.takeClientRequests()
	}
	for i, dl := range a.doms {
		if dl.passes != before[i] {
			t.Errorf("domain %s: %d output passes in 10 idle group loop passes; want none", dl.d.Name, dl.passes-before[i])
		}
	}
}

// TestRequestsTakeDomainOutput: what a domain's bridge, View or group
// layer produced outside a domainOutput, and an ask to form the
// federation ring again that waits, still go on at the next pass.
func TestRequestsTakeDomainOutput(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	a.takeClientRequests()
	dl := a.doms[0]
	ring := localring.RingID{Seq: 8, Rep: "a-1"}
	conf := &localring.Configuration{ID: localring.RegularConfID(ring), Kind: localring.Regular, Ring: ring,
		Members: []localring.Member{{ID: "a-1", Inc: a.self.Inc}, {ID: "a-2", Inc: 1}}}
	pass := func(what string, ready func() bool) {
		t.Helper()
		if !ready() {
			t.Fatalf("%s: nothing ready", what)
		}
		n := len(a.gl.queue)
		a.takeClientRequests()
		if ready() || len(a.gl.queue) == n {
			t.Errorf("%s: after a pass, ready %v, ring messages queued %d -> %d; want it taken and sent", what, ready(), n, len(a.gl.queue))
		}
	}
	dl.b.LocalInstall(conf, true)
	pass("the bridge's local install", dl.b.HasReady)
	dl.v.LocalInstall(conf)
	pass("the View's local install (the site's announcement)", dl.v.HasReady)
	if err := dl.g.Join("c1", "abc-global"); err != nil {
		t.Fatal(err)
	}
	// The domain's group layer in a configuration (as the View's events
	// bring it there), with a client's join waiting: the join goes out.
	dring := localring.RingID{Seq: 1, Rep: "a-1"}
	dl.g.Step(localring.Event{Kind: localring.EventInstall, Conf: &localring.Configuration{ID: localring.RegularConfID(dring),
		Kind: localring.Regular, Ring: dring, Members: []localring.Member{{ID: "a-1", Inc: a.self.Inc}}}})
	pass("a join in the domain's group layer", dl.g.HasReady)
	dl.reform = true
	n := dl.passes
	a.takeClientRequests()
	if dl.passes == n {
		t.Error("an ask to form the federation ring again waits: no output pass")
	}
}

// BenchmarkDomainsSiteMessage: the domain part of a local ring message
// that is no federation domain's (a site group's, as atoll bench
// isolation's a-local), at a node of a site with two federation domains:
// every such message goes through both domains' layers.
func BenchmarkDomainsSiteMessage(b *testing.B) {
	a := newDomainAgent(b)
	installSite(a, 4)
	a.takeClientRequests()
	e := &localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{ID: localring.MessageID{Sender: "a-2", Inc: 1, Seq: 1},
		Svc: localring.Agreed, Payload: []byte("a site group's message, not a bridge's")}}
	b.ReportAllocs()
	for b.Loop() {
		e.Msg.ID.Seq++
		a.domainsLocalEvent(e)
	}
}

// TestSiteMessageSkipsDomains: a local ring message that is no federation
// domain's runs no domain output pass; one that gives a domain's bridge
// output (a bridge message of the domain) still does.
func TestSiteMessageSkipsDomains(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	a.takeClientRequests()
	before := []uint64{a.doms[0].passes, a.doms[1].passes}
	for i := range 10 {
		a.domainsLocalEvent(&localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{ID: localring.MessageID{Sender: "a-2", Inc: 1, Seq: uint64(i + 1)},
			Svc: localring.Agreed, Payload: []byte("a site group's message")}})
	}
	for i, dl := range a.doms {
		if dl.passes != before[i] {
			t.Errorf("domain %s: %d output passes for 10 site messages; want none", dl.d.Name, dl.passes-before[i])
		}
	}
	// The site's announcement in one domain (the View's Up, through the
	// bridge), delivered back by the local ring: the bridge has the
	// domain's message to move along.
	dl := a.doms[0]
	dl.v.LocalInstall(a.gl.conf)
	vr := dl.v.Ready()
	if len(vr.Up) == 0 {
		t.Fatal("the View announced nothing at the site's install")
	}
	up := dl.b.EncodeUp(localring.Agreed, vr.Up[0])
	n := dl.passes
	a.domainsLocalEvent(&localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{ID: localring.MessageID{Sender: "a-1", Inc: a.self.Inc, Seq: 100},
		Svc: localring.Agreed, Payload: up}})
	if dl.passes == n && dl.b.HasReady() {
		t.Errorf("domain %s: the bridge has output after its own message and no output pass ran", dl.d.Name)
	}
}

// heldRequests gives a the requests of sessions senders, window each, to
// abc-global, all waiting: the domain's layer is full (backlogFull, here
// by a share of the slack of 0 bytes: the backlog a saturated WAN link
// keeps at its bound does the same).
func heldRequests(a *Agent, senders, window int) {
	dl := a.domainOf("abc-global")
	dl.bound, dl.transit = 1, 0
	for i := range senders {
		s := &session{cs: a.cs, name: fmt.Sprintf("sender-%d", i), credit: make(chan struct{}, window)}
		for j := range window {
			a.gl.pending = append(a.gl.pending, clientReq{s: s, f: cp.Frame{Type: cp.TypeMulticast, Req: uint32(j + 1),
				Svc: uint8(localring.Agreed), Groups: []string{"abc-global"}, Payload: make([]byte, 1024)}})
		}
	}
}

// TestHeldRequestsStay: a pass of the group loop's client requests with
// every request waiting for its domain's room leaves them in their order
// and allocates nothing (it allocated a map of the waiting sessions in
// every pass and copied every waiting request onto itself: atoll bench
// isolation's site a, whose abc-global senders wait for most of the
// saturating phase).
func TestHeldRequestsStay(t *testing.T) {
	a := newDomainAgent(t)
	installSite(a, 4)
	heldRequests(a, 2, 64)
	want := slices.Clone(a.gl.pending)
	a.takeClientRequests() // the first pass makes the map the next ones use
	if n := testing.AllocsPerRun(100, a.takeClientRequests); n != 0 {
		t.Errorf("a pass with %d requests waiting: %v allocations; want 0", len(want), n)
	}
	if len(a.gl.pending) != len(want) {
		t.Fatalf("%d requests wait after the passes; want %d", len(a.gl.pending), len(want))
	}
	for i := range want {
		if got := a.gl.pending[i]; got.s != want[i].s || got.f.Req != want[i].f.Req {
			t.Fatalf("request %d after the passes: %s's %d; want %s's %d", i, got.s.name, got.f.Req, want[i].s.name, want[i].f.Req)
		}
	}
}

// BenchmarkHeldRequests: the group loop's client request part with two
// sessions' windows (64 requests each) waiting for a federation domain's
// room, as at site a of atoll bench isolation with abc-global saturating.
func BenchmarkHeldRequests(b *testing.B) {
	a := newDomainAgent(b)
	installSite(a, 4)
	heldRequests(a, 2, 64)
	b.ReportAllocs()
	for b.Loop() {
		a.takeClientRequests()
	}
}
