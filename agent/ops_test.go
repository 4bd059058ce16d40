package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// TestDataDirMode: the agent creates its data dir so that its group may
// reach the client socket (docs/PROTOCOL.md), whatever the umask.
func TestDataDirMode(t *testing.T) {
	c := newCluster(t, 1)
	c.start("n1", nil)
	fi, err := os.Stat(filepath.Join(c.dir, "n1"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o750 {
		t.Errorf("data dir mode %04o, want 0750", m)
	}
	fi, err = os.Stat(clientSocket(c, "n1"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o660 {
		t.Errorf("client socket mode %04o, want 0660", m)
	}
}

// TestDataDirUnsafe: a world-writable data dir, or one below a
// world-writable directory without the sticky bit, is refused with the
// fix; a sticky parent (like /tmp) is fine.
func TestDataDirUnsafe(t *testing.T) {
	c := newCluster(t, 1)
	try := func(dir string) error {
		cfg := c.config("n1")
		cfg.DataDir = dir
		f, err := c.net.Listen(c.addr("n1"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network = f
		a, err := New(cfg)
		if err == nil {
			a.Close()
		}
		return err
	}
	mkdir := func(path string, mode os.FileMode) string {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	open := mkdir(filepath.Join(c.dir, "open"), 0o777)
	if err := try(open); err == nil || !strings.Contains(err.Error(), "world-writable (mode 0777)") || !strings.Contains(err.Error(), "chmod 750") {
		t.Errorf("world-writable data dir: %v", err)
	}
	if err := try(filepath.Join(open, "n1")); err == nil || !strings.Contains(err.Error(), "is below "+open+", which is world-writable without the sticky bit") {
		t.Errorf("data dir below a world-writable dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(open, "n1")); err == nil {
		t.Errorf("the refused data dir was created")
	}
	sticky := mkdir(filepath.Join(c.dir, "sticky"), 0o777|os.ModeSticky)
	if err := try(filepath.Join(sticky, "n1")); err != nil {
		t.Errorf("data dir below a sticky dir: %v", err)
	}
}

// TestUnreachableCause: the admin client says why it cannot reach the
// agent, permission denied above all (as the dialler reports it through
// net/http), not "is the agent running?".
func TestUnreachableCause(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://atoll/status", Err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{dial(syscall.EACCES), "permission denied on admin socket /s: it is for the agent's user, root and the agent's --operators-group"},
		{dial(syscall.ENOENT), "there is no such socket; is `atoll agent` running"},
		{dial(syscall.ECONNREFUSED), "connection refused (the socket is left over"},
	} {
		if got := (&UnreachableError{Socket: "/s", Err: tc.err}).Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestLastHeardIdleRing: in a healthy idle ring every member was heard
// within a token rotation, directly or through the token that passed it;
// "last heard" does not grow for the members whose packets this node does
// not receive directly (on an idle ring only its predecessor's token).
func TestLastHeardIdleRing(t *testing.T) {
	c := newCluster(t, 4)
	for _, id := range c.ids {
		c.start(id, nil)
	}
	c.waitRing(c.ids, 10*time.Second)
	c.waitIdle(10 * time.Second)
	time.Sleep(1500 * time.Millisecond) // idle: only the token moves
	for _, id := range c.ids {
		st := c.agents[id].a.Status()
		now := time.Now()
		for _, m := range st.Members {
			if m.Self {
				continue
			}
			if age := now.Sub(m.LastHeard); m.LastHeard.IsZero() || age > time.Second {
				t.Errorf("%s: member %s last heard %v ago (%s), want within the last second", id, m.ID, age, m.LastHeard)
			}
		}
	}
}

// TestRejectedPacketsLogged: at the default log level (info), rejected
// packets of every kind give one Warn line per source per minute: short
// garbage, a replay, a wrong key. More from the same sources within the
// minute give none.
func TestRejectedPacketsLogged(t *testing.T) {
	c := newCluster(t, 2)
	var logs syncbuf.Buffer
	c.start("n1", func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	c.waitRing([]string{"n1"}, 5*time.Second)
	source := func(i byte) *transport.Fake {
		f, err := c.net.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 9, i}), 5405))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	sealer := func(key seal.Key) *seal.Sealer {
		cfg := c.config("n2")
		s, err := seal.New(seal.Config{Key: key, Cluster: cfg.Cluster, ConfigHash: cfg.configHash(), Sender: seal.SenderID("n2"), Incarnation: 1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	garbage, replayer, stranger := source(1), source(2), source(3)
	good := sealer(c.key).Seal(nil, []byte("not a ring packet"))
	other := sealer(seal.GenerateKey()).Seal(nil, []byte("x"))
	for range 20 {
		garbage.Unicast(c.addr("n1"), []byte("junk"))
		replayer.Unicast(c.addr("n1"), good) // the first opens, the rest are replays
		stranger.Unicast(c.addr("n1"), other)
	}
	for _, f := range []*transport.Fake{garbage, replayer, stranger} {
		f.Flush()
	}
	want := map[string]string{
		"10.9.9.1": "too short to be an Atoll packet",
		"10.9.9.2": "rejected a replayed packet",
		"10.9.9.3": "with another key",
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := c.agents["n1"].a.Status()
		if st.Counters.RejectReplay >= 19 && st.Counters.RejectOther >= 20 && st.Counters.RejectWrongKey >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters: %+v", st.Counters)
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(logs.String(), "\n")
	for src, msg := range want {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, "peer="+src+":") {
				n++
				if !strings.Contains(l, "level=WARN") || !strings.Contains(l, msg) {
					t.Errorf("line for %s: %s; want a WARN with %q", src, l, msg)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d lines for source %s, want 1:\n%s", n, src, logs.String())
		}
	}
}

// TestPresetMismatchCause: a node started with another ring preset is
// rejected with the real cause, the preset flag, named in the log; the
// effective settings are in Status.
func TestPresetMismatchCause(t *testing.T) {
	c := newCluster(t, 2)
	a1 := c.start("n1", nil)
	c.start("n2", func(cfg *Config) { cfg.Ring = localring.DefaultCloud("") })
	deadline := time.Now().Add(5 * time.Second)
	want := "cause=\"the peer runs ring preset cloud (token timeout 1s) and this node ring preset lan (token timeout 200ms): start every node of site lab with the same --ring-preset"
	for !strings.Contains(c.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", want, c.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rs := a1.Status().Config.RingSettings
	cfg1 := c.config("n1")
	if rs.Preset != "lan" || rs.TokenTimeout != Duration(200*time.Millisecond) || rs.WindowPackets != 200 || rs.ConfigHash != hex64(cfg1.configHash()) {
		t.Errorf("ring settings of n1: %+v", rs)
	}
	if p := c.agents["n2"].a.Status().Config.RingSettings.Preset; p != "cloud" {
		t.Errorf("preset of n2: %q", p)
	}
	// The planner's timers, which FromTopology keeps whatever the preset:
	// a peer on the default preset plan is named as such.
	plan := localring.DefaultLAN("")
	plan.TokenTimeout = 300 * time.Millisecond
	onLAN := &Agent{cfg: Config{Site: "lab", Ring: localring.DefaultLAN(""), planRing: &plan}}
	peer := Config{Site: "lab", Ring: plan}
	if got := onLAN.configMismatchCause(peer.configHash()); !strings.Contains(got, "the peer runs ring preset plan (the planner's timers for site lab, token timeout 300ms) and this node ring preset lan (token timeout 200ms)") {
		t.Errorf("cause for a peer on the plan: %s", got)
	}
	// Another site (same timings): not a preset of this site.
	if got := a1.configMismatchCause((&Config{Site: "other", Ring: localring.DefaultLAN("")}).configHash()); !strings.Contains(got, "are those of no preset of site lab") {
		t.Errorf("cause for another site: %s", got)
	}
}

// TestGroupNameRule: the agent refuses the group names the topology file
// refuses, whatever the client library lets through: paths, patterns,
// control characters, Unicode; and says the rule.
func TestGroupNameRule(t *testing.T) {
	c := newRing(t, 1)
	a := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "a")
	for _, f := range []cp.Frame{
		{Type: cp.TypeJoin, Group: "../../etc"},
		{Type: cp.TypeJoin, Group: "*"},
		{Type: cp.TypeJoin, Group: "ord?rs"},
		{Type: cp.TypeJoin, Group: "bell\a"},
		{Type: cp.TypeJoin, Group: "ordérs"},
		{Type: cp.TypeJoin, Group: ".hidden"},
		{Type: cp.TypeJoin, Group: strings.Repeat("g", 129)},
		{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"ok", "*"}},
	} {
		g := a.do(f)
		if g.Type != cp.TypeError || g.Code != cp.CodeBadName || !strings.Contains(g.Text, groups.GroupNameRule) {
			t.Errorf("%s %q %q: got %s %s %q; want bad_name with the rule", f.Type, f.Group, f.Groups, g.Type, g.Code, g.Text)
		}
	}
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "orders.eu-1:v2_x"})
}

// TestMetricsRegistry: each agent has a private Prometheus registry with
// the Go and process collectors, whose metrics pass Prometheus' linter
// (names, units, help) and agree with Status; /metrics serves it.
func TestMetricsRegistry(t *testing.T) {
	c := newCluster(t, 2)
	a1 := c.start("n1", func(cfg *Config) { cfg.Version = "v9.8.7" })
	a2 := c.start("n2", nil)
	c.waitRing(c.ids, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); a1.Status().TokenRotation.Count < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no token rotations in 5s")
		}
	}
	if a1.Metrics() == a2.Metrics() {
		t.Fatal("two agents share a registry")
	}
	problems, err := testutil.GatherAndLint(a1.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := a1.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_start_time_seconds", "atoll_health", "atoll_ring_members", "atoll_packets_rejected_total", "atoll_ring_token_timeout_seconds"} {
		if got[name] == nil {
			t.Errorf("no metric %s", name)
		}
	}
	labels := map[string]string{}
	for _, l := range got["atoll_info"].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["node"] != "n1" || labels["version"] != "v9.8.7" || labels["ring_preset"] != "lan" || labels["site"] != "lab" {
		t.Errorf("atoll_info labels: %v", labels)
	}
	if v := got["atoll_ring_members"].GetMetric()[0].GetGauge().GetValue(); v != 2 {
		t.Errorf("atoll_ring_members = %v, want 2", v)
	}
	if v := got["atoll_ring_token_timeout_seconds"].GetMetric()[0].GetGauge().GetValue(); v != 0.2 {
		t.Errorf("atoll_ring_token_timeout_seconds = %v, want 0.2", v)
	}
	// The token's rotation: a histogram in seconds, cumulative buckets.
	rot := got["atoll_token_rotation_seconds"].GetMetric()[0].GetHistogram()
	if rot.GetSampleCount() == 0 || rot.GetSampleSum() <= 0 || len(rot.GetBucket()) != len(localring.RotationBounds) {
		t.Errorf("atoll_token_rotation_seconds: %v", rot)
	}
	for i, b := range rot.GetBucket() {
		if i > 0 && b.GetCumulativeCount() < rot.GetBucket()[i-1].GetCumulativeCount() || b.GetUpperBound() != localring.RotationBounds[i].Seconds() {
			t.Errorf("bucket %d: %v", i, b)
		}
	}
	text, err := NewClient(filepath.Join(c.dir, "n1", AdminSocketName)).Metrics(context.Background())
	if err != nil || !strings.Contains(text, "\nprocess_start_time_seconds ") || !strings.Contains(text, `atoll_info{cluster="test",incarnation=`) {
		t.Errorf("/metrics: %v\n%s", err, text)
	}
}

// TestLogKeys: every log line carries the fixed keys node and site; ring
// lines carry ring, client lines client (agent/doc.go, "Logs").
func TestLogKeys(t *testing.T) {
	c := newCluster(t, 2)
	var logs syncbuf.Buffer
	jsonLog := func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c.start("n1", jsonLog)
	c.start("n2", jsonLog)
	c.waitRing(c.ids, 5*time.Second)
	a := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "alice")
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	a.waitView("g", "n1:alice")
	a.conn.Close()
	c.stopAll()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		msg, _ := m["msg"].(string)
		if m["node"] == nil || m["site"] != "lab" {
			t.Errorf("line without node and site: %s", line)
		}
		if strings.Contains(msg, "ring formed") || strings.Contains(msg, "transitional configuration") {
			seen["ring"] = true
			if m["ring"] == nil {
				t.Errorf("ring line without ring: %s", line)
			}
		}
		if strings.HasPrefix(msg, "client ") {
			seen["client"] = true
			if m["client"] == nil {
				t.Errorf("client line without client: %s", line)
			}
		}
	}
	if !seen["ring"] || !seen["client"] {
		t.Errorf("no ring or client lines:\n%s", logs.String())
	}
}

// TestMetricsListenValidate: a metrics listener that is not host:port is
// refused with an example.
func TestMetricsListenValidate(t *testing.T) {
	c := newCluster(t, 1)
	cfg := c.config("n1")
	cfg.setDefaults()
	cfg.MetricsListen = "nonsense"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `metrics listener "nonsense" is not host:port, such as 127.0.0.1:9405`) {
		t.Errorf("Validate: %v", err)
	}
	cfg.MetricsListen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestReady: Ready is closed only once the node has installed a regular
// configuration, and Status shows it then; Probe sees the loop's passes.
func TestReady(t *testing.T) {
	c := newCluster(t, 2)
	f, err := c.net.Listen(c.addr("n1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.config("n1")
	cfg.Network = f
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Ready():
		t.Fatal("Ready closed before Run")
	default:
	}
	if p, err := a.Probe(); !p.IsZero() || err != nil {
		t.Fatalf("Probe before Run: %v, %v; want the zero time and no error", p, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := runEnded(t, done); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-a.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("Ready not closed 20 s after Run: no regular configuration installed")
	}
	st := a.Status()
	if st.Ring == "" {
		t.Fatalf("Ready closed while Status shows no ring: state %s", st.State)
	}
	p1, err := a.Probe()
	if p1.IsZero() || err != nil {
		t.Fatalf("Probe after the ring formed: %v, %v; want a pass and no error", p1, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p, _ := a.Probe(); !p.After(p1); p, _ = a.Probe() {
		if time.Now().After(deadline) {
			t.Fatal("Probe: no new pass within 10 s of asking for one")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRingIDBound: the ring's node id bound is the site's longest node name
// rounded up to IDBoundStep; it is part of the configuration hash, so nodes
// whose node lists give other bounds refuse each other with the reason, and
// a configured bound below a node's name is refused.
func TestRingIDBound(t *testing.T) {
	c := newCluster(t, 2)
	a1 := c.start("n1", nil)
	if got := a1.Status().Config.RingSettings.MaxIDBytes; got != 8 {
		t.Errorf("status: ring id bound %d, want 8", got)
	}
	if got := a1.node.Settings().MaxIDBytes; got != 8 {
		t.Errorf("ring node: MaxIDBytes %d, want 8", got)
	}
	site := func(nodes ...string) *Config {
		return &Config{Site: "lab", Node: nodes[0], Nodes: nodes, Ring: localring.DefaultLAN("")}
	}
	for _, tc := range []struct {
		nodes []string
		bound int
	}{{[]string{"n1", "n2"}, 8}, {[]string{"n1", "node-008"}, 8}, {[]string{"n1", "node-0009"}, 16}, {[]string{"n1", strings.Repeat("x", 60)}, 64}} {
		if got := site(tc.nodes...).ringIDBound(); got != tc.bound {
			t.Errorf("nodes %v: bound %d, want %d", tc.nodes, got, tc.bound)
		}
	}
	if site("n1", "n2").configHash() != site("n1", "n2", "node-008").configHash() {
		t.Error("a node list with the same bound changes the configuration hash")
	}
	if site("n1", "n2").configHash() == site("n1", "n2", "node-0009").configHash() {
		t.Error("a node list with another bound keeps the configuration hash")
	}
	mine := &Agent{cfg: *site("n1", "n2")}
	want := "the peer allows node ids of up to 16 bytes in the ring and this node 8"
	if got := mine.configMismatchCause(site("n1", "n2", "node-0009").configHash()); !strings.Contains(got, want) || !strings.Contains(got, "n1, n2") {
		t.Errorf("cause for a peer with a longer node name: %s; want %q", got, want)
	}
	bad := site("n1", "n10")
	bad.Ring.MaxIDBytes = 2
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `node "n10" of site "lab" is 3 bytes long, above the ring's node id bound of 2`) {
		t.Errorf("bound below a node name: %v", err)
	}
}

// TestDuplicateTokens: the status and the metrics count the tokens a node
// dropped as copies of one it had (what tells a late token from a lost
// one after a token retransmission): with two copies of every token
// (localring Config.TokenCopies), every pass leaves one.
func TestDuplicateTokens(t *testing.T) {
	c := newCluster(t, 2)
	copies := func(cfg *Config) { cfg.Ring.TokenCopies = 2 }
	a1 := c.start("n1", copies)
	c.start("n2", copies)
	c.waitRing(c.ids, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); a1.Status().Counters.DuplicateTokens < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("duplicate tokens %d after 5s of two copies per pass", a1.Status().Counters.DuplicateTokens)
		}
	}
	text, err := NewClient(filepath.Join(c.dir, "n1", AdminSocketName)).Metrics(context.Background())
	if err != nil || !strings.Contains(text, "\natoll_duplicate_tokens_total ") || strings.Contains(text, "\natoll_duplicate_tokens_total 0\n") {
		t.Errorf("/metrics: %v\n%s", err, text)
	}
}
