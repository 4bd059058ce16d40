package localring

import (
	"fmt"
	"testing"
	"time"
)

// steadyLoad submits burst messages of size bytes (1 KiB: a packet each,
// as in the benchmarks) at each sender every gap for d, while the ring runs as
// pump runs it (a packet every 10µs, one at a time) but without dropping
// what is in flight between two bursts; then it lets the last ones
// arrive. It returns how many rotations the representative made and how
// many busy holds during d, and how many messages every node delivered.
func steadyLoad(t *testing.T, nodes, senders []*Node, now time.Time, size, burst int, gap, d time.Duration) (rotations, holds int, delivered map[NodeID]int) {
	t.Helper()
	delivered = map[NodeID]int{}
	type pkt struct {
		from NodeID
		p    Packet
	}
	var q []pkt
	collect := func() {
		for _, n := range nodes {
			rd := n.Ready()
			for _, p := range rd.Packets {
				q = append(q, pkt{n.me.ID, p})
			}
			for _, e := range rd.Events {
				if e.Kind == EventDeliver {
					delivered[n.me.ID]++
				}
			}
		}
	}
	payload := make([]byte, size)
	before, holdsBefore := nodes[0].Stats().Rotation.Count, nodes[0].Stats().BusyHolds
	loadEnd, end := now.Add(d), now.Add(d+200*time.Millisecond)
	nextBurst := now
	collect()
	for now.Before(end) {
		if !now.Before(nextBurst) && now.Before(loadEnd) {
			for _, s := range senders {
				for range burst {
					if _, err := s.Submit(now, Agreed, payload); err != nil {
						t.Fatal(err)
					}
				}
			}
			nextBurst = nextBurst.Add(gap)
			if !nextBurst.Before(loadEnd) {
				rotations = int(nodes[0].Stats().Rotation.Count - before)
				holds = int(nodes[0].Stats().BusyHolds - holdsBefore)
			}
			collect()
			continue
		}
		if len(q) == 0 {
			next := end
			if nextBurst.Before(loadEnd) {
				next = nextBurst
			}
			for _, n := range nodes {
				if dl := n.NextDeadline(); !dl.IsZero() && dl.Before(next) {
					next = dl
				}
			}
			now = next
			for _, n := range nodes {
				n.Tick(now)
			}
			collect()
			continue
		}
		p := q[0]
		q = q[1:]
		now = now.Add(10 * time.Microsecond)
		for _, n := range nodes {
			if n.me.ID == p.from && p.p.To == "" || p.p.To != "" && p.p.To != n.me.ID {
				continue
			}
			if err := n.Step(now, p.p.Data); err != nil {
				t.Fatalf("%s: %v", n.me.ID, err)
			}
		}
		collect()
	}
	return rotations, holds, delivered
}

// TestBusyRotation: a ring that carries a steady trickle of messages
// from every member rotates as fast as its hops allow, a few messages a
// rotation; with Config.BusyRotation the representative keeps the token
// until that long has passed since it passed it on, so the ring rotates
// about once per BusyRotation with the same messages delivered; and a
// ring whose load is a message a rotation or less is never held, also
// when that message is fragmented into more packets than the hold's floor
// of two per member (8 KiB: seven packets of the LAN preset, as in the
// benchmarks' 8 KiB rows, where each message waited out the hold).
func TestBusyRotation(t *testing.T) {
	const hold = 2 * time.Millisecond
	for _, tc := range []struct {
		busy      time.Duration
		size      int           // bytes a message
		burst     int           // messages each sender submits at once
		gap       time.Duration // between two bursts
		senders   int
		wantHolds bool
	}{
		{0, 1024, 4, 400 * time.Microsecond, 3, false},
		{hold, 1024, 4, 400 * time.Microsecond, 3, true},
		{hold, 1024, 1, 200 * time.Microsecond, 3, false},
		{hold, 1024, 1, time.Millisecond, 1, false},
		{hold, 8192, 1, time.Millisecond, 1, false},
	} {
		t.Run(fmt.Sprintf("busy=%v/size=%d/burst=%d/gap=%v/senders=%d", tc.busy, tc.size, tc.burst, tc.gap, tc.senders), func(t *testing.T) {
			nodes, now := formRingWith(t, func(c *Config) { c.BusyRotation = tc.busy }, "a", "b", "c")
			const d = 200 * time.Millisecond
			rotations, holds, delivered := steadyLoad(t, nodes, nodes[:tc.senders], now, tc.size, tc.burst, tc.gap, d)
			want := tc.senders * tc.burst * int(d/tc.gap)
			for _, n := range nodes {
				if delivered[n.me.ID] != want {
					t.Errorf("%s delivered %d messages, want %d", n.me.ID, delivered[n.me.ID], want)
				}
			}
			t.Logf("%d rotations in %v, %d busy holds", rotations, d, holds)
			switch {
			case tc.wantHolds && (holds == 0 || rotations > int(d/hold)+2):
				t.Errorf("%d rotations in %v with %d busy holds: want about one per BusyRotation %v", rotations, d, holds, tc.busy)
			case !tc.wantHolds && holds > 0:
				t.Errorf("%d busy holds of a ring that carries a message a rotation or less", holds)
			case tc.busy == 0 && rotations < 4*int(d/hold):
				t.Errorf("without BusyRotation only %d rotations in %v: the load is too heavy to show the hold", rotations, d)
			}
			for _, n := range nodes[1:] {
				if n.Stats().BusyHolds > 0 {
					t.Errorf("%s, not the representative, held the token %d times", n.me.ID, n.Stats().BusyHolds)
				}
			}
		})
	}
}

// TestBusyRotationFullRing: a ring whose members cannot send all they
// have in a visit (the token's backlog), although each visit sends less
// than half the window, is never held, so the hold costs no throughput.
func TestBusyRotationFullRing(t *testing.T) {
	nodes, now := formRingWith(t, func(c *Config) {
		c.BusyRotation = 2 * time.Millisecond
		c.MaxPacketsPerVisit = 4
	}, "a", "b", "c")
	const burst, gap, d = 10, 100 * time.Microsecond, 20 * time.Millisecond
	rotations, holds, delivered := steadyLoad(t, nodes, nodes, now, 1024, burst, gap, d)
	if holds > 0 {
		t.Errorf("%d busy holds in %d rotations of a ring with a backlog", holds, rotations)
	}
	if want := 3 * burst * int(d/gap); delivered["c"] != want {
		t.Errorf("c delivered %d messages, want %d", delivered["c"], want)
	}
}
