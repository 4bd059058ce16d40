package localring

import (
	"testing"
	"time"
)

// TestMaxPacketsPerVisitDefault: a visit's bound defaults to half the
// window: 100 packets with the LAN preset (a lone sender's visits, which
// no other member's backlog shares, carried 50 before: a sixth less of
// its throughput through the client API on a 2-core host), 50 with the
// cloud preset's window of 100 as before, and a window below 100 set
// without a bound of its own validates instead of being refused for a
// default bound of 50 above it.
func TestMaxPacketsPerVisitDefault(t *testing.T) {
	if c := DefaultLAN("a"); c.WindowPackets != 200 || c.MaxPacketsPerVisit != 100 {
		t.Errorf("LAN preset: window %d, per visit %d; want 200 and 100", c.WindowPackets, c.MaxPacketsPerVisit)
	}
	if c := DefaultCloud("a"); c.WindowPackets != 100 || c.MaxPacketsPerVisit != 50 {
		t.Errorf("cloud preset: window %d, per visit %d; want 100 and 50", c.WindowPackets, c.MaxPacketsPerVisit)
	}
	for _, tc := range []struct{ window, set, want int }{{10, 0, 5}, {1, 0, 1}, {3, 0, 1}, {200, 30, 30}, {40, 40, 40}} {
		c := Config{ID: "a", Incarnation: 1, WindowPackets: tc.window, MaxPacketsPerVisit: tc.set}
		c.setDefaults()
		if c.MaxPacketsPerVisit != tc.want {
			t.Errorf("window %d, per visit %d set: per visit %d, want %d", tc.window, tc.set, c.MaxPacketsPerVisit, tc.want)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("window %d, per visit %d set: %v", tc.window, tc.set, err)
		}
	}
}

// TestLoneSenderVisit: a member that alone has messages to send, more
// than a visit carries, sends the default bound of 100 packets at its
// visit (half the LAN window), not the whole window, and the rest at its
// next visits.
func TestLoneSenderVisit(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	b := nodes[1]
	const msgs = 300
	for range msgs {
		if _, err := b.Submit(now, Agreed, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	out := b.Stats().PacketsOut
	now = pumpUntil(t, nodes, now, 50*time.Millisecond, nil, func() bool { return b.Stats().MessagesSent > 0 })
	// One visit: its new packets and the token it passed on.
	sent := int(b.Stats().PacketsOut - out)
	if sent < 100 || sent > 100+b.cfg.TokenCopies {
		t.Errorf("b's first visit sent %d packets (%d messages), want the bound of 100 and its token", sent, b.Stats().MessagesSent)
	}
	if b.Pending() == 0 {
		t.Errorf("b sent all of its %d messages at one visit", msgs)
	}
	pump(t, nodes, now, 50*time.Millisecond)
	if got := b.Stats().MessagesSent; got != msgs || b.Pending() != 0 {
		t.Errorf("b sent %d of %d messages, %d pending", got, msgs, b.Pending())
	}
}

// TestVisitShare: a member's share of a visit (VisitShare) is the bound of
// a visit when it sends alone, and about the window divided by the
// ring's size when every member sends and keeps two visits' worth of its
// share queued, as the agent's send queue does: the queue then holds two
// rotations' worth with five senders too, not five.
func TestVisitShare(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c", "d", "e")
	for _, n := range nodes {
		if got := n.VisitShare(); got != 100 {
			t.Errorf("%s on an idle ring: visit share %d, want the bound of a visit, 100", n.me.ID, got)
		}
	}
	b := nodes[1]
	payload := make([]byte, 1000)
	submit := func(n *Node, upTo int) {
		for n.Pending() < upTo {
			if _, err := n.Submit(now, Agreed, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	submit(b, 500)
	now = pump(t, nodes, now, 50*time.Millisecond)
	if got := b.VisitShare(); got != 100 {
		t.Errorf("a lone sender's visit share %d, want 100", got)
	}

	sent := make([]uint64, len(nodes))
	for i, n := range nodes {
		sent[i] = n.Stats().MessagesSent
	}
	now = pumpUntil(t, nodes, now, 200*time.Millisecond, nil, func() bool {
		for _, n := range nodes {
			submit(n, 2*n.VisitShare())
		}
		return false
	})
	for i, n := range nodes {
		got := n.VisitShare()
		if got < 40 || got > 50 {
			t.Errorf("%s with every member sending: visit share %d, want about 200/5 = 40", n.me.ID, got)
		}
		if n.Pending() > 2*got {
			t.Errorf("%s queued %d, over two visit shares of %d", n.me.ID, n.Pending(), got)
		}
		t.Logf("%s: visit share %d, %d messages sent", n.me.ID, got, n.Stats().MessagesSent-sent[i])
	}
}

// TestVisitMessages: VisitMessages counts the messages of a member's last
// visit, many to a packet for small ones: a lone sender of 300 messages of
// 64 bytes sends them all at one visit of 100 packets, of 1,000 bytes
// about one a packet.
func TestVisitMessages(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	b := nodes[1]
	for _, tc := range []struct{ size, least, most int }{{64, 300, 300}, {1000, 100, 150}} {
		for range 300 {
			if _, err := b.Submit(now, Agreed, make([]byte, tc.size)); err != nil {
				t.Fatal(err)
			}
		}
		sent := b.Stats().MessagesSent
		now = pumpUntil(t, nodes, now, 50*time.Millisecond, nil, func() bool { return b.Stats().MessagesSent > sent })
		if got := b.VisitMessages(); got < tc.least || got > tc.most || uint64(got) != b.Stats().MessagesSent-sent {
			t.Errorf("%d-byte messages: VisitMessages %d after a visit that sent %d; want %d to %d", tc.size, got, b.Stats().MessagesSent-sent, tc.least, tc.most)
		}
		now = pump(t, nodes, now, 50*time.Millisecond)
	}
}
