package localring

import (
	"bytes"
	"testing"
	"time"
)

// TestRequestGapsAtFirstVisit: with Config.RequestGaps a member that
// holds the first and third packet of another member's visit asks for
// the second at its first visit after it (the gap lies between two
// packets of one sender, so that packet is lost, not on its way);
// without it, it asks one visit later (it asks only for packets sent
// before its previous visit). c misses the second of a's message
// packets of one visit that sends at least three; the count is c's token visits from the loss to its request.
func TestRequestGapsAtFirstVisit(t *testing.T) {
	for _, gaps := range []bool{false, true} {
		nodes, now := formRingWith(t, func(c *Config) { c.RequestGaps = gaps }, "a", "b", "c")
		a, c := nodes[0], nodes[2]
		var target []byte // the second of a's message packets of one visit
		dropped, visits := false, 0
		pumpReady = func(n *Node, rd Ready) {
			var msgs [][]byte
			for _, p := range rd.Packets {
				if IsMessagePacket(p.Data) {
					msgs = append(msgs, p.Data)
				}
				if n == c && dropped && IsToken(p.Data) {
					visits++
				}
			}
			if n == a && target == nil && len(msgs) >= 3 {
				target = msgs[1]
			}
		}
		pumpDrop = func(from, to NodeID, pkt []byte) bool {
			if from == "a" && to == "c" && !dropped && target != nil && bytes.Equal(pkt, target) {
				dropped = true
				return true
			}
			return false
		}
		size := c.cfg.MaxPacketBytes - 100
		for range 6 {
			if _, err := a.Submit(now, Agreed, make([]byte, size)); err != nil {
				t.Fatal(err)
			}
		}
		pumpUntil(t, nodes, now, 2*time.Second, nil, func() bool { return c.Stats().RetransmitRequests > 0 })
		pumpDrop, pumpReady = nil, nil
		st := c.Stats()
		if !dropped {
			t.Fatalf("RequestGaps %v: setup: a sent no three message packets in one visit, nothing was dropped", gaps)
		}
		want, wantGaps := 2, uint64(0)
		if gaps {
			want, wantGaps = 1, 1
		}
		if visits != want || st.GapRequests != wantGaps {
			t.Errorf("RequestGaps %v: c asked for the lost packet at its visit %d after the loss (%d gap requests), want visit %d (%d)", gaps, visits, st.GapRequests, want, wantGaps)
		}
	}
}

// TestRequestGapsPresets: the WAN preset asks for gaps at once; the LAN
// and cloud presets keep the rule they were measured with.
func TestRequestGapsPresets(t *testing.T) {
	if !DefaultWAN("fra").RequestGaps || DefaultLAN("a").RequestGaps || DefaultCloud("a").RequestGaps {
		t.Errorf("RequestGaps: WAN %v, LAN %v, cloud %v; want true, false, false",
			DefaultWAN("fra").RequestGaps, DefaultLAN("a").RequestGaps, DefaultCloud("a").RequestGaps)
	}
}
