package evs

import (
	"slices"
	"strings"
	"testing"
)

// TestOrphans takes out the deliveries of a federation domain's message
// that no process recorded as sent, counts them, leaves other domains'
// lines and sent messages alone, and flags an orphan delivered at two
// orders.
func TestOrphans(t *testing.T) {
	const dom = "fed/abc"
	deliver := func(node, msg string, order uint64) Event {
		return Event{Ev: EvDeliver, Node: node, Inc: 1, Domain: dom, Msg: msg, Order: order}
	}
	trace := []Event{
		{Ev: EvSend, Node: "a", Inc: 1, Domain: dom, Msg: "a/1/1"},
		deliver("a", "a/1/1", 1),
		deliver("b", "a/1/1", 1),
		deliver("a", "c/1/1", 2), // c crashed before its message came down
		deliver("b", "c/1/1", 2),
		{Ev: EvDeliver, Node: "a", Inc: 1, Domain: "site/a", Msg: "x/1/1"}, // another domain
	}
	kept, n, bad := Orphans(dom, trace)
	if n != 1 || len(bad) != 0 {
		t.Fatalf("orphans = %d, violations %v; want 1 and none", n, bad)
	}
	if len(kept) != 4 {
		t.Fatalf("kept %d lines, want 4: %+v", len(kept), kept)
	}
	for _, e := range kept {
		if e.Msg == "c/1/1" {
			t.Errorf("the orphan's delivery at %s stayed in the trace", e.Node)
		}
	}
	// A delivery without an order (a site that delivered its crashed
	// gateway's Up in its transitional configuration, not knowing the
	// place the others gave it) is compared with none: as
	// checkOrderField, only orders that are there.
	unordered := append(slices.Clone(trace), deliver("d", "c/1/1", 0))
	unordered = slices.Insert(unordered, 2, deliver("e", "c/1/1", 0))
	if kept, n, bad := Orphans(dom, unordered); n != 1 || len(bad) != 0 || len(kept) != 4 {
		t.Errorf("an orphan delivered at order 2 twice and without one twice: %d orphans, %d lines kept, violations %v; want 1, 4 and none", n, len(kept), bad)
	}
	unordered[5].Order = 3 // b's delivery, after one without an order and a's at 2
	if _, _, bad := Orphans(dom, unordered); len(bad) != 1 || bad[0].Property != OrderField || !strings.Contains(bad[0].Detail, "c/1/1") {
		t.Errorf("an orphan delivered at orders 2 and 3, and without one: violations %v, want one of the order field naming c/1/1", bad)
	}
	trace[4].Order = 3
	if _, _, bad := Orphans(dom, trace); len(bad) != 1 || bad[0].Property != OrderField || !strings.Contains(bad[0].Detail, "c/1/1") {
		t.Errorf("an orphan delivered at orders 2 and 3: violations %v, want one of the order field naming c/1/1", bad)
	}

	// Only a failed sender (or an earlier incarnation of a node that
	// restarted) may lack its send lines.
	kept, _, _ = Orphans(dom, trace)
	if v := LiveOrphans(trace, kept, map[Proc]bool{{Node: "c", Inc: 1}: true}); len(v) != 0 {
		t.Errorf("a killed sender's orphan: violations %v", v)
	}
	restarted := append(trace, Event{Ev: EvInstall, Node: "c", Inc: 2, Domain: dom, Conf: &Conf{ID: "r:2:a"}})
	if v := LiveOrphans(restarted, kept, nil); len(v) != 0 {
		t.Errorf("an orphan of an incarnation that restarted: violations %v", v)
	}
	if v := LiveOrphans(trace, kept, nil); len(v) != 1 || v[0].Property != NoCreation || v[0].Msg != "c/1/1" {
		t.Errorf("an orphan of a running sender: violations %v, want one of no creation for c/1/1", v)
	}
}
