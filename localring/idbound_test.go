package localring

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRecoveryWrapFits fills packets to the brim on a ring whose member
// ids are as long as its bound (Config.MaxIDBytes), makes recovery carry
// them to the next ring, and checks that every wrapped packet still fits
// MaxPacketBytes while the regular packets used all the room the bound
// leaves (the reserve is neither too small nor wasted).
func TestRecoveryWrapFits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bound    int
		packet   int
		shared   bool   // SharedIDs: the ring id carries the representative's incarnation
		inc      uint64 // every node's incarnation
		wantRsv  int    // RecoveryReserve
		idPrefix string
	}{
		{name: "bound4", bound: 4, packet: 1400, inc: 1, wantRsv: 44},
		{name: "bound8-512", bound: 8, packet: 512, inc: 1, wantRsv: 52},
		{name: "default64", bound: 0, packet: 1400, inc: 1, wantRsv: 164},
		{name: "shared16-bigInc", bound: 16, packet: 1400, shared: true, inc: 1 << 62, wantRsv: 77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bound := tc.bound
			if bound == 0 {
				bound = MaxIDBytes
			}
			id := func(c byte) NodeID { return NodeID(strings.Repeat(string(c), bound)) }
			a, b, c := id('a'), id('b'), id('c')
			tweak := func(cfg *Config) {
				cfg.MaxIDBytes = tc.bound
				cfg.MaxPacketBytes = tc.packet
				cfg.SharedIDs = tc.shared
				cfg.Incarnation = tc.inc
			}
			var maxRegular, maxWrapped, wrapped, over int
			pumpReady = func(n *Node, rd Ready) {
				for _, p := range rd.Packets {
					if !IsMessagePacket(p.Data) {
						continue
					}
					m, err := parseMcast(p.Data, nil)
					if err != nil {
						t.Fatalf("%s sent a malformed mcast: %v", n.me.ID, err)
					}
					if len(p.Data) > tc.packet {
						over++
					}
					if m.flags&mcastRecovery != 0 {
						wrapped++
						maxWrapped = max(maxWrapped, len(p.Data))
					} else {
						maxRegular = max(maxRegular, len(p.Data))
					}
				}
			}
			// c hears none of a's messages: when a is gone, b carries
			// them all to c in recovery, wrapped in packets of ring {b, c}
			// whose representative and sender (b) have ids of the bound.
			pumpDrop = func(from, to NodeID, pkt []byte) bool {
				return from == a && to == c && IsMessagePacket(pkt)
			}
			defer func() { pumpReady, pumpDrop = nil, nil }()
			nodes, now := formRingWith(t, tweak, a, b, c)
			na, nb, nc := nodes[0], nodes[1], nodes[2]
			if got := RecoveryReserve(&na.cfg); got != tc.wantRsv {
				t.Fatalf("RecoveryReserve = %d, want %d", got, tc.wantRsv)
			}
			payload := make([]byte, 20*tc.packet)
			for i := range payload {
				payload[i] = byte(i)
			}
			for range 2 {
				if _, err := na.Submit(now, Agreed, payload); err != nil {
					t.Fatal(err)
				}
			}
			now = pumpUntil(t, nodes, now, time.Second, nil, func() bool {
				return na.Pending() == 0 && nb.reg.highSeq == na.reg.highSeq && nb.reg.aru == nb.reg.highSeq
			})
			if na.Pending() != 0 || nb.reg.aru != na.reg.highSeq {
				t.Fatalf("b did not receive a's packets: a pending %d, seq %d, b aru %d", na.Pending(), na.reg.highSeq, nb.reg.aru)
			}
			if nc.reg.aru >= na.reg.highSeq {
				t.Fatalf("c received a's packets (aru %d): nothing to recover", nc.reg.aru)
			}
			var delivered int
			pumpEvents(t, []*Node{nb, nc}, now, 3*time.Second, func(n *Node, e Event) {
				if n == nc && e.Kind == EventDeliver && len(e.Msg.Payload) == len(payload) {
					delivered++
				}
			})
			if conf := nc.Configuration(); conf == nil || len(conf.Members) != 2 {
				t.Fatalf("b and c did not form a ring: %v", conf)
			}
			t.Logf("reserve %d: largest regular packet %d, %d wrapped packets, largest %d (max %d)", RecoveryReserve(&na.cfg), maxRegular, wrapped, maxWrapped, tc.packet)
			if delivered != 2 {
				t.Fatalf("c delivered %d of a's 2 messages", delivered)
			}
			if wrapped == 0 {
				t.Fatal("no recovery packets")
			}
			if over > 0 || maxWrapped > tc.packet {
				t.Fatalf("%d packets above MaxPacketBytes %d (largest wrapped %d)", over, tc.packet, maxWrapped)
			}
			// The regular packets fill what the bound leaves: a wrapped
			// one comes within the slack of an entry's header (entryOverhead
			// counts 22 bytes, an entry here takes 5) of MaxPacketBytes.
			if maxWrapped < tc.packet-entryOverhead {
				t.Fatalf("largest wrapped packet %d: the reserve wastes %d bytes of %d", maxWrapped, tc.packet-maxWrapped, tc.packet)
			}
		})
	}
}

// TestLongIDRefused: a node refuses every membership packet that would
// admit a member whose id is longer than its bound, counts it and names the
// node and the setting in the error.
func TestLongIDRefused(t *testing.T) {
	n := testNode(t, "a", func(c *Config) { c.MaxIDBytes = 4 })
	n.Start(t0)
	n.Ready()
	long := Member{ID: "node-10", Inc: 1}
	short := Member{ID: "b", Inc: 1}
	ring := RingID{Seq: 4, Rep: "a"}
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"join from the long id", (&join{sender: long, proc: []Member{n.me, long}}).append(nil)},
		{"join naming the long id", (&join{sender: short, proc: []Member{n.me, short, long}}).append(nil)},
		{"merge-detect", (&merge{ring: RingID{Seq: 8, Rep: long.ID}, sender: long}).append(nil)},
		{"commit token", (&commit{ring: ring, to: "a", rotation: 1, tokSeq: 1, entries: []commitEntry{{member: n.me}, {member: long}}}).append(nil)},
	} {
		before := n.Stats().LongIDs
		err := n.Step(t0, tc.pkt)
		if !errors.Is(err, ErrIDTooLong) {
			t.Fatalf("%s: Step = %v, want ErrIDTooLong", tc.name, err)
		}
		for _, want := range []string{`"node-10"`, "bound of 4", "MaxIDBytes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %s", tc.name, err, want)
			}
		}
		if got := n.Stats().LongIDs; got != before+1 {
			t.Errorf("%s: LongIDs %d, want %d", tc.name, got, before+1)
		}
		if _, ok := n.proc[long.ID]; ok {
			t.Fatalf("%s: the long id entered the proc set", tc.name)
		}
	}
	// A join whose fail set names a long id admits no one: accepted.
	if err := n.Step(t0, (&join{sender: short, proc: []Member{n.me, short}, fail: []Member{long}}).append(nil)); err != nil {
		t.Fatalf("join with a long id in its fail set: %v", err)
	}
	if _, ok := n.proc[short.ID]; !ok {
		t.Fatal("the short id's join was not taken")
	}
	if got := n.Stats().LongIDs; got != 4 {
		t.Fatalf("LongIDs = %d, want 4", got)
	}
}

func TestMaxIDBytesValidate(t *testing.T) {
	for _, tc := range []struct {
		id    NodeID
		bound int
		want  string // "" for valid
	}{
		{"n1", 0, ""},
		{"n1", 2, ""},
		{"n10", 2, `node id "n10" must be 1 to 2 bytes long`},
		{"n1", 65, "node id bound 65"},
		{"n1", -1, "node id bound -1"},
		{NodeID(strings.Repeat("x", 64)), 0, ""},
		{NodeID(strings.Repeat("x", 65)), 0, "must be 1 to 64 bytes"},
	} {
		c := DefaultLAN(tc.id)
		c.MaxIDBytes = tc.bound
		c.setDefaults()
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q bound %d: %v", tc.id, tc.bound, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q bound %d: error %v, want %q", tc.id, tc.bound, err, tc.want)
		}
	}
	if c := DefaultLAN("n1"); c.idBytes() != MaxIDBytes {
		t.Errorf("DefaultLAN's bound %d, want %d", c.idBytes(), MaxIDBytes)
	}
}
