package localring

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// TestNackLastPacketOfVisit: with Config.NackDelay a member that misses
// the last packet of another member's visit (which no later packet of
// that sender shows missing) asks the sender for it by nack NackDelay
// after it learns the packet was sent, and the sender answers it alone
// with the packet; without NackDelay it sends no nack. c misses the last
// of a's message packets of one visit.
func TestNackLastPacketOfVisit(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		nodes, now := formRingWith(t, func(c *Config) { c.NackDelay = delay }, "a", "b", "c")
		a, c := nodes[0], nodes[2]
		var target []byte // the last of a's message packets of one visit
		dropped := false
		pumpReady = func(n *Node, rd Ready) {
			var msgs [][]byte
			for _, p := range rd.Packets {
				if IsMessagePacket(p.Data) {
					msgs = append(msgs, p.Data)
				}
			}
			if n == a && target == nil && len(msgs) >= 2 {
				target = msgs[len(msgs)-1]
			}
		}
		pumpDrop = func(from, to NodeID, pkt []byte) bool {
			if from == "a" && to == "c" && !dropped && target != nil && bytes.Equal(pkt, target) {
				dropped = true
				return true
			}
			return false
		}
		for range 3 {
			if _, err := a.Submit(now, Agreed, make([]byte, a.cfg.MaxPacketBytes-200)); err != nil {
				t.Fatal(err)
			}
		}
		now = pumpUntil(t, nodes, now, 2*time.Second, nil, func() bool {
			return dropped && (len(c.nackRuns) > 0 || c.reg.highSeq > 0 && c.reg.store[c.reg.highSeq] != nil && c.reg.highSeq > c.reg.aru)
		})
		pumpDrop, pumpReady = nil, nil
		if !dropped {
			t.Fatalf("NackDelay %v: setup: a sent no two message packets in one visit, nothing was dropped", delay)
		}
		m, err := parseMcast(target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if delay == 0 {
			if len(c.nackRuns) != 0 {
				t.Fatalf("NackDelay 0: c noted %d observations for nacks", len(c.nackRuns))
			}
			continue
		}
		if len(c.nackRuns) != 1 {
			t.Fatalf("NackDelay %v: c noted %d observations, want 1", delay, len(c.nackRuns))
		}
		if dl := c.NextDeadline(); dl.After(now.Add(delay)) {
			t.Fatalf("NackDelay %v: c's next deadline %v is after the nack's %v", delay, dl, now.Add(delay))
		}
		now = now.Add(delay)
		c.Tick(now)
		var nk *nack
		for _, p := range c.Ready().Packets {
			if PacketKind(p.Data) == "nack" {
				if p.To != "" {
					t.Errorf("c sent its nack to %q, want every member", p.To)
				}
				if nk, err = parseNack(p.Data); err != nil {
					t.Fatal(err)
				}
			}
		}
		if nk == nil || !slices.Equal(nk.seqs, []uint64{m.seq}) || nk.sender != c.me || nk.ring != c.reg.id {
			t.Fatalf("NackDelay %v: c's nack %+v, want one for packet %d of ring %v from %v", delay, nk, m.seq, c.reg.id, c.me)
		}
		if st := c.Stats(); st.Nacks != 1 {
			t.Errorf("c's Stats.Nacks %d, want 1", st.Nacks)
		}
		// b did not send the packet: it stays silent; a answers c alone.
		b := nodes[1]
		_ = b.Ready()
		if err := b.Step(now, nk.append(nil)); err != nil {
			t.Fatal(err)
		}
		if got := b.Ready().Packets; len(got) != 0 {
			t.Errorf("b answered a nack for a's packet: %d packets", len(got))
		}
		_ = a.Ready()
		if err := a.Step(now, nk.append(nil)); err != nil {
			t.Fatal(err)
		}
		got := a.Ready().Packets
		if len(got) != 1 || got[0].To != "c" || !bytes.Equal(got[0].Data, target) {
			t.Fatalf("a answered the nack with %d packets (%v), want the lost packet to c alone", len(got), got)
		}
		if err := c.Step(now, got[0].Data); err != nil {
			t.Fatal(err)
		}
		if c.reg.store[m.seq] == nil {
			t.Fatalf("c does not hold packet %d after a's answer", m.seq)
		}
		// Asked once: the token does not ask for it again at once.
		if _, ok := c.reg.nacked[m.seq]; !ok {
			t.Errorf("c did not note packet %d as nacked", m.seq)
		}
	}
}

// TestNackLongRunNotAsked: more than MaxNackRun packets missing from one
// observation at its deadline are taken for packets still queued on
// their way and not nacked.
func TestNackLongRunNotAsked(t *testing.T) {
	nodes, now := formRingWith(t, func(c *Config) { c.NackDelay = 5 * time.Millisecond }, "a", "b", "c")
	c := nodes[2]
	rs := c.reg
	c.noteSent(rs, rs.highSeq+MaxNackRun+1)
	c.noteSent(rs, rs.highSeq+MaxNackRun+3) // a second, short observation
	if len(c.nackRuns) != 2 {
		t.Fatalf("%d observations, want 2", len(c.nackRuns))
	}
	_ = c.Ready()
	c.Tick(now.Add(5 * time.Millisecond))
	var nk *nack
	for _, p := range c.Ready().Packets {
		if PacketKind(p.Data) == "nack" {
			var err error
			if nk, err = parseNack(p.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []uint64{rs.highSeq + MaxNackRun + 2, rs.highSeq + MaxNackRun + 3}
	if nk == nil || !slices.Equal(nk.seqs, want) {
		t.Fatalf("nack %+v, want one for %v only", nk, want)
	}
	if st := c.Stats(); st.NackRunsSkipped != 1 || st.Nacks != 2 {
		t.Errorf("skipped %d observations and nacked %d packets, want 1 and 2", st.NackRunsSkipped, st.Nacks)
	}
	if len(c.nackRuns) != 0 {
		t.Errorf("%d observations left", len(c.nackRuns))
	}
}

// TestNackWire: a nack survives encoding, and a truncated or corrupted
// one is refused as malformed.
func TestNackWire(t *testing.T) {
	k := nack{ring: RingID{Seq: 12, Rep: "a", RepInc: 3}, sender: Member{ID: "c", Inc: 7}, seqs: []uint64{5, 9, 1 << 40}}
	b := k.append(nil)
	got, err := parseNack(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ring != k.ring || got.sender != k.sender || !slices.Equal(got.seqs, k.seqs) {
		t.Fatalf("round trip: %+v, want %+v", got, k)
	}
	if PacketKind(b) != "nack" || IsMessagePacket(b) || IsToken(b) {
		t.Errorf("kind %q", PacketKind(b))
	}
	for i := range len(b) - 1 {
		if _, err := parseNack(b[:i]); err == nil {
			t.Errorf("a nack cut to %d bytes was accepted", i)
		}
	}
}

// TestNackPresets: the WAN preset nacks; the LAN and cloud presets do not.
func TestNackPresets(t *testing.T) {
	if DefaultWAN("fra").NackDelay <= 0 || DefaultLAN("a").NackDelay != 0 || DefaultCloud("a").NackDelay != 0 {
		t.Errorf("NackDelay: WAN %v, LAN %v, cloud %v; want positive, 0, 0",
			DefaultWAN("fra").NackDelay, DefaultLAN("a").NackDelay, DefaultCloud("a").NackDelay)
	}
}

// TestTokenNack: with Config.NackDelay a member that received packets of
// its predecessor's visit but not the token that follows them tells the
// predecessor NackDelay after the last of them, and the predecessor sends
// the token again at once, well before its retransmission timer
// (TokenRetransmit); without NackDelay the token comes back only when
// that timer fires. b loses the token a passes it after a visit that sent
// messages.
func TestTokenNack(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		nodes, now := formRingWith(t, func(c *Config) { c.NackDelay = delay }, "a", "b", "c")
		a, b := nodes[0], nodes[1]
		sentMsgs, dropped := false, false
		var droppedAt time.Time
		var lastTok uint64
		pumpReady = func(n *Node, rd Ready) {
			if n == a {
				for _, p := range rd.Packets {
					if IsMessagePacket(p.Data) {
						sentMsgs = true
					}
				}
			}
		}
		pumpDrop = func(from, to NodeID, pkt []byte) bool {
			if from == "a" && to == "b" && IsToken(pkt) && sentMsgs && !dropped {
				dropped, droppedAt, lastTok = true, a.now, b.reg.lastTok
				return true
			}
			return false
		}
		for range 2 {
			if _, err := a.Submit(now, Agreed, []byte("hello")); err != nil {
				t.Fatal(err)
			}
		}
		pumpUntil(t, nodes, now, 2*time.Second, nil, func() bool { return dropped && b.reg.lastTok > lastTok })
		pumpDrop, pumpReady = nil, nil
		if !dropped || b.reg.lastTok <= lastTok {
			t.Fatalf("NackDelay %v: setup: token dropped %v, came back %v", delay, dropped, b.reg.lastTok > lastTok)
		}
		sa, sb := a.Stats(), b.Stats()
		rt := a.cfg.TokenRetransmit
		back := b.reg.lastTokAt.Sub(droppedAt)
		t.Logf("NackDelay %v: the token came back to b %v after the loss (retransmit interval %v)", delay, back, rt)
		if delay == 0 {
			if sb.TokenNacks != 0 || sa.TokenNackResends != 0 || back < rt {
				t.Errorf("NackDelay 0: %d token nacks, %d resends, token back after %v", sb.TokenNacks, sa.TokenNackResends, back)
			}
			continue
		}
		if sb.TokenNacks != 1 || sa.TokenNackResends != 1 {
			t.Errorf("NackDelay %v: b sent %d token nacks, a resent on %d; want 1 and 1", delay, sb.TokenNacks, sa.TokenNackResends)
		}
		if back >= rt/2 {
			t.Errorf("NackDelay %v: the token came back to b %v after the loss, want well before the retransmit interval %v", delay, back, rt)
		}
	}
}

// TestEarlyTokenRetransmit: with Config.NackDelay a member times its
// passes of the token, from sending it to the first sign that its
// successor has it, and sends a token whose pass goes unshown for the
// smoothed time and a margin again then, not at TokenRetransmit; a lost
// token after a visit that sent nothing (which no token nack covers)
// costs about one pass, not the retransmit interval. Without NackDelay
// it waits out TokenRetransmit. Token hops take 5 ms; b's token to c is
// lost after the ring has run idle for a second.
func TestEarlyTokenRetransmit(t *testing.T) {
	const hop = 5 * time.Millisecond
	pumpDelay = func(_ NodeID, pkt []byte) time.Duration {
		if IsToken(pkt) {
			return hop
		}
		return 0
	}
	t.Cleanup(func() { pumpDelay = nil })
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		nodes, now := formRingWith(t, func(c *Config) { c.NackDelay, c.TokenHold = delay, time.Microsecond }, "a", "b", "c")
		b, c := nodes[1], nodes[2]
		now = pump(t, nodes, now, time.Second)
		dropped := false
		var droppedAt time.Time
		var lastTok uint64
		pumpDrop = func(from, to NodeID, pkt []byte) bool {
			if from == "b" && to == "c" && IsToken(pkt) && !dropped {
				dropped, droppedAt, lastTok = true, b.now, c.reg.lastTok
				return true
			}
			return false
		}
		srtt, early0 := b.reg.pass.srtt, b.Stats().EarlyTokenRetransmits
		pumpUntil(t, nodes, now, 2*time.Second, nil, func() bool { return dropped && c.reg.lastTok > lastTok })
		pumpDrop = nil
		if !dropped || c.reg.lastTok <= lastTok {
			t.Fatalf("NackDelay %v: setup: token dropped %v, came back %v", delay, dropped, c.reg.lastTok > lastTok)
		}
		st := b.Stats()
		st.EarlyTokenRetransmits -= early0
		rt := b.cfg.TokenRetransmit
		back := c.reg.lastTokAt.Sub(droppedAt)
		t.Logf("NackDelay %v: b's passes take %v; the token came to c %v after the loss (retransmit interval %v; %d early retransmissions, %d before)", delay, srtt, back, rt, st.EarlyTokenRetransmits, early0)
		if delay == 0 {
			if st.EarlyTokenRetransmits != 0 || back < rt {
				t.Errorf("NackDelay 0: %d early retransmissions, token at c after %v, want none and the retransmit interval %v", st.EarlyTokenRetransmits, back, rt)
			}
			continue
		}
		if srtt <= 0 || srtt > 4*hop {
			t.Fatalf("b's passes take %v, want about two token hops (%v each)", srtt, hop)
		}
		if st.EarlyTokenRetransmits != 1 || st.TokenNacks+c.Stats().TokenNacks != 0 {
			t.Errorf("b sent %d early retransmissions and the ring %d token nacks, want 1 and 0", st.EarlyTokenRetransmits, st.TokenNacks+c.Stats().TokenNacks)
		}
		if want := srtt + delay + hop + time.Millisecond; back > want {
			t.Errorf("the token came to c %v after the loss, want at most %v (b's pass time, NackDelay and a hop), well before the retransmit interval %v", back, want, rt)
		}
	}
}
