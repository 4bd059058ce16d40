package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
)

func TestMain(m *testing.M) {
	os.Exit(nstest.Main(m, "tests/netns", map[string]string{"ip": "iproute2", "nft": "nftables"}))
}

// Timings of the LAN preset the agents run with.
const (
	tokenTimeout     = 200 * time.Millisecond
	consensusTimeout = 240 * time.Millisecond
)

// Transport is how the agents of a testbed reach each other.
type Transport int

const (
	Multicast Transport = iota
	Unicast
)

func (tr Transport) String() string {
	if tr == Unicast {
		return "unicast"
	}
	return "multicast"
}

// Testbed is one test's namespaces and agents.
type Testbed struct {
	t      *testing.T
	run    string // unique prefix of every name
	hub    string // the bridge's namespace
	dir    string
	topo   string
	key    string
	badKey string
	nodes  []*Node
	load   agent.Load
	preset string // --ring-preset of the agents: lan unless a test says
	killed map[evs.Proc]bool
	nft    map[string]bool // namespaces with the atoll nft table
}

// Node is one agent of a testbed.
type Node struct {
	tb      *Testbed
	ID      string
	NS      string
	Port    string // its veth end on the bridge, in the hub namespace
	Addr    netip.Addr
	DataDir string
	Trace   string
	Log     string
	Key     string // the key file it runs with
	Client  *agent.Client

	cmd    *exec.Cmd
	exited chan error
	Inc    uint64 // incarnation of the running process
	paused bool
}

// NewTestbed makes n namespaces n1..nN on one bridge, writes the topology
// file (with the transport) and a key, and starts no agent yet.
func NewTestbed(t *testing.T, n int, tr Transport) *Testbed {
	t.Helper()
	if nstest.SkipReason != "" {
		t.Skip(nstest.SkipReason)
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	tb := &Testbed{
		t:      t,
		run:    "atl" + hex.EncodeToString(rnd[:]),
		dir:    t.TempDir(),
		load:   agent.Load{Rate: 100, Size: 1024, Svc: "agreed"},
		preset: "lan",
		killed: map[evs.Proc]bool{},
		nft:    map[string]bool{},
	}
	tb.hub = tb.run + "-hub"
	t.Cleanup(tb.cleanup)

	tb.sh("ip", "netns", "add", tb.hub)
	tb.ip(tb.hub, "link", "set", "lo", "up")
	tb.ip(tb.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	tb.ip(tb.hub, "link", "set", "br0", "up")
	var addrs []string
	for i := 1; i <= n; i++ {
		nd := &Node{
			tb:   tb,
			ID:   fmt.Sprintf("n%d", i),
			NS:   fmt.Sprintf("%s-n%d", tb.run, i),
			Port: fmt.Sprintf("h%d", i),
			Addr: netip.AddrFrom4([4]byte{10, 99, 0, byte(i)}),
		}
		nd.DataDir = filepath.Join(tb.dir, nd.ID)
		nd.Trace = filepath.Join(tb.dir, nd.ID+".trace")
		nd.Log = filepath.Join(tb.dir, nd.ID+".log")
		nd.Client = agent.NewClient(filepath.Join(nd.DataDir, agent.AdminSocketName))
		tb.nodes = append(tb.nodes, nd)
		addrs = append(addrs, nd.Addr.String())

		tb.sh("ip", "netns", "add", nd.NS)
		tb.ip(nd.NS, "link", "set", "lo", "up")
		tb.ip(tb.hub, "link", "add", nd.Port, "type", "veth", "peer", "name", "eth0", "netns", nd.NS)
		tb.ip(tb.hub, "link", "set", nd.Port, "master", "br0", "up")
		tb.ip(nd.NS, "addr", "add", nd.Addr.String()+"/24", "dev", "eth0")
		tb.ip(nd.NS, "link", "set", "eth0", "up", "multicast", "on")
		tb.ip(nd.NS, "route", "add", "224.0.0.0/4", "dev", "eth0")
	}

	tb.key = filepath.Join(tb.dir, "atoll.key")
	tb.badKey = filepath.Join(tb.dir, "other.key")
	for _, p := range []string{tb.key, tb.badKey} {
		if err := seal.WriteKeyFile(p, seal.GenerateKey(), false); err != nil {
			t.Fatal(err)
		}
	}
	transport := "multicast: 239.192.99.1"
	if tr == Unicast {
		transport = "unicast: [" + strings.Join(addrs, ", ") + "]"
	}
	var nodes []string
	for _, nd := range tb.nodes {
		nodes = append(nodes, "{id: "+nd.ID+"}")
	}
	topo := fmt.Sprintf(`version: 1
cluster: netns
security: {mode: encrypt, key_file: %s}
sites:
  - name: lab
    bind: '{{ GetPrivateInterfaces | include "network" "10.99.0.0/24" | attr "address" }}'
    %s
    nodes: [%s]
`, tb.key, transport, strings.Join(nodes, ", "))
	tb.topo = filepath.Join(tb.dir, "atoll.yaml")
	if err := os.WriteFile(tb.topo, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	return tb
}

// sh runs a command and fails the test if it fails.
func (tb *Testbed) sh(name string, args ...string) {
	tb.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// ip runs `ip -n ns args...`.
func (tb *Testbed) ip(ns string, args ...string) {
	tb.t.Helper()
	tb.sh("ip", append([]string{"-n", ns}, args...)...)
}

// nftIn runs nft commands in namespace ns.
func (tb *Testbed) nftIn(ns string, cmds ...string) {
	tb.t.Helper()
	c := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	c.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		tb.t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, strings.Join(cmds, "\n"), out)
	}
}

func (tb *Testbed) cleanup() {
	for _, nd := range tb.nodes {
		if nd.cmd != nil {
			if nd.paused {
				nd.cmd.Process.Signal(syscall.SIGCONT)
			}
			nd.cmd.Process.Kill()
			<-nd.exited
			nd.cmd = nil
		}
	}
	if tb.t.Failed() {
		for _, nd := range tb.nodes {
			tb.t.Logf("---- log of %s (last 40 lines) ----\n%s", nd.ID, nstest.TailFile(nd.Log, 40))
		}
	}
	// ATOLL_NETNS_KEEP=DIR keeps the logs, traces and topology file of
	// every test in DIR/<test>.
	if keep := os.Getenv("ATOLL_NETNS_KEEP"); keep != "" {
		dst := filepath.Join(keep, strings.ReplaceAll(tb.t.Name(), "/", "_"))
		if err := keepFiles(tb.dir, dst); err != nil {
			tb.t.Logf("keep the test's files: %v", err)
		} else {
			tb.t.Logf("logs and traces kept in %s", dst)
		}
	}
	for _, nd := range tb.nodes {
		exec.Command("ip", "netns", "del", nd.NS).Run()
	}
	exec.Command("ip", "netns", "del", tb.hub).Run()
}

// keepFiles copies the logs, traces and topology file of dir to dst.
func keepFiles(dir, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".log" && ext != ".trace" && ext != ".yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Node returns the node with id.
func (tb *Testbed) Node(id string) *Node {
	for _, nd := range tb.nodes {
		if nd.ID == id {
			return nd
		}
	}
	tb.t.Fatalf("no node %s", id)
	return nil
}

// Nodes returns the nodes with the given ids, or all.
func (tb *Testbed) Nodes(ids ...string) []*Node {
	if len(ids) == 0 {
		return tb.nodes
	}
	var out []*Node
	for _, id := range ids {
		out = append(out, tb.Node(id))
	}
	return out
}

// StartAll starts every node's agent.
func (tb *Testbed) StartAll() {
	tb.t.Helper()
	for _, nd := range tb.nodes {
		nd.Start()
	}
}

// Start starts the node's agent (a new incarnation) and waits until its
// admin API answers.
func (nd *Node) Start() {
	tb := nd.tb
	tb.t.Helper()
	if nd.cmd != nil {
		tb.t.Fatalf("%s is already running", nd.ID)
	}
	key := nd.Key
	if key == "" {
		key = tb.key
	}
	logf, err := os.OpenFile(nd.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		tb.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", nd.NS, nstest.Bin, "agent",
		"--config", tb.topo, "--node", nd.ID, "--data-dir", nd.DataDir, "--trace", nd.Trace, "--key", key,
		"--ring-preset", tb.preset,
		"--load-rate", fmt.Sprint(tb.load.Rate), "--load-size", fmt.Sprint(tb.load.Size), "--load-svc", tb.load.Svc)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = nstest.ProcAttr()
	if err := cmd.Start(); err != nil {
		tb.t.Fatalf("start %s: %v", nd.ID, err)
	}
	nd.cmd, nd.exited, nd.paused = cmd, make(chan error, 1), false
	go func() { nd.exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := nd.Client.Status(ctx)
		cancel()
		if err == nil {
			nd.Inc = st.Incarnation
			return
		}
		select {
		case err := <-nd.exited:
			nd.cmd = nil
			tb.t.Fatalf("agent %s exited at start (%v):\n%s", nd.ID, err, nstest.TailFile(nd.Log, 20))
		default:
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("agent %s does not answer on its admin socket after 10s: %v\n%s", nd.ID, err, nstest.TailFile(nd.Log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Proc is the node's running process for the checker.
func (nd *Node) Proc() evs.Proc { return evs.Proc{Node: nd.ID, Inc: nd.Inc} }

// Kill kills the agent with SIGKILL and records it as failed. It returns
// the time of the kill.
func (nd *Node) Kill() time.Time {
	tb := nd.tb
	tb.t.Helper()
	if nd.cmd == nil {
		tb.t.Fatalf("%s is not running", nd.ID)
	}
	at := time.Now()
	nd.cmd.Process.Kill()
	<-nd.exited
	nd.cmd = nil
	tb.killed[nd.Proc()] = true
	return at
}

// Stop stops the agent gracefully (SIGTERM) and waits for it to exit.
func (nd *Node) Stop() {
	nd.tb.t.Helper()
	nd.signalStop()
	nd.waitStopped()
}

func (nd *Node) signalStop() {
	if nd.cmd != nil {
		if nd.paused {
			nd.Resume()
		}
		nd.cmd.Process.Signal(syscall.SIGTERM)
	}
}

func (nd *Node) waitStopped() {
	tb := nd.tb
	tb.t.Helper()
	if nd.cmd == nil {
		return
	}
	select {
	case err := <-nd.exited:
		nd.cmd = nil
		if err != nil {
			tb.t.Errorf("agent %s exited with %v after SIGTERM, want status 0", nd.ID, err)
		}
	case <-time.After(5 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.exited
		nd.cmd = nil
		tb.killed[nd.Proc()] = true
		tb.t.Errorf("agent %s did not exit within 5s of SIGTERM; killed it", nd.ID)
	}
}

// Restart stops the agent gracefully and starts a new incarnation.
func (nd *Node) Restart() {
	nd.tb.t.Helper()
	nd.Stop()
	nd.Start()
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (nd *Node) Pause() {
	nd.cmd.Process.Signal(syscall.SIGSTOP)
	nd.paused = true
}

// Resume continues a paused process.
func (nd *Node) Resume() {
	nd.cmd.Process.Signal(syscall.SIGCONT)
	nd.paused = false
}

// Cut takes the node's link down (its port on the bridge); Uncut brings
// it back.
func (nd *Node) Cut()   { nd.tb.ip(nd.tb.hub, "link", "set", nd.Port, "down") }
func (nd *Node) Uncut() { nd.tb.ip(nd.tb.hub, "link", "set", nd.Port, "up") }

// Partition splits the bridge: nodes of different groups no longer hear
// each other. Heal undoes it.
func (tb *Testbed) Partition(groups ...[]string) {
	tb.t.Helper()
	cmds := []string{
		"table bridge atoll { chain forward { type filter hook forward priority 0; policy accept; }; }",
		"flush chain bridge atoll forward",
	}
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			cmds = append(cmds, fmt.Sprintf("add rule bridge atoll forward iifname { %s } oifname { %s } counter drop", tb.ports(a), tb.ports(b)))
		}
	}
	tb.nftIn(tb.hub, cmds...)
	tb.nft[tb.hub] = true
}

// CutPair cuts the link between nodes a and b in both directions at the
// bridge, every other link working: a non-transitive network, where a
// third node hears both. Heal undoes it; BridgeDropped counts its drops.
func (tb *Testbed) CutPair(a, b string) {
	tb.t.Helper()
	pa, pb := tb.ports([]string{a}), tb.ports([]string{b})
	tb.nftIn(tb.hub,
		"table bridge atoll { chain forward { type filter hook forward priority 0; policy accept; }; }",
		fmt.Sprintf("add rule bridge atoll forward iifname { %s } oifname { %s } counter drop", pa, pb),
		fmt.Sprintf("add rule bridge atoll forward iifname { %s } oifname { %s } counter drop", pb, pa))
	tb.nft[tb.hub] = true
}

// BridgeDropped returns how many packets the bridge's rules (Partition,
// CutPair) have dropped since they were set.
func (tb *Testbed) BridgeDropped() uint64 { return tb.counted(tb.hub, "bridge", "forward") }

func (tb *Testbed) ports(ids []string) string {
	var ps []string
	for _, nd := range tb.Nodes(ids...) {
		ps = append(ps, `"`+nd.Port+`"`)
	}
	return strings.Join(ps, ", ")
}

// DropFrom makes node to drop every packet from node from: one direction
// only. Heal undoes it.
func (tb *Testbed) DropFrom(to, from string) {
	tb.t.Helper()
	ns := tb.Node(to).NS
	tb.nftIn(ns,
		"table inet atoll { chain input { type filter hook input priority 0; policy accept; }; }",
		fmt.Sprintf("add rule inet atoll input ip saddr %s counter drop", tb.Node(from).Addr))
	tb.nft[ns] = true
}

// Loss makes node id lose pct % of the UDP packets it receives until
// Heal: at random, of every kind ("any"), multicasts only ("multicast") or
// unicasts only ("unicast": tokens and membership packets); or of every
// kind in bursts ("burst": pct packets in a row out of every 100), by an
// nft input rule with a counter (Dropped).
func (tb *Testbed) Loss(id, kind string, pct int) {
	tb.t.Helper()
	match, ok := map[string]string{
		"any":       "numgen random",
		"multicast": "ip daddr 224.0.0.0/4 numgen random",
		"unicast":   "ip daddr != 224.0.0.0/4 numgen random",
		"burst":     "numgen inc",
	}[kind]
	if !ok || pct <= 0 || pct > 100 {
		tb.t.Fatalf("Loss(%s, %q, %d): want any, multicast, unicast or burst and 1-100 %%", id, kind, pct)
	}
	ns := tb.Node(id).NS
	tb.nftIn(ns,
		"table inet atoll { chain input { type filter hook input priority 0; policy accept; }; }",
		fmt.Sprintf("add rule inet atoll input meta l4proto udp %s mod 100 < %d counter drop", match, pct))
	tb.nft[ns] = true
}

// Dropped returns how many packets the input rules of DropFrom and Loss
// have dropped at node to so far (their nft counters), so that a test can
// show the fault really happened.
func (tb *Testbed) Dropped(to string) uint64 {
	tb.t.Helper()
	return tb.counted(tb.Node(to).NS, "inet", "input")
}

// counted sums the packet counters of the rules of chain in table atoll of
// family in namespace ns.
func (tb *Testbed) counted(ns, family, chain string) uint64 {
	tb.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "chain", family, "atoll", chain).CombinedOutput()
	if err != nil {
		tb.t.Fatalf("nft list in %s: %v\n%s", ns, err, out)
	}
	var n uint64
	for _, f := range strings.Split(string(out), "counter packets ")[1:] {
		var k uint64
		if _, err := fmt.Sscan(f, &k); err != nil {
			tb.t.Fatalf("nft counter in %s: %v\n%s", ns, err, out)
		}
		n += k
	}
	return n
}

// MuteMulticast drops every multicast packet node id sends (its unicast
// tokens still pass), as a broken multicast route or group membership
// would: an nft output rule in its namespace. Heal undoes it.
func (tb *Testbed) MuteMulticast(id string) {
	tb.t.Helper()
	ns := tb.Node(id).NS
	tb.nftIn(ns,
		"table inet atoll { chain output { type filter hook output priority 0; policy accept; }; }",
		"add rule inet atoll output ip daddr 224.0.0.0/4 drop")
	tb.nft[ns] = true
}

// Heal removes every partition and dropped direction.
func (tb *Testbed) Heal() {
	tb.t.Helper()
	for ns := range tb.nft {
		family := "inet"
		if ns == tb.hub {
			family = "bridge"
		}
		tb.nftIn(ns, "delete table "+family+" atoll")
		delete(tb.nft, ns)
	}
}

// Running returns the nodes whose agent runs.
func (tb *Testbed) Running() []*Node {
	var out []*Node
	for _, nd := range tb.nodes {
		if nd.cmd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// SetLoad changes the load of every running agent.
func (tb *Testbed) SetLoad(l agent.Load) {
	tb.t.Helper()
	for _, nd := range tb.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := nd.Client.SetLoad(ctx, l)
		cancel()
		if err != nil {
			tb.t.Fatalf("set the load of %s: %v", nd.ID, err)
		}
	}
}

// WaitRing waits until every node of each group is operational in one ring
// whose members are exactly that group, and returns each node's status.
func (tb *Testbed) WaitRing(timeout time.Duration, groups ...[]string) map[string]*agent.Status {
	tb.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		got, why := tb.ringsAre(groups)
		if why == "" {
			tb.t.Logf("rings %v formed after %v", groups, time.Since(start).Round(time.Millisecond))
			return got
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("the rings %v did not form within %v: %s", groups, timeout, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (tb *Testbed) ringsAre(groups [][]string) (map[string]*agent.Status, string) {
	got := map[string]*agent.Status{}
	for _, g := range groups {
		ring := ""
		for _, nd := range tb.Nodes(g...) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := nd.Client.Status(ctx)
			cancel()
			if err != nil {
				return nil, err.Error()
			}
			var members []string
			for _, m := range st.Members {
				if m.InRing {
					members = append(members, m.ID)
				}
			}
			switch {
			case st.State != "operational":
				return nil, fmt.Sprintf("%s is in state %s", nd.ID, st.State)
			case !slices.Equal(members, g):
				return nil, fmt.Sprintf("%s is in ring %s with %v", nd.ID, st.Ring, members)
			case ring != "" && st.Ring != ring:
				return nil, fmt.Sprintf("%s is in ring %s, another node of %v in %s", nd.ID, st.Ring, g, ring)
			}
			ring = st.Ring
			got[nd.ID] = st
		}
	}
	return got, ""
}

// ids returns the ids of nodes.
func ids(nodes []*Node) []string {
	var out []string
	for _, nd := range nodes {
		out = append(out, nd.ID)
	}
	return out
}

// Finish ends a scenario. With converged, it stops the load, waits for one
// ring of every running node with nothing left to send, and checks
// liveness (evs.CheckConverged) and safety with quiescence (evs.Check) on
// the traces so far. In any case it then stops every agent gracefully and
// checks the complete traces (evs.Check, the killed processes failed).
func (tb *Testbed) Finish(converged bool) {
	tb.t.Helper()
	if converged {
		tb.SetLoad(agent.Load{})
		live := tb.Running()
		tb.WaitRing(30*time.Second, ids(live))
		tb.waitIdle(live)
		var procs []evs.Proc
		for _, nd := range live {
			procs = append(procs, nd.Proc())
		}
		events := tb.traces()
		tb.report("liveness (CheckConverged)", evs.CheckConverged(events, procs))
		tb.report("safety after quiescence (Check)", evs.Check(events, evs.Options{Failed: tb.killed, Quiescent: true}))
	}
	live := tb.Running()
	for _, nd := range live {
		nd.signalStop()
	}
	for _, nd := range live {
		nd.waitStopped()
	}
	events := tb.traces()
	tb.report("safety (Check)", evs.Check(events, evs.Options{Failed: tb.killed}))
	tb.t.Logf("checked %s", evs.Summarize(events))
}

// waitIdle waits until no running agent has messages to send and every
// one has delivered the same number of messages in its ring for a while.
func (tb *Testbed) waitIdle(nodes []*Node) {
	tb.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []uint64
	stable := 0
	for stable < 3 {
		if time.Now().After(deadline) {
			tb.t.Fatalf("the agents did not settle within 10s")
		}
		time.Sleep(100 * time.Millisecond)
		var cur []uint64
		busy := false
		for _, nd := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := nd.Client.Status(ctx)
			cancel()
			if err != nil {
				tb.t.Fatal(err)
			}
			busy = busy || st.Counters.Pending+st.Counters.Queued > 0
			cur = append(cur, st.Counters.MessagesDelivered)
		}
		if !busy && slices.Equal(cur, last) {
			stable++
		} else {
			stable = 0
		}
		last = cur
	}
}

// traces reads every node's trace file.
func (tb *Testbed) traces() []evs.Event {
	tb.t.Helper()
	var all []evs.Event
	for _, nd := range tb.nodes {
		es, err := evs.ReadFile(nd.Trace)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			tb.t.Fatal(err)
		}
		all = append(all, es...)
	}
	return all
}

func (tb *Testbed) report(what string, vs []evs.Violation) {
	tb.t.Helper()
	if len(vs) == 0 {
		return
	}
	var b strings.Builder
	evs.Report(&b, vs)
	tb.t.Errorf("%s: %d violations:\n%s", what, evs.Count(vs), b.String())
}
