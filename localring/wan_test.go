package localring

import (
	"strings"
	"testing"
	"time"
)

// TestDefaultWAN checks that the WAN preset is valid and is what its doc
// says: the derived timers of a 600 ms rotation, stream-frame packets, room
// for an enveloped maximum-size message.
func TestDefaultWAN(t *testing.T) {
	c := DefaultWAN("fra")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TokenTimeout != 5040*time.Millisecond || c.TokenRetransmit != 1200*time.Millisecond || c.ConsensusTimeout != 6048*time.Millisecond ||
		c.JoinTimeout != 600*time.Millisecond || c.MergeTimeout != 2400*time.Millisecond || c.TokenHold != 50*time.Millisecond {
		t.Errorf("timers %+v", c)
	}
	if c.MaxPacketBytes != WANPacketBytes || c.MaxMessageBytes != MaxMessageBytes+MaxEnvelopeBytes || c.WindowPackets != 458 {
		t.Errorf("packet %d, message %d, window %d", c.MaxPacketBytes, c.MaxMessageBytes, c.WindowPackets)
	}
	c.MaxMessageBytes++
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max message size") {
		t.Errorf("a message limit above the envelope's room: %v", err)
	}
	c = DefaultWAN("fra")
	c.MaxPacketBytes = MaxPacketLimit + 1
	if err := c.Validate(); err == nil {
		t.Error("a packet size above MaxPacketLimit was accepted")
	}
}

// TestWithTimings applies a LAN site's derived timers: the token hold
// drops below the short retransmit interval, the merge interval follows
// the join timeout, and zero fields keep what they had.
func TestWithTimings(t *testing.T) {
	c := DefaultLAN("a").WithTimings(Timings{Token: 42 * time.Millisecond, Retransmit: 10 * time.Millisecond, Consensus: 51 * time.Millisecond, Join: 50 * time.Millisecond})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TokenHold != 5*time.Millisecond || c.MergeTimeout != 200*time.Millisecond || c.TokenTimeout != 42*time.Millisecond {
		t.Errorf("hold %v, merge %v, token %v", c.TokenHold, c.MergeTimeout, c.TokenTimeout)
	}
	if c.StallHold != 5*time.Millisecond {
		t.Errorf("stall hold %v, want 5ms: half the 10ms retransmit interval it did not fit below", c.StallHold)
	}
	d := c.WithTimings(Timings{Merge: time.Second})
	if d.MergeTimeout != time.Second || d.TokenTimeout != c.TokenTimeout || d.JoinTimeout != c.JoinTimeout {
		t.Errorf("a partial Timings changed other timers: %+v", d)
	}
}

// TestWindowForBDP: 100 Mbit/s over 200 ms is 2.5 MB, 153 packets of
// 16 KiB; the floor, the memory cap and unknown bandwidth.
func TestWindowForBDP(t *testing.T) {
	for _, tc := range []struct {
		bps  int64
		rot  time.Duration
		pkt  int
		want int
	}{
		{100_000_000, 200 * time.Millisecond, 16 << 10, 153},
		{1_000_000, 10 * time.Millisecond, 16 << 10, MinWANWindow},
		{100_000_000_000, time.Second, 16 << 10, MaxWindowBytes / (16 << 10)},
		{0, time.Second, 1400, 200},
	} {
		if got := WindowForBDP(tc.bps, tc.rot, tc.pkt); got != tc.want {
			t.Errorf("WindowForBDP(%d, %v, %d) = %d, want %d", tc.bps, tc.rot, tc.pkt, got, tc.want)
		}
	}
}

// TestFenceSupersedes: told of a newer incarnation of its own id, a node
// stops for good and says so; a lower one changes nothing.
func TestFenceSupersedes(t *testing.T) {
	cfg := DefaultWAN("fra")
	cfg.Incarnation = 5
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	n.Start(now)
	n.Ready()
	n.Fence(now, "fra", 4)
	n.Fence(now, "ams", 9)
	if n.State() != "gather" || n.HasReady() {
		t.Fatalf("fenced by an older incarnation of itself: state %s", n.State())
	}
	n.Fence(now, "fra", 6)
	rd := n.Ready()
	if n.State() != "superseded" || len(rd.Events) != 1 || rd.Events[0].Kind != EventSuperseded || !strings.Contains(rd.Events[0].Reason, "incarnation 6 of node fra") {
		t.Fatalf("state %s, events %+v", n.State(), rd.Events)
	}
	if _, err := n.Submit(now, Agreed, []byte("x")); err != ErrSuperseded {
		t.Errorf("Submit after being superseded: %v", err)
	}
	if !n.NextDeadline().IsZero() || n.Stats().Superseded != 1 {
		t.Errorf("a superseded node keeps a timer (%v) or miscounts (%d)", n.NextDeadline(), n.Stats().Superseded)
	}
}
