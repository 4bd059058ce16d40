package localring

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// idleRing forms a ring of a, b and c and pumps it until the
// representative a holds the idle token and both members know of it.
func idleRing(t *testing.T) ([]*Node, time.Time) {
	t.Helper()
	nodes, now := formRing(t, "a", "b", "c")
	now = pump(t, nodes, now, 100*time.Millisecond)
	a, b, c := nodes[0], nodes[1], nodes[2]
	now = pumpUntil(t, nodes, now, time.Second, nil, func() bool { return a.held != nil && b.ringIdle && c.ringIdle })
	if a.held == nil || !b.ringIdle || !c.ringIdle {
		t.Fatalf("setup: a holds the idle token %v, b and c know of it %v %v", a.held != nil, b.ringIdle, c.ringIdle)
	}
	return nodes, now
}

func packetsIn(nodes []*Node) (in uint64) {
	for _, n := range nodes {
		in += n.Stats().PacketsIn
	}
	return in
}

// TestIdleHoldAfterOneRotation: on an idle ring, a message from a member
// other than the representative costs the ring one rotation of the token,
// not two: the member's wake goes to the representative alone, and the
// representative holds the token again as soon as it comes back with the
// message held everywhere and delivered. Before, the wake was multicast
// (a wake-up of the third member for nothing) and the rotation that
// carried the message counted as busy, so the token went round once more:
// 10 packets received across the ring for one message instead of 6 (the
// wake, the token to b, the message at a and c, the token to c and back
// to a), each a wake-up of an agent on a real host.
func TestIdleHoldAfterOneRotation(t *testing.T) {
	nodes, now := idleRing(t)
	a, b := nodes[0], nodes[1]
	before := packetsIn(nodes)
	if _, err := b.Submit(now, Agreed, []byte("m")); err != nil {
		t.Fatal(err)
	}
	delivered := map[NodeID]bool{}
	pumpUntil(t, nodes, now, a.cfg.TokenHold/2, func(n *Node, e Event) {
		if e.Kind == EventDeliver && string(e.Msg.Payload) == "m" {
			delivered[n.me.ID] = true
		}
	}, func() bool { return a.held != nil && len(delivered) == len(nodes) })
	if len(delivered) != len(nodes) || a.held == nil {
		t.Fatalf("within %v: delivered at %d of %d members, a holds the token %v", a.cfg.TokenHold/2, len(delivered), len(nodes), a.held != nil)
	}
	if got := packetsIn(nodes) - before; got != 6 {
		t.Fatalf("%d packets received across the ring from b's submit to a's next hold, want 6 (wake, token a→b, the message at a and c, token b→c, token c→a)", got)
	}
}

// TestIdleHoldSafeSettles: a Safe message is delivered at every member
// before the representative holds the token again, whoever sent it: a
// member delivers it only once the token has shown it held everywhere at
// two of its visits, so a hold that comes earlier leaves it waiting out
// the hold there.
func TestIdleHoldSafeSettles(t *testing.T) {
	for _, sender := range []int{0, 1, 2} {
		nodes, now := idleRing(t)
		a, s := nodes[0], nodes[sender]
		if _, err := s.Submit(now, Safe, []byte("safe")); err != nil {
			t.Fatal(err)
		}
		delivered := map[NodeID]bool{}
		released := false
		pumpUntil(t, nodes, now, a.cfg.TokenHold/2, func(n *Node, e Event) {
			if e.Kind == EventDeliver && string(e.Msg.Payload) == "safe" {
				delivered[n.me.ID] = true
			}
		}, func() bool {
			released = released || a.held == nil
			return released && a.held != nil
		})
		if a.held == nil {
			t.Fatalf("sender %s: a did not hold the token again within %v", s.me.ID, a.cfg.TokenHold/2)
		}
		if len(delivered) != len(nodes) {
			t.Fatalf("sender %s: a holds the token again with the Safe message delivered at %d of %d members: %v", s.me.ID, len(delivered), len(nodes), delivered)
		}
	}
}

// TestHoldSend: the representative of an idle ring sends its own messages
// with the token in hand and keeps holding it (Config.NoHoldSend off):
// each message costs the ring one packet at each member, not the token's
// round and the news of the next hold as well (5 packets received across
// the ring per message before: the message at b and c, the token at b, c
// and a, the idle news at b and c). The rotation at the end of the hold,
// at most TokenHold after the first of them, takes them into every
// member's aru.
func TestHoldSend(t *testing.T) {
	nodes, now := idleRing(t)
	a := nodes[0]
	before := packetsIn(nodes)
	delivered := map[NodeID]int{}
	const msgs = 5
	for i := range msgs {
		if _, err := a.Submit(now, Agreed, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		now = pumpEvents(t, nodes, now, time.Millisecond, func(n *Node, e Event) {
			if e.Kind == EventDeliver && string(e.Msg.Payload) == fmt.Sprintf("m%d", i) {
				delivered[n.me.ID]++
			}
		})
		for _, n := range nodes {
			if delivered[n.me.ID] != i+1 {
				t.Fatalf("message %d: delivered at %s %d times of %d within 1ms", i, n.me.ID, delivered[n.me.ID], i+1)
			}
		}
	}
	if a.held == nil {
		t.Fatal("a passed the token on")
	}
	if got := packetsIn(nodes) - before; got != 2*msgs {
		t.Fatalf("%d packets received across the ring for %d messages, want %d (each message at b and c, nothing else)", got, msgs, 2*msgs)
	}
	now = pump(t, nodes, now, a.cfg.TokenHold)
	for _, n := range nodes {
		if rs := n.reg; rs.aru != a.reg.highSeq || rs.safeUpTo < a.reg.highSeq-msgs {
			t.Fatalf("%s after the hold: aru %d, safe %d; a sent up to %d", n.me.ID, rs.aru, rs.safeUpTo, a.reg.highSeq)
		}
	}
	if a.held == nil {
		t.Fatal("a does not hold the idle token again after the rotation")
	}
}

// TestHoldSendLoss: a member that misses a message the representative sent
// while holding the token asks for the token as soon as a later one shows
// the gap, and gets the lost one well within the hold.
func TestHoldSendLoss(t *testing.T) {
	nodes, now := idleRing(t)
	a, b := nodes[0], nodes[1]
	dropped := false
	pumpDrop = func(from, to NodeID, pkt []byte) bool {
		if from == "a" && to == "b" && !dropped && bytes.Contains(pkt, []byte("lost")) {
			dropped = true
			return true
		}
		return false
	}
	defer func() { pumpDrop = nil }()
	got := map[string]bool{}
	on := func(n *Node, e Event) {
		if n == b && e.Kind == EventDeliver {
			got[string(e.Msg.Payload)] = true
		}
	}
	if _, err := a.Submit(now, Agreed, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	now = pumpEvents(t, nodes, now, time.Millisecond, on)
	if !dropped || got["lost"] {
		t.Fatalf("setup: the message was dropped %v, delivered at b %v", dropped, got["lost"])
	}
	if _, err := a.Submit(now, Agreed, []byte("next")); err != nil {
		t.Fatal(err)
	}
	pumpEvents(t, nodes, now, a.cfg.TokenHold/4, on)
	if !got["lost"] || !got["next"] {
		t.Fatalf("b delivered %v within %v of the gap; the hold is %v", got, a.cfg.TokenHold/4, a.cfg.TokenHold)
	}
}
