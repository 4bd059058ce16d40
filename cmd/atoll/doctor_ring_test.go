package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/topology"
)

// writeKey writes a new cluster key file (mode 0600) and returns its path
// and id.
func writeKey(t *testing.T, path string) uint32 {
	t.Helper()
	k := seal.GenerateKey()
	if err := seal.WriteKeyFile(path, k, false); err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// startTopologyAgent runs node's agent of topology file topo in this
// process until the test ends, and waits until it is operational.
func startTopologyAgent(t *testing.T, topo, node, dataDir string, edit ...func(*agent.Config)) agent.Config {
	t.Helper()
	f, err := topology.Load(topo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.FromTopology(f, node, agent.PresetAuto)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.ConfigFile = dataDir, topo
	cfg.Logger = slog.New(slog.DiscardHandler)
	for _, e := range edit {
		e(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the agent's Run did not return within 10 s of its context's end", node)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); a.Status().State != "operational"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not operational after 10s", node)
		}
	}
	return cfg
}

// TestDoctorRunningAgent: with node n1's agent running and n2 configured
// but never started, doctor says n1 runs the file's settings and key and
// that n2 was never heard (exit 1); against a file with other ring
// settings, or another key, it says the agent differs and what to do.
func TestDoctorRunningAgent(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "atoll.key")
	keyID := writeKey(t, key)
	port := freeUDPPort(t)
	topoText := func(extra string) string {
		return fmt.Sprintf("version: 1\ncluster: c\nsecurity: {key_file: %s}\nsites:\n  - name: s\n    port: %d\n%s    unicast: [127.0.0.1, 127.0.0.2]\n    nodes: [{id: n1, bind: 127.0.0.1}, {id: n2, bind: 127.0.0.2}]\n", key, port, extra)
	}
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, topoText(""))
	cfg := startTopologyAgent(t, topo, "n1", filepath.Join(dir, "data"))

	doctor := func(args ...string) (int, string) {
		code, out, errs := run(append([]string{"doctor", "--node", "n1", "--data-dir", cfg.DataDir, "--no-firewall"}, args...)...)
		return code, out + errs
	}
	code, out := doctor("--config", topo)
	for _, want := range []string{
		"ok    agent        node n1's agent is operational (degraded)",
		"ok    settings     the agent runs the ring settings of " + topo + " (hash " + cfg.RingHash(),
		fmt.Sprintf("ok    key          %s: key id %08x", key, keyID),
		"FAIL  peers        n2 was never heard over unicast: its agent is not running, or its packets do not reach this node",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (n2 never heard)\n%s", code, out)
	}
	t.Logf("atoll doctor on a node whose peer is never heard:\n%s", out)

	// Another token hold: other ring settings than the agent's.
	other := filepath.Join(dir, "other.yaml")
	writeFile(t, other, topoText("    lan_rtt: 40ms\n"))
	code, out = doctor("--config", other)
	if code != 1 || !strings.Contains(out, "FAIL  settings     the agent runs ring settings "+cfg.RingHash()) || !strings.Contains(out, "restart it with `atoll agent --config "+other) {
		t.Errorf("other settings: exit %d\n%s", code, out)
	}

	// Another key file.
	key2 := filepath.Join(dir, "new.key")
	id2 := writeKey(t, key2)
	code, out = doctor("--config", topo, "--key", key2)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("FAIL  key          the agent uses key id %08x, the key file has %08x", keyID, id2)) {
		t.Errorf("another key: exit %d\n%s", code, out)
	}

	// No agent on the socket: a note, not a failure.
	code, out = doctor("--config", topo, "--admin-socket", filepath.Join(dir, "none.sock"))
	if !strings.Contains(out, "info  agent        no agent answers on "+filepath.Join(dir, "none.sock")) || strings.Contains(out, "  peers ") {
		t.Errorf("no agent: exit %d\n%s", code, out)
	}
}

// TestFirewallRules: the rules that drop the ring's or the QUIC port
// before accepting it, and chains whose policy drops them, are found;
// the firewall of docs/OPERATIONS.md (accepts from the site, then drops)
// and rules of other ports, TCP or other hooks are not.
func TestFirewallRules(t *testing.T) {
	ports := []udpPort{{5405, "the ring's port"}, {7400, "the QUIC endpoint 10.0.0.1:7400"}}
	for _, tc := range []struct {
		name, rules string
		want        []string // findings, in order: verdict and a part of the text
	}{
		{"empty", "", nil},
		{"operations.md", `table inet atoll {
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr 10.1.0.0/24 udp dport 5405 accept
		ip daddr 239.192.10.1 udp dport 5405 accept
		ip protocol igmp accept
		ip saddr { 192.0.2.10, 198.51.100.10 } udp dport 7400 accept
		udp dport { 5405, 7400 } drop
	}
}`, []string{"info accepts UDP 5405 (the ring's port) from some sources only", "info accepts UDP 7400"}},
		{"drop", `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 5405 drop
		udp dport 5400-5410 drop
		udp dport 7400 accept
	}
	chain fwd {
		type filter hook forward priority filter; policy drop;
	}
}`, []string{"FAIL nftables chain inet filter input drops UDP 5405, the ring's port: \"udp dport 5400-5410 drop\""}},
		{"policy", `table ip t {
	chain out {
		type filter hook output priority filter; policy drop;
		udp dport 5405 accept
	}
}`, []string{"FAIL nftables chain ip t out has policy drop and no rule accepts UDP 7400 (the QUIC endpoint"}},
	} {
		got := nftFindings(tc.rules, ports)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d findings, want %d: %v", tc.name, len(got), len(tc.want), got)
			continue
		}
		for i, w := range tc.want {
			verdict, text, _ := strings.Cut(w, " ")
			if got[i].verdict != verdict || !strings.Contains(got[i].msg, text) {
				t.Errorf("%s: finding %d is %s %q, want %s %q", tc.name, i, got[i].verdict, got[i].msg, verdict, text)
			}
		}
	}

	save := `*nat
-A PREROUTING -p udp --dport 5405 -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 7400 -j ACCEPT
-A INPUT -p udp -m multiport --dports 5405,7400 -j REJECT
COMMIT
`
	got := iptablesFindings(save, ports)
	var texts []string
	for _, f := range got {
		texts = append(texts, f.verdict+" "+f.msg)
	}
	all := strings.Join(texts, "\n")
	if len(got) != 4 || !strings.Contains(all, "FAIL iptables chain INPUT drops UDP 5405") || !strings.Contains(all, "FAIL iptables chain INPUT drops UDP 7400") ||
		!strings.Contains(all, "FAIL iptables chain INPUT has policy drop and no rule accepts UDP 5405") {
		t.Errorf("iptables findings:\n%s", all)
	}
}

// TestDoctorFederation: on the active gateway of site a, doctor says that
// site b's gateway is not connected over QUIC while b's agent is down,
// naming b's endpoint, and that it is connected once b runs.
func TestDoctorFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a federation ring over QUIC")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "atoll.key")
	writeKey(t, key)
	bQUIC := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, fmt.Sprintf(`version: 1
cluster: c
security: {key_file: %s}
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    bind: 127.0.0.1
    port: %d
    unicast: [127.0.0.1]
    quic: 127.0.0.1:%d
    nodes: [{id: a-1}]
    gateways: [a-1]
  - name: b
    bind: 127.0.0.1
    port: %d
    unicast: [127.0.0.1]
    quic: %s
    nodes: [{id: b-1}]
    gateways: [b-1]
links:
  - {between: [a, b], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`, key, freeUDPPort(t), freeUDPPort(t), freeUDPPort(t), bQUIC))
	certs := filepath.Join(dir, "certs")
	if code, o, e := run("certs", topo, "-d", certs); code != 0 {
		t.Fatalf("certs: %d %s%s", code, o, e)
	}
	f, err := topology.Load(topo)
	if err != nil {
		t.Fatal(err)
	}
	gateway := func(cfg *agent.Config) {
		cfg.Federation = &agent.Federation{File: f, Plan: f.Plan(), CertDir: certs}
	}
	aData := filepath.Join(dir, "a-1")
	startTopologyAgent(t, topo, "a-1", aData, gateway)
	doctor := func() (int, string) {
		code, out, errs := run("doctor", "--config", topo, "--node", "a-1", "--data-dir", aData, "--cert-dir", certs, "--no-firewall")
		return code, out + errs
	}
	var out string
	// Until a-1 runs its federation member: before, doctor notes that it
	// runs none.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, "FAIL  federation "); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no federation line in 10s:\n%s", out)
		}
		_, out = doctor()
	}
	code, out := doctor()
	want := "FAIL  federation   domain fed/global:a+b: no QUIC connection to site b's gateways (b-1 at " + bQUIC + "): they are down"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("b down: exit %d, want 1 and %q\n%s", code, want, out)
	}
	t.Logf("atoll doctor on a gateway whose peer site is unreachable:\n%s", out)

	bData := filepath.Join(dir, "b-1")
	startTopologyAgent(t, topo, "b-1", bData, gateway)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, out = doctor()
		if strings.Contains(out, "ok    federation   domain fed/global:a+b: connected to site b's gateway b-1 over QUIC") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b-1 not connected in 20s: exit %d\n%s", code, out)
		}
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, "ok    quic         domain fed/global:a+b: site b's gateway b-1 at "+bQUIC+" completes a QUIC handshake and presents a valid certificate") {
		t.Errorf("both gateways up: %s", out)
	}
	// Doctor's handshakes do not disturb the federation ring: a-1 keeps
	// its one connection to b, installed once. The ring must have settled
	// first: once a and b first form it, each site's announcement of its
	// nodes makes the ring form again (agent/domains.go, "a site's nodes
	// changed"), once or a few times as the two announcements cross, so a
	// ring of a and b counts as settled only after a second in which it
	// installed nothing.
	//
	// The rings' timers are the LAN's (202 ms token timeouts, local and
	// federation): on a loaded machine under the race detector a gateway
	// went without CPU long enough to lose a token while doctor ran (8 of
	// 35 runs), and the federation ring formed again, which says nothing
	// of doctor. Such a round is not judged, and runs again; a ring that
	// doctor disturbs fails every round.
	status := func(data string) *agent.Status {
		st, err := agent.NewClient(filepath.Join(data, agent.AdminSocketName)).Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// tokenLosses counts the tokens a-1's and b-1's rings, local and
	// federation, lost.
	tokenLosses := func() uint64 {
		var n uint64
		for _, data := range []string{aData, bData} {
			st := status(data)
			n += st.Counters.TokenLosses
			for _, f := range st.Federation {
				n += f.Counters.TokenLosses
			}
		}
		return n
	}
	for round := 1; ; round++ {
		var st *agent.Status
		var settledAt time.Time // since when the ring is operational with both sites, installed as at installs
		var installs uint64
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st, err = agent.NewClient(filepath.Join(aData, agent.AdminSocketName)).Status(context.Background())
			switch {
			case err != nil || len(st.Federation) != 1 || st.Federation[0].State != "operational" || len(st.Federation[0].Missing) != 0:
				settledAt = time.Time{}
			case settledAt.IsZero() || st.Federation[0].Installs != installs:
				settledAt, installs = time.Now(), st.Federation[0].Installs
			}
			if !settledAt.IsZero() && time.Since(settledAt) >= time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no settled federation ring of a and b in 20s (operational with both sites, nothing installed for a second): %v %+v", err, st)
			}
		}
		before, lost := st.Federation[0], tokenLosses()
		for range 3 {
			doctor()
		}
		after := status(aData).Federation
		if len(after) == 1 && after[0].Installs == before.Installs && after[0].State == "operational" && after[0].Connected["b"] == "b-1" && len(after[0].Refused) == 0 {
			break
		}
		if n := tokenLosses() - lost; n > 0 && round < 5 {
			t.Logf("round %d: %d tokens lost while doctor ran (the machine is loaded): not judged", round, n)
			continue
		}
		t.Errorf("after doctor (round %d): federation %+v, before %+v", round, after, before)
		break
	}

	// Certificates of another CA: b-1's certificate is not accepted.
	other := filepath.Join(dir, "other")
	if code, o, e := run("certs", topo, "-d", other); code != 0 {
		t.Fatalf("certs: %d %s%s", code, o, e)
	}
	code, out, _ = run("doctor", "--config", topo, "--node", "a-1", "--data-dir", aData, "--cert-dir", other, "--no-firewall")
	if code != 1 || !strings.Contains(out, "FAIL  quic         domain fed/global:a+b: no gateway of site b completes a QUIC handshake: b-1 at "+bQUIC+": it presents a certificate this node does not accept") {
		t.Errorf("another CA: exit %d\n%s", code, out)
	}
	t.Logf("atoll doctor on a gateway with certificates of another CA:\n%s", out)
}

// TestProbeReport: what a probe heard becomes one line per node of the
// site: heard with full-size packets, not heard, no full-size packets,
// other settings, another key; a clock more than a second off and a
// node of another site on the same group are warned about.
func TestProbeReport(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, "version: 1\ncluster: c\nsecurity: {mode: none}\nsites:\n  - name: s\n    multicast: 239.192.1.1\n    nodes: [{id: n1, bind: 127.0.0.1}, {id: n2, bind: 127.0.0.2}, {id: n3, bind: 127.0.0.3}, {id: n4, bind: 127.0.0.4}, {id: n5, bind: 127.0.0.5}, {id: n6, bind: 127.0.0.6}]\n")
	f, err := topology.Load(topo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.FromTopology(f, "n1", agent.PresetAuto)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	d := &doctor{w: &out, topo: f, node: "n1", cfg: cfg, keyID: 0xabcd}
	from := netip.MustParseAddrPort("10.0.0.9:5405")
	same := probeMsg{Cluster: "c", Site: "s", RingHash: cfg.RingHash(), Key: "0000abcd", Size: 1472}
	with := func(edit func(*probeMsg)) probeMsg {
		m := same
		edit(&m)
		return m
	}
	got := map[string]*heard{
		"n1": {from: from, msg: same, small: true, big: true},
		"n2": {from: from, msg: same, small: true, big: true, skew: 3 * time.Second},
		"n3": {from: from, msg: same, small: true},
		"n5": {from: from, msg: with(func(m *probeMsg) { m.RingHash = "0123456789abcdef" }), small: true, big: true},
		"n6": {from: from, msg: with(func(m *probeMsg) { m.Key = "12345678" }), small: true, big: true},
		"x9": {from: from, msg: with(func(m *probeMsg) { m.Site = "other" }), small: true, big: true},
	}
	d.probeReport(cfg.Transport, 2*time.Second, got)
	want := []string{
		"warn  clock        n2's clock is 3s ahead of this node's",
		"ok    probe        heard n2 (10.0.0.9:5405) over multicast 239.192.1.1:5405, full-size packets (1472 bytes) included",
		"FAIL  probe        heard n3 (10.0.0.9:5405), but none of its full-size packets",
		"FAIL  probe        did not hear n4 in 2s over multicast 239.192.1.1:5405",
		"FAIL  probe        n5 (10.0.0.9:5405) has ring settings 0123456789abcdef, this node " + cfg.RingHash(),
		"FAIL  probe        n6 (10.0.0.9:5405) has cluster key id 12345678, this node 0000abcd",
		"warn  probe        heard x9 (10.0.0.9:5405) of cluster c, site other on the same multicast 239.192.1.1:5405",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start %q", i, lines[i], w)
		}
	}
	if d.fails != 4 {
		t.Errorf("%d failures, want 4", d.fails)
	}
}
