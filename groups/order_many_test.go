package groups

import (
	"testing"
)

// TestManyGroupsViewOrder checks that the views of a configuration change
// come in group-name order at every node, for every group they concern,
// when the change touches enough groups to be ordered from the node's
// sorted list of groups (sortGroups, allSorted) — also after groups were
// created and removed since that list was last sorted.
func TestManyGroupsViewOrder(t *testing.T) {
	r := newTestRingCfg(t, Config{}, "a", "b")
	r.form([]string{"a", "b"})
	ta, tb := r.node("a"), r.node("b")
	const n = 300
	name := func(k int) string { return "g" + itoa(k*7919%1000) } // joined out of name order
	inB := 0
	for k := 0; k < n; k++ {
		ta.must(ta.g.Join("c", name(k)))
		if k%3 != 0 {
			tb.must(tb.g.Join("d", name(k)))
			inB++
		}
	}
	r.collect(ta)
	r.collect(tb)
	r.run()

	// wantB is the number of groups with members at both nodes.
	splitMerge := func(round string, wantA, wantB int) {
		t.Helper()
		for _, tn := range []*tnode{ta, tb} {
			tn.events = nil
		}
		r.form([]string{"a"}, []string{"b"})
		r.run()
		r.form([]string{"a", "b"})
		r.run()
		for _, tn := range []*tnode{ta, tb} {
			// Per configuration: the transitional views, and the
			// regular views of the network, each in name order.
			var trans, reg []string
			check := func() {
				for _, l := range [][]string{trans, reg} {
					for i := 1; i < len(l); i++ {
						if l[i-1] >= l[i] {
							t.Fatalf("%s: node %s: views of %s then %s", round, tn.id, l[i-1], l[i])
						}
					}
				}
			}
			counts := map[string]int{}
			for _, e := range tn.events {
				switch {
				case e.Kind == EventConf:
					check()
					trans, reg = nil, nil
				case e.Kind == EventView && e.View.Transitional:
					trans = append(trans, e.View.Group)
					counts["trans"]++
				case e.Kind == EventView && e.View.Reason == ReasonNetwork:
					reg = append(reg, e.View.Group)
					counts["reg"]++
				}
			}
			check()
			// a has c in every group, b's d is in wantB of them: at the
			// split each node sees the other's members leave, at the
			// merge come back (a transitional view first at each).
			want := wantB
			if counts["trans"] < want || counts["reg"] != 2*want {
				t.Fatalf("%s: node %s: %d transitional and %d regular views, want ≥ %d and %d (groups %d, a's %d)",
					round, tn.id, counts["trans"], counts["reg"], want, 2*want, len(tn.g.Groups()), wantA)
			}
		}
	}
	splitMerge("first", n, inB)

	// Groups come and go: a's c leaves the groups b's d is not in (they
	// are removed at both nodes) and joins new ones, some shared with d.
	removed := 0
	for k := 0; k < n; k += 3 {
		ta.must(ta.g.Leave("c", name(k)))
		removed++
	}
	added, addedB := 0, 0
	for k := n; k < n+120; k++ {
		ta.must(ta.g.Join("c", name(k)))
		added++
		if k%2 == 0 {
			tb.must(tb.g.Join("d", name(k)))
			addedB++
		}
	}
	r.collect(ta)
	r.collect(tb)
	r.run()
	if got, want := len(ta.g.Groups()), n-removed+added; got != want {
		t.Fatalf("a knows %d groups, want %d", got, want)
	}
	splitMerge("second", n-removed+added, inB+addedB)
}
