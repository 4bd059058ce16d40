package localring

import (
	"slices"
	"testing"
	"time"
)

// TestAccuserOfHeardMemberNotFollowed: d, in a ring of four, hears
// nothing from b (its inbound link loses everything) and none of the
// commit tokens sent to it, while a, b and c hear everyone. A round
// starts; a, b and c agree and wait in the commit state for a token that
// never reaches d; d gives up on b, whose joins it never heard, at its
// consensus timeout. Totem's rule had a and c take d's fail set in when
// their token timeout put them back into gathering, b give up on the
// nodes that gave up on it, and the healthy a, b and c form two rings
// ([a c d] and [b]). a and c heard b just before d's join failed it, so
// they do not follow d: d is the suspect, and b's join failing d (b gives
// up on the node that gave up on it) is taken in. a, b and c must only
// ever install rings with all three of them. Once d hears b again, the
// four form one ring.
func TestAccuserOfHeardMemberNotFollowed(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c", "d")
	blocked := true
	pumpDrop = func(from, to NodeID, pkt []byte) bool {
		typ, _ := peekType(pkt)
		return blocked && to == "d" && (from == "b" || typ == ptCommit)
	}
	var dFailedB bool
	pumpReady = func(n *Node, rd Ready) {
		for _, p := range rd.Packets {
			if typ, _ := peekType(p.Data); n.me.ID == "d" && typ == ptJoin {
				if j, err := parseJoin(p.Data); err == nil && slices.ContainsFunc(j.fail, func(m Member) bool { return m.ID == "b" }) {
					dFailedB = true
				}
			}
		}
	}
	t.Cleanup(func() { pumpDrop, pumpReady = nil, nil })
	nodes[0].Reform(now)
	healthy := []string{"a", "b", "c"}
	var split string
	installed := map[string]int{}
	now = pumpEvents(t, nodes, now, 2*time.Second, func(n *Node, e Event) {
		if e.Kind != EventInstall || e.Conf.Kind != Regular || n.me.ID == "d" || split != "" {
			return
		}
		installed[string(n.me.ID)]++
		ids := e.Conf.MemberIDs()
		for _, h := range healthy {
			if !slices.Contains(ids, h) {
				split = string(n.me.ID) + " installed " + string(e.Conf.ID) + " without " + h
			}
		}
	})
	if !dFailedB {
		t.Fatalf("the fault did not bite: d never gave up on b")
	}
	if split != "" {
		t.Fatalf("the healthy nodes split: %s", split)
	}
	for _, id := range healthy {
		if installed[id] == 0 {
			t.Fatalf("%s installed no ring while d did not hear b", id)
		}
	}
	blocked = false
	var all bool
	pumpUntil(t, nodes, now, 5*time.Second, nil, func() bool {
		all = true
		for _, n := range nodes {
			if c := n.Configuration(); n.State() != "operational" || c == nil || len(c.Members) != 4 {
				all = false
			}
		}
		return all
	})
	if !all {
		t.Fatalf("no ring of all four 5 s after d hears b again")
	}
}
