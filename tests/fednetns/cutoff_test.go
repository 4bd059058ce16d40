package fednetns

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
)

// cutVictim is the node TestCutOffNetns takes out of its site's ring: no
// gateway (site b's only gateway is b-1), in a site whose two other nodes
// go on in a ring with the gateway.
const cutVictim = "b-3"

// cutFault is one way of taking a node out of its site's ring for good,
// as the ring simulator's persistent victims (localring/sim
// PickPersistent's mute and deaf nodes): an nftables rule inside the
// node's namespace that drops every IPv4 multicast datagram it sends
// (hook output) or receives (hook input). The site's ring multicasts its
// messages and its membership protocol's joins; the token goes by
// unicast, which the rule leaves alone.
type cutFault struct {
	name, hook, says string
}

var cutFaults = []cutFault{
	{"mute", "output", "its multicasts never arrive"},
	{"deaf", "input", "it receives no multicast"},
}

// nftTable is the nftables table the faults live in, inside the victim's
// namespace.
const nftTable = "atoll_cut"

// nft runs script with nft inside namespace ns.
func nft(t *testing.T, ns, script string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s\nscript:\n%s", ns, err, out, script)
	}
}

// inject drops the victim's outgoing or incoming multicast (f.hook) in
// namespace ns, counting what it drops (dropped). A datagram dropped at
// the output hook fails the agent's send (sendmmsg: operation not
// permitted, which its log shows once): the network loses it before any
// other node could see it. FN_NOOP=1 makes the rule match nothing (a
// destination no datagram has), to show that the test fails when the
// fault is not injected.
func inject(t *testing.T, ns string, f cutFault) {
	t.Helper()
	match := "ip daddr 224.0.0.0/4"
	if os.Getenv("FN_NOOP") != "" {
		match = "ip daddr 192.0.2.1" // TEST-NET-1: nothing goes there
	}
	nft(t, ns, fmt.Sprintf("table ip %s {\n chain %s {\n  type filter hook %s priority 0; policy accept;\n  %s counter drop\n }\n}\n", nftTable, f.hook, f.hook, match))
}

// dropped returns how many datagrams the fault's rule dropped so far.
func dropped(t *testing.T, ns string) string {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", nftTable).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("? (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	if m := regexp.MustCompile(`counter packets (\d+) bytes (\d+)`).FindStringSubmatch(string(out)); m != nil {
		return m[1] + " datagrams"
	}
	return "? (no counter in " + strings.TrimSpace(string(out)) + ")"
}

func heal(t *testing.T, ns string) {
	t.Helper()
	nft(t, ns, "delete table ip "+nftTable+"\n")
}

// TestCutOffNetns takes a node that is no gateway (b-3) out of its site's
// ring for good while every node's client multicasts to the federation
// domain's groups, twice: its multicasts never arrive (mute), then it
// receives none (deaf), each an nftables rule in its namespace
// (cutFault), and each healed afterwards. It is the namespace test of
// bridge.Site.NoGateway (gateway/bridge doc.go, "A part of the site
// without a gateway"; gateway/hiersim TestPersistentVictim), with real
// agents:
//
//   - alone in a local ring without a gateway of the domain for
//     gateway.PartGrace, the victim leaves the domain's configuration: its
//     trace shows a transitional configuration of itself alone, then the
//     regular one of its part (itself), no sooner than PartGrace after the
//     fault and within cutLeaveBound, and by its log PartGrace to
//     PartGrace + cutGraceSlack after its local ring first held it alone;
//     its bridge counts the part (Stats.NoGateway); its groups' views say
//     every other member left (reason network), and the others' that it
//     left;
//   - the others keep delivering: no client of theirs goes longer than
//     cutProgressBound without a message, over the fault;
//   - once the rule is gone the victim merges back: the domain's
//     configuration of all 8 nodes forms again, and every group's views at
//     every node say so;
//   - at the end, the EVS checker over every trace, the domain's one
//     order, and no message lost or duplicated at a node that stayed
//     connected with its sender (lostAndDuplicated), as TestSitesNetns;
//     and every client got the views its agent traced.
//
// FN_NOOP=1 injects rules that drop nothing: the test must then fail
// (the victim never leaves).
func TestCutOffNetns(t *testing.T) {
	if nstest.SkipReason == "" {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("TestCutOffNetns drops a node's multicast with nftables and needs nft (Debian package nftables): apt-get install nftables")
		}
	}
	s := newSites(t)
	began := time.Now()
	s.startAll()
	all := s.ids
	time.Sleep(time.Second) // steady load

	victim := s.nodes[cutVictim]
	others := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == cutVictim })
	alone := []string{cutVictim}
	fed := []string{globalGroup, bcGroup, abGroup}
	type phase struct {
		f                          cutFault
		start, left, healed, after map[string]pos
	}
	var phases []phase
	for _, f := range cutFaults {
		ph := phase{f: f, start: s.mark()}
		before, _ := s.domainOf(cutVictim)
		from := time.Now()
		inject(t, victim.ns, f)
		// The victim alone in its part, the 7 others in one configuration.
		left := s.waitLeft(cutLeaveBound, others, func() string { return "the rule dropped " + dropped(t, victim.ns) })
		t.Logf("%s (%s): %s left the domain's configuration %v after the fault; the rule dropped %s", f.name, f.says, cutVictim, left.Round(time.Millisecond), dropped(t, victim.ns))
		if left < gateway.PartGrace {
			t.Errorf("%s: %s left the domain's configuration %v after the fault, before gateway.PartGrace (%v)", f.name, cutVictim, left, gateway.PartGrace)
		}
		if d, _ := s.domainOf(cutVictim); d.Bridge.NoGateway <= before.Bridge.NoGateway {
			t.Errorf("%s: %s's bridge counts no part without a gateway (NoGateway %d before the fault, %d after)", f.name, cutVictim, before.Bridge.NoGateway, d.Bridge.NoGateway)
		}
		if grace, ok := partGraceSeen(victim.p.String(), from); !ok {
			t.Errorf("%s: %s's log does not show its local ring of itself alone, then its leave of the domain's configuration for the part grace", f.name, cutVictim)
		} else if grace < gateway.PartGrace || grace > gateway.PartGrace+cutGraceSlack {
			t.Errorf("%s: %s left the domain's configuration %v after its local ring first held no gateway, want gateway.PartGrace (%v) and at most %v more", f.name, cutVictim, grace, gateway.PartGrace, cutGraceSlack)
		} else {
			t.Logf("%s: %s left the domain's configuration %v after its local ring first held no gateway (gateway.PartGrace %v)", f.name, cutVictim, grace.Round(time.Millisecond), gateway.PartGrace)
		}
		s.waitGroups(30*time.Second, others)
		s.waitGroups(30*time.Second, alone)
		time.Sleep(cutHold) // each side under load
		ph.left = s.mark()
		gaps := s.deliveryGaps(others, from, time.Now())
		worst := ""
		for _, id := range others {
			if worst == "" || gaps[id] > gaps[worst] {
				worst = id
			}
		}
		t.Logf("%s: the others' longest time without a delivery from the fault until now: %v (%s); by node %v", f.name, gaps[worst].Round(time.Millisecond), worst, gaps)
		if gaps[worst] > cutProgressBound {
			t.Errorf("%s: %s's client went %v without a delivery, beyond the bound %v", f.name, worst, gaps[worst], cutProgressBound)
		}
		heal(t, victim.ns)
		took := s.waitDomain(60*time.Second, all)
		t.Logf("%s healed: the configuration of all 8 after %v", f.name, took.Round(time.Millisecond))
		s.waitGroups(30*time.Second, all)
		ph.healed = s.mark()
		time.Sleep(time.Second)
		ph.after = s.mark()
		phases = append(phases, ph)
	}

	s.quiesce()
	end := s.mark()
	seen := s.stop()
	t.Logf("scenarios ran in %v", time.Since(began).Round(time.Millisecond))
	events := s.checkAll(t)

	for _, ph := range phases {
		name := ph.f.name
		// The victim's trace over the fault: the domain's transitional
		// configuration of itself alone, then the regular one of its part.
		var confs []string
		trans, part := false, false
		for _, e := range readTraceRange(t, victim.traces[0], ph.start[cutVictim].off, ph.left[cutVictim].off) {
			if e.Ev != evs.EvInstall || e.Domain != s.domain {
				continue
			}
			confs = append(confs, fmt.Sprintf("%s %s %v", e.Conf.Kind, e.Conf.ID, e.Conf.Members))
			switch {
			case e.Conf.Kind == "trans" && slices.Equal(e.Conf.Members, alone):
				trans = true
			case e.Conf.Kind == "reg" && trans && slices.Equal(e.Conf.Members, alone):
				part = true
			}
		}
		t.Logf("%s: %s installed %v", name, cutVictim, confs)
		if !part {
			t.Errorf("%s: %s's trace has no transitional configuration of itself alone followed by the regular one of its part: %v", name, cutVictim, confs)
		}
		// The victim's own messages that its part's transitional
		// configuration delivered (its Ups in doubt, told sent in the
		// configuration it left), and how many of them the others
		// delivered.
		var inDoubt []string
		for _, e := range events {
			if e.Ev == evs.EvDeliver && e.Node == cutVictim && e.Domain == s.domain && strings.HasPrefix(e.ConfID, "dt:") && strings.HasSuffix(e.ConfID, "/"+cutVictim) &&
				strings.HasPrefix(e.Msg, cutVictim+"/") && slices.ContainsFunc(confs, func(c string) bool { return strings.Contains(c, " "+e.ConfID+" ") }) {
				inDoubt = append(inDoubt, e.Msg)
			}
		}
		elsewhere := map[string]int{}
		for _, e := range events {
			if e.Ev == evs.EvDeliver && e.Node != cutVictim && e.Domain == s.domain && slices.Contains(inDoubt, e.Msg) {
				elsewhere[e.Node]++
			}
		}
		t.Logf("%s: %s delivered %d messages of its own in its part's transitional configuration; the others delivered of them (by node) %v", name, cutVictim, len(inDoubt), elsewhere)
		s.checkFault(t, name, ph.start, ph.left, true, fed, side{others, all, others}, side{alone, all, alone})
		for g, ids := range s.checkFault(t, name+" healed", ph.left, ph.after, true, fed, side{others, others, all}, side{alone, alone, all}) {
			if len(ids) > 1 {
				t.Errorf("%s healed: group %s: the merge's regular view has different ids at the two sides (id: nodes) %v", name, g, ids)
			}
		}
	}
	// Every client got the views its agent traced.
	for _, cl := range s.clients {
		es := readTraceRange(t, cl.trace, 0, end[cl.id].off)
		traced := map[string][]evs.View{}
		for _, g := range cl.groups {
			traced[g] = viewsOf(es, s.groupDomain(g), g)
		}
		for _, p := range checkClientViews(cl.id+":app", cl.groups, seen[cl], traced, true) {
			t.Errorf("the client of %s: %s", cl.node, p)
		}
	}
}

// cutLeaveBound bounds how long after the fault the victim leaves the
// domain's configuration: the ring takes it out (a token timeout, the
// cloud preset's 1 s, and the membership protocol's consensus), then
// gateway.PartGrace, with room for a loaded host.
const cutLeaveBound = gateway.PartGrace + 15*time.Second

// cutProgressBound bounds the others' longest time without a delivery
// over a fault, from the rule's insertion to cutHold after the victim
// left: b's local ring takes the victim out (b-1's and b-2's clients
// wait for that, 1.25 s in the first runs: the cloud preset's 1 s token
// timeout), and the domain goes through a configuration change without
// it. cutHold is longer than the bound, so that a domain that stops
// delivering once the victim left fails the test too.
const (
	cutProgressBound = 5 * time.Second
	cutHold          = 6 * time.Second
)

// cutGraceSlack is how much later than gateway.PartGrace after its local
// ring first held no gateway the victim may leave (its agent's group
// loop wakes at the grace's end: gateway.Ungated.Deadline), on a loaded
// host.
const cutGraceSlack = 3 * time.Second

// partGraceSeen returns, from an agent's log, the time from the first
// regular configuration of its local ring of itself alone after since
// ("ring formed without every configured node", members=[NODE]) to its
// first line saying that it leaves the domain's configuration for the
// part grace after that; false, and what it found, if it lacks either.
func partGraceSeen(log string, since time.Time) (time.Duration, bool) {
	var alone, left time.Time
	for _, l := range strings.Split(log, "\n") {
		f, ok := strings.CutPrefix(l, "time=")
		if !ok {
			continue
		}
		f, _, _ = strings.Cut(f, " ")
		at, err := time.Parse(time.RFC3339Nano, f)
		if err != nil || at.Before(since) {
			continue
		}
		switch {
		case alone.IsZero() && strings.Contains(l, `msg="ring formed without every configured node"`) && strings.Contains(l, " members=["+cutVictim+"] "):
			alone = at
		case !alone.IsZero() && strings.Contains(l, `msg="no gateway of the domain in this node's local ring for the part grace`):
			left = at
		}
		if !left.IsZero() {
			return left.Sub(alone), true
		}
	}
	return 0, false
}

// waitLeft waits until cutVictim is in a configuration of the domain of
// its own and others in one of theirs, and returns how long it took; a
// failure says what more returns.
func (s *sites) waitLeft(timeout time.Duration, others []string, more func() string) time.Duration {
	s.t.Helper()
	start := time.Now()
	for {
		d, err := s.domainOf(cutVictim)
		if err == nil && d.Members == 1 && !d.Round {
			took := time.Since(start)
			s.waitDomain(timeout, others)
			return took
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("%s did not leave the domain's configuration within %v: configuration %s of %d members (round %v), %v; %s", cutVictim, timeout, d.Configuration, d.Members, d.Round, err, more())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveryGaps returns, for each node of ids, the longest time between
// from and to in which its client got no message.
func (s *sites) deliveryGaps(ids []string, from, to time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, id := range ids {
		cl := s.nodes[id].cl
		cl.mu.Lock()
		last, worst := from, time.Duration(0)
		for _, at := range cl.got {
			if at.Before(from) || at.After(to) {
				continue
			}
			worst = max(worst, at.Sub(last))
			last = at
		}
		cl.mu.Unlock()
		out[id] = max(worst, to.Sub(last))
	}
	return out
}
