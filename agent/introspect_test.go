package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

func TestEventLog(t *testing.T) {
	var l eventLog
	now := time.Unix(1, 0)
	for i := range eventLogSize + 44 {
		l.add(now, MembershipEvent{Kind: EventGather, Reason: strconv.Itoa(i)})
	}
	all := l.since(0)
	if len(all) != eventLogSize || all[0].Seq != 45 || all[len(all)-1].Seq != eventLogSize+44 {
		t.Fatalf("since(0): %d events, seq %d to %d; want %d, 45 to %d", len(all), all[0].Seq, all[len(all)-1].Seq, eventLogSize, eventLogSize+44)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("gap between %d and %d", all[i-1].Seq, all[i].Seq)
		}
	}
	if got := l.since(eventLogSize + 40); len(got) != 4 || got[0].Seq != eventLogSize+41 {
		t.Fatalf("since(%d): %v", eventLogSize+40, got)
	}
	if got := l.since(eventLogSize + 44); len(got) != 0 {
		t.Fatalf("since the last: %v", got)
	}
}

// apiStatus returns the HTTP status of err (an *APIError), 0 for none.
func apiStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// writeToken writes a token file of mode 0600.
func writeToken(t *testing.T, dir, name, tok string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntrospectionAPI: every resource of the API, over the admin socket
// and over HTTP with the roles of the two tokens, and the manipulations.
func TestIntrospectionAPI(t *testing.T) {
	c := newCluster(t, 2)
	tokDir := t.TempDir()
	readTok, adminTok := "read-token-0123456789", "admin-token-0123456789"
	level := &slog.LevelVar{}
	a := c.start("n1", func(cfg *Config) {
		cfg.LogLevel = level
		cfg.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: level}))
		cfg.API = API{HTTPListen: ":0", ReadTokenFile: writeToken(t, tokDir, "read", readTok), AdminTokenFile: writeToken(t, tokDir, "admin", adminTok)}
	})
	c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	ctx := context.Background()
	api := NewClient(filepath.Join(c.dir, "n1", AdminSocketName))

	ring, err := api.Ring(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if ring.ID == "" || ring.ID != st.Ring || ring.State != "operational" || len(ring.Members) != 2 || ring.FlowControl.WindowPackets != st.Config.RingSettings.WindowPackets || ring.FlowControl.WindowPackets == 0 {
		t.Errorf("ring %+v does not match the status (ring %s, window %d)", ring, st.Ring, st.Config.RingSettings.WindowPackets)
	}
	ev, err := api.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	formed := slices.IndexFunc(ev.Events, func(e MembershipEvent) bool {
		return e.Kind == EventRingFormed && e.Ring == st.Ring && slices.Equal(e.Members, []string{"n1", "n2"})
	})
	if formed < 0 || ev.Events[0].Seq != 1 {
		t.Errorf("events lack the ring formed of %s with n1 n2, or do not start at 1: %+v", st.Ring, ev.Events)
	}
	if later, err := api.Events(ctx, ev.Events[len(ev.Events)-1].Seq); err != nil || len(later.Events) != 0 {
		t.Errorf("events since the last: %v %v", later, err)
	}

	// A client that joins a group shows in groups and clients.
	app := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "app")
	app.ok(cp.Frame{Type: cp.TypeJoin, Group: "orders"})
	app.waitView("orders", "n1:app")
	gs, err := api.Groups(ctx)
	if err != nil || len(gs.Groups) != 1 || gs.Groups[0].Name != "orders" || !slices.Equal(gs.Groups[0].Members, []string{"n1:app"}) || gs.Groups[0].ViewID == "" {
		t.Fatalf("groups: %+v %v", gs, err)
	}
	cs, err := api.Clients(ctx)
	if err != nil || len(cs.Clients) != 1 || cs.Clients[0].Name != "app" || cs.Clients[0].Via != "unix" || !slices.Equal(cs.Clients[0].Groups, []string{"orders"}) {
		t.Fatalf("clients: %+v %v", cs, err)
	}

	// Evicting it ends its session with a goodbye, and its membership.
	if err := api.EvictClient(ctx, "nobody", ""); apiStatus(err) != http.StatusNotFound {
		t.Errorf("evicting an unknown client: %v, want 404", err)
	}
	if err := api.EvictClient(ctx, "app", "maintenance"); err != nil {
		t.Fatal(err)
	}
	bye := app.waitEnd()
	if bye == nil || bye.Code != cp.CodeDenied || !strings.Contains(bye.Text, "evicted by an operator of agent n1: maintenance") {
		t.Fatalf("goodbye after the eviction: %+v", bye)
	}
	waitFor(t, "the evicted client's group to empty", func() bool {
		gs, err := api.Groups(ctx)
		return err == nil && len(gs.Groups) == 0
	})

	if _, err := api.Handover(ctx, "fed/x", ""); apiStatus(err) != http.StatusNotFound || !strings.Contains(err.Error(), `"fed/x" is not a federation domain of site`) {
		t.Errorf("handover of a domain the site is not in: %v, want 404 that says so", err)
	}
	if _, err := api.Plan(ctx); apiStatus(err) != http.StatusNotFound {
		t.Errorf("plan of an agent without one: %v, want 404", err)
	}

	// The log level.
	a.log.Debug("before-debug-line")
	if err := api.SetLogLevel(ctx, "loud"); apiStatus(err) != http.StatusBadRequest {
		t.Errorf("log level loud: %v, want 400", err)
	}
	if err := api.SetLogLevel(ctx, "debug"); err != nil {
		t.Fatal(err)
	}
	a.log.Debug("after-debug-line")
	if lv, err := api.LogLevel(ctx); err != nil || lv.Level != "debug" || level.Level() != slog.LevelDebug {
		t.Errorf("log level after setting debug: %+v %v (var %v)", lv, err, level.Level())
	}
	if logs := c.logs.String(); strings.Contains(logs, "before-debug-line") || !strings.Contains(logs, "after-debug-line") {
		t.Errorf("debug lines: want only the one after the change:\n%s", logs)
	}

	// Over HTTP, the tokens' roles.
	base := "http://" + a.httpL.Addr().String()
	if !strings.HasPrefix(a.httpL.Addr().String(), "127.0.0.1:") {
		t.Errorf("HTTP listener with an empty host on %s, want loopback", a.httpL.Addr())
	}
	for _, tc := range []struct {
		token, method, path string
		want                int
	}{
		{"", "GET", "/v1/ring", 401},
		{"wrong-token-0123456789", "GET", "/v1/ring", 401},
		{readTok, "GET", "/v1/ring", 200},
		{readTok, "GET", "/metrics", 200},
		{readTok, "PUT", "/v1/log-level", 403},
		{readTok, "POST", "/v1/clients/x/evict", 403},
		{readTok, "GET", "/debug/pprof/", 403},
		{adminTok, "PUT", "/v1/log-level", 200},
		{adminTok, "GET", "/v1/status", 200},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{"level":"info"}`))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with token %q: %d %s, want %d", tc.method, tc.path, tc.token, resp.StatusCode, body, tc.want)
		}
	}
	if r, err := NewHTTPClient(base, readTok, nil).Ring(ctx); err != nil || r.ID != st.Ring && r.ID == "" {
		t.Errorf("ring over HTTP: %+v %v", r, err)
	}
	if level.Level() != slog.LevelInfo {
		t.Errorf("the admin token's PUT left the level at %v", level.Level())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAPIConfigErrors: an HTTP listener without tokens, a token file
// others may read, a short token.
func TestAPIConfigErrors(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte("0123456789abcdef0123"), 0o644)
	short := writeToken(t, dir, "short", "abc")
	for _, tc := range []struct {
		api  API
		want string
	}{
		{API{HTTPListen: "127.0.0.1:0"}, "needs bearer tokens"},
		{API{HTTPListen: "nonsense"}, "not host:port"},
		{API{HTTPListen: "127.0.0.1:0", ReadTokenFile: loose}, "chmod 600"},
		{API{HTTPListen: "127.0.0.1:0", AdminTokenFile: short}, "a token of 3 bytes; use at least 16"},
		{API{OperatorsGroup: "no-such-group-atoll"}, "operators' group"},
	} {
		c := newCluster(t, 1)
		f, _ := c.net.Listen(c.addr("n1"))
		cfg := c.config("n1")
		cfg.Network, cfg.API = f, tc.api
		a, err := New(cfg)
		if err == nil {
			a.Close()
			t.Errorf("%+v: started", tc.api)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.api, err, tc.want)
		}
	}
}

// TestAPIOperatorsGroup: over the admin socket a member of the operators'
// group may read and not change; the agent's own user may change. Needs
// root, to run a client as another user.
func TestAPIOperatorsGroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user and group")
	}
	grp, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skip("no group nogroup to act as the operators' group: ", err)
	}
	gid, _ := strconv.Atoi(grp.Gid)
	// A directory the other user can traverse, with a copy of the test
	// binary it can run.
	dir, err := os.MkdirTemp("", "atoll-ops-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "agent.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	c := newCluster(t, 1)
	c.start("n1", func(cfg *Config) {
		cfg.AdminSocket = sock
		cfg.LogLevel = &slog.LevelVar{}
		cfg.API.OperatorsGroup = "nogroup"
	})
	c.waitRing([]string{"n1"}, 5*time.Second)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o660 || int(st.Gid) != gid {
		t.Fatalf("admin socket mode %04o group %d, want 0660 and %d", fi.Mode().Perm(), st.Gid, gid)
	}
	run := func(uid, gid int) string {
		cmd := exec.Command(bin, "-test.run=^TestAPIChild$")
		cmd.Env = append(os.Environ(), "ATOLL_API_CHILD="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run(65534, gid); !strings.Contains(out, "read=ok") || !strings.Contains(out, "change=403") {
		t.Errorf("a member of the operators' group: %s", out)
	}
	if out := run(65534, 65533); !strings.Contains(out, "read=unreachable") {
		t.Errorf("a user outside the operators' group: %s", out)
	}
	if err := NewClient(sock).SetLogLevel(context.Background(), "warn"); err != nil {
		t.Errorf("the agent's own user (root) cannot change the log level: %v", err)
	}
}

// TestAPIChild is TestAPIOperatorsGroup's client, run as another user.
func TestAPIChild(t *testing.T) {
	sock := os.Getenv("ATOLL_API_CHILD")
	if sock == "" {
		t.Skip("run by TestAPIOperatorsGroup only")
	}
	api := NewClient(sock)
	ctx := context.Background()
	var ue *UnreachableError
	switch _, err := api.Ring(ctx); {
	case err == nil:
		fmt.Println("read=ok")
	case errors.As(err, &ue):
		fmt.Println("read=unreachable", err)
		return
	default:
		fmt.Println("read=", err)
	}
	fmt.Printf("change=%d\n", apiStatus(api.SetLogLevel(ctx, "debug")))
}

// fpYAML is two sites: a with two gateways (a-1, then a-2), b with one.
const fpYAML = `version: 1
cluster: fp
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
    quic: "127.0.0.1:2"
    nodes: [{id: b-1}]
    gateways: [b-1]
links:
  - {between: [a, b], rtt: 2ms}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

// TestFederationAndPlan: /v1/federation names the site's gateways and
// the active one in the local ring; /v1/plan hashes the plan's JSON.
func TestFederationAndPlan(t *testing.T) {
	f, err := topology.Parse("fp.yaml", []byte(fpYAML))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	cfg, err := FromTopology(f, "a-1", PresetLAN)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.1.0.1:5405"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Network, cfg.Security, cfg.DataDir = nw, Security{Key: seal.GenerateKey()}, filepath.Join(dir, "a-1")
	cfg.Logger, cfg.ClientSocket = slog.New(slog.DiscardHandler), "-"
	cfg.Federation = &Federation{File: f, Plan: plan} // no certificates: it runs no federation ring
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); runEnded(t, done) }()
	waitFor(t, "a ring", func() bool { return a.Status().State == "operational" })

	api := NewClient(filepath.Join(cfg.DataDir, AdminSocketName))
	fed, err := api.Federation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(fed.Domains) != 1 || !slices.Equal(fed.Domains[0].Sites, []string{"a", "b"}) || fed.Domains[0].Active != "a-1" ||
		!slices.Contains(fed.Domains[0].Gateways, "a-2") || len(fed.Domains[0].Gateways) != 2 || fed.Domains[0].Running || len(fed.Rings) != 0 {
		t.Errorf("federation: %+v", fed)
	}
	// A handover with no other gateway in the ring, and to a node that is
	// not a gateway, is refused with the reason.
	dom := fed.Domains[0].Name
	for to, want := range map[string]string{"": "no other gateway in its local ring than the active one, a-1", "b-1": "b-1 is not a gateway of the site"} {
		if _, err := api.Handover(context.Background(), dom, to); apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), want) {
			t.Errorf("handover to %q: %v, want 409 %q", to, err, want)
		}
	}
	p, err := api.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plan.JSON())
	if p.Hash != hex.EncodeToString(sum[:]) || len(p.Domains) != len(plan.Domains) {
		t.Errorf("plan hash %s, want %x; %d domains, want %d", p.Hash, sum, len(p.Domains), len(plan.Domains))
	}
	for i, d := range p.Domains {
		if want := hex64(plan.ConfigHash(&plan.Domains[i])); d.ConfigHash != want {
			t.Errorf("domain %s: config hash %s, want %s", d.Name, d.ConfigHash, want)
		}
	}
}

// TestHandoverAPI hands site a's gateway role over through the admin
// socket of a-2 (the standby asks) and back by name, on two agents
// without certificates (no federation ring member runs, so the old
// gateway releases at once): 200 with from and to once it took effect,
// both nodes' status and /v1/federation name the new active gateway, the
// events list it; when a-2 leaves the ring, the plan's order gives the
// role back to a-1.
func TestHandoverAPI(t *testing.T) {
	f, err := topology.Parse("fp.yaml", []byte(fpYAML))
	if err != nil {
		t.Fatal(err)
	}
	plan := f.Plan()
	net, key, dir := &transport.FakeNetwork{}, seal.GenerateKey(), t.TempDir()
	agents := map[string]*Agent{}
	stops := map[string]func(){}
	for i, id := range []string{"a-1", "a-2"} {
		cfg, err := FromTopology(f, id, PresetLAN)
		if err != nil {
			t.Fatal(err)
		}
		nw, err := net.Listen(netip.MustParseAddrPort(fmt.Sprintf("10.1.0.%d:5405", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network, cfg.Security, cfg.DataDir = nw, Security{Key: key}, filepath.Join(dir, id)
		cfg.Logger, cfg.ClientSocket = slog.New(slog.DiscardHandler), "-"
		cfg.Federation = &Federation{File: f, Plan: plan}
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		stop := sync.OnceFunc(func() { cancel(); runEnded(t, done) })
		t.Cleanup(stop)
		agents[id], stops[id] = a, stop
	}
	active := func(id string) string {
		ds := agents[id].Status().Domains
		if len(ds) != 1 {
			return ""
		}
		return ds[0].Active
	}
	waitFor(t, "a ring of a-1 and a-2", func() bool {
		st := agents["a-2"].Status()
		in := 0
		for _, m := range st.Members {
			if m.InRing {
				in++
			}
		}
		return in == 2 && st.State == "operational" && active("a-2") == "a-1"
	})
	api := NewClient(filepath.Join(dir, "a-2", AdminSocketName))
	ctx := context.Background()
	dom := plan.Domains[slices.IndexFunc(plan.Domains, func(d topology.Domain) bool { return d.Kind == topology.FederationDomain })].Name
	for _, step := range []struct{ to, from, want string }{{"", "a-1", "a-2"}, {"a-1", "a-2", "a-1"}, {"a-2", "a-1", "a-2"}} {
		r, err := api.Handover(ctx, dom, step.to)
		if err != nil {
			t.Fatalf("handover to %q: %v", step.to, err)
		}
		if !r.Agreed || r.From != step.from || r.To != step.want || r.Site != "a" || r.Incarnation == 0 || r.LocalRing == "" {
			t.Errorf("handover to %q: %+v, want it took effect, from %s to %s", step.to, r, step.from, step.want)
		}
		waitFor(t, "both nodes to name "+step.want, func() bool { return active("a-1") == step.want && active("a-2") == step.want })
		if fed, err := api.Federation(ctx); err != nil || fed.Domains[0].Active != step.want {
			t.Errorf("/v1/federation after the handover to %s: %+v, %v", step.want, fed, err)
		}
	}
	if evs := agents["a-1"].Events(0); !slices.ContainsFunc(evs, func(e MembershipEvent) bool {
		return e.Kind == EventHandover && e.Member == "a-2" && strings.Contains(e.Reason, "from a-1 to a-2, requested at a-2")
	}) {
		t.Errorf("a-1's events have no handover to a-2: %+v", evs)
	}
	// a-2 leaves: the plan's order applies again.
	stops["a-2"]()
	waitFor(t, "a-1 to take the role back", func() bool { return active("a-1") == "a-1" })
}
