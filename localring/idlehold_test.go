package localring

import (
	"strings"
	"testing"
	"time"
)

// idleRotations returns how many times the representative took the token
// in d of an idle ring.
func idleRotations(t *testing.T, nodes []*Node, now time.Time, d time.Duration) (int, time.Time) {
	t.Helper()
	rep := nodes[0]
	before := rep.Stats().Rotation.Count
	now = pump(t, nodes, now, d)
	return int(rep.Stats().Rotation.Count - before), now
}

// deliveredWithin pumps nodes for d and returns at how many of them the
// message with this payload was delivered, and the time at the end.
func deliveredWithin(t *testing.T, nodes []*Node, now time.Time, d time.Duration, payload string) (int, time.Time) {
	t.Helper()
	delivered := map[NodeID]bool{}
	now = pumpEvents(t, nodes, now, d, func(n *Node, e Event) {
		if e.Kind == EventDeliver && string(e.Msg.Payload) == payload {
			delivered[n.me.ID] = true
		}
	})
	return len(delivered), now
}

// TestIdleTokenHold: once an idle ring has been idle for IdleHoldAfter
// holds, the representative holds the token for IdleTokenHold, so the ring
// rotates about once per IdleTokenHold instead of once per TokenHold; with
// IdleTokenHold 0 it keeps TokenHold.
func TestIdleTokenHold(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	now = pump(t, nodes, now, time.Second) // idle for longer than IdleHoldAfter holds
	short, now := idleRotations(t, nodes, now, time.Second)
	if want := int(time.Second / nodes[0].cfg.TokenHold); short < want-2 {
		t.Fatalf("without IdleTokenHold: %d rotations in 1s, want about %d", short, want)
	}
	for _, n := range nodes {
		n.cfg.IdleTokenHold = 80 * time.Millisecond
	}
	now = pump(t, nodes, now, time.Second)
	long, _ := idleRotations(t, nodes, now, time.Second)
	if long > int(time.Second/(80*time.Millisecond))+1 {
		t.Fatalf("with IdleTokenHold 80ms: %d rotations in 1s of an idle ring (%d without)", long, short)
	}
}

// TestIdleTokenHoldWake: a member with a message to send wakes the
// representative that holds the token for IdleTokenHold, so the message is
// delivered at once (the pump's hops take no time), not after the hold;
// after the traffic the representative holds for TokenHold again until the
// ring has been idle for IdleHoldAfter holds.
func TestIdleTokenHoldWake(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	for _, n := range nodes {
		n.cfg.IdleTokenHold = 80 * time.Millisecond
	}
	a, b := nodes[0], nodes[1]
	// pumpUntil drops the packets in flight when it stops; pump in steps
	// of 1ms instead (every packet is handled at once), until a holds.
	holding := func(long bool) {
		t.Helper()
		for range 1000 {
			if a.held != nil && (a.idleHolds > IdleHoldAfter) == long {
				return
			}
			now = pump(t, nodes, now, time.Millisecond)
		}
		t.Fatalf("the representative did not hold the idle token (long %v) within 1s", long)
	}
	now = pump(t, nodes, now, time.Second)
	holding(true)
	if left := a.holdUntil.Sub(now); left <= a.cfg.TokenHold {
		t.Fatalf("the representative holds the idle token for %v more, want up to IdleTokenHold 80ms", left)
	}
	if !b.ringIdle {
		t.Fatal("b did not hear that the representative holds the idle token")
	}
	if _, err := b.Submit(now, Agreed, []byte("wake")); err != nil {
		t.Fatal(err)
	}
	// Within TokenHold of virtual time, well before the hold's end.
	delivered, now := deliveredWithin(t, nodes, now, a.cfg.TokenHold/2, "wake")
	if delivered != len(nodes) {
		t.Fatalf("delivered at %d of %d members within %v of the submit: the hold was waited out", delivered, len(nodes), a.cfg.TokenHold/2)
	}
	holding(false)
	if left := a.holdUntil.Sub(now); left > a.cfg.TokenHold {
		t.Fatalf("the first idle hold after traffic has %v left, want at most TokenHold %v", left, a.cfg.TokenHold)
	}
}

// TestIdleTokenHoldWakeRace: a message submitted at a member after the
// token left it and before the representative's news of the hold arrived
// (so Submit sent no wake) is not left waiting out the hold: the news
// itself makes the member ask for the token.
func TestIdleTokenHoldWakeRace(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	for _, n := range nodes {
		n.cfg.IdleTokenHold = 80 * time.Millisecond
	}
	a, b := nodes[0], nodes[1]
	now = pump(t, nodes, now, time.Second)
	// Wait for a to release the token (b hears of it with the token), then
	// stop as soon as a holds it again: its news of the hold is still in
	// flight (pumpUntil drops it), so b does not know of the hold yet.
	now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return a.held == nil })
	now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return a.held != nil && a.idleHolds > IdleHoldAfter })
	if a.held == nil || b.ringIdle {
		t.Fatalf("setup: a holds %v, b knows of the hold %v; want a holding and b not knowing", a.held != nil, b.ringIdle)
	}
	if _, err := b.Submit(now, Agreed, []byte("race")); err != nil {
		t.Fatal(err)
	}
	if rd := b.Ready(); len(rd.Packets) != 0 {
		t.Fatalf("b sent %d packets on Submit without knowing of the hold", len(rd.Packets))
	}
	idle := merge{ring: a.reg.id, sender: a.me}
	if err := b.Step(now, idle.appendTo(nil, ptIdle)); err != nil { // the news arrives late
		t.Fatal(err)
	}
	delivered, _ := deliveredWithin(t, nodes, now, a.cfg.TokenHold/2, "race")
	if delivered != len(nodes) {
		t.Fatalf("delivered at %d of %d members within %v of the submit: the hold (%v left) was waited out", delivered, len(nodes), a.cfg.TokenHold/2, a.holdUntil.Sub(now))
	}
}

// TestIdleTokenHoldWakeAfterLimit: a member whose send limit was 0 when
// the representative's news of the hold came (so it did not ask for the
// token: it could not send) asks for it as soon as the limit lets it
// send, instead of leaving its messages to wait out the hold. The agent
// sets the limit to 0 while its group loop writes the trace (agent
// traceSends): its messages waited up to IdleTokenHold (66 ms on the LAN
// preset) whenever that coincided with an idle rotation.
func TestIdleTokenHoldWakeAfterLimit(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	for _, n := range nodes {
		n.cfg.IdleTokenHold = 80 * time.Millisecond
	}
	a, b := nodes[0], nodes[1]
	now = pump(t, nodes, now, time.Second)
	b.SetSendLimit(0)
	if _, err := b.Submit(now, Agreed, []byte("limited")); err != nil {
		t.Fatal(err)
	}
	// b asks for the token, takes it and passes it on without sending;
	// a, idle still, holds it again and b hears of it with its limit 0.
	now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return a.held == nil })
	for range 1000 {
		if a.held != nil && b.ringIdle {
			break
		}
		now = pump(t, nodes, now, time.Millisecond)
	}
	if a.held == nil || !b.ringIdle || b.backlog() == 0 {
		t.Fatalf("setup: a holds %v, b knows of the hold %v, b's backlog %d; want a holding, b knowing, 1", a.held != nil, b.ringIdle, b.backlog())
	}
	b.SetSendLimit(-1)
	delivered, _ := deliveredWithin(t, nodes, now, a.cfg.TokenHold/2, "limited")
	if delivered != len(nodes) {
		t.Fatalf("delivered at %d of %d members within %v of lifting the limit: the hold (%v left) was waited out", delivered, len(nodes), a.cfg.TokenHold/2, a.holdUntil.Sub(now))
	}
}

func TestIdleTokenHoldValidate(t *testing.T) {
	for _, h := range []time.Duration{time.Millisecond, 101 * time.Millisecond} {
		c := DefaultLAN("a")
		c.IdleTokenHold = h
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "idle token hold") {
			t.Errorf("idle token hold %v: %v", h, err)
		}
	}
	c := DefaultLAN("a")
	c.IdleTokenHold = 100 * time.Millisecond
	if err := c.Validate(); err != nil {
		t.Errorf("idle token hold 100ms: %v", err)
	}
}

// TestIdleMergeDetectRidesWithIdle: the representative of an idle ring
// sends each merge-detect in the same Ready as an idle packet (when it
// would fall due during the hold) instead of on its own, so the members
// wake up once per hold, not once more per MergeTimeout; merge-detects
// still go out at least every MergeTimeout.
func TestIdleMergeDetectRidesWithIdle(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	for _, n := range nodes {
		n.cfg.IdleTokenHold = 80 * time.Millisecond
	}
	now = pump(t, nodes, now, time.Second)
	a := nodes[0]
	merges, alone := 0, 0
	pumpReady = func(n *Node, rd Ready) {
		if n != a {
			return
		}
		types := map[packetType]bool{}
		for _, p := range rd.Packets {
			types[packetType(p.Data[1])] = true
		}
		if types[ptMerge] {
			merges++
			if !types[ptIdle] {
				alone++
			}
		}
	}
	defer func() { pumpReady = nil }()
	const window = 2 * time.Second
	pump(t, nodes, now, window)
	if alone > 0 {
		t.Fatalf("%d of %d merge-detects of the idle representative went out on their own, not with an idle packet", alone, merges)
	}
	if want := int(window/a.cfg.MergeTimeout) - 1; merges < want {
		t.Fatalf("%d merge-detects in %v, want at least %d (one per MergeTimeout %v)", merges, window, want, a.cfg.MergeTimeout)
	}
}

// TestIdleHoldAfterSafeEverywhere: the representative holds the idle
// token only once every member has delivered everything, Safe messages
// too, not as soon as it has itself. A member delivers a Safe message at
// its second visit that saw the token's aru cover it, and the
// representative can get there a rotation before the others: the last
// member's Safe message reached b one hold after a and c. On a ring whose
// hops take no time, every member delivers it within the same instant's
// rotations, well before a hold.
func TestIdleHoldAfterSafeEverywhere(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	a, c := nodes[0], nodes[2]
	for round := range 3 {
		now = pump(t, nodes, now, time.Second) // idle: a holds the token
		if a.held == nil {
			t.Fatalf("round %d: the representative does not hold the token of the idle ring", round)
		}
		sent := now
		if _, err := c.Submit(now, Safe, []byte("safe")); err != nil {
			t.Fatal(err)
		}
		at := map[NodeID]time.Duration{}
		now = pumpUntil(t, nodes, now, time.Second, func(n *Node, e Event) {
			if e.Kind == EventDeliver && string(e.Msg.Payload) == "safe" {
				at[n.me.ID] = n.now.Sub(sent)
			}
		}, nil)
		if len(at) != len(nodes) {
			t.Fatalf("round %d: delivered at %d of %d members: %v", round, len(at), len(nodes), at)
		}
		for id, d := range at {
			if d >= a.cfg.TokenHold/2 {
				t.Errorf("round %d: %s delivered the last member's Safe message %v after its submit (a %v, b %v, c %v): it waited out the representative's hold (%v)",
					round, id, d, at["a"], at["b"], at["c"], a.cfg.TokenHold)
			}
		}
	}
}

// TestIdleTokenHoldMax: once an idle ring has held IdleTokenHold for
// IdleHoldMaxAfter prompt holds in a row, the representative holds
// IdleTokenHoldMax, never longer; a hold whose timer ran later than the
// slack, or a rotation that took longer than it, brings it back to
// IdleTokenHold for IdleHoldMaxAfter more holds; a member with something to
// send still wakes it at once.
func TestIdleTokenHoldMax(t *testing.T) {
	const idle, longest = 60 * time.Millisecond, 100 * time.Millisecond
	nodes, now := formRingWith(t, func(c *Config) { c.IdleTokenHold, c.IdleTokenHoldMax = idle, longest }, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	slack := a.promptSlack()
	if want := (a.cfg.TokenTimeout - longest) / 10; slack != want || slack <= 0 {
		t.Fatalf("slack %v, want %v", slack, want)
	}
	var holds []time.Duration // each hold of the representative, as it starts
	fresh := false            // a started a hold since fresh was cleared
	pumpReady = func(n *Node, rd Ready) {
		for _, p := range rd.Packets {
			if n == a && packetType(p.Data[1]) == ptIdle {
				holds = append(holds, a.holdUntil.Sub(a.now))
				fresh = true
			}
		}
	}
	// heardHold pumps until a starts a hold and the members heard of it
	// (pumpUntil drops the packets still in flight: only a merge-detect
	// that rides with the idle packet may be).
	heardHold := func() {
		t.Helper()
		fresh = false
		now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return fresh && b.ringIdle && c.ringIdle })
		if left := a.holdUntil.Sub(now); a.held == nil || left > longest || left < longest-time.Millisecond {
			t.Fatalf("setup: the representative holds %v, for %v more; want the longest hold %v (holds %v)", a.held != nil, left, longest, holds)
		}
	}
	defer func() { pumpReady, pumpDelay = nil, nil }()
	now = pump(t, nodes, now, 10*time.Second) // 10 × 20 ms, 101 × 60 ms, then the longest
	long, now := idleRotations(t, nodes, now, 2*time.Second)
	if long < 19 || long > 21 {
		t.Fatalf("%d rotations in 2s of an idle ring, want about 20 (holds of %v)", long, longest)
	}
	for _, h := range holds {
		if h > longest {
			t.Fatalf("a hold of %v, longer than IdleTokenHoldMax %v (holds %v)", h, longest, holds)
		}
	}
	// After a hold that was not prompt: IdleTokenHold for the next
	// IdleHoldMaxAfter+1 holds (the first counts no prompt hold), then the
	// longest again.
	backOff := func(what string) {
		t.Helper()
		holds = nil
		now = pump(t, nodes, now, time.Duration(IdleHoldMaxAfter+1)*idle+3*longest)
		for i, h := range holds {
			want := idle
			if i > IdleHoldMaxAfter {
				want = longest
			}
			if h != want {
				t.Fatalf("%s: hold %d after it is %v, want %v (holds %v)", what, i+1, h, want, holds)
			}
		}
		if len(holds) < IdleHoldMaxAfter+3 {
			t.Fatalf("%s: %d holds after it: %v", what, len(holds), holds)
		}
	}
	// The hold's timer runs late: stop once a holds and the members heard
	// of it, and tick past the hold's end by more than the slack (within
	// the members' token timeout).
	heardHold()
	now = a.holdUntil.Add(slack + time.Millisecond)
	for _, n := range nodes {
		n.Tick(now)
	}
	if a.held != nil {
		t.Fatal("the representative kept the token past its hold")
	}
	backOff("a hold's timer late")
	// A rotation takes longer than the slack (the last hop's token late).
	pumpDelay = func(from NodeID, pkt []byte) time.Duration {
		if from == "c" && packetType(pkt[1]) == ptToken {
			pumpDelay = nil
			return slack + time.Millisecond
		}
		return 0
	}
	backOff("a slow rotation")

	// A member with something to send wakes the longest hold at once.
	heardHold()
	if _, err := b.Submit(now, Agreed, []byte("wake")); err != nil {
		t.Fatal(err)
	}
	delivered, _ := deliveredWithin(t, nodes, now, a.cfg.TokenHold/2, "wake")
	if delivered != len(nodes) {
		t.Fatalf("delivered at %d of %d members within %v of the submit: the longest hold (%v left) was waited out", delivered, len(nodes), a.cfg.TokenHold/2, a.holdUntil.Sub(now))
	}
}

func TestIdleTokenHoldMaxValidate(t *testing.T) {
	for _, c := range []struct{ idle, longest time.Duration }{
		{0, 50 * time.Millisecond},                      // without IdleTokenHold
		{60 * time.Millisecond, 50 * time.Millisecond},  // below it
		{60 * time.Millisecond, 101 * time.Millisecond}, // above half the token timeout
	} {
		cfg := DefaultLAN("a")
		cfg.IdleTokenHold, cfg.IdleTokenHoldMax = c.idle, c.longest
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "longest idle token hold") {
			t.Errorf("idle token hold %v, longest %v: %v", c.idle, c.longest, err)
		}
	}
	cfg := DefaultLAN("a")
	cfg.IdleTokenHold, cfg.IdleTokenHoldMax = 66*time.Millisecond, 100*time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Errorf("idle token hold 66ms, longest 100ms: %v", err)
	}
}
