package localring

import (
	"testing"
	"time"
)

// TestByteWindow: with Config.ByteWindow a busy ring sends the window's
// bytes (WindowPackets × MaxPacketBytes) per rotation whatever the size of
// its packets; counted in packets, packets smaller than MaxPacketBytes
// leave part of those bytes unsent. The messages are sized so that each
// packet holds one and nothing of the next (the room left is below the
// 64 bytes a fragment needs), about 85 % of MaxPacketBytes, as a 1000-byte
// message fills a 1,245-byte sealed datagram's packet (federation
// transport's ModeUDP). Three members keep their queues full; the test
// counts the packets of the last ten rotations at a and their bytes.
func TestByteWindow(t *testing.T) {
	const window = 60
	for _, byBytes := range []bool{false, true} {
		var lens []int // the length of every message packet sent
		pumpReady = func(_ *Node, rd Ready) {
			for _, p := range rd.Packets {
				if IsMessagePacket(p.Data) {
					lens = append(lens, len(p.Data))
				}
			}
		}
		t.Cleanup(func() { pumpReady = nil })
		nodes, now := formRingWith(t, func(cfg *Config) {
			cfg.WindowPackets, cfg.MaxPacketsPerVisit = window, window
			cfg.ByteWindow = byBytes
		}, "a", "b", "c")
		a := nodes[0]
		maxPkt := a.cfg.MaxPacketBytes
		budget := maxPkt - RecoveryReserve(&a.cfg)

		// One small message shows the packet's overhead; the test's
		// messages leave 40 bytes of the packet's budget (less than a
		// fragment's 64) after one of them.
		lens = lens[:0]
		if _, err := a.Submit(now, Agreed, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		now = pump(t, nodes, now, 100*time.Millisecond)
		if len(lens) != 1 {
			t.Fatalf("one small message went out in %d packets", len(lens))
		}
		overhead := lens[0] - 100
		size := budget - overhead - entryOverhead - 40

		for _, n := range nodes {
			for n.Pending() < n.cfg.MaxPendingMessages {
				if _, err := n.Submit(now, Agreed, make([]byte, size)); err != nil {
					t.Fatal(err)
				}
			}
		}
		lens = lens[:0]
		var at []int // len(lens) at each rotation of a
		last := a.Stats().Rotation.Count
		pumpUntil(t, nodes, now, 2*time.Second, nil, func() bool {
			if c := a.Stats().Rotation.Count; c != last {
				last = c
				at = append(at, len(lens))
			}
			return len(at) > 30
		})
		if a.Pending() == 0 || len(at) < 21 {
			t.Fatalf("ByteWindow %v: %d rotations, %d messages pending at a: the ring was not busy for 20 rotations", byBytes, len(at), a.Pending())
		}
		recent := lens[at[len(at)-11]:at[len(at)-1]]
		bytes, largest := 0, 0
		for _, l := range recent {
			bytes += l
			largest = max(largest, l)
		}
		perRot, bytesPerRot := float64(len(recent))/10, float64(bytes)/10
		t.Logf("ByteWindow %v: %.1f packets of up to %d bytes (MaxPacketBytes %d) per rotation, %.0f bytes; window %d packets, %d bytes",
			byBytes, perRot, largest, maxPkt, bytesPerRot, window, window*maxPkt)
		if largest > maxPkt*9/10 {
			t.Fatalf("packets of %d bytes: the test needs them well below MaxPacketBytes %d", largest, maxPkt)
		}
		if !byBytes {
			if perRot > window {
				t.Errorf("counting packets, the ring sent %.1f packets per rotation, above the window of %d", perRot, window)
			}
			continue
		}
		// A member's visit may exceed its budget by less than a packet.
		if hi := float64((window + len(nodes)) * maxPkt); bytesPerRot > hi {
			t.Errorf("counting bytes, the ring sent %.0f bytes per rotation, above the window's %d and a packet per member", bytesPerRot, window*maxPkt)
		}
		if lo := float64((window - len(nodes)) * maxPkt); bytesPerRot < lo {
			t.Errorf("counting bytes, the ring sent %.0f bytes (%.1f packets) per rotation, short of the window's %d bytes (%d packets of MaxPacketBytes)", bytesPerRot, perRot, window*maxPkt, window)
		}
	}
}

// TestByteWindowLimits: a window that counts bytes keeps the token's
// 32-bit count well inside its range.
func TestByteWindowLimits(t *testing.T) {
	c := DefaultWAN("fra")
	c.ByteWindow = true
	c.WindowPackets = maxByteWindow/c.MaxPacketBytes + 1
	c.MaxPacketsPerVisit = c.WindowPackets
	if err := c.Validate(); err == nil {
		t.Errorf("a byte window of %d packets of %d bytes validated", c.WindowPackets, c.MaxPacketBytes)
	}
	c.ByteWindow = false
	if err := c.Validate(); err != nil {
		t.Errorf("the same window counted in packets: %v", err)
	}
}
