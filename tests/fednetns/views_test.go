package fednetns

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
)

// The group views TestSitesNetns's faults must bring (issue 9 items 3
// and 7), judged per node from the views its agent traced between two
// marks of the scenario, by the rules of EVS.md and package groups:
//
//   - a change that moves members (a node killed, a site cut off, a merge)
//     is one transitional view, whose members are some of those that stay
//     and all of the node's own that stay (EVS.md 2.4 and self-inclusion:
//     a federation domain's round gives every node a transitional
//     configuration of itself alone, gateway/domconf), then one regular
//     view with exactly the members that stay and those that come, the
//     others in Left, the newcomers in Joined, and reason network: the
//     ring cannot tell a crash from a partition, and no member's node came
//     back with a new incarnation (package groups, "How views are
//     derived"), at the same place, so with the same id, at every node that
//     goes on together;
//   - a change that moves no member of a group brings it no view, except
//     where the domain's configuration goes through a round (the nodes of
//     other sites are outside every node's transitional configuration): a
//     transitional view and a regular one with the same members, reason
//     network. A failover of a site's gateway and an agent that dies are
//     no round (gateway/domconf: "a change that only removes nodes ...
//     a group with no member on them sees no view"; issue 9 item 4).

// pos is a place in a node's trace: its file, and an offset in it.
type pos struct {
	file string
	off  int64
}

// mark returns where the trace of every running agent ends now.
func (s *sites) mark() map[string]pos {
	s.t.Helper()
	out := map[string]pos{}
	for _, id := range s.live() {
		n := s.nodes[id]
		file := n.traces[len(n.traces)-1]
		fi, err := os.Stat(file)
		if err != nil {
			s.t.Fatal(err)
		}
		out[id] = pos{file, fi.Size()}
	}
	return out
}

// groupDomain is the domain of group g.
func (s *sites) groupDomain(g string) string {
	if g == localGroup {
		return "site/a"
	}
	return s.domain
}

// hasGroup says whether node id's agent runs the domain of g.
func (s *sites) hasGroup(id, g string) bool {
	return g != localGroup || s.nodes[id].site == "a"
}

// members returns the members of g at nodes: the clients of those whose
// site is one of g's.
func (s *sites) members(g string, nodes []string) []string {
	var out []string
	for _, id := range nodes {
		if slices.Contains(groupSites[g], s.nodes[id].site) {
			out = append(out, id+":app")
		}
	}
	slices.Sort(out)
	return out
}

// views returns the views of group g, in its domain, that node id's agent
// traced between marks from and to (from the start of its trace file when
// from has none of that file).
func (s *sites) views(t *testing.T, id, g string, from, to map[string]pos) []evs.View {
	t.Helper()
	end, ok := to[id]
	if !ok {
		t.Fatalf("no mark of %s's trace", id)
	}
	start := int64(0)
	if p, ok := from[id]; ok && p.file == end.file {
		start = p.off
	}
	return viewsOf(readTraceRange(t, end.file, start, end.off), s.groupDomain(g), g)
}

func viewsOf(es []evs.Event, domain, g string) []evs.View {
	var out []evs.View
	for _, e := range es {
		if e.Ev == evs.EvView && e.Domain == domain && e.Group == g && e.View != nil {
			out = append(out, *e.View)
		}
	}
	return out
}

// side is nodes that go on together through a fault: their groups'
// members are those of nodes before at the fault's start and of after at
// its end.
type side struct {
	nodes, before, after []string
}

// checkFault checks the views of groups at every node of each side over
// a fault's window, from mark from to mark to: one change each, reason
// network (checkChange); round says whether the domain's configuration
// goes through a round, which gives groups that move no member a view
// too. The regular views of one change must have one id on each side.
// It returns, for each group, the nodes that installed each id, over all
// sides.
func (s *sites) checkFault(t *testing.T, what string, from, to map[string]pos, round bool, groups []string, sides ...side) map[string]map[string][]string {
	t.Helper()
	all := map[string]map[string][]string{}
	for _, sd := range sides {
		for _, g := range groups {
			before, after := s.members(g, sd.before), s.members(g, sd.after)
			gone, came := minusSorted(before, after), minusSorted(after, before)
			ids := map[string][]string{}
			for _, id := range sd.nodes {
				if !s.hasGroup(id, g) {
					continue
				}
				vs := s.views(t, id, g, from, to)
				rid, problems := checkChange(id, before, vs, gone, came, round)
				for _, p := range problems {
					t.Errorf("%s: group %s at %s: %s; views %s", what, g, id, p, fmtViews(vs))
				}
				if rid != "" || len(gone)+len(came) > 0 {
					ids[rid] = append(ids[rid], id)
				}
			}
			if len(ids) > 1 {
				t.Errorf("%s: group %s: the nodes %v, which go on together, installed the change's regular view with different ids (id: nodes) %v", what, g, sd.nodes, ids)
			}
			t.Logf("%s: group %s at %v: %v left, %v came; the change's regular view (id: nodes) %v", what, g, sd.nodes, gone, came, ids)
			if all[g] == nil {
				all[g] = map[string][]string{}
			}
			for rid, nodes := range ids {
				all[g][rid] = append(all[g][rid], nodes...)
			}
		}
	}
	return all
}

// checkChange checks the views vs that node delivered in a group whose
// members were before when one change took gone away and brought came:
// a transitional view with some of those that stay and all of the node's
// own that stay, then a regular view with exactly those that stay and
// those that come, gone in Left, came in Joined, reason network. Where
// the change moves no member, vs must be empty, or, when round allows
// it, such a pair with the members of before. It returns the id of the
// regular view, and what is wrong.
func checkChange(node string, before []string, vs []evs.View, gone, came []string, round bool) (string, []string) {
	gone, came = sorted(gone), sorted(came)
	stay := minusSorted(before, gone)
	after := slices.Sorted(slices.Values(append(slices.Clone(stay), came...)))
	if len(gone)+len(came) == 0 {
		if len(vs) == 0 {
			return "", nil
		}
		if !round {
			return "", []string{fmt.Sprintf("%d views, want none: no member of the group left or came", len(vs))}
		}
	}
	if len(vs) != 2 {
		return "", []string{fmt.Sprintf("%d views, want a transitional view then a regular one (%v left, %v came)", len(vs), gone, came)}
	}
	var problems []string
	bad := func(f string, args ...any) { problems = append(problems, fmt.Sprintf(f, args...)) }
	tv, rv := vs[0], vs[1]
	if !tv.Transitional {
		bad("the first view %s is regular, want a transitional one", tv.ID)
	}
	if extra := minusSorted(sorted(tv.Members), stay); len(extra) > 0 {
		bad("the transitional view %s has members %v that do not stay", tv.ID, extra)
	}
	for _, m := range stay {
		if strings.HasPrefix(m, node+":") && !slices.Contains(tv.Members, m) {
			bad("the transitional view %s lacks the node's own member %s", tv.ID, m)
		}
	}
	if rv.Transitional {
		bad("the second view %s is transitional, want a regular one", rv.ID)
	}
	if got := sorted(rv.Members); !slices.Equal(got, after) {
		bad("the regular view %s has members %v, want %v", rv.ID, got, after)
	}
	if got := sorted(rv.Left); !slices.Equal(got, gone) {
		bad("the regular view %s has left %v, want %v", rv.ID, got, gone)
	}
	if got := sorted(rv.Joined); !slices.Equal(got, came) {
		bad("the regular view %s has joined %v, want %v", rv.ID, got, came)
	}
	if rv.Reason != evs.ReasonNetwork {
		bad("the regular view %s has reason %q, want %q", rv.ID, rv.Reason, evs.ReasonNetwork)
	}
	return rv.ID, problems
}

// checkRejoin checks the views vs that node delivered in a group while a
// site came back: its nodes join the domain (rounds: pairs of a
// transitional and a regular view, reason network, that change no
// member), then their clients join, each in a regular view of its own,
// reason join. before are the group's members at the start (none at a
// node that restarted: its first regular view, after a transitional
// one with no member, lists every member as joined, reason network), and
// final those at the end. It returns the id of each joiner's view, and
// what is wrong.
func checkRejoin(node string, before []string, vs []evs.View, joiners, final []string, fresh bool) (map[string]string, []string) {
	var problems []string
	bad := func(f string, args ...any) { problems = append(problems, fmt.Sprintf(f, args...)) }
	cur := sorted(before)
	joinedBy := map[string]string{}
	for i := 0; i < len(vs); i++ {
		v := vs[i]
		if v.Transitional {
			if extra := minusSorted(sorted(v.Members), cur); len(extra) > 0 {
				bad("transitional view %s has members %v that were not in the view before", v.ID, extra)
			}
			for _, m := range cur {
				if strings.HasPrefix(m, node+":") && !slices.Contains(v.Members, m) {
					bad("transitional view %s lacks the node's own member %s", v.ID, m)
				}
			}
			if i+1 == len(vs) || vs[i+1].Transitional {
				bad("transitional view %s is not followed by a regular one", v.ID)
				continue
			}
			i++
			r := vs[i]
			if r.Reason != evs.ReasonNetwork || len(r.Left) > 0 {
				bad("regular view %s after a transitional one has reason %q and left %v, want reason %q and no member left", r.ID, r.Reason, r.Left, evs.ReasonNetwork)
			}
			got := sorted(r.Members)
			switch {
			case fresh && len(cur) == 0:
				if !slices.Equal(sorted(r.Joined), got) {
					bad("the first regular view %s of a node that restarted has joined %v, want all its members %v", r.ID, r.Joined, got)
				}
				if extra := minusSorted(got, final); len(extra) > 0 {
					bad("the first regular view %s of a node that restarted has members %v that are not in the group", r.ID, extra)
				}
			case !slices.Equal(got, cur) || len(r.Joined) > 0:
				bad("regular view %s of a merge of nodes changes members %v to %v (joined %v): the nodes that came have no member yet", r.ID, cur, got, r.Joined)
			}
			cur = got
			continue
		}
		j := sorted(v.Joined)
		if v.Reason != evs.ReasonJoin || len(v.Left) > 0 || len(j) != 1 || !slices.Contains(joiners, j[0]) || joinedBy[j[0]] != "" {
			bad("regular view %s without a transitional one has reason %q, joined %v, left %v; want reason %q, one of %v joined once, none left", v.ID, v.Reason, j, v.Left, evs.ReasonJoin, joiners)
			cur = sorted(v.Members)
			continue
		}
		joinedBy[j[0]] = v.ID
		want := sorted(append(slices.Clone(cur), j[0]))
		if got := sorted(v.Members); !slices.Equal(got, want) {
			bad("regular view %s where %s joined has members %v, want %v", v.ID, j[0], got, want)
		}
		cur = sorted(v.Members)
	}
	if !slices.Equal(cur, final) {
		bad("the last view has members %v, want %v", cur, final)
	}
	return joinedBy, problems
}

// checkClientViews checks that a client got exactly the views its agent
// traced of its groups from the client's first view on (traced, up to
// the client's last moment): all of them at a client that stayed
// connected (complete), a prefix at one whose agent was killed.
func checkClientViews(member string, groups []string, got []client.View, traced map[string][]evs.View, complete bool) []string {
	var problems []string
	for _, g := range groups {
		var mine []evs.View
		for _, v := range got {
			if v.Group == g {
				reason := ""
				if v.Reason != 0 {
					reason = v.Reason.String()
				}
				mine = append(mine, evs.View{ID: v.ID, Members: v.Members, Joined: v.Joined, Left: v.Left, Reason: reason, Transitional: v.Transitional})
			}
		}
		all := traced[g]
		first := slices.IndexFunc(all, func(v evs.View) bool { return slices.Contains(v.Members, member) })
		if first < 0 {
			problems = append(problems, fmt.Sprintf("%s: its agent traced no view of %s with it", member, g))
			continue
		}
		want := all[first:]
		if !complete && len(mine) <= len(want) {
			want = want[:len(mine)]
		}
		if len(mine) != len(want) {
			problems = append(problems, fmt.Sprintf("%s got %d views of %s, its agent traced %d from its join on: got %s, traced %s", member, len(mine), g, len(want), fmtViews(mine), fmtViews(want)))
			continue
		}
		for i := range mine {
			if !sameView(mine[i], want[i]) {
				problems = append(problems, fmt.Sprintf("%s's %d-th view of %s is %s, its agent traced %s", member, i, g, fmtViews(mine[i:i+1]), fmtViews(want[i:i+1])))
				break
			}
		}
	}
	return problems
}

func sameView(a, b evs.View) bool {
	return a.ID == b.ID && slices.Equal(a.Members, b.Members) && slices.Equal(sorted(a.Joined), sorted(b.Joined)) &&
		slices.Equal(sorted(a.Left), sorted(b.Left)) && a.Reason == b.Reason && a.Transitional == b.Transitional
}

func fmtViews(vs []evs.View) string {
	var b strings.Builder
	b.WriteString("[")
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		kind := "reg"
		if v.Transitional {
			kind = "trans"
		}
		fmt.Fprintf(&b, "%s %s %v joined %v left %v reason %q", kind, v.ID, v.Members, v.Joined, v.Left, v.Reason)
	}
	b.WriteString("]")
	return b.String()
}

// sorted returns a sorted copy of ms, never nil.
func sorted(ms []string) []string {
	return slices.Sorted(slices.Values(append([]string{}, ms...)))
}

// minusSorted returns the elements of a not in b, sorted, never nil.
func minusSorted(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// TestViewRules runs the rules above (no namespaces needed) on the views
// TestSitesNetns's agents traced at c's cut (a-2's group orders), a
// failover (b-2's group bc) and site b's restart, as they are and broken
// one way at a time: each break must be reported.
func TestViewRules(t *testing.T) {
	ms := func(s string) []string {
		if s == "" {
			return []string{}
		}
		return strings.Split(s, " ")
	}
	tv := func(id, members string) evs.View {
		return evs.View{ID: id, Members: ms(members), Joined: []string{}, Left: []string{}, Transitional: true}
	}
	rv := func(id, members, joined, left, reason string) evs.View {
		return evs.View{ID: id, Members: ms(members), Joined: ms(joined), Left: ms(left), Reason: reason}
	}
	seven := "c-1:app c-2:app a-3:app a-2:app b-2:app b-3:app b-1:app"
	five := "a-3:app a-2:app b-2:app b-3:app b-1:app"
	cut := []evs.View{tv("dt:1/a-2~x", "a-2:app"), rv("dr:2", five, "", "c-1:app c-2:app", "network")}
	type change struct {
		name  string
		vs    []evs.View
		round bool
	}
	edit := func(f func(vs []evs.View) []evs.View) []evs.View {
		vs := slices.Clone(cut)
		return f(vs)
	}
	bad := []change{
		{"reason disconnect", edit(func(vs []evs.View) []evs.View { vs[1].Reason = "disconnect"; return vs }), true},
		{"reason leave", edit(func(vs []evs.View) []evs.View { vs[1].Reason = "leave"; return vs }), true},
		{"one of c's members not in left", edit(func(vs []evs.View) []evs.View { vs[1].Left = ms("c-1:app"); return vs }), true},
		{"a member that stays in left", edit(func(vs []evs.View) []evs.View { vs[1].Left = ms("c-1:app c-2:app a-3:app"); return vs }), true},
		{"a member of c kept", edit(func(vs []evs.View) []evs.View { vs[1].Members = ms(five + " c-1:app"); return vs }), true},
		{"a member that stays dropped", edit(func(vs []evs.View) []evs.View { vs[1].Members = ms("a-2:app b-2:app b-3:app b-1:app"); return vs }), true},
		{"joined not empty", edit(func(vs []evs.View) []evs.View { vs[1].Joined = ms("a-3:app"); return vs }), true},
		{"no transitional view", edit(func(vs []evs.View) []evs.View { return vs[1:] }), true},
		{"regular first", edit(func(vs []evs.View) []evs.View { vs[0], vs[1] = vs[1], vs[0]; return vs }), true},
		{"transitional view with a member of c", edit(func(vs []evs.View) []evs.View { vs[0].Members = ms("a-2:app c-1:app"); return vs }), true},
		{"transitional view without the node's own member", edit(func(vs []evs.View) []evs.View { vs[0].Members = ms("a-3:app"); return vs }), true},
		{"a second change", edit(func(vs []evs.View) []evs.View {
			return append(vs, tv("dt:3/a-2~y", "a-2:app"), rv("dr:4", five, "", "", "network"))
		}), true},
		{"two regular views", edit(func(vs []evs.View) []evs.View { vs[0].Transitional = false; return vs }), true},
	}
	if id, problems := checkChange("a-2", ms(seven), cut, ms("c-1:app c-2:app"), nil, true); len(problems) > 0 || id != "dr:2" {
		t.Errorf("c's cut at a-2 as traced: %q %v", id, problems)
	}
	for _, c := range bad {
		if _, problems := checkChange("a-2", ms(seven), c.vs, ms("c-1:app c-2:app"), nil, c.round); len(problems) == 0 {
			t.Errorf("c's cut at a-2 with %s: no problem reported", c.name)
		}
	}
	// The heal at c-1: a-2's, a-3's and b's members joined.
	heal := []evs.View{tv("dt:5/c-1~z", "c-1:app"), rv("dr:6", seven, five, "", "network")}
	if _, problems := checkChange("c-1", ms("c-1:app c-2:app"), heal, nil, ms(five), true); len(problems) > 0 {
		t.Errorf("the heal at c-1 as traced: %v", problems)
	}
	heal[1].Joined = ms("a-2:app")
	if _, problems := checkChange("c-1", ms("c-1:app c-2:app"), heal, nil, ms(five), true); len(problems) == 0 {
		t.Errorf("the heal at c-1 with one joined member of five: no problem reported")
	}
	// A group that loses no member: no view at a failover; at a round, a
	// transitional view and a regular one with the same members.
	bc := "c-1:app c-2:app b-2:app b-3:app b-1:app"
	same := []evs.View{tv("dt:7/b-2~w", "b-2:app"), rv("dr:8", bc, "", "", "network")}
	if _, problems := checkChange("b-2", ms(bc), nil, nil, nil, false); len(problems) > 0 {
		t.Errorf("no view of bc at the failover: %v", problems)
	}
	if _, problems := checkChange("b-2", ms(bc), same, nil, nil, false); len(problems) == 0 {
		t.Errorf("views of bc at the failover: no problem reported")
	}
	if _, problems := checkChange("b-2", ms(bc), same, nil, nil, true); len(problems) > 0 {
		t.Errorf("a round's views of bc: %v", problems)
	}
	same[1].Reason = "join"
	if _, problems := checkChange("b-2", ms(bc), same, nil, nil, true); len(problems) == 0 {
		t.Errorf("a round's views of bc with reason join: no problem reported")
	}

	// Site b restarted, at a-2 (a round, then the joins) and at b-2.
	four := "c-1:app c-2:app a-3:app a-2:app"
	joiners, final := ms("b-1:app b-2:app b-3:app"), sorted(ms(seven))
	rejoin := []evs.View{tv("dt:9/a-2~v", "a-2:app"), rv("dr:10", four, "", "", "network"),
		rv("dr:10@1.0", four+" b-2:app", "b-2:app", "", "join"), rv("dr:10@2.0", four+" b-2:app b-3:app", "b-3:app", "", "join"),
		rv("dr:10@3.0", seven, "b-1:app", "", "join")}
	if by, problems := checkRejoin("a-2", ms(four), rejoin, joiners, final, false); len(problems) > 0 || by["b-3:app"] != "dr:10@2.0" {
		t.Errorf("site b's restart at a-2 as traced: %v %v", by, problems)
	}
	fresh := append([]evs.View{tv("t:dr:10/-~u", ""), rv("dr:10", four, four, "", "network")}, rejoin[2:]...)
	if _, problems := checkRejoin("b-2", nil, fresh, joiners, final, true); len(problems) > 0 {
		t.Errorf("site b's restart at b-2 as traced: %v", problems)
	}
	rebad := map[string][]evs.View{
		"a join with reason network": func() []evs.View { vs := slices.Clone(rejoin); vs[3].Reason = "network"; return vs }(),
		"a round that drops a member": func() []evs.View {
			vs := slices.Clone(rejoin)
			vs[1].Members = ms("c-1:app c-2:app a-2:app")
			vs[1].Left = ms("a-3:app")
			return vs
		}(),
		"a joiner missing":          rejoin[:4],
		"a join twice":              append(slices.Clone(rejoin), rv("dr:10@4.0", seven, "b-1:app", "", "join")),
		"a transitional view alone": append(slices.Clone(rejoin), tv("dt:11/a-2~t", "a-2:app")),
	}
	for name, vs := range rebad {
		if _, problems := checkRejoin("a-2", ms(four), vs, joiners, final, false); len(problems) == 0 {
			t.Errorf("site b's restart at a-2 with %s: no problem reported", name)
		}
	}
	freshBad := slices.Clone(fresh)
	freshBad[1].Joined = ms("a-2:app")
	if _, problems := checkRejoin("b-2", nil, freshBad, joiners, final, true); len(problems) == 0 {
		t.Errorf("site b's restart at b-2 with a first view that does not list every member as joined: no problem reported")
	}

	// The client's views against its agent's.
	traced := map[string][]evs.View{"orders": append([]evs.View{rv("r:0@1.0", "c-1:app", "c-1:app", "", "join")}, rejoin...)}
	var got []client.View
	for _, v := range rejoin {
		cv := client.View{Group: "orders", ID: v.ID, Members: v.Members, Joined: v.Joined, Left: v.Left, Transitional: v.Transitional}
		switch v.Reason {
		case "network":
			cv.Reason = client.ReasonNetwork
		case "join":
			cv.Reason = client.ReasonJoin
		}
		got = append(got, cv)
	}
	if problems := checkClientViews("a-2:app", []string{"orders"}, got, traced, true); len(problems) > 0 {
		t.Errorf("a client's views as traced: %v", problems)
	}
	if problems := checkClientViews("a-2:app", []string{"orders"}, got[:3], traced, false); len(problems) > 0 {
		t.Errorf("a killed client's views as traced: %v", problems)
	}
	if problems := checkClientViews("a-2:app", []string{"orders"}, got[:3], traced, true); len(problems) == 0 {
		t.Errorf("a client that missed views: no problem reported")
	}
	other := slices.Clone(got)
	other[1].Reason = client.ReasonDisconnect
	if problems := checkClientViews("a-2:app", []string{"orders"}, other, traced, true); len(problems) == 0 {
		t.Errorf("a client that got another reason than traced: no problem reported")
	}
}
