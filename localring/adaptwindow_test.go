package localring

import (
	"testing"
	"time"
)

// TestAdaptWindow: with Config.AdaptWindow a node halves its window while
// the rotations of a busy ring take more than three times the fastest
// one, and grows it back while they are short. A ring of three whose
// token hops take 1 ms (rotations of about 3 ms) idles with hops of
// 10 ms (30 ms rotations), then runs with each member holding more
// messages than the window lets out, with hops of no time, 1 ms, 10 ms (a
// bottleneck queue ahead of the token), then 1 ms again. The idle ring
// keeps its window (the window was not what limited it); so does the
// busy one while its hops take no time at all (its rotations, the
// members' processing alone, vary many times over but stay below the
// floor of the base) and with hops of 1 ms; with slow ones it drops to 1 packet
// (and the ring sends about one packet per rotation), and it is whole
// again once the path recovers; the ring never loses its token. Without
// AdaptWindow the window stays whole throughout.
func TestAdaptWindow(t *testing.T) {
	const window = 64
	for _, adapt := range []bool{true, false} {
		hop := time.Millisecond
		pumpDelay = func(_ NodeID, pkt []byte) time.Duration {
			if IsToken(pkt) {
				return hop
			}
			return 0
		}
		t.Cleanup(func() { pumpDelay = nil })
		nodes, now := formRingWith(t, func(cfg *Config) {
			cfg.WindowPackets, cfg.MaxPacketsPerVisit = window, window
			cfg.AdaptWindow = adapt
		}, "a", "b", "c")
		conf := nodes[0].Configuration()
		lost := 0
		// run runs the ring for d with token hops of h, its members'
		// queues filled at the start when busy, and returns the
		// messages (one per packet) sent per rotation over the last 10
		// rotations at a.
		run := func(h, d time.Duration, busy bool) float64 {
			hop = h
			for _, n := range nodes {
				for busy && n.Pending() < n.cfg.MaxPendingMessages {
					if _, err := n.Submit(now, Agreed, make([]byte, 1000)); err != nil {
						t.Fatal(err)
					}
				}
			}
			var sent []uint64 // at each rotation of a
			last := nodes[0].Stats().Rotation.Count
			now = pumpUntil(t, nodes, now, d, func(n *Node, e Event) {
				if e.Kind == EventTokenLost || e.Kind == EventInstall {
					lost++
				}
			}, func() bool {
				if c := nodes[0].Stats().Rotation.Count; c != last {
					last = c
					var m uint64
					for _, n := range nodes {
						m += n.Stats().MessagesSent
					}
					sent = append(sent, m)
				}
				return false
			})
			if busy && nodes[0].Pending() == 0 {
				t.Fatal("a sent all its messages: the ring was not busy to the end")
			}
			if len(sent) < 11 {
				return 0
			}
			return float64(sent[len(sent)-1]-sent[len(sent)-11]) / 10
		}
		wins := func() []int {
			var ws []int
			for _, n := range nodes {
				ws = append(ws, n.window())
			}
			return ws
		}
		run(10*time.Millisecond, 300*time.Millisecond, false)
		idle := wins()
		run(0, 100*time.Millisecond, true)
		local := wins()
		run(time.Millisecond, 200*time.Millisecond, true)
		fast := wins()
		perRot := run(10*time.Millisecond, 2*time.Second, true)
		slow := wins()
		run(time.Millisecond, 200*time.Millisecond, true)
		again := wins()
		t.Logf("AdaptWindow %v: windows %v slow and idle, %v with hops of no time, %v fast, %v slow (%.1f packets sent per rotation), %v fast again; cuts at a: %d",
			adapt, idle, local, fast, slow, perRot, again, nodes[0].Stats().WindowCuts)
		for i, n := range nodes {
			if fast[i] != window || idle[i] != window || local[i] != window || again[i] != window {
				t.Errorf("AdaptWindow %v: %s's window %d with fast rotations, %d with slow idle ones, %d with hops of no time, %d fast again; want %d", adapt, n.me.ID, fast[i], idle[i], local[i], again[i], window)
			}
			want := 1
			if !adapt {
				want = window
			}
			if slow[i] != want {
				t.Errorf("AdaptWindow %v: %s's window %d while busy rotations took 10 times the fastest; want %d", adapt, n.me.ID, slow[i], want)
			}
		}
		if adapt && perRot > 1.5 {
			t.Errorf("the ring sent %.1f packets per rotation with a window of 1", perRot)
		}
		if lost != 0 || nodes[0].Configuration().ID != conf.ID {
			t.Errorf("AdaptWindow %v: the ring lost its token or re-formed (%d)", adapt, lost)
		}
	}
}

// TestAdaptWindowPresets: the WAN preset adapts its window; the LAN and
// cloud presets keep theirs.
func TestAdaptWindowPresets(t *testing.T) {
	if !DefaultWAN("fra").AdaptWindow || DefaultLAN("a").AdaptWindow || DefaultCloud("a").AdaptWindow {
		t.Errorf("AdaptWindow: WAN %v, LAN %v, cloud %v; want true, false, false",
			DefaultWAN("fra").AdaptWindow, DefaultLAN("a").AdaptWindow, DefaultCloud("a").AdaptWindow)
	}
}
