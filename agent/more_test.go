package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// TestAlone: a node whose peers are gone forms a ring of itself (the core
// sends its token to itself, which the agent must loop back) and reports
// itself degraded; a site of one node is healthy alone.
func TestAlone(t *testing.T) {
	c := newRing(t, 2)
	c.stop("n2")
	c.waitRing([]string{"n1"}, 5*time.Second)
	if st := c.agents["n1"].a.Status(); st.Health != Degraded || !slicesEqual(st.Missing, []string{"n2"}) {
		t.Errorf("n1 alone: health %v, missing %v; want degraded, [n2]", st.Health, st.Missing)
	}
	c.stopAll()
	c.check(false)

	solo := newCluster(t, 1)
	solo.start("n1", nil)
	solo.waitRing([]string{"n1"}, 5*time.Second)
	if st := solo.agents["n1"].a.Status(); st.Health != Healthy {
		t.Errorf("single-node site: health %v, want healthy", st.Health)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestWrongKey: a node with another key never joins; the others count and
// log its packets.
func TestWrongKey(t *testing.T) {
	c := newCluster(t, 3)
	c.start("n1", nil)
	c.start("n2", nil)
	c.start("n3", func(cfg *Config) { cfg.Security.Key = seal.GenerateKey() })
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	c.waitRing([]string{"n3"}, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	c.waitRing([]string{"n1", "n2"}, time.Second)
	for _, id := range []string{"n1", "n2"} {
		st := c.agents[id].a.Status()
		if st.Counters.RejectWrongKey == 0 {
			t.Errorf("%s counted no wrong-key packets", id)
		}
		if st.Health != Degraded {
			t.Errorf("%s: health %v, want degraded (n3 is configured but refused)", id, st.Health)
		}
	}
	if logs := c.logs.String(); !strings.Contains(logs, "another key") || !strings.Contains(logs, "copy the same key file") {
		t.Errorf("no key mismatch line in the log:\n%s", logs)
	}
}

// TestAdminAPI exercises the admin socket: status, members, metrics and
// the load generator.
func TestAdminAPI(t *testing.T) {
	c := newRing(t, 2)
	a := c.agents["n1"].a
	sub := a.Subscribe(1 << 16)
	defer sub.Close()

	cl := NewClient(filepath.Join(c.dir, "n1", AdminSocketName))
	ctx := context.Background()
	// Under load the ring may re-form once right after it formed: the
	// status is judged once it is operational again.
	var st *Status
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if st, err = cl.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if st.State == "operational" || time.Now().After(deadline) {
			break
		}
	}
	if st.Node != "n1" || st.Health != Healthy || st.State != "operational" || st.Ring == "" || st.RingSince.IsZero() {
		t.Errorf("status: %s", st)
	}
	m, err := cl.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Members) != 2 || !m.Members[0].Self || !m.Members[1].InRing || m.Members[1].Address != c.addr("n2").String() || m.Members[1].LastHeard.IsZero() {
		t.Errorf("members: %+v", m)
	}
	if err := cl.SetLoad(ctx, Load{Rate: 500, Size: 100, Svc: "safe"}); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	timeout := time.After(5 * time.Second)
	for delivered < 50 {
		select {
		case e := <-sub.C:
			if e.Kind == localring.EventDeliver && !groups.IsGroupPayload(e.Msg.Payload) { // the group layer's state exchange may come late
				if e.Msg.Svc != localring.Safe || len(e.Msg.Payload) != 100 {
					t.Fatalf("load message: %v, %d bytes", e.Msg.Svc, len(e.Msg.Payload))
				}
				delivered++
			}
		case <-timeout:
			t.Fatalf("the load generator delivered %d messages in 5s", delivered)
		}
	}
	if err := cl.SetLoad(ctx, Load{Rate: -1}); err == nil {
		t.Error("a negative load rate was accepted")
	}
	if err := cl.SetLoad(ctx, Load{}); err != nil {
		t.Fatal(err)
	}
	text, err := cl.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"atoll_health 0\n", "atoll_ring_members 2\n", "# TYPE atoll_messages_delivered_total counter", `atoll_packets_rejected_total{reason="wrong-key"} 0`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	c.stopAll()
	var ue *UnreachableError
	if _, err := cl.Status(ctx); !errors.As(err, &ue) {
		t.Errorf("status of a stopped agent: %v, want UnreachableError", err)
	}
	c.check(false)
}

// TestRestart: a restarted node gets a higher incarnation and keeps its
// ring sequence number; a data dir serves one agent at a time.
func TestRestart(t *testing.T) {
	c := newCluster(t, 2)
	a1 := c.start("n1", nil)
	c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)

	f, _ := c.net.Listen(netip.MustParseAddrPort("10.0.0.9:5405"))
	cfg := c.config("n1")
	cfg.Network = f
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "in use by process") {
		t.Errorf("a second agent on n1's data dir: %v, want an in-use error", err)
	}

	inc := a1.Self().Inc
	c.stop("n1")
	st, err := readState(filepath.Join(c.dir, "n1"))
	if err != nil || st.Incarnation != inc || st.RingSeq == 0 || st.Node != "n1" {
		t.Fatalf("state after stop: %+v, %v", st, err)
	}
	a2 := c.start("n1", nil)
	if a2.Self().Inc <= inc {
		t.Errorf("incarnation after restart %d, want above %d", a2.Self().Inc, inc)
	}
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	// n1 left gracefully, so n2 re-formed alone before n1 came back: it
	// logs a join (a restart shows when the old incarnation never left).
	if logs := c.logs.String(); !strings.Contains(logs, `msg="member joined" node=n2 site=lab member=n1`) && !strings.Contains(logs, `msg="member restarted" node=n2 site=lab member=n1`) {
		t.Errorf("n2 did not log n1's return")
	}
	c.stopAll()
	c.check(false)

	cfg = c.config("n2")
	cfg.Node = "n1"
	cfg.DataDir = filepath.Join(c.dir, "n2")
	cfg.Network, _ = c.net.Listen(netip.MustParseAddrPort("10.0.0.8:5405"))
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), `belongs to node "n2"`) {
		t.Errorf("n1 on n2's data dir: %v", err)
	}
}

// TestSlowSubscriber: a subscriber that does not read is evicted; the ring
// goes on.
func TestSlowSubscriber(t *testing.T) {
	c := newRing(t, 2)
	a := c.agents["n1"].a
	slow := a.Subscribe(4)
	for i := 0; i < 20; i++ {
		if err := a.Submit(localring.Agreed, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for slow.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("slow subscriber: %v, want ErrSlowSubscriber", slow.Err())
	}
	for range slow.C {
	}
	if st := a.Status(); st.Counters.Evicted != 1 || st.Health != Healthy {
		t.Errorf("after the eviction: %d evicted, health %v", st.Counters.Evicted, st.Health)
	}
}

// TestUDP runs three agents over the real UDP unicast transport on
// loopback.
func TestUDP(t *testing.T) {
	c := newCluster(t, 3)
	var trs []*transport.UDP
	var peers []netip.AddrPort
	for range c.ids {
		u, _, err := transport.Listen(transport.Config{
			Bind:  netip.MustParseAddrPort("127.0.0.1:0"),
			Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}, // replaced below
		})
		if err != nil {
			t.Skipf("no UDP on loopback: %v", err)
		}
		trs = append(trs, u)
		peers = append(peers, u.LocalAddr())
	}
	for i, id := range c.ids {
		trs[i].SetPeers(peers)
		c.start(id, func(cfg *Config) {
			cfg.Network.Close() // the fake one
			cfg.Network = trs[i]
			cfg.Security.Mode, cfg.Security.Suite = seal.ModeAuth, seal.ChaCha20Poly1305
		})
	}
	c.waitRing(c.ids, 5*time.Second)
	for _, id := range c.ids {
		if err := c.agents[id].a.SetLoad(Load{Rate: 200, Size: 2000}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	for _, id := range c.ids {
		c.agents[id].a.SetLoad(Load{})
	}
	c.waitRing(c.ids, 5*time.Second)
	c.waitIdle(5 * time.Second)
	for _, id := range c.ids {
		st := c.agents[id].a.Status()
		if st.Counters.MessagesDelivered < 300 || st.Counters.Opened == 0 {
			t.Errorf("%s: %d delivered, %d opened", id, st.Counters.MessagesDelivered, st.Counters.Opened)
		}
	}
	c.check(true)
	c.stopAll()
	c.check(false)
}

// TestConfig checks the errors an operator sees for a bad configuration.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	base := func() Config {
		return Config{Node: "n1", Cluster: "c", Site: "s", Nodes: []string{"n1"}, DataDir: dir, Security: Security{Key: seal.GenerateKey()}}
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Security = Security{Mode: seal.ModeNone} }, "confirm it with --insecure"},
		{func(c *Config) { c.Security = Security{} }, "atoll keygen"},
		{func(c *Config) { c.Nodes = []string{"n2"} }, `node "n1" is not among the site's nodes`},
		{func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{func(c *Config) { c.AdminSocket = strings.Repeat("x", 200) }, "longer than"},
		{func(c *Config) { c.Security.KeyFile, c.Security.Key = filepath.Join(dir, "nokey"), seal.Key{} }, "nokey"},
	} {
		cfg := base()
		tc.edit(&cfg)
		cfg.Network, _ = (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:1"))
		a, err := New(cfg)
		if err == nil {
			a.Close()
			t.Errorf("no error, want %q", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not mention %q", err, tc.want)
		}
	}
	// ModeNone with Insecure works and warns.
	var logs syncbuf.Buffer
	cfg := base()
	cfg.Security = Security{Mode: seal.ModeNone, Insecure: true}
	cfg.Logger = slogTo(&logs)
	cfg.Network, _ = (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:1"))
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("mode none without a warning: %s", logs.String())
	}
}

// TestIncarnationExact: a fresh agent's incarnation is exact for readers
// with 53-bit numbers; one whose state file holds a nanosecond incarnation
// of an earlier version keeps growing from it and warns with the way back.
func TestIncarnationExact(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Agent, string) {
		var logs syncbuf.Buffer
		cfg := Config{Node: "n1", Cluster: "c", Site: "s", Nodes: []string{"n1"}, DataDir: dir, Security: Security{Key: seal.GenerateKey()}, Logger: slogTo(&logs)}
		cfg.Network, _ = (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:1"))
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		return a, logs.String()
	}
	a, logs := start()
	if inc := a.Self().Inc; !seal.ExactIncarnation(inc) || strings.Contains(logs, "above 2^53") {
		t.Errorf("fresh incarnation %d: exact %t; logs: %s", inc, seal.ExactIncarnation(inc), logs)
	}
	legacy := uint64(time.Now().UnixNano())
	if err := writeState(dir, state{Node: "n1", Incarnation: legacy, RingSeq: 8}); err != nil {
		t.Fatal(err)
	}
	a, logs = start()
	if a.Self().Inc != legacy+1 || !strings.Contains(logs, "above 2^53") || !strings.Contains(logs, `set \"incarnation\" to 0`) {
		t.Errorf("after a nanosecond incarnation %d: %d; logs: %s", legacy, a.Self().Inc, logs)
	}
}

// TestFromTopology reads the single-site part of a topology file.
func TestFromTopology(t *testing.T) {
	src := `version: 1
cluster: lab
security: {mode: auth, cipher: chacha20-poly1305, key_file: /etc/atoll/atoll.key, key_epoch: 3}
sites:
  - name: a
    bind: 127.0.0.1
    multicast: 239.192.10.1
    port: 6000
    nodes: [{id: a-1}, {id: a-2, port: 6001}]
  - name: b
    bind: 127.0.0.1
    unicast: [127.0.0.1, "10.0.0.2:7000"]
    nodes: [{id: b-1}]
`
	f, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromTopology(f, "a-2", PresetAuto)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "lab" || c.Site != "a" || !slicesEqual(c.Nodes, []string{"a-1", "a-2"}) ||
		c.Transport.Bind.String() != "127.0.0.1:6001" || c.Transport.Group.String() != "239.192.10.1:6000" ||
		c.Ring.TokenTimeout != 202*time.Millisecond || c.Security.Mode != seal.ModeAuth ||
		c.Security.Suite != seal.ChaCha20Poly1305 || c.Security.KeyFile != "/etc/atoll/atoll.key" || c.Security.Epoch != 3 {
		t.Errorf("a-2: %+v", c)
	}
	c, err = FromTopology(f, "b-1", PresetAuto)
	if err != nil {
		t.Fatal(err)
	}
	// The plan's timers for site b (one node, LAN RTT 200µs: rotation
	// 100µs, retransmit at its 48 ms floor, token 4.2 × that), on the
	// cloud preset's flow control for a unicast site.
	if len(c.Transport.Peers) != 2 || c.Transport.Peers[0].String() != "127.0.0.1:5405" || c.Transport.Peers[1].String() != "10.0.0.2:7000" ||
		c.Ring.TokenTimeout != 202*time.Millisecond || c.Ring.TokenRetransmit != 48*time.Millisecond || c.Ring.ConsensusTimeout != 243*time.Millisecond ||
		c.Ring.JoinTimeout != 50*time.Millisecond || c.Ring.WindowPackets != 100 || c.RingSource != "plan of t.yaml, domain site/b" {
		t.Errorf("b-1: %+v", c)
	}
	r := c.Ring
	r.ID = "b-1"
	if err := r.Validate(); err != nil {
		t.Errorf("the plan's ring settings: %v", err)
	}
	cloud, _ := FromTopology(f, "b-1", PresetCloud)
	lan, _ := FromTopology(f, "b-1", PresetLAN)
	if cloud.Ring.TokenTimeout != time.Second || lan.Ring.TokenTimeout != 200*time.Millisecond || lan.RingSource != "preset lan" {
		t.Errorf("presets that override the plan: cloud %v, lan %v (%s)", cloud.Ring.TokenTimeout, lan.Ring.TokenTimeout, lan.RingSource)
	}
	if lan.configHash() == cloud.configHash() || lan.configHash() == c.configHash() {
		t.Error("the plan's timers and the lan and cloud presets hash alike")
	}
	// The plan's timers are kept under another preset, to name a peer's.
	if lan.planRing == nil || (&Config{Site: lan.Site, Ring: *lan.planRing}).configHash() != c.configHash() {
		t.Error("a node on preset lan does not know the plan's timers")
	}
	if _, err := FromTopology(f, "c-1", PresetAuto); err == nil || !strings.Contains(err.Error(), "a-1, a-2, b-1") {
		t.Errorf("unknown node: %v", err)
	}
}

// TestAloneOnHost: multicast loopback goes off only when every other node
// of the site has a literal address that is not this host's.
func TestAloneOnHost(t *testing.T) {
	local := func(a netip.Addr) bool {
		return a == netip.MustParseAddr("10.255.0.1") || a == netip.MustParseAddr("fe80::1") || a.IsLoopback()
	}
	site := func(binds ...string) *topology.Site {
		s := &topology.Site{Name: "s"}
		for i, b := range binds {
			s.Nodes = append(s.Nodes, topology.Node{ID: fmt.Sprintf("n%d", i+1), Bind: b})
		}
		return s
	}
	for _, tc := range []struct {
		binds []string
		want  bool
	}{
		{[]string{"10.255.0.1", "10.255.0.2", "10.255.0.3"}, true},
		{[]string{"10.255.0.1", "10.255.0.2", "{{ GetPrivateIP }}"}, false}, // a template: may be this host
		{[]string{"10.255.0.1", "10.255.0.1"}, false},                       // this host, another port
		{[]string{"10.255.0.1", "127.0.0.2"}, false},
		{[]string{"10.255.0.1", "0.0.0.0"}, false},
		{[]string{"10.255.0.1", "fe80::1%eth0"}, false}, // this host's, with a zone
		{[]string{"10.255.0.1", "::ffff:10.255.0.1"}, false},
		{[]string{"10.255.0.1", ""}, false}, // the default template
		{[]string{"10.255.0.1"}, true},
	} {
		s := site(tc.binds...)
		if got := aloneOnHost(s, &s.Nodes[0], local); got != tc.want {
			t.Errorf("binds %q: alone %v, want %v", tc.binds, got, tc.want)
		}
	}
	s := site("10.255.0.1", "10.255.0.2")
	if aloneOnHost(s, &s.Nodes[0], nil) {
		t.Error("alone although this host's addresses are unknown")
	}
	// From a topology file: a-1 on this host's loopback, a-2 at a
	// documentation address, which no host of the test has.
	f, err := topology.Parse("t.yaml", []byte(`version: 1
cluster: lab
sites:
  - name: a
    multicast: 239.192.10.1
    nodes: [{id: a-1, bind: 127.0.0.1}, {id: a-2, bind: 192.0.2.7}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromTopology(f, "a-1", PresetLAN)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Transport.NoMulticastLoop {
		t.Error("a-1 alone on this host keeps multicast loopback on")
	}
}
