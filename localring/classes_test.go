package localring

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestSendClassOrder: at a visit a node sends a tighter class's messages
// before a looser one's, each class in submission order, and every member
// delivers them in that one order.
func TestSendClassOrder(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	b := nodes[1]
	b.SetSendLimit(0)
	var want [][]byte
	for i := range 10 {
		p := []byte{'b', byte(i)}
		if _, err := b.SubmitClass(now, 1, Agreed, p); err != nil {
			t.Fatal(err)
		}
	}
	rt := []byte("realtime")
	if _, err := b.SubmitClass(now, 0, Agreed, rt); err != nil {
		t.Fatal(err)
	}
	if b.PendingClass(0) != 1 || b.PendingClass(1) != 10 || b.Pending() != 11 {
		t.Fatalf("pending %d and %d, total %d; want 1, 10, 11", b.PendingClass(0), b.PendingClass(1), b.Pending())
	}
	want = append(want, rt)
	for i := range 10 {
		want = append(want, []byte{'b', byte(i)})
	}
	got := map[NodeID][][]byte{}
	b.SetSendLimit(-1)
	pumpEvents(t, nodes, now, 20*time.Millisecond, func(n *Node, e Event) {
		if e.Kind == EventDeliver {
			got[n.me.ID] = append(got[n.me.ID], e.Msg.Payload)
		}
	})
	for _, n := range nodes {
		if !equalPayloads(got[n.me.ID], want) {
			t.Errorf("%s delivered %q, want %q", n.me.ID, got[n.me.ID], want)
		}
	}
}

func equalPayloads(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestClassVisitBound: a node with a backlog of looser-class messages
// sends at most Config.ClassVisitPackets of them per visit, so a tighter
// message submitted at the next node waits behind a bounded number of
// them, not behind the window's worth.
func TestClassVisitBound(t *testing.T) {
	const bound = 2
	nodes, now := formRingWith(t, func(c *Config) { c.ClassVisitPackets = []int{0, bound} }, "a", "b", "c")
	b, c := nodes[1], nodes[2]
	for range 60 {
		if _, err := b.SubmitClass(now, 1, Agreed, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubmitClass(now, 0, Agreed, []byte("realtime")); err != nil {
		t.Fatal(err)
	}
	before, done := 0, false
	visits, out := b.Stats().Rotation.Count, b.Stats().PacketsOut
	pumpUntil(t, nodes, now, 50*time.Millisecond, func(n *Node, e Event) {
		if n != c || e.Kind != EventDeliver {
			return
		}
		if string(e.Msg.Payload) == "realtime" {
			done = true
		} else if !done {
			before++
		}
	}, func() bool { return done })
	if !done {
		t.Fatal("the realtime message was not delivered")
	}
	// The token may have just left c: a, then b with at most bound
	// packets of one message each, then c.
	if before > bound {
		t.Errorf("c delivered %d of b's bulk messages before its own realtime one; want at most %d", before, bound)
	}
	now = pump(t, nodes, now, 100*time.Millisecond)
	visits, out = b.Stats().Rotation.Count-visits, b.Stats().PacketsOut-out
	if b.Pending() != 0 {
		t.Fatalf("b still has %d messages queued", b.Pending())
	}
	// A token and at most bound message packets per visit.
	if out > (bound+1)*(visits+1) {
		t.Errorf("b sent %d packets in %d visits; want at most %d per visit and the token", out, visits, bound)
	}
}

// TestClassBetweenFragments: a tighter class's message that fits whole
// in a packet goes between two fragments of a looser class's large
// message, and both arrive intact; one that needs fragments itself waits
// until the large message is complete.
func TestClassBetweenFragments(t *testing.T) {
	nodes, now := formRingWith(t, func(c *Config) { c.ClassVisitPackets = []int{0, 1} }, "a", "b", "c")
	b := nodes[1]
	large := bytes.Repeat([]byte("L"), 20_000)
	for i := range large {
		large[i] = byte(i)
	}
	if _, err := b.SubmitClass(now, 1, Agreed, large); err != nil {
		t.Fatal(err)
	}
	// Let b send the first fragments.
	now = pumpUntil(t, nodes, now, 50*time.Millisecond, nil, func() bool { return b.Stats().PacketsOut > 2 && b.partial == 1 })
	if b.partial != 1 {
		t.Fatal("b did not start sending the large message in fragments")
	}
	small := []byte("realtime")
	big := bytes.Repeat([]byte("B"), 5000) // fragments of its own
	for _, p := range [][]byte{small, big} {
		if _, err := b.SubmitClass(now, 0, Agreed, p); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]byte{small, large, big}
	got := map[NodeID][][]byte{}
	pumpEvents(t, nodes, now, 200*time.Millisecond, func(n *Node, e Event) {
		if e.Kind == EventDeliver {
			got[n.me.ID] = append(got[n.me.ID], e.Msg.Payload)
		}
	})
	for _, n := range nodes {
		if !equalPayloads(got[n.me.ID], want) {
			t.Errorf("%s delivered %d messages (lengths %v), want the small one, the large one intact, then the big one", n.me.ID, len(got[n.me.ID]), lengths(got[n.me.ID]))
		}
	}
}

func lengths(ps [][]byte) []int {
	var l []int
	for _, p := range ps {
		l = append(l, len(p))
	}
	return l
}

func TestSubmitClassErrors(t *testing.T) {
	n := testNode(t, "a", func(c *Config) { c.MaxPendingMessages = 2 })
	n.Start(t0)
	for _, class := range []int{-1, MaxSendClasses} {
		if _, err := n.SubmitClass(t0, class, Agreed, nil); !errors.Is(err, ErrBadClass) {
			t.Errorf("class %d: %v, want ErrBadClass", class, err)
		}
	}
	for range 2 {
		if _, err := n.SubmitClass(t0, 1, Agreed, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.SubmitClass(t0, 1, Agreed, nil); !errors.Is(err, ErrBackpressure) {
		t.Errorf("class 1 full: %v, want ErrBackpressure", err)
	}
	if _, err := n.SubmitClass(t0, 0, Agreed, nil); err != nil {
		t.Errorf("class 0 with class 1 full: %v", err)
	}
	cfg := DefaultLAN("a")
	cfg.ClassVisitPackets = []int{0, -1}
	if err := cfg.Validate(); err == nil || !contains(err.Error(), "send class 1's visit bound -1") {
		t.Errorf("negative bound: %v", err)
	}
	cfg.ClassVisitPackets = make([]int, MaxSendClasses+1)
	if err := cfg.Validate(); err == nil {
		t.Error("too many bounds: no error")
	}
}
