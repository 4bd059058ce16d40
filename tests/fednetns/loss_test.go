package fednetns

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/evs"
)

// lossReport is what lostAndDuplicated counted in one domain.
type lossReport struct {
	Domain string
	// Sent is the client messages sent (send lines with groups), Owed the
	// (message, process) pairs the rules below make a process owe.
	Sent, Owed int
	// Lost is the owed pairs without a delivery; Duplicated the second
	// and later deliveries of a message at a process that did not fail.
	Lost, Duplicated int
	// Excused is the pairs a process did not deliver and did not owe: it
	// went on to its next configuration without the sender (a site cut
	// off, a crash), as EVS allows.
	Excused   int
	ExcusedAt map[string]int // by receiving node
	Examples  []string
}

func (r lossReport) String() string {
	return fmt.Sprintf("domain %s: %d client messages sent, %d deliveries owed at processes that stayed connected with the sender: %d lost, %d duplicated; %d not delivered where the receiver went on without the sender (EVS allows it), by receiver %v",
		r.Domain, r.Sent, r.Owed, r.Lost, r.Duplicated, r.Excused, r.ExcusedAt)
}

// lostAndDuplicated counts, from the traces, the client messages (send
// lines with groups) that processes which did not fail lost or delivered
// twice. A process P that did not fail owes a message m sent in
// configuration c when P installed c and
//
//   - c is P's last regular configuration (the traces end quiescent), or
//     the sender installed P's next regular configuration too: the two
//     stayed connected, so P must deliver what the sender delivered
//     (self-delivery and failure atomicity);
//   - or, for a sender that failed, some process that did not fail
//     delivered m and went from c to the same next configuration as P
//     (failure atomicity).
//
// A process failed when failed lists it or its node has a later
// incarnation in the traces.
func lostAndDuplicated(events []evs.Event, failed map[evs.Proc]bool) []lossReport {
	type proc struct {
		regs []string
		at   map[string]int // regular configuration -> index in regs
		got  map[string]int // message -> deliveries
	}
	type send struct {
		msg, conf string
		from      evs.Proc
	}
	byDomain := map[string]map[evs.Proc]*proc{}
	sends := map[string][]send{}
	latest := map[string]uint64{}
	for _, e := range events {
		ps := byDomain[e.Domain]
		if ps == nil {
			ps = map[evs.Proc]*proc{}
			byDomain[e.Domain] = ps
		}
		p := evs.Proc{Node: e.Node, Inc: e.Inc}
		st := ps[p]
		if st == nil {
			st = &proc{at: map[string]int{}, got: map[string]int{}}
			ps[p] = st
		}
		latest[e.Node] = max(latest[e.Node], e.Inc)
		switch e.Ev {
		case evs.EvInstall:
			if e.Conf.Kind == "reg" {
				st.at[e.Conf.ID] = len(st.regs)
				st.regs = append(st.regs, e.Conf.ID)
			}
		case evs.EvSend:
			if len(e.Groups) > 0 {
				sends[e.Domain] = append(sends[e.Domain], send{msg: e.Msg, conf: e.ConfID, from: p})
			}
		case evs.EvDeliver:
			if len(e.Groups) > 0 {
				st.got[e.Msg]++
			}
		}
	}
	isFailed := func(p evs.Proc) bool { return failed[p] || latest[p.Node] > p.Inc }
	var out []lossReport
	for _, dom := range slices.Sorted(func(yield func(string) bool) {
		for d := range byDomain {
			if !yield(d) {
				return
			}
		}
	}) {
		ps := byDomain[dom]
		r := lossReport{Domain: dom, Sent: len(sends[dom]), ExcusedAt: map[string]int{}}
		var live []evs.Proc
		for p := range ps {
			if !isFailed(p) {
				live = append(live, p)
			}
		}
		sort.Slice(live, func(i, j int) bool {
			return live[i].Node < live[j].Node || live[i].Node == live[j].Node && live[i].Inc < live[j].Inc
		})
		// next returns what follows c at p: its next regular
		// configuration, "" if c is its last, false if p never installed c.
		next := func(p evs.Proc, c string) (string, bool) {
			st := ps[p]
			i, ok := st.at[c]
			if !ok {
				return "", false
			}
			if i+1 < len(st.regs) {
				return st.regs[i+1], true
			}
			return "", true
		}
		for _, p := range live {
			st := ps[p]
			for _, n := range st.got {
				r.Duplicated += max(n-1, 0)
			}
			for _, m := range sends[dom] {
				pn, ok := next(p, m.conf)
				if !ok {
					continue
				}
				owed := false
				if !isFailed(m.from) {
					_, together := ps[m.from].at[pn]
					owed = pn == "" || together
				} else {
					for _, q := range live {
						if qn, ok := next(q, m.conf); ok && qn == pn && ps[q].got[m.msg] > 0 {
							owed = true
							break
						}
					}
				}
				switch {
				case owed && st.got[m.msg] == 0:
					r.Owed++
					r.Lost++
					if len(r.Examples) < 5 {
						r.Examples = append(r.Examples, fmt.Sprintf("%s/%d lacks %s (sent in %s)", p.Node, p.Inc, m.msg, m.conf))
					}
				case owed:
					r.Owed++
				case st.got[m.msg] == 0:
					r.Excused++
					r.ExcusedAt[p.Node]++
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// TestLostAndDuplicated judges hand-made traces: a message missing at a
// node that went on with its sender is lost, one missing at a node cut
// off from its sender is not, a second delivery is a duplicate, and a
// crashed sender's message is owed only where a peer that went on alike
// delivered it. It needs no root.
func TestLostAndDuplicated(t *testing.T) {
	const dom = "fed/x"
	install := func(node string, id string, members ...string) evs.Event {
		return evs.Event{Ev: evs.EvInstall, Node: node, Inc: 1, Domain: dom, Conf: &evs.Conf{ID: id, Kind: "reg", Members: members}}
	}
	sendOf := func(node, conf, msg string) evs.Event {
		return evs.Event{Ev: evs.EvSend, Node: node, Inc: 1, Domain: dom, ConfID: conf, Msg: msg, Groups: []string{"g"}}
	}
	deliver := func(node, conf, msg string) evs.Event {
		return evs.Event{Ev: evs.EvDeliver, Node: node, Inc: 1, Domain: dom, ConfID: conf, Msg: msg, Groups: []string{"g"}}
	}
	// a, b and c in r1; c is cut off (r2 of a and b, r3 of c alone); d
	// crashed in r1.
	base := []evs.Event{
		install("a", "r1", "a", "b", "c", "d"), install("b", "r1", "a", "b", "c", "d"), install("c", "r1", "a", "b", "c", "d"), install("d", "r1", "a", "b", "c", "d"),
		sendOf("a", "r1", "a/1/1"), sendOf("c", "r1", "c/1/1"), sendOf("d", "r1", "d/1/1"),
		deliver("a", "r1", "a/1/1"), deliver("a", "r1", "d/1/1"),
		deliver("c", "r1", "c/1/1"),
		install("a", "r2", "a", "b"), install("b", "r2", "a", "b"), install("c", "r3", "c"),
	}
	failed := map[evs.Proc]bool{{Node: "d", Inc: 1}: true}
	for _, tc := range []struct {
		name      string
		more      []evs.Event
		lost, dup int
		excused   int
		example   string
	}{
		{"b got all that a did", []evs.Event{deliver("b", "r1", "a/1/1"), deliver("b", "r1", "d/1/1")}, 0, 0, 4, ""},
		{"b lacks a's message", []evs.Event{deliver("b", "r1", "d/1/1")}, 1, 0, 4, "b/1 lacks a/1/1"},
		{"b lacks the crashed d's message a got", []evs.Event{deliver("b", "r1", "a/1/1")}, 1, 0, 4, "b/1 lacks d/1/1"},
		{"b got a's message twice", []evs.Event{deliver("b", "r1", "a/1/1"), deliver("b", "r1", "a/1/1"), deliver("b", "r1", "d/1/1")}, 0, 1, 4, ""},
		{"c got a's message in r1", []evs.Event{deliver("b", "r1", "a/1/1"), deliver("b", "r1", "d/1/1"), deliver("c", "r1", "a/1/1")}, 0, 0, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := lostAndDuplicated(append(slices.Clone(base), tc.more...), failed)
			if len(rs) != 1 {
				t.Fatalf("reports: %v", rs)
			}
			r := rs[0]
			if r.Lost != tc.lost || r.Duplicated != tc.dup || r.Excused != tc.excused || r.Sent != 3 {
				t.Errorf("got %s, want %d lost, %d duplicated, %d excused", r, tc.lost, tc.dup, tc.excused)
			}
			if tc.example != "" && (len(r.Examples) == 0 || !strings.HasPrefix(r.Examples[0], tc.example)) {
				t.Errorf("examples %v, want one starting %q", r.Examples, tc.example)
			}
		})
	}
}
