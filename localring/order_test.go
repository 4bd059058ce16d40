package localring

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestOrderCompare(t *testing.T) {
	// In ascending order; every pair differs in exactly one field somewhere.
	asc := []Order{
		{},
		{Ring: 0, Seq: 1, Index: 0},
		{Ring: 0, Seq: 1, Index: 1022},
		{Ring: 0, Seq: 1<<30 - 1, Index: 1022},
		{Ring: 0, Seq: 1 << 30},
		{Ring: 0, Seq: 1<<64 - 1, Index: 1<<32 - 1},
		{Ring: 4, Seq: 1},
		{Ring: 1<<24 - 4, Seq: 1<<43 + 1},
		{Ring: 1 << 24, Seq: 1},
		{Ring: 1<<64 - 1, Seq: 1<<64 - 1, Index: 1<<32 - 1},
	}
	for i, a := range asc {
		for j, b := range asc {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if a.Less(b) != (want < 0) {
				t.Errorf("%v.Less(%v) = %t", a, b, a.Less(b))
			}
		}
	}
	if !(Order{}).IsZero() || (Order{Index: 1}).IsZero() {
		t.Error("IsZero")
	}
	if s := (Order{Ring: 12, Seq: 4097, Index: 3}).String(); s != "12:4097.3" {
		t.Errorf("String = %q", s)
	}
}

func TestOrderPosition(t *testing.T) {
	cases := []struct {
		o    Order
		want uint64
		ok   bool
	}{
		{Order{}, 0, false},
		{Order{Ring: 8, Seq: 1}, 1024, true},
		{Order{Ring: 8, Seq: 1, Index: 1022}, 2046, true},
		{Order{Ring: 1 << 63, Seq: 1 << 30, Index: 5}, 1<<40 + 5, true},
		{Order{Seq: 1<<43 - 1, Index: 1023}, 1<<53 - 1, true},
		{Order{Seq: 1 << 43}, 0, false},
		{Order{Seq: 5, Index: 1024}, 0, false},
	}
	for _, c := range cases {
		got, ok := c.o.Position()
		if got != c.want || ok != c.ok {
			t.Errorf("%v.Position() = %d, %t; want %d, %t", c.o, got, ok, c.want, c.ok)
		}
		if ok && float64(got) != float64(int64(got)) || ok && uint64(float64(got)) != got {
			t.Errorf("%v: position %d is not exact as a float64", c.o, got)
		}
	}
	d := []DomainOrder{{}, {Seq: 1, Ring: 9}, {Seq: 2, Ring: 4}, {Seq: 2, Ring: 8}, {Seq: 1 << 53, Ring: 1}}
	for i := 1; i < len(d); i++ {
		if !d[i-1].Less(d[i]) || d[i].Less(d[i-1]) || d[i].Compare(d[i]) != 0 {
			t.Errorf("DomainOrder %v, %v out of order", d[i-1], d[i])
		}
	}
	if p, ok := (DomainOrder{Seq: 1<<53 - 1}).Position(); !ok || p != 1<<53-1 {
		t.Errorf("DomainOrder position below 2^53: %d, %t", p, ok)
	}
	if _, ok := (DomainOrder{Seq: 1 << 53}).Position(); ok {
		t.Error("DomainOrder position at 2^53 reported exact")
	}
	if !(DomainOrder{}).IsZero() || (DomainOrder{Seq: 1}).String() != "1@0" {
		t.Error("DomainOrder IsZero or String")
	}
}

// legacyOrder is the packing Order replaced: ringseq<<40 | seq<<10 | index
// with 30 bits for the packet sequence number. The boundary test checks
// that it breaks where Order does not, so the test can tell them apart.
func legacyOrder(o Order) uint64 {
	return o.Ring<<40 | (o.Seq&(1<<30-1))<<10 | uint64(o.Index)
}

// TestOrderNearBoundaries runs rings that start just below every boundary
// of the packet sequence number (2^30, 2^32, 2^40, 2^43, 2^53, 2^63) and of
// the ring sequence number (2^24, 2^32, 2^53, 2^63), with packets full of
// small messages (indexes up to 1022) and two reconfigurations (a crash,
// a join) while messages flow. Every node must deliver every message with
// the same Order, in strictly increasing Order, and the positions the
// trace writes must grow within each ring. The old 64-bit packing must
// fail the same check wherever a boundary is crossed.
func TestOrderNearBoundaries(t *testing.T) {
	cases := []struct {
		ring, seq uint64 // Config.RingSeq and Config.StartSeq
		legacyOK  bool   // the old packing survives this case
	}{
		{0, 0, true},
		{0, 1<<30 - 16, false},
		{0, 1<<32 - 16, false},
		{0, 1<<40 - 16, false},
		{0, 1<<43 - 16, false},
		{0, 1<<53 - 16, false},
		{0, 1<<63 - 16, false},
		{1<<24 - 8, 0, false},
		{1<<32 - 8, 0, false},
		{1<<53 - 8, 0, false},
		{1<<63 - 8, 0, false},
		{1<<63 - 8, 1<<63 - 16, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("ring=%#x,seq=%#x", c.ring, c.seq), func(t *testing.T) {
			deliveries := runAcrossBoundary(t, c.ring, c.seq)
			legacyBroken := false
			for id, ds := range deliveries {
				for i := 1; i < len(ds); i++ {
					a, b := ds[i-1], ds[i]
					if !a.order.Less(b.order) {
						t.Fatalf("%s delivered %v (%s) after %v (%s): order must increase", id, b.order, b.id, a.order, a.id)
					}
					if legacyOrder(a.order) >= legacyOrder(b.order) {
						legacyBroken = true
					}
					pa, oka := a.order.Position()
					pb, okb := b.order.Position()
					if oka != (a.order.Seq < 1<<43) || okb != (b.order.Seq < 1<<43) {
						t.Fatalf("Position of %v or %v: exactness reported wrongly", a.order, b.order)
					}
					if a.order.Ring == b.order.Ring && oka && okb && pa >= pb {
						t.Fatalf("%s: positions %d (%v) then %d (%v) in one ring", id, pa, a.order, pb, b.order)
					}
				}
			}
			if legacyBroken == c.legacyOK {
				t.Errorf("the old packing broke: %t; expected %t", legacyBroken, !c.legacyOK)
			}
		})
	}
}

type orderedDelivery struct {
	id    MessageID
	order Order
}

// runAcrossBoundary forms a ring of a, b, c whose ring and packet
// sequence numbers start at ringSeq and startSeq, sends enough packets to
// cross 16 sequence numbers, crashes c, sends again on the ring of a and
// b, adds d and sends again. It returns every node's deliveries and
// checks that every node delivered a message with the same Order and that
// the packet and ring sequence numbers crossed their starting points.
func runAcrossBoundary(t *testing.T, ringSeq, startSeq uint64) map[NodeID][]orderedDelivery {
	t.Helper()
	newNode := func(id NodeID) *Node {
		cfg := DefaultLAN(id)
		cfg.RingSeq, cfg.StartSeq = ringSeq, startSeq
		cfg.MaxPacketBytes = 65000 // room for 1023 one-byte messages
		cfg.Rand = rand.NewPCG(uint64(len(id)), ringSeq^startSeq)
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.Start(t0)
		return n
	}
	nodes := []*Node{newNode("a"), newNode("b"), newNode("c")}
	got := map[NodeID][]orderedDelivery{}
	orders := map[MessageID]Order{}
	rings := map[uint64]bool{}
	record := func(n *Node, e Event) {
		switch e.Kind {
		case EventDeliver:
			if o, ok := orders[e.Msg.ID]; ok && o != e.Msg.Order {
				t.Fatalf("%s delivered %s at %v, another node at %v", n.me.ID, e.Msg.ID, e.Msg.Order, o)
			}
			orders[e.Msg.ID] = e.Msg.Order
			got[n.me.ID] = append(got[n.me.ID], orderedDelivery{e.Msg.ID, e.Msg.Order})
		case EventInstall:
			rings[e.Conf.Ring.Seq] = true
		}
	}
	now := pumpEvents(t, nodes, t0, 300*time.Millisecond, record)
	send := func(now time.Time) time.Time {
		for _, n := range nodes {
			for i := 0; i < 1100; i++ { // fills a packet: indexes up to 1022
				if _, err := n.Submit(now, Agreed, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 12; i++ { // one packet each
				if _, err := n.Submit(now, Agreed, make([]byte, 40000)); err != nil {
					t.Fatal(err)
				}
			}
		}
		return pumpEvents(t, nodes, now, 2*time.Second, record)
	}
	now = send(now)
	nodes = nodes[:2] // c crashes
	now = pumpEvents(t, nodes, now, 2*time.Second, record)
	now = send(now)
	nodes = append(nodes, newNode("d"))
	now = pumpEvents(t, nodes, now, 2*time.Second, record)
	send(now)
	for _, n := range nodes {
		if c := n.Configuration(); c == nil || len(c.Members) != 3 {
			t.Fatalf("%s: the ring of a, b and d did not form: %v", n.me.ID, c)
		}
	}
	var maxSeq uint64
	var maxIndex uint32
	for _, o := range orders {
		maxSeq, maxIndex = max(maxSeq, o.Seq), max(maxIndex, o.Index)
	}
	if maxSeq <= startSeq+16 || maxIndex != 1022 {
		t.Fatalf("packets reached seq %d (started after %d) and index %d: the test did not cross its boundaries", maxSeq, startSeq, maxIndex)
	}
	if len(rings) < 3 {
		t.Fatalf("%d rings installed, want at least 3", len(rings))
	}
	for r := range rings {
		if r <= ringSeq {
			t.Fatalf("ring %d installed at or below the start %d", r, ringSeq)
		}
	}
	if want := (3 + 2 + 3) * 1112; len(orders) != want {
		t.Fatalf("%d messages delivered, want %d", len(orders), want)
	}
	return got
}
