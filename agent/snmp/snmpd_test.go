package snmp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/agenttest"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// The tests against net-snmp run its snmpd as the master agent on
// loopback ports of their own, with a private configuration, and read
// ATOLL-MIB with snmpget, snmpwalk and snmpset as an operator would.

// mibFile is ATOLL-MIB, from this package's directory.
const mibFile = "../../deploy/snmp/ATOLL-MIB.txt"

// The test master's communities: read-only, and read-write (for snmpset
// to reach the subagent).
const (
	community   = "atolltest"
	rwCommunity = "atolltest-rw"
)

// netSNMP finds net-snmp's tools and the IETF base modules (SNMPv2-SMI,
// -TC, -CONF) that any SMIv2 MIB imports; it skips the test without them.
func netSNMP(t *testing.T) (snmpd, mibDirs string) {
	t.Helper()
	snmpd, err := exec.LookPath("snmpd")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/snmpd"); err != nil {
			t.Skip("net-snmp's snmpd is not installed (Debian: apt-get install snmpd snmp; .ci/run installs it)")
		}
		snmpd = "/usr/sbin/snmpd"
	}
	for _, tool := range []string{"snmpget", "snmpwalk", "snmpbulkwalk", "snmpset", "snmptranslate"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("net-snmp's %s is not installed (Debian: apt-get install snmp; .ci/run installs it)", tool)
		}
	}
	// Debian's snmp package leaves the IETF modules to the non-free
	// snmp-mibs-downloader; Debian's erlang-snmp ships them.
	candidates := []string{"/usr/share/snmp/mibs/ietf", "/usr/share/snmp/mibs"}
	erl, _ := filepath.Glob("/usr/lib/erlang/lib/snmp-*/mibs")
	for _, dir := range append(candidates, erl...) {
		for _, name := range []string{"SNMPv2-SMI", "SNMPv2-SMI.txt", "SNMPv2-SMI.mib"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				abs, err := filepath.Abs(filepath.Dir(mibFile))
				if err != nil {
					t.Fatal(err)
				}
				return snmpd, dir + ":" + abs
			}
		}
	}
	t.Skip("the IETF base MIB modules (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF) are not installed (Debian: apt-get install erlang-snmp, or snmp-mibs-downloader; .ci/run installs erlang-snmp)")
	return "", ""
}

// freePort returns a loopback port free on network (tcp or udp) now.
func freePort(t *testing.T, network string) int {
	t.Helper()
	var addr net.Addr
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	}
	return int(netip.MustParseAddrPort(addr.String()).Port())
}

// master is a net-snmp snmpd run as the AgentX master agent.
type master struct {
	t              *testing.T
	snmpd, mibDirs string
	dir            string
	port           int
	socket         string // the AgentX socket, as agentXSocket names it
	cmd            *exec.Cmd
	out            *syncbuf.Buffer
}

// newMaster prepares a master whose AgentX socket is on TCP, or a Unix
// socket (net-snmp's default kind) when unix is set.
func newMaster(t *testing.T, unix bool) *master {
	snmpd, mibDirs := netSNMP(t)
	m := &master{t: t, snmpd: snmpd, mibDirs: mibDirs, dir: t.TempDir(), port: freePort(t, "udp")}
	m.socket = fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t, "tcp"))
	if unix {
		m.socket = "unix:" + filepath.Join(m.dir, "master")
	}
	conf := fmt.Sprintf("master agentx\nagentXSocket %s\nrocommunity %s 127.0.0.1\nrwcommunity %s 127.0.0.1\n[snmp] persistentDir %s\n",
		m.socket, community, rwCommunity, filepath.Join(m.dir, "persist"))
	if err := os.WriteFile(filepath.Join(m.dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	return m
}

// start starts snmpd and waits until it answers.
func (m *master) start() {
	m.t.Helper()
	m.out = &syncbuf.Buffer{}
	m.cmd = exec.Command(m.snmpd, "-f", "-Lo", "-C", "-c", filepath.Join(m.dir, "snmpd.conf"), fmt.Sprintf("udp:127.0.0.1:%d", m.port))
	m.cmd.Env = append(os.Environ(), "MIBS=") // snmpd itself needs no MIB
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.waitFor("snmpd to answer", func() bool {
		_, err := m.run("snmpget", ".1.3.6.1.2.1.1.3.0") // sysUpTime.0
		return err == nil
	})
}

// stop stops snmpd.
func (m *master) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// run runs an SNMP tool against the master with ATOLL-MIB loaded and
// short names ("atollRingId.0 = ring"); its output and error.
func (m *master) run(tool string, args ...string) (string, error) {
	return m.runAs(community, tool, args...)
}

// runAs is run with another community.
func (m *master) runAs(community, tool string, args ...string) (string, error) {
	base := []string{"-v2c", "-c", community, "-M", m.mibDirs, "-m", "ATOLL-MIB", "-OQs", "-t", "2", "-r", "1"}
	if tool == "snmpbulkwalk" || tool == "snmpwalk" {
		base = append(base, "-Cc") // fail on an OID that does not increase
	}
	args = append(append(base, fmt.Sprintf("udp:127.0.0.1:%d", m.port)), args...)
	cmd := exec.Command(tool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if e := toolStderr(stderr.String()); e != "" {
		return string(out) + e, fmt.Errorf("%s wrote to stderr (exit: %v)", tool, err)
	}
	return string(out), err
}

// toolStderr is what a net-snmp tool wrote to stderr, less the notice
// "Created directory: /var/lib/snmp/cert_indexes" with which the first
// net-snmp tool run on a fresh install says it made its persistent
// directory: anything else is a complaint of the tool.
func toolStderr(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "Created directory: ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func (m *master) waitFor(what string, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out waiting for %s; snmpd's output:\n%s", what, m.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAgent runs a site of one node, lab-1, on an in-memory network
// (internal/agenttest) until the test ends, and waits for its ring.
func startAgent(t *testing.T) *agent.Agent {
	t.Helper()
	c := agenttest.NewOf(t.TempDir(), "lab-1")
	a, err := c.Start("lab-1", func(cfg *agent.Config) {
		cfg.Cluster, cfg.TracePath, cfg.Logger = "lab", "", slog.New(slog.DiscardHandler)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.StopAll(5 * time.Second); err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	if err := c.WaitRing([]string{"lab-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}

// runSubagent runs a subagent of cfg until the test ends.
func runSubagent(t *testing.T, cfg Config) {
	t.Helper()
	sa, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sa.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
}

// parseOutput maps the names of snmpget's or snmpwalk's -OQs lines to
// their values.
func parseOutput(t *testing.T, out string) (map[string]string, []string) {
	t.Helper()
	vals := map[string]string{}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, val, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("unexpected line %q in:\n%s", line, out)
		}
		vals[name] = strings.Trim(val, `"`)
		names = append(names, name)
	}
	return vals, names
}

func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// TestMIBParses: snmptranslate reads ATOLL-MIB without a word and finds
// its objects where the subagent serves them.
func TestMIBParses(t *testing.T) {
	_, mibDirs := netSNMP(t)
	for name, want := range map[string]string{
		"ATOLL-MIB::atollMIB":             Root.String(),
		"ATOLL-MIB::atollRingTokenLosses": sub(ringArc, 9).String(),
		"ATOLL-MIB::atollGroupDelivered":  sub(groupTable, 4).String(),
		"ATOLL-MIB::atollFedDelivered":    sub(fedTable, 10).String(),
	} {
		cmd := exec.Command("snmptranslate", "-M", mibDirs, "-m", "ATOLL-MIB", "-On", name)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if e := toolStderr(stderr.String()); err != nil || e != "" || strings.TrimSpace(string(out)) != "."+want {
			t.Errorf("snmptranslate -On %s: %q, %v, stderr:\n%s\nwant .%s", name, out, err, e, want)
		}
	}
}

// TestSnmpd: snmpget and snmpwalk through net-snmp's snmpd read the
// agent's own status and groups; snmpset is refused and harms nothing;
// when snmpd restarts the subagent logs one line and registers again.
func TestSnmpd(t *testing.T) {
	m := newMaster(t, false)
	m.start()
	a := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Two groups, three multicasts to one of them.
	var clients []*client.Client
	for _, name := range []string{"alice", "bob"} {
		c, err := client.DialAgent(ctx, a, client.WithName(name))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
		if err := c.Join(ctx, "chat"); err != nil {
			t.Fatal(err)
		}
	}
	if err := clients[1].Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := clients[0].MulticastWait(ctx, client.Agreed, 1, []string{"chat"}, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	m.waitFor("the agent's groups", func() bool {
		gs, err := a.Groups(ctx)
		return err == nil && len(gs) == 2 && len(gs[0].Members) == 2 && gs[0].Delivered == 3 && len(gs[1].Members) == 1
	})

	// The subagent answers from snapshots of up to a second
	// (Config.CacheFor), all taken after this status.
	before := a.Status()
	logs := &syncbuf.Buffer{}
	runSubagent(t, Config{Master: m.socket, Source: a,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), MinRetry: 20 * time.Millisecond, MaxRetry: 200 * time.Millisecond})
	m.waitFor("the subagent's registration", func() bool {
		out, err := m.run("snmpget", "ATOLL-MIB::atollNodeName.0")
		return err == nil && strings.Contains(out, "atollNodeName.0 = lab-1")
	})

	out, err := m.run("snmpget", "ATOLL-MIB::atollNodeName.0", "ATOLL-MIB::atollRingId.0", "ATOLL-MIB::atollRingMembers.0",
		"ATOLL-MIB::atollNodeHealth.0", "ATOLL-MIB::atollRingRotations.0", "ATOLL-MIB::atollRingPacketsRejected.0", "ATOLL-MIB::atollRingId.1")
	if err != nil {
		t.Fatalf("snmpget: %v\n%s", err, out)
	}
	after := a.Status()
	got, _ := parseOutput(t, out)
	for name, want := range map[string]string{
		"atollNodeName.0": "lab-1", "atollRingMembers.0": "1", "atollNodeHealth.0": "healthy",
		"atollRingPacketsRejected.0": "0", "atollRingId.1": "No Such Instance currently exists at this OID",
	} {
		if got[name] != want {
			t.Errorf("snmpget %s = %q, want %q (status: %s)", name, got[name], want, before.String())
		}
	}
	// A host that stalls the agent past the token timeout (a loaded CI
	// machine) re-forms its ring of one between the two statuses: the
	// snapshot is of one of them.
	if id := got["atollRingId.0"]; id != before.Ring && id != after.Ring {
		t.Errorf("snmpget atollRingId.0 = %q, want the status's ring before (%q) or after (%q) it", id, before.Ring, after.Ring)
	}
	if r := atoi(t, got["atollRingRotations.0"]); r < before.TokenRotation.Count || r > after.TokenRotation.Count || r == 0 {
		t.Errorf("snmpget atollRingRotations.0 = %d, want between the status's %d and %d", r, before.TokenRotation.Count, after.TokenRotation.Count)
	}

	for _, tool := range []string{"snmpwalk", "snmpbulkwalk"} {
		out, err := m.run(tool, "ATOLL-MIB::atollMIB")
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, out)
		}
		t.Logf("%s:\n%s", tool, out)
		walk, names := parseOutput(t, out)
		if n := len(scalars) + 1 + 2*len(groupColumns); len(names) != n {
			t.Errorf("%s: %d objects, want %d (%d scalars, the group count, 2 groups of %d columns)", tool, len(names), n, len(scalars), len(groupColumns))
		}
		for _, name := range names {
			if !strings.HasPrefix(name, "atoll") {
				t.Errorf("%s: %s is not an object of ATOLL-MIB", tool, name)
			}
		}
		st := a.Status()
		for name, want := range map[string]string{
			"atollNodeName.0": st.Node, "atollNodeSite.0": st.Site, "atollNodeCluster.0": st.Cluster, "atollNodeState.0": "operational",
			"atollRingId.0": st.Ring, "atollRingMembers.0": "1", "atollRingConfiguredNodes.0": "1", "atollRingMissingNodes.0": "0",
			"atollRingTokenLosses.0":   strconv.FormatUint(st.Counters.TokenLosses, 10),
			"atollRingInstalls.0":      strconv.FormatUint(st.Counters.RingsInstalled, 10),
			"atollGroupCount.0":        "2",
			`atollGroupMembers."chat"`: "2", `atollGroupLocalMembers."chat"`: "2", `atollGroupDelivered."chat"`: "3",
			`atollGroupMembers."ops"`: "1", `atollGroupDelivered."ops"`: "0",
		} {
			if walk[name] != want {
				t.Errorf("%s: %s = %q, want %q", tool, name, walk[name], want)
			}
		}
		if walk[`atollGroupViewId."chat"`] == "" {
			t.Errorf("%s: no view id for chat", tool)
		}
	}

	// Every object is read-only: the master says so, and the session
	// goes on.
	if out, err := m.runAs(rwCommunity, "snmpset", "ATOLL-MIB::atollNodeName.0", "s", "evil"); err == nil || !strings.Contains(out, "notWritable") {
		t.Errorf("snmpset: %v\n%s\nwant notWritable", err, out)
	}
	if out, err := m.run("snmpget", "ATOLL-MIB::atollNodeName.0"); err != nil || !strings.Contains(out, "lab-1") {
		t.Errorf("snmpget after snmpset: %v\n%s", err, out)
	}

	// A second subagent for the same subtree is refused, and says why.
	logs2 := &syncbuf.Buffer{}
	sa2, err := New(Config{Master: m.socket, Source: a,
		Logger: slog.New(slog.NewTextHandler(logs2, nil)), MinRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan struct{})
	go func() { sa2.Run(ctx2); close(done2) }()
	m.waitFor("the second subagent's refusal", func() bool { return strings.Contains(logs2.String(), "another subagent serves") })
	stop2()
	waittest.Recv(t, done2, 10*time.Second, "the refused subagent's Run to return after its context ended")
	if out, err := m.run("snmpget", "ATOLL-MIB::atollNodeName.0"); err != nil || !strings.Contains(out, "lab-1") {
		t.Errorf("snmpget after a second subagent was refused: %v\n%s", err, out)
	}

	// snmpd restarts: one line while it is away, one when registered again.
	m.stop()
	unreachable := func() int { return strings.Count(logs.String(), "master agent is unreachable") }
	m.waitFor("the subagent's log line", func() bool { return unreachable() == 1 })
	time.Sleep(time.Second) // several attempts with MaxRetry 200ms
	if n := unreachable(); n != 1 {
		t.Errorf("%d lines say the master is unreachable during one outage, want 1:\n%s", n, logs)
	}
	m.start()
	m.waitFor("the subagent's registration after snmpd restarted", func() bool {
		out, err := m.run("snmpget", "ATOLL-MIB::atollRingMembers.0")
		return err == nil && strings.Contains(out, "atollRingMembers.0 = 1")
	})
	if strings.Count(logs.String(), "registered with the master agent") != 1 || strings.Count(logs.String(), "registered again with the master agent") != 1 {
		t.Errorf("want one line for the first registration and one for the second:\n%s", logs)
	}
}

// TestSnmpdManyGroups: a walk of a table of hundreds of groups returns
// every row (the subagent reads the agent once per snapshot, not once per
// row; the test logs how long the walks took).
func TestSnmpdManyGroups(t *testing.T) {
	m := newMaster(t, false)
	m.start()
	a := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.DialAgent(ctx, a, client.WithName("many"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 300
	for i := range n {
		if err := c.Join(ctx, fmt.Sprintf("group-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	m.waitFor("the agent's groups", func() bool {
		gs, err := a.Groups(ctx)
		return err == nil && len(gs) == n
	})
	runSubagent(t, Config{Master: m.socket, Source: a, Logger: slog.New(slog.DiscardHandler)})
	m.waitFor("the subagent's registration", func() bool {
		out, err := m.run("snmpget", "ATOLL-MIB::atollGroupCount.0")
		return err == nil && strings.Contains(out, fmt.Sprintf("atollGroupCount.0 = %d", n))
	})
	for _, tool := range []string{"snmpwalk", "snmpbulkwalk"} {
		start := time.Now()
		out, err := m.run(tool, "ATOLL-MIB::atollGroupTable")
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, out)
		}
		walk, names := parseOutput(t, out)
		t.Logf("%s of %d groups: %d objects in %v", tool, n, len(names), time.Since(start).Round(time.Millisecond))
		if len(names) != n*len(groupColumns) {
			t.Errorf("%s: %d objects, want %d", tool, len(names), n*len(groupColumns))
		}
		if walk[`atollGroupMembers."group-123"`] != "1" || walk[`atollGroupLocalMembers."group-299"`] != "1" {
			t.Errorf("%s: rows of group-123 and group-299 missing or wrong", tool)
		}
	}
}

// TestSnmpdUnixSocket: the subagent registers over a Unix socket, the
// kind of net-snmp's default master socket (/var/agentx/master).
func TestSnmpdUnixSocket(t *testing.T) {
	m := newMaster(t, true)
	m.start()
	a := startAgent(t)
	runSubagent(t, Config{Master: m.socket, Source: a, Logger: slog.New(slog.DiscardHandler)})
	m.waitFor("the subagent's registration over "+m.socket, func() bool {
		out, err := m.run("snmpget", "ATOLL-MIB::atollNodeName.0", "ATOLL-MIB::atollRingMembers.0")
		return err == nil && strings.Contains(out, "atollNodeName.0 = lab-1") && strings.Contains(out, "atollRingMembers.0 = 1")
	})
}

func TestToolStderr(t *testing.T) {
	for in, want := range map[string]string{
		"Created directory: /var/lib/snmp/cert_indexes\n\n":                             "",
		"Created directory: /var/lib/snmp/cert_indexes\nCannot find module (FOO-MIB)\n": "Cannot find module (FOO-MIB)\n",
		"Timeout: No Response from udp:127.0.0.1:161\n":                                 "Timeout: No Response from udp:127.0.0.1:161\n",
	} {
		if got := toolStderr(in); got != want {
			t.Errorf("toolStderr(%q) = %q, want %q", in, got, want)
		}
	}
}
