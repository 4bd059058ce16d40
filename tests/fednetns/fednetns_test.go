// Package fednetns runs sites federated over WAN paths in network
// namespaces, behind a router namespace whose `atoll relay` processes give
// the paths between the gateways their RTTs (10 ms a–b, 200 ms to c). It
// needs root and iproute2, and skips otherwise.
//
// TestFederationNetns runs the federation ring alone: one `atoll agent`
// per site (its site's only node and active gateway), kill -9, a cut and
// its heal, and gateways with bad certificates that must be refused.
//
// TestSitesNetns runs whole sites (3, 3 and 2 nodes, multicast inside
// each) with Go clients in a group across the sites and in a site-local
// one, under load, through kill -9 of a site's active gateway, a site cut
// off and healed, and a whole site killed and restarted; then the EVS
// checker judges every agent's trace, and lostAndDuplicated counts from
// the traces the messages lost or delivered twice at nodes that stayed
// connected with their senders (the test fails on any).
//
// TestCutOffNetns runs the same sites and clients, and takes b-3, a node
// that is no gateway, out of its site's ring for good with an nftables
// rule in its namespace (its multicasts dropped, then, healed in between,
// those it receives): alone without a gateway for gateway.PartGrace, it
// leaves the domain's configuration for its part's, the others go on
// delivering, and once the rule is gone it merges back; the same checks
// of the traces judge it. It needs nft too (Debian package nftables).
//
//	go test -v -run Sites ./tests/fednetns/                # as root, about a minute
//	ATOLL_NETNS_KEEP=/tmp/k go test -run Sites ./tests/fednetns/  # keep traces and logs in /tmp/k/<test>
//	go test -v -run CutOff ./tests/fednetns/               # about a minute; FN_NOOP=1: rules that drop nothing, it must fail
//
// (TestFederationNetns keeps its federation traces and logs the same way,
// in /tmp/k/<test>/<world name>, one directory a run.)
package fednetns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
	"github.com/atoll-gcs/atoll/topology"
)

func TestMain(m *testing.M) {
	if os.Getenv("FI_IMPOSTOR") != "" {
		os.Exit(m.Run()) // the impostor helper process
	}
	os.Exit(nstest.Main(m, "tests/fednetns", map[string]string{"ip": "iproute2"}))
}

// The world: site X (a, b, c, and d for impostors) lives in namespace
// NAME-X at 10.253.N.2, behind the router namespace NAME-r at 10.253.N.1.
// The QUIC transport dials from the site whose name sorts first (a dials
// b and c, b dials c), so a relay in front of b (10 ms RTT) serves a–b and
// a relay in front of c (200 ms RTT) serves a–c and b–c; the topology's
// QUIC endpoints of b and c are those relays.
const topoYAML = `version: 1
cluster: fi
security: {mode: none}
classes:
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.253.1.2:5405"]
    quic: "10.253.1.2:7400"
    nodes: [{id: a-1}]
    gateways: [a-1]
  - name: b
    unicast: ["10.253.2.2:5405"]
    quic: "10.253.2.1:7500"
    nodes: [{id: b-1}]
    gateways: [b-1]
  - name: c
    unicast: ["10.253.3.2:5405"]
    quic: "10.253.3.1:7500"
    nodes: [{id: c-1}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 10ms, bandwidth: 50Mbit/s}
  - {between: [a, c], rtt: 200ms, bandwidth: 50Mbit/s}
  - {between: [b, c], rtt: 200ms, bandwidth: 50Mbit/s}
groups:
  - {name: orders, class: global, sites: ["*"]}
`

type world struct {
	t       *testing.T
	name    string
	dir     string
	topo    string
	file    *topology.File
	domain  *topology.Domain
	agents  map[string]*nstest.Proc
	logsOf  []procLog               // every agent started, in order, for ATOLL_NETNS_KEEP
	relays  map[string]*nstest.Proc // by site whose endpoint they front
	killed  []evs.Proc
	traces  []string
	rate    float64 // the federation load of the scenarios, msgs/s per site
	cleanup []func()
}

func newWorld(t *testing.T) *world {
	if nstest.SkipReason != "" {
		t.Skip(nstest.SkipReason)
	}
	var rnd [2]byte
	rand.Read(rnd[:])
	w := &world{t: t, name: "fi-" + hex.EncodeToString(rnd[:]), dir: t.TempDir(), agents: map[string]*nstest.Proc{}, relays: map[string]*nstest.Proc{}}
	t.Cleanup(w.close)
	w.topo = filepath.Join(w.dir, "topo.yaml")
	if err := os.WriteFile(w.topo, []byte(topoYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := topology.Load(w.topo)
	if err != nil {
		t.Fatal(err)
	}
	w.file = f
	p := f.Plan()
	fed := p.FederationDomains()
	if len(fed) == 0 {
		t.Fatal("no federation domain in the plan")
	}
	w.domain = fed[len(fed)-1]
	nstest.Sh(w.t, nstest.Bin, "certs", w.topo, "-d", filepath.Join(w.dir, "certs"))

	r := w.name + "-r"
	nstest.Sh(w.t, "ip", "netns", "add", r)
	w.cleanup = append(w.cleanup, func() { exec.Command("ip", "netns", "del", r).Run() })
	nstest.Sh(w.t, "ip", "-n", r, "link", "set", "lo", "up")
	for i, s := range []string{"a", "b", "c", "d"} {
		ns := w.name + "-" + s
		nstest.Sh(w.t, "ip", "netns", "add", ns)
		w.cleanup = append(w.cleanup, func() { exec.Command("ip", "netns", "del", ns).Run() })
		nstest.Sh(w.t, "ip", "-n", ns, "link", "set", "lo", "up")
		veth := w.name + s
		nstest.Sh(w.t, "ip", "link", "add", veth, "netns", r, "type", "veth", "peer", "name", "eth0", "netns", ns)
		nstest.Sh(w.t, "ip", "-n", r, "addr", "add", fmt.Sprintf("10.253.%d.1/24", i+1), "dev", veth)
		nstest.Sh(w.t, "ip", "-n", r, "link", "set", veth, "up")
		nstest.Sh(w.t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.253.%d.2/24", i+1), "dev", "eth0")
		nstest.Sh(w.t, "ip", "-n", ns, "link", "set", "eth0", "up")
		nstest.Sh(w.t, "ip", "-n", ns, "route", "add", "default", "via", fmt.Sprintf("10.253.%d.1", i+1))
	}
	// Relays in the router namespace, in front of b (10 ms) and c (200 ms).
	for _, x := range []struct{ site, rtt, n string }{{"b", "10ms", "2"}, {"c", "200ms", "3"}} {
		w.relays[x.site] = nstest.Spawn(w.t, r, "relay-"+x.site, nstest.Bin, "relay", "--listen", "10.253."+x.n+".1:7500", "--target", "10.253."+x.n+".2:7400",
			"--link", "rtt="+x.rtt, "--control", w.ctl(x.site))
	}
	return w
}

func (w *world) ctl(site string) string { return filepath.Join(w.dir, "relay-"+site+".sock") }

// startAgent starts site's agent (node SITE-1) with its federation trace.
func (w *world) startAgent(site string) {
	w.t.Helper()
	node := site + "-1"
	data := filepath.Join(w.dir, node)
	os.MkdirAll(data, 0o750)
	trace := filepath.Join(w.dir, fmt.Sprintf("fed-%s-%d.trace", site, len(w.traces)))
	w.traces = append(w.traces, trace)
	w.agents[site] = nstest.Spawn(w.t, w.name+"-"+site, "agent "+node, nstest.Bin, "agent", "--config", w.topo, "--node", node, "--data-dir", data,
		"--insecure", "--cert-dir", filepath.Join(w.dir, "certs"), "--quic-listen", ":7400", "--fed-trace", trace)
	w.logsOf = append(w.logsOf, procLog{strings.TrimSuffix(filepath.Base(trace), ".trace") + ".log", w.agents[site]})
}

// procLog is an agent's log file name in a kept directory, and its process.
type procLog struct {
	name string
	p    *nstest.Proc
}

func (w *world) client(site string) *agent.Client {
	return agent.NewClient(filepath.Join(w.dir, site+"-1", agent.AdminSocketName))
}

// fed returns site's federation member status, if it runs one.
func (w *world) fed(site string) (gateway.Stats, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := w.client(site).Status(ctx)
	if err != nil || len(st.Federation) == 0 {
		return gateway.Stats{}, false
	}
	return st.Federation[0], true
}

// waitRing waits until the given sites' federation members are all
// operational in one configuration of exactly members.
// fedTokenLosses returns the sites whose agent logged, after its log's
// first from[site] bytes, a membership change of a federation ring that
// its own token timeout started.
func fedTokenLosses(w *world, from map[string]int) []string {
	var lost []string
	for s, n := range from {
		for _, l := range strings.Split(w.agents[s].String()[n:], "\n") {
			if strings.Contains(l, `msg="federation ring membership change started"`) && strings.Contains(l, `reason="token lost"`) {
				lost = append(lost, s)
				break
			}
		}
	}
	slices.Sort(lost)
	return lost
}

func (w *world) waitRing(timeout time.Duration, members []string, sites ...string) (string, time.Duration) {
	w.t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		ring, ok := "", true
		for _, s := range sites {
			select {
			case <-w.agents[s].Done:
				w.t.Fatalf("agent of %s exited:\n%s", s, nstest.Tail(w.agents[s].String(), 20))
			default:
			}
		}
		for i, s := range sites {
			st, up := w.fed(s)
			if !up || st.State != "operational" || !slices.Equal(st.Members, members) || (i > 0 && st.Ring != ring) {
				ok = false
				break
			}
			ring = st.Ring
		}
		if ok {
			return ring, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, s := range sites {
		st, _ := w.fed(s)
		got = append(got, fmt.Sprintf("%s: %s %s %v", s, st.State, st.Ring, st.Members))
	}
	w.t.Fatalf("no federation ring %v within %v: %s\n%s", members, timeout, strings.Join(got, "; "), w.logs())
	return "", 0
}

func (w *world) logs() string {
	var b strings.Builder
	for s, p := range w.agents {
		fmt.Fprintf(&b, "--- agent %s:\n%s\n", s, nstest.Tail(p.String(), 25))
	}
	return b.String()
}

// check runs the EVS checker over the federation traces, read as one
// consistent cut of the running gateways (readTraces).
//
// A quiescent check judges each live gateway's current configuration too,
// so it holds only once every gateway has delivered what the ring gave
// the others, and a fixed sleep does not say when that is on a shared
// machine: in a CI run at load 10, gateway a, whose own singleton local
// ring lost its token twice for 202 ms around the check, had not yet
// delivered the last messages of a, b and c that b had delivered as Safe
// (self-delivery, failure atomicity and Safe violations in a's current
// configuration; a SIGSTOP of a across the check gives the same report,
// and the same traces read 8 s later have none). So a quiescent check
// that finds violations reads the traces again until they are gone or
// settleTimeout has passed, and says how long the ring took to settle; a
// message a live gateway really lost is still reported, after the wait.
func (w *world) check(quiescent bool) {
	w.t.Helper()
	failed := map[evs.Proc]bool{}
	for _, p := range w.killed {
		failed[p] = true
	}
	start := time.Now()
	for first := 0; ; {
		all := w.readTraces()
		vs := evs.Check(all, evs.Options{Failed: failed, Quiescent: quiescent})
		if len(vs) == 0 {
			if first > 0 {
				w.t.Logf("EVS check: %d federation trace events, no violation once the ring settled, %v after a first reading with %d violations",
					len(all), time.Since(start).Round(time.Millisecond), first)
			} else {
				w.t.Logf("EVS check: %d federation trace events, no violation", len(all))
			}
			return
		}
		if first == 0 {
			first = len(vs)
		}
		if !quiescent || time.Since(start) >= settleTimeout {
			var b strings.Builder
			evs.Report(&b, vs)
			if quiescent {
				fmt.Fprintf(&b, "(still there %v after the first reading)\n", time.Since(start).Round(time.Millisecond))
			}
			w.t.Fatalf("EVS violations in the federation traces (%d events):\n%s", len(all), b.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// settleTimeout bounds how long a quiescent check waits for the live
// gateways to deliver what the ring delivered elsewhere (check): a few
// token rotations of the 200 ms path, with room for a starved process.
const settleTimeout = 10 * time.Second

// readTraces reads the federation traces written so far, as one
// consistent cut of the live gateways (nstest.ReadCut stops them for the
// few milliseconds it takes to note the files' sizes). Files read one
// after the other while the ring runs are not a cut, and pausing the
// load does not make them one: the gateways still send what waited
// through a membership change, and each sends the domain's configuration
// message at every new ring (gateway/domconf). At load 20-25 on two
// cores, the check after b's restart read a's trace while the ring formed
// again, then b's with b's deliveries of a/262144/316 and c/262144/321,
// the domain configuration messages a and c sent in the new ring ("1.1 no
// creation ... which no process sent"); a's trace held the send, written
// before the packet left, by the end of the run.
func (w *world) readTraces() []evs.Event {
	w.t.Helper()
	var pids []int
	for _, p := range w.agents {
		if !p.Exited() {
			pids = append(pids, p.Cmd.Process.Pid)
		}
	}
	files, err := nstest.ReadCut(pids, w.traces)
	if err != nil {
		w.t.Fatalf("read the federation traces: %v", err)
	}
	var all []evs.Event
	for i, b := range files {
		es, err := evs.Read(bytes.NewReader(b), w.traces[i])
		if err != nil {
			w.t.Fatal(err)
		}
		all = append(all, es...)
	}
	return all
}

func (w *world) close() {
	for i := len(w.cleanup) - 1; i >= 0; i-- {
		w.cleanup[i]()
	}
	if w.t.Failed() {
		w.t.Logf("logs:\n%s", w.logs())
	}
	// ATOLL_NETNS_KEEP=DIR keeps the federation traces, the topology file
	// and every agent's log in DIR/<test>/<world> (one directory a run,
	// for -count loops).
	if keep := os.Getenv("ATOLL_NETNS_KEEP"); keep != "" {
		dst := filepath.Join(keep, w.t.Name(), w.name)
		err := os.MkdirAll(dst, 0o755)
		for _, f := range append([]string{w.topo}, w.traces...) {
			if b, rerr := os.ReadFile(f); err == nil && rerr == nil {
				err = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
			}
		}
		for _, l := range w.logsOf {
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, l.name), []byte(l.p.String()), 0o644)
			}
		}
		if err != nil {
			w.t.Logf("keep the test's files: %v", err)
		} else {
			w.t.Logf("traces and logs kept in %s", dst)
		}
	}
}

// load sets the federation load of the given sites, and remembers it
// as the scenario's rate.
func (w *world) load(rate float64, sites ...string) {
	w.t.Helper()
	w.rate = rate
	w.setLoad(rate, sites...)
}

func (w *world) setLoad(rate float64, sites ...string) {
	w.t.Helper()
	for _, s := range sites {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := w.client(s).SetFederationLoad(ctx, w.domain.Name, agent.Load{Rate: rate, Size: 200})
		cancel()
		if err != nil {
			w.t.Fatalf("load on %s: %v", s, err)
		}
	}
}

// TestFederationNetns: the federation ring forms among three sites;
// kill -9 of a gateway and its restart; site c cut off and healed; then
// gateways with a certificate from another CA, an expired one and one of
// a node that is not a gateway (a wrong identity), each refused and never in a configuration. EVS is
// checked after every scenario, with load flowing through the ring.
func TestFederationNetns(t *testing.T) {
	w := newWorld(t)
	for _, s := range []string{"a", "b", "c"} {
		w.startAgent(s)
	}
	all := []string{"a", "b", "c"}
	_, took := w.waitRing(60*time.Second, all, all...)
	t.Logf("federation ring of a, b, c formed %v after the agents started", took.Round(time.Millisecond))
	if os.Getenv("FI_LOADAT") == "first" {
		w.highLoad("at once", all)
		return
	}
	w.load(20, all...)
	time.Sleep(2 * time.Second)
	for _, s := range all {
		if st, _ := w.fed(s); st.Delivered == 0 {
			t.Fatalf("%s delivered nothing of the federation load: %+v", s, st)
		}
	}
	w.check(false)

	// kill -9 b: a and c form without it within token + consensus +
	// slowest RTT (issue 8's target), which leaves out what Totem needs
	// beyond: the token b may have passed on just before (its one-way
	// delay to c, 100 ms) and the commit token's round of the new ring (1
	// RTT of a–c: in a ring of two the other member installs on filling in
	// its entry, the representative when the token is back); so the ring's
	// own bound is 4.3 s (localring/sim TestFedFailoverBound, federation's
	// package doc). The figure runs from the kill (it ran from b's
	// reaping, up to 172 ms later on a loaded machine) to the status poll
	// that finds both installed (3 to 30 ms after the later install in
	// the agents' logs). b restarts and rejoins.
	tm := w.domain.Timeouts
	target := tm.Token.D() + tm.Consensus.D() + 200*time.Millisecond
	totem := tm.Token.D() + 100*time.Millisecond + tm.Consensus.D() + 200*time.Millisecond + 200*time.Millisecond
	bst, _ := w.fed("b")
	killAt := time.Now()
	w.agents["b"].Kill()
	reaped := time.Since(killAt)
	w.killed = append(w.killed, evs.Proc{Node: "b", Inc: bst.Incarnation})
	w.waitRing(30*time.Second, []string{"a", "c"}, "a", "c")
	took = time.Since(killAt)
	t.Logf("kill -9 of b's gateway: new federation configuration [a c] %v after the kill (b reaped %v after it; target: token %v + consensus %v + slowest RTT 200ms = %v; Totem's bound with b's token in flight and the commit token's rotation of a–c: %v)",
		took.Round(time.Millisecond), reaped.Round(time.Millisecond), tm.Token, tm.Consensus, target, totem)
	t.Logf("kill -9 of b's gateway: where the time went: %s", w.failoverTimeline(killAt, "a", "c"))
	if took > target+2*time.Second {
		t.Errorf("the new configuration took %v, beyond the target %v by more than 2 s of slack for this shared machine", took, target)
	}
	w.startAgent("b")
	w.setLoadWhenUp("b")
	_, took = w.waitRing(60*time.Second, all, all...)
	t.Logf("b restarted: federation ring of a, b, c again after %v", took.Round(time.Millisecond))
	time.Sleep(time.Second)
	w.check(false)

	if os.Getenv("FI_LOADAT") != "cut" {
		w.highLoad("after the restart", all)
	}

	// Cut c off at its relay, then heal.
	nstest.Sh(w.t, nstest.Bin, "relay", "ctl", w.ctl("c"), "cut", "all")
	_, tookAB := w.waitRing(30*time.Second, []string{"a", "b"}, "a", "b")
	_, tookC := w.waitRing(30*time.Second, []string{"c"}, "c")
	t.Logf("c cut off: [a b] after %v, [c] alone after %v", tookAB.Round(time.Millisecond), tookC.Round(time.Millisecond))
	w.check(false)
	nstest.Sh(w.t, nstest.Bin, "relay", "ctl", w.ctl("c"), "heal", "all")
	_, took = w.waitRing(60*time.Second, all, all...)
	t.Logf("c healed: [a b c] after %v", took.Round(time.Millisecond))
	time.Sleep(time.Second)
	w.check(false)

	if os.Getenv("FI_LOADAT") == "cut" {
		w.highLoad("after the cut", all)
		return
	}
	// Impostors: gateways of site a with bad certificates dial b and c.
	// First let the heal settle: the domain's configuration changes it
	// brings form the ring again (a site's nodes changed, gateway/domconf),
	// a round or more after the ring of a, b and c is back, so the ring
	// the impostors must leave alone is the one that stays 3 s.
	ring, _ := w.waitRing(5*time.Second, all, all...)
	for settle := time.Now(); time.Since(settle) < 30*time.Second; {
		time.Sleep(3 * time.Second)
		now, _ := w.waitRing(30*time.Second, all, all...)
		if now == ring {
			break
		}
		t.Logf("the ring formed again after the heal: %s → %s", ring, now)
		ring = now
	}
	before := map[string]gateway.Stats{}
	logFrom := map[string]int{}
	for _, s := range all {
		before[s], _ = w.fed(s)
		logFrom[s] = len(w.agents[s].String())
	}
	w.impostors()
	for _, s := range []string{"b", "c"} {
		st, _ := w.fed(s)
		for _, cause := range []string{pki.CauseUnknownCA.String(), pki.CauseExpired.String(), pki.CauseIdentity.String()} {
			if st.Refused[cause] <= before[s].Refused[cause] {
				t.Errorf("%s did not count a refusal for %q: before %v, after %v", s, cause, before[s].Refused, st.Refused)
			}
		}
		log := w.agents[s].String()
		for _, cause := range []string{pki.CauseUnknownCA.String(), pki.CauseExpired.String(), pki.CauseIdentity.String()} {
			if !strings.Contains(log, "gateway connection refused: "+cause) {
				t.Errorf("%s's log has no refusal line naming %q", s, cause)
			}
		}
	}
	if now, _ := w.waitRing(5*time.Second, all, all...); now != ring {
		// The impostors never connected (checked above), so they cannot
		// have started a membership change; a real member whose token
		// timed out on a loaded host can. Such a change is the host's,
		// not the impostors'.
		if lost := fedTokenLosses(w, logFrom); len(lost) > 0 {
			t.Logf("the federation ring formed again during the impostors' attempts (%s → %s) after a token loss at %v, not through an impostor; load average %s", ring, now, lost, schedprobe.LoadAvg())
		} else {
			t.Errorf("the impostors changed the federation configuration: %s → %s, with no token loss at a real gateway", ring, now)
		}
	}
	if st, _ := w.fed("a"); st.State == "superseded" {
		t.Error("a real gateway was superseded by an impostor")
	}

	w.load(0, all...)
	time.Sleep(2 * time.Second)
	w.check(true)

	w.highLoad("at the end", all)

	// Quiet, stop, final check.
	w.load(0, all...)
	time.Sleep(2 * time.Second)
	for _, s := range all {
		w.agents[s].Cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range all {
		w.agents[s].WaitExit(t, 30*time.Second)
	}
	w.check(false) // stopped with messages in flight: not quiescent
}

// failoverTimeline says, from the agents' log lines (slog's time, in
// milliseconds), when after since each of the given sites first lost the
// token, first gathered after the first of them lost it, and first
// installed the ring of exactly the given sites: the failover's
// components, as the wall clock the agents share saw them. (A ring the
// domain's configuration asked for may be forming at the kill: its
// gather and install come before, and are not the failover's.) The logs
// have no line for the consensus or the commit token; their sum is the
// time from the first gather to the installs.
func (w *world) failoverTimeline(since time.Time, sites ...string) string {
	type line struct {
		at  time.Time
		msg string
	}
	logs := map[string][]line{}
	first := time.Time{}
	for _, s := range sites {
		for _, l := range strings.Split(w.agents[s].String(), "\n") {
			f, ok := strings.CutPrefix(l, "time=")
			if !ok {
				continue
			}
			f, _, _ = strings.Cut(f, " ")
			tm, err := time.Parse(time.RFC3339Nano, f)
			if err != nil || tm.Before(since) {
				continue
			}
			logs[s] = append(logs[s], line{tm, l})
			if strings.Contains(l, `msg="federation token lost`) && (first.IsZero() || tm.Before(first)) {
				first = tm
			}
		}
	}
	members := "[" + strings.Join(sites, " ") + "]"
	var b strings.Builder
	for _, s := range sites {
		var lost, gather, install time.Time
		for _, l := range logs[s] {
			switch {
			case lost.IsZero() && strings.Contains(l.msg, `msg="federation token lost`):
				lost = l.at
			case gather.IsZero() && !first.IsZero() && !l.at.Before(first) && strings.Contains(l.msg, `msg="federation ring membership change started"`):
				gather = l.at
			case install.IsZero() && strings.Contains(l.msg, `msg="federation ring formed`) &&
				(strings.Contains(l.msg, "sites="+strconv.Quote(members)) || strings.Contains(l.msg, "sites="+members+" ")):
				install = l.at
			}
		}
		ms := func(tm time.Time) string {
			if tm.IsZero() {
				return "-"
			}
			return tm.Sub(since).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%s: token lost %s, gather %s, install %s; ", s, ms(lost), ms(gather), ms(install))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// highLoad measures each gateway agent's CPU and RSS under load, and the
// ring's delivery rate and configurations meanwhile (reported, not judged).
// FI_LOADAT=first or cut runs it at once, or right after the cut and heal
// of c, and ends the test there.
func (w *world) highLoad(when string, all []string) {
	t := w.t
	// Every gateway offers 300 messages of 1000 bytes per second; each
	// agent process's CPU and RSS over 6 s (reported, not judged: this
	// machine is shared). Then back to the scenario's load, and the ring
	// of all three (it re-forms after the load if it did not hold).
	for _, s := range all {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := w.client(s).SetFederationLoad(ctx, w.domain.Name, agent.Load{Rate: highRate, Size: 1000}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	time.Sleep(2 * time.Second)
	cpu0, t0 := map[string]time.Duration{}, time.Now()
	before := map[string]gateway.Stats{}
	for _, s := range all {
		before[s], _ = w.fed(s)
	}
	for _, s := range all {
		cpu0[s] = cpuTime(t, w.agents[s].Cmd.Process.Pid)
	}
	time.Sleep(6 * time.Second)
	el := time.Since(t0)
	for _, s := range all {
		pid := w.agents[s].Cmd.Process.Pid
		st, _ := w.fed(s)
		t.Logf("%s, load %d msgs/s of 1000 B per site: gateway agent %s: CPU %.2f cores, RSS %s (peak %s); federation ring delivered %.0f msgs/s here, %d configurations installed meanwhile, state %s",
			when, highRate, s, (cpuTime(t, pid)-cpu0[s]).Seconds()/el.Seconds(), procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM"),
			float64(st.Delivered-before[s].Delivered)/el.Seconds(), st.Installs-before[s].Installs, st.State)
	}

	for _, site := range []string{"b", "c"} {
		out, _ := exec.Command(nstest.Bin, "relay", "ctl", w.ctl(site), "stats").CombinedOutput()
		t.Logf("relay in front of %s: %s", site, out)
	}
	if os.Getenv("FI_DEBUG") != "" { // the agents' logs
		t.Logf("%s", w.logs())
	}
	w.setLoad(w.rate, all...)
	w.waitRing(30*time.Second, all, all...)
}

// highRate is the federation load of the resource measurement, messages
// per second per site.
const highRate = 300

// cpuTime returns the CPU time (user + system) process pid used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 14th and 15th fields of the line, in clock ticks.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// procStatus returns a field of /proc/PID/status, such as "VmRSS".
func procStatus(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// setLoadWhenUp sets the load of a restarted site once its member runs.
func (w *world) setLoadWhenUp(site string) {
	for range 200 {
		if _, ok := w.fed(site); ok {
			w.setLoad(w.rate, site)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// impostors runs, one after the other in namespace d, a gateway of site a
// with a certificate from another CA, an expired one, and one of node a-9,
// which is no gateway (a wrong identity), each for a few seconds (helper process:
// TestImpostorHelper).
func (w *world) impostors() {
	w.t.Helper()
	now := time.Now()
	other, err := pki.MakeCA("fi", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	ca, err := pki.LoadCA(filepath.Join(w.dir, "certs", "ca.crt"), filepath.Join(w.dir, "certs", "ca.key"))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, bad := range []struct {
		what string
		ca   *pki.CA
		id   pki.Identity
		from time.Time
		life time.Duration
	}{
		{"another CA", other, pki.Identity{Cluster: "fi", Site: "a", Node: "a-1"}, now.Add(-time.Hour), 24 * time.Hour},
		{"expired", ca, pki.Identity{Cluster: "fi", Site: "a", Node: "a-1"}, now.Add(-48 * time.Hour), 24 * time.Hour},
		{"a node that is no gateway", ca, pki.Identity{Cluster: "fi", Site: "a", Node: "a-9"}, now.Add(-time.Hour), 24 * time.Hour},
	} {
		dir := filepath.Join(w.dir, "bad-"+strings.ReplaceAll(bad.what, " ", "-"))
		os.MkdirAll(dir, 0o700)
		cert, key, err := bad.ca.Issue(bad.id, nil, bad.from, bad.life)
		if err != nil {
			w.t.Fatal(err)
		}
		kp, _ := pki.KeyPEM(key)
		os.WriteFile(filepath.Join(dir, "ca.crt"), pki.CertPEM(ca.Cert), 0o600)
		os.WriteFile(filepath.Join(dir, "a-1.crt"), pki.CertPEM(cert), 0o600)
		os.WriteFile(filepath.Join(dir, "a-1.key"), kp, 0o600)
		p := nstest.Spawn(w.t, w.name+"-d", "impostor "+bad.what, "env", "FI_IMPOSTOR="+dir, "FI_TOPO="+w.topo, os.Args[0], "-test.run=^TestImpostorHelper$")
		select {
		case <-p.Done:
		case <-time.After(30 * time.Second):
			w.t.Fatalf("impostor %s did not end:\n%s", bad.what, p.String())
		}
		w.t.Logf("impostor with a certificate of %s:\n%s", bad.what, nstest.Tail(p.String(), 6))
	}
}

// TestImpostorHelper is not a test: it is the bad gateway of
// TestFederationNetns, run in a namespace of its own with its certificate
// directory in FI_IMPOSTOR. It runs site a's federation member with a
// very high incarnation (it would fence the real one off if admitted) for
// 4 s.
func TestImpostorHelper(t *testing.T) {
	dir := os.Getenv("FI_IMPOSTOR")
	if dir == "" {
		t.Skip("only run by TestFederationNetns")
	}
	f, err := topology.Load(os.Getenv("FI_TOPO"))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Plan()
	var domain string
	if fed := p.FederationDomains(); len(fed) > 0 {
		domain = fed[len(fed)-1].Name
	}
	cert, roots, err := gateway.LoadCertificates(dir, "a-1")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := pki.IdentityOf(cert.Leaf); id.Node != "a-1" {
		// A node that is no gateway: gateway.New refuses its own
		// certificate, so run the bare transport, which dials b and c,
		// in the gateways' mode (else its ALPN is refused before its
		// identity is looked at).
		d, _ := p.Domain(domain)
		mode, _ := transport.DomainMode(f, d)
		tr, err := transport.New(transport.Config{Certificate: cert, Roots: roots, Peers: transport.Peers(f, f.Plan(), d, "a"),
			ConfigHash: p.ConfigHash(d), Mode: mode, Listen: ":7400", Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		tr.Close()
		_, b := tr.Connected("b")
		_, c := tr.Connected("c")
		fmt.Printf("impostor %s: connected to b %v, c %v, refused %v\n", id, b, c, tr.Stats().Refused)
		if b || c {
			t.Fatal("the impostor was admitted")
		}
		return
	}
	// The highest local sequence number an incarnation takes: admitted,
	// the impostor would supersede a's real gateway.
	r, err := gateway.New(gateway.Config{File: f, Plan: p, Domain: domain, Node: "a-1", Local: localring.RingID{Seq: federation.MaxLocalSeq, Rep: "a-1"},
		Certificate: cert, Roots: roots, Listen: ":7400", DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	r.Run(ctx)
	st := r.Stats()
	fmt.Printf("impostor: connected %v, installs %d, members %v, refused %v\n", st.Connected, st.Installs, st.Members, st.Refused)
	if len(st.Connected) > 0 || len(st.Members) > 1 {
		t.Fatalf("the impostor was admitted: %+v", st)
	}
}
