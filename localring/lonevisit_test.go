package localring

import (
	"testing"
	"time"
)

// TestLoneVisit: with Config.LoneVisitPackets a node that alone has
// messages to send fills up to that many packets at a visit (here the
// window, LoneVisitWindow) instead of MaxPacketsPerVisit; as soon as a
// second member's backlog shows on the token, the visits are bound by
// MaxPacketsPerVisit again (the second sender waits behind at most the
// lone visit under way). Without it (0) every visit is bound by
// MaxPacketsPerVisit.
func TestLoneVisit(t *testing.T) {
	const window, perVisit = 200, 50
	for _, lone := range []int{0, LoneVisitWindow} {
		var visits map[NodeID][]int // message packets per Ready, per node, in order
		pumpReady = func(n *Node, rd Ready) {
			pkts := 0
			for _, p := range rd.Packets {
				if IsMessagePacket(p.Data) {
					pkts++
				}
			}
			if pkts > 0 {
				visits[n.me.ID] = append(visits[n.me.ID], pkts)
			}
		}
		t.Cleanup(func() { pumpReady = nil })
		nodes, now := formRingWith(t, func(cfg *Config) {
			cfg.WindowPackets, cfg.MaxPacketsPerVisit = window, perVisit
			cfg.LoneVisitPackets = lone
		}, "a", "b", "c")
		a, b := nodes[0], nodes[1]
		if a.cfg.LoneVisitPackets != max(lone, 0) && !(lone == LoneVisitWindow && a.cfg.LoneVisitPackets == window) {
			t.Fatalf("LoneVisitPackets %d became %d", lone, a.cfg.LoneVisitPackets)
		}
		visits = map[NodeID][]int{}

		// a alone: 3 windows of 1 KiB messages (one and a fragment of
		// the next per packet).
		for range 3 * window {
			if _, err := a.Submit(now, Agreed, make([]byte, 1024)); err != nil {
				t.Fatal(err)
			}
		}
		now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return len(visits["a"]) >= 2 })
		alone := visits["a"]
		largest := 0
		for _, v := range alone {
			largest = max(largest, v)
		}
		want := perVisit
		if lone != 0 {
			want = window
		}
		if largest != want {
			t.Errorf("LoneVisitPackets %d: a alone sent up to %d packets at a visit (visits %v), want %d", lone, largest, visits["a"], want)
		}

		// b gets a backlog too: once b's first visit has shown it on the
		// token, a's visits are bound by MaxPacketsPerVisit.
		for range 3 * window {
			if _, err := b.Submit(now, Agreed, make([]byte, 1024)); err != nil {
				t.Fatal(err)
			}
		}
		visits = map[NodeID][]int{}
		var afterB []int // a's visits after b's first
		pumpReady = func(n *Node, rd Ready) {
			pkts := 0
			for _, p := range rd.Packets {
				if IsMessagePacket(p.Data) {
					pkts++
				}
			}
			if pkts == 0 {
				return
			}
			visits[n.me.ID] = append(visits[n.me.ID], pkts)
			if n == a && len(visits["b"]) > 0 {
				afterB = append(afterB, pkts)
			}
		}
		pumpUntil(t, nodes, now, time.Second, nil, func() bool { return len(afterB) >= 3 })
		if len(afterB) < 3 {
			t.Fatalf("LoneVisitPackets %d: a made %d visits after b's first (a %v, b %v)", lone, len(afterB), visits["a"], visits["b"])
		}
		for _, v := range afterB {
			if v > perVisit {
				t.Errorf("LoneVisitPackets %d: a sent %d packets at a visit while b had a backlog (a's visits after b's first %v)", lone, v, afterB)
			}
		}
		t.Logf("LoneVisitPackets %d: a's visits alone %v; with b sending too, a %v, b %v", lone, alone, afterB, visits["b"])
	}
}
