package fednetns

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
)

// TestOutrankedNetns's parts of site a: a-1, the plan's active gateway,
// with a-3 (two of the site's three nodes: gateway.Outranks), and a-2,
// its standby, alone.
var (
	outrankedKept   = []string{"a-1", "a-3"}
	outrankedFencer = "a-2"
)

// The agent's log lines TestOutrankedNetns reads (msg="..." starts with
// them): a-1's member fenced by a-2's, which it does not resume from
// (agent resumeFenced); a-1's local ring asked to form again above a-2's
// after the grace (agent reformOutranked); a ring installed; a gateway's
// federation member started.
const (
	outrankedLine = "this gateway's federation ring member was fenced by a newer one of its site while its local ring still makes it active"
	reformLine    = "this gateway's federation ring member was fenced by a newer one of its site, and its local ring configuration has not changed since"
	ringLine      = "ring formed"
	memberLine    = "this node is the site's active gateway: federation ring member started"
)

const (
	// outrankedFenceBound bounds the time from the split to a-1's log
	// line that a-2's member fenced its own: both parts install a ring
	// (a token timeout, the cloud preset's 1 s, and the membership
	// protocol's consensus), then a-2's member joins the other sites
	// (1.4 s after the split in the first runs).
	outrankedFenceBound = 20 * time.Second
	// outrankedSlack is how much later than gateway.OutrankedGrace after
	// the fence a-1 asks its ring to form again (its group loop wakes at
	// the grace's end: the agent's next deadline), on a loaded host.
	outrankedSlack = 3 * time.Second
	// outrankedDeliverBound bounds the time from the fence to the first
	// message to a federation domain's group that site a's part (a-1,
	// a-3) sent after the fence, at every live node's client: the grace,
	// the local ring's round, a-1's new member's join of the federation
	// ring and the domain's configuration change.
	outrankedDeliverBound = gateway.OutrankedGrace + 10*time.Second
)

// TestOutrankedNetns is the namespace test of the agent's side of
// gateway.OutrankedGrace, with real agents (the simulator's is gateway/
// hiersim TestOutrankedSeeds). Site a's local ring splits into {a-1, a-3}
// and {a-2}: an nftables rule in each of their namespaces drops every
// datagram from the other part's addresses (input hook; the token, the
// joins and the multicasts alike, so both parts form a ring, and a-2's
// federation traffic to the other sites goes by the router, untouched).
// A clean split numbers both parts' rings alike (r:8:a-1 and r:8:a-2, or
// r:12 for both, in the runs so far). a-2, alone, becomes active in its part and starts a
// federation member with a new incarnation, which fences a-1's, started
// before the split; a-1, still active in its part's ring, does not resume
// from a fencer of a configuration not older than its own (agent
// resumeFenced). Then the fencer is killed (kill -9), before a-1's grace
// ends, so that nothing but the grace can change a-1's part's ring: a-2's
// datagrams were dropped already, and a-3 stays. The test checks, all
// under every node's client's load:
//
//   - the fence: a-1's log says it was fenced by a-2's member's
//     incarnation (rank 1, a-2's part's ring's sequence number) and does
//     not resume, within outrankedFenceBound of the split;
//   - the grace: a-1's local ring installs nothing from the fence until
//     a-1 asks it to form again above the fencer's ring, which its log
//     says gateway.OutrankedGrace to OutrankedGrace + outrankedSlack after
//     the fence; the ring then formed holds a-1 and a-3, numbered above
//     the fencer's; a-1 starts a member of it with an incarnation above
//     the fencer's, and is the site's active gateway;
//   - the domain's configuration of the 7 live nodes forms, and site a's
//     part delivers again: every live node's client gets a message to a
//     group of the domain that a-1 or a-3 sent after the fence within
//     outrankedDeliverBound of the fence;
//   - at the end, the EVS checker over every trace, the domain's one
//     order, and no message lost or duplicated at a node that stayed
//     connected with its sender (checkAll), and the groups' views of the
//     fault at the 7 (checkFault: a-2's client left, reason network).
//
// Before agent resumeFenced let such a fencer be outranked (with the
// incarnations compared, a-1 resumed above a-2's epoch, a-2 above a-1's,
// and so on), this split had a-1 and a-2 take the role from each other
// about once a second, and the test failed: a-1 never logged the fence it
// does not resume from. FN_NOOP=1 injects rules that drop nothing: the
// test must then fail (no fence). Without the grace it fails too (checked
// with agent reformOutranked returning at once: no reform line 13 s after
// the fence, a-1's part kept r:8:a-1 and no federation member).
func TestOutrankedNetns(t *testing.T) {
	if nstest.SkipReason == "" {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("TestOutrankedNetns splits a site with nftables and needs nft (Debian package nftables): apt-get install nftables")
		}
	}
	if !gateway.Outranks(len(outrankedKept), 3) {
		t.Fatalf("gateway.Outranks(%d, 3) is false: the scenario needs a part that takes the role back", len(outrankedKept))
	}
	s := newSites(t)
	began := time.Now()
	s.startAll()
	all := s.ids
	time.Sleep(time.Second) // steady load
	if d, err := s.domainOf("a-3"); err != nil || d.Active != "a-1" {
		t.Fatalf("a-3 sees %q as site a's active gateway (%v), want a-1", d.Active, err)
	}
	a1 := s.nodes["a-1"]
	start := s.mark()
	split := time.Now()
	s.splitSite(t, outrankedKept, []string{outrankedFencer})

	// The fence, then kill -9 of the fencer.
	var fence logLine
	for {
		if ls := logLines(a1.p.String(), split, outrankedLine); len(ls) > 0 {
			fence = ls[0]
			break
		}
		if time.Since(split) > outrankedFenceBound {
			t.Fatalf("a-1's log does not say, within %v of the split, that a newer member of its site fenced its own: the rules dropped %s at a-1, %s at a-2", outrankedFenceBound, dropped(t, a1.ns), dropped(t, s.nodes[outrankedFencer].ns))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The rounds of a-1's and a-3's loads from the next on were sent after
	// the fence: no member of their site's part can order them until the
	// grace is over.
	after := s.sentRounds(outrankedKept)
	for id := range after {
		after[id]++
	}
	fencerLog := s.nodes[outrankedFencer].p.String()
	s.kill(outrankedFencer)
	killed := time.Now()
	t.Logf("a-1 fenced %v after the split; a-2 killed %v after the fence; the rules dropped %s at a-1, %s at a-3",
		fence.at.Sub(split).Round(time.Millisecond), killed.Sub(fence.at).Round(time.Millisecond), dropped(t, a1.ns), dropped(t, s.nodes["a-3"].ns))
	if killed.Sub(fence.at) >= gateway.OutrankedGrace {
		t.Fatalf("a-2 was killed %v after the fence, not within gateway.OutrankedGrace (%v)", killed.Sub(fence.at), gateway.OutrankedGrace)
	}
	by, err := strconv.ParseUint(logAttr(fence.line, "superseded_by"), 10, 64)
	if err != nil {
		t.Fatalf("a-1's fence line names no fencer: %v\n%s", err, fence.line)
	}
	fenced := logAttr(fence.line, "local_ring")
	fencerRing := ""
	for _, l := range logLines(fencerLog, split, memberLine) {
		if inc, _ := strconv.ParseUint(logAttr(l.line, "incarnation"), 10, 64); inc == by {
			fencerRing = logAttr(l.line, "local_ring")
		}
	}
	t.Logf("a-1 fenced in its part's ring %s by incarnation %d (local ring sequence number %d, rank %d), a-2's member of %q", fenced, by, federation.IncarnationSeq(by), federation.IncarnationRank(by), fencerRing)
	if fencerRing == "" || federation.IncarnationRank(by) != 1 || ringSeq(fencerRing) != federation.IncarnationSeq(by) {
		t.Errorf("the fencer %d is not the member a-2 started after the split (rank 1, in its part's ring; a-2 started one in %q)", by, fencerRing)
	}
	if !strings.HasSuffix(fenced, ":a-1") || ringSeq(fenced) > federation.IncarnationSeq(by) {
		t.Errorf("a-1 was fenced in local ring %s, want its part's ring, numbered at most as the fencer's (%d)", fenced, federation.IncarnationSeq(by))
	}

	// The grace: a-1's ring forms again above the fencer's.
	var reform logLine
	for {
		if ls := logLines(a1.p.String(), fence.at, reformLine); len(ls) > 0 {
			reform = ls[0]
			break
		}
		if time.Since(fence.at) > gateway.OutrankedGrace+outrankedSlack+5*time.Second {
			t.Fatalf("a-1's local ring did not form again within %v of the fence (gateway.OutrankedGrace %v)", time.Since(fence.at), gateway.OutrankedGrace)
		}
		time.Sleep(20 * time.Millisecond)
	}
	grace := reform.at.Sub(fence.at)
	t.Logf("a-1 asked its local ring to form again above %s %v after the fence (gateway.OutrankedGrace %v)", logAttr(reform.line, "above"), grace.Round(time.Millisecond), gateway.OutrankedGrace)
	if grace < gateway.OutrankedGrace || grace > gateway.OutrankedGrace+outrankedSlack {
		t.Errorf("a-1 asked its local ring to form again %v after the fence, want gateway.OutrankedGrace (%v) to %v more", grace, gateway.OutrankedGrace, outrankedSlack)
	}
	if above := logAttr(reform.line, "above"); above != strconv.FormatUint(federation.IncarnationSeq(by), 10) || logAttr(reform.line, "local_ring") != fenced {
		t.Errorf("a-1's ring forms again in %s above %s, want in %s above the fencer's %d", logAttr(reform.line, "local_ring"), above, fenced, federation.IncarnationSeq(by))
	}
	if ls := logLines(a1.p.String(), fence.at, ringLine); len(ls) > 0 && ls[0].at.Before(reform.at) {
		t.Errorf("a-1's local ring changed between the fence and the grace's end: %s", ls[0].line)
	}
	newRing := ""
	for deadline := time.Now().Add(10 * time.Second); newRing == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ls := logLines(a1.p.String(), reform.at, ringLine); len(ls) > 0 {
			newRing = logAttr(ls[0].line, "ring")
			if ms := logAttr(ls[0].line, "members"); ms != "[a-1 a-3]" {
				t.Errorf("a-1's local ring formed again with members %s, want [a-1 a-3]", ms)
			}
		}
	}
	if newRing == "" || ringSeq(newRing) <= federation.IncarnationSeq(by) {
		t.Fatalf("a-1's local ring formed %q after the grace, want a ring numbered above the fencer's %d", newRing, federation.IncarnationSeq(by))
	}
	var inc uint64
	for deadline := time.Now().Add(10 * time.Second); inc == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range logLines(a1.p.String(), reform.at, memberLine) {
			if logAttr(l.line, "local_ring") == newRing {
				inc, _ = strconv.ParseUint(logAttr(l.line, "incarnation"), 10, 64)
			}
		}
	}
	t.Logf("a-1's local ring formed again as %s; a-1's new member's incarnation %d (the fencer's %d)", newRing, inc, by)
	if inc <= by {
		t.Errorf("a-1 started no member of %s with an incarnation above the fencer's %d (got %d)", newRing, by, inc)
	}

	// The domain of the 7, and site a's part delivering again.
	noA2 := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == outrankedFencer })
	s.waitDomain(60*time.Second, noA2)
	t.Logf("the domain's configuration of the 7 others %v after the kill", time.Since(killed).Round(time.Millisecond))
	if d, _ := s.domainOf("a-1"); d.Role != "active gateway" {
		t.Errorf("a-1's role after the grace: %q", d.Role)
	}
	again := map[string]time.Duration{}
	worst := ""
	for deadline := fence.at.Add(outrankedDeliverBound + 10*time.Second); ; time.Sleep(50 * time.Millisecond) {
		missing := ""
		for _, id := range noA2 {
			if _, ok := again[id]; ok {
				continue
			}
			if at, ok := s.firstFrom(id, after); ok {
				again[id] = at.Sub(fence.at)
				if worst == "" || again[id] > again[worst] {
					worst = id
				}
			} else {
				missing = id
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's client got no message of a-1 or a-3 within %v of the fence", missing, time.Since(fence.at))
		}
	}
	t.Logf("site a's part delivers again: each node's first message of a-1's or a-3's that they sent after the fence to the domain, after the fence %v; the last %v (%s)", again, again[worst].Round(time.Millisecond), worst)
	if again[worst] > outrankedDeliverBound {
		t.Errorf("%s's client got site a's part's messages again %v after the fence, beyond the bound %v", worst, again[worst], outrankedDeliverBound)
	}
	s.waitGroups(30*time.Second, noA2)
	time.Sleep(time.Second)
	end := s.mark()

	s.quiesce()
	s.stop()
	t.Logf("scenario ran in %v", time.Since(began).Round(time.Millisecond))
	s.checkAll(t)
	fed := []string{globalGroup, bcGroup, abGroup}
	s.checkFault(t, "split and kill -9 of a-2", start, end, true, append(fed, localGroup), side{noA2, all, noA2})
}

// splitSite splits a site's ring into parts a and b: in each node's
// namespace, an nftables rule drops every datagram from the other part's
// addresses (hook input). FN_NOOP=1 makes the rules drop nothing.
func (s *sites) splitSite(t *testing.T, a, b []string) {
	t.Helper()
	for _, p := range [][2][]string{{a, b}, {b, a}} {
		var from []string
		for _, id := range p[1] {
			from = append(from, s.addr(id))
		}
		if os.Getenv("FN_NOOP") != "" {
			from = []string{"192.0.2.1"} // TEST-NET-1: nothing comes from there
		}
		for _, id := range p[0] {
			nft(t, s.nodes[id].ns, fmt.Sprintf("table ip %s {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip saddr { %s } counter drop\n }\n}\n", nftTable, strings.Join(from, ", ")))
		}
	}
}

// addr is node id's address: 10.253.N.(11+i) for the i-th node of the
// N-th site (newSites).
func (s *sites) addr(id string) string {
	var sites []string
	i := 0
	for _, o := range s.ids {
		n := s.nodes[o]
		if !slices.Contains(sites, n.site) {
			sites = append(sites, n.site)
		}
		if o == id {
			return fmt.Sprintf("10.253.%d.%d", len(sites), 11+i)
		}
		if n.site == s.nodes[id].site {
			i++
		}
	}
	s.t.Fatalf("no node %s", id)
	return ""
}

// sentRounds returns how many rounds of its load (one message to each of
// its groups) the client of each node of ids has sent.
func (s *sites) sentRounds(ids []string) map[string]int {
	out := map[string]int{}
	for _, id := range ids {
		cl := s.nodes[id].cl
		cl.mu.Lock()
		out[id] = cl.sent
		cl.mu.Unlock()
	}
	return out
}

// firstFrom returns when node id's client first got a message of a
// federation domain's group (not a-local) from the load of a node of
// from, of its round from[node] or later.
func (s *sites) firstFrom(id string, from map[string]int) (time.Time, bool) {
	cl := s.nodes[id].cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for k, at := range cl.got {
		// The load's payload: NODE#RUN/GROUP/ROUND.
		f := strings.Split(cl.what[k], "/")
		if len(f) != 3 || f[1] == localGroup {
			continue
		}
		node, _, _ := strings.Cut(f[0], "#")
		round, err := strconv.Atoi(f[2])
		if first, ok := from[node]; ok && err == nil && round >= first {
			return at, true
		}
	}
	return time.Time{}, false
}

// logLine is a line of an agent's log and its time.
type logLine struct {
	at   time.Time
	line string
}

// logLines returns the lines of an agent's log at or after since whose
// message starts with msg.
func logLines(log string, since time.Time, msg string) []logLine {
	var out []logLine
	for _, l := range strings.Split(log, "\n") {
		f, ok := strings.CutPrefix(l, "time=")
		if !ok || !strings.Contains(l, ` msg="`+msg) {
			continue
		}
		f, _, _ = strings.Cut(f, " ")
		if at, err := time.Parse(time.RFC3339Nano, f); err == nil && !at.Before(since) {
			out = append(out, logLine{at, l})
		}
	}
	return out
}

var attrRE = map[string]*regexp.Regexp{}

// logAttr returns the value of the first attribute key of a log line,
// unquoted; "" if it has none.
func logAttr(line, key string) string {
	re := attrRE[key]
	if re == nil {
		re = regexp.MustCompile(` ` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`)
		attrRE[key] = re
	}
	m := re.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v
	}
	return m[1]
}

// ringSeq is the sequence number of a local ring id r:SEQ:REP, 0 if it
// is none.
func ringSeq(id string) uint64 {
	f := strings.Split(id, ":")
	if len(f) != 3 || f[0] != "r" {
		return 0
	}
	n, _ := strconv.ParseUint(f[1], 10, 64)
	return n
}
