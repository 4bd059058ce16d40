package localring

import (
	"strings"
	"testing"
	"time"
)

// lingerRing forms a ring of 3 whose nodes linger for linger (0: none),
// idle for a second.
func lingerRing(t *testing.T, linger time.Duration) ([]*Node, time.Time) {
	t.Helper()
	nodes, now := formRingWith(t, func(c *Config) { c.IdleLinger = linger }, "a", "b", "c")
	now = pump(t, nodes, now, time.Second)
	return nodes, now
}

// lingerRun has member b submit m1 at now, and m2 after a further gap
// (if positive), and pumps the ring until its representative holds the
// idle token (in one pump: pump drops the packets in flight when it
// stops, the rotating token with them). It returns when the
// representative began to hold after the deliveries of m1 (and m2) at
// every member (zero: not within a second), when m2 was
// submitted, the deliveries of m1 and m2, the wakes sent after m2 and the
// representative's rotations before the hold.
type lingerRun struct {
	heldAt, m2At time.Time
	delivered    map[string]int
	wakes        int
	rotations    uint64
}

func runLinger(t *testing.T, nodes []*Node, now time.Time, gap time.Duration) lingerRun {
	t.Helper()
	a, b := nodes[0], nodes[1]
	r := lingerRun{delivered: map[string]int{}}
	if _, err := b.Submit(now, Agreed, []byte("m1")); err != nil {
		t.Fatal(err)
	}
	sent := now
	rotations := a.Stats().Rotation.Count
	pumpReady = func(n *Node, rd Ready) {
		for _, p := range rd.Packets {
			if !r.m2At.IsZero() && len(p.Data) > 1 && packetType(p.Data[1]) == ptWake {
				r.wakes++
			}
		}
	}
	defer func() { pumpReady = nil }()
	onEvent := func(n *Node, e Event) {
		if e.Kind == EventDeliver {
			r.delivered[string(e.Msg.Payload)]++
		}
	}
	stop := func() bool {
		if gap > 0 && r.m2At.IsZero() && b.now.Sub(sent) >= gap {
			if _, err := b.Submit(b.now, Agreed, []byte("m2")); err != nil {
				t.Fatal(err)
			}
			r.m2At = b.now
		}
		return a.held != nil && r.delivered["m1"] == len(nodes) && (gap <= 0 || r.delivered["m2"] == len(nodes))
	}
	end := pumpUntil(t, nodes, now, time.Second, onEvent, stop)
	if a.held != nil {
		r.heldAt = end
	}
	r.rotations = a.Stats().Rotation.Count - rotations
	return r
}

// TestIdleLinger: with Config.IdleLinger the representative keeps the
// token rotating after a member's message, instead of holding it at the
// first idle visit, until IdleLinger has passed since the rotation that
// carried it; a member's message meanwhile takes the rotating token
// without a wake. Then it holds as before. Without IdleLinger it holds
// within a rotation of the message.
func TestIdleLinger(t *testing.T) {
	const linger = 5 * time.Millisecond
	nodes, now := lingerRing(t, 0)
	r := runLinger(t, nodes, now, 0)
	if r.heldAt.IsZero() || r.heldAt.Sub(now) > time.Millisecond || r.delivered["m1"] != len(nodes) {
		t.Fatalf("without linger: the representative held the idle token %v after m1 (zero: not within 1s), m1 delivered at %d members; want within a rotation, at all %d",
			r.heldAt.Sub(now), r.delivered["m1"], len(nodes))
	}

	nodes, now = lingerRing(t, linger)
	r = runLinger(t, nodes, now, 2*time.Millisecond)
	if r.heldAt.IsZero() {
		t.Fatalf("linger %v: the representative never held the idle token", linger)
	}
	if r.delivered["m1"] != len(nodes) || r.delivered["m2"] != len(nodes) {
		t.Fatalf("linger %v: m1 and m2 delivered at %d and %d members before the hold, want %d", linger, r.delivered["m1"], r.delivered["m2"], len(nodes))
	}
	if since := r.heldAt.Sub(r.m2At); since < linger || since > linger+time.Millisecond {
		t.Fatalf("linger %v: the representative held the idle token %v after m2, want %v to %v", linger, since, linger, linger+time.Millisecond)
	}
	if r.rotations < 50 {
		t.Fatalf("linger %v: %d rotations before the hold, want the token to keep rotating", linger, r.rotations)
	}
	if r.wakes != 0 {
		t.Fatalf("linger %v: %d wakes sent for a message submitted while the ring lingers, want none", linger, r.wakes)
	}
}

// TestIdleLingerOwnMessages: the representative's own messages do not make
// the ring linger (they take the held token at once): after one, it holds
// the idle token within a rotation.
func TestIdleLingerOwnMessages(t *testing.T) {
	nodes, now := lingerRing(t, 5*time.Millisecond)
	a := nodes[0]
	now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return a.held != nil })
	if _, err := a.Submit(now, Agreed, []byte("own")); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	end := pumpUntil(t, nodes, now, time.Second, func(n *Node, e Event) {
		if e.Kind == EventDeliver && string(e.Msg.Payload) == "own" {
			delivered++
		}
	}, func() bool { return a.held != nil && delivered == len(nodes) })
	if a.held == nil || end.Sub(now) > time.Millisecond {
		t.Fatalf("the representative holds %v %v after its own message (delivered at %d members), want it holding within a rotation", a.held != nil, end.Sub(now), delivered)
	}
}

func TestIdleLingerValidate(t *testing.T) {
	c := DefaultLAN("a")
	c.IdleLinger = -time.Millisecond
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "idle linger") {
		t.Errorf("idle linger -1ms: %v", err)
	}
	c.IdleLinger = 5 * time.Millisecond
	if err := c.Validate(); err != nil {
		t.Errorf("idle linger 5ms: %v", err)
	}
}
