package transport_test

import (
	"context"
	"encoding/binary"
	"maps"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// TestStripesPerPeer: a peer's Stripes (the topology's links[].stripes)
// replaces Config.Stripes for that peer only: a dials three connections to
// b and, with Config.Stripes 1, one to c.
func TestStripesPerPeer(t *testing.T) {
	w := newWorld(t, "a", "b", "c")
	pcs, addrs := w.sockets()
	var trs []*transport.Transport
	for _, site := range []string{"a", "b", "c"} {
		cfg := w.config(site, pcs[site], addrs, transport.ModeStreams, nil)
		cfg.Stripes = 1
		for i, p := range cfg.Peers {
			if site+p.Site == "ab" || site+p.Site == "ba" {
				cfg.Peers[i].Stripes = 3
			}
		}
		trs = append(trs, start(t, cfg))
	}
	a := trs[0]
	waitFor(t, "a has two stripes to b and none to c", func() bool {
		return len(a.ConnStats("b")) == 3 && len(a.ConnStats("c")) == 1
	})
	time.Sleep(200 * time.Millisecond)
	if st := a.Stats(); st.StripeConnects != 2 || len(a.ConnStats("c")) != 1 {
		t.Fatalf("a opened %d stripes, %d connections to c; want 2 stripes (to b only) and 1", st.StripeConnects, len(a.ConnStats("c")))
	}
}

// TestStripes: with Stripes 4 the side that dials opens three stripes
// besides the connection, the other attaches them; message packets cross
// them all and arrive once each with the sender's site; a stripe closed on
// either side is dialed again; and the stripes end with their connection.
func TestStripes(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	acfg := w.config("a", pcs["a"], addrs, transport.ModeStreams, nil)
	bcfg := w.config("b", pcs["b"], addrs, transport.ModeStreams, nil)
	for _, c := range []*transport.Config{&acfg, &bcfg} {
		c.Stripes, c.QueuePackets = 4, 4096
	}
	a := start(t, acfg)
	b := start(t, bcfg)
	up := func(tr *transport.Transport, site string) func() bool {
		return func() bool { return len(tr.ConnStats(site)) == 4 }
	}
	waitFor(t, "a has its three stripes", up(a, "b"))
	waitFor(t, "b attached three stripes", up(b, "a"))
	if st := a.Stats(); st.Connects != 1 || st.StripeConnects != 3 {
		t.Fatalf("a: %d connections and %d stripes, want 1 and 3", st.Connects, st.StripeConnects)
	}

	carries := func(from, to *transport.Transport, n int) {
		t.Helper()
		h := transport.PacketHeader(t, localring.IsMessagePacket)
		got := make(map[uint32]int)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			ps := make([]driver.Packet, 64)
			for i := range ps {
				ps[i].Buf = make([]byte, to.MaxPacket())
			}
			for len(got) < n && ctx.Err() == nil {
				k, err := to.Recv(ps)
				if err != nil {
					done <- err
					return
				}
				for _, p := range ps[:k] {
					if string(p.From) != from.Self().Site {
						done <- nil
						t.Errorf("a packet from %s arrived from %q", from.Self().Site, p.From)
						return
					}
					got[binary.BigEndian.Uint32(p.Data()[2:])]++
				}
			}
			done <- ctx.Err()
		}()
		for i := range n {
			pkt := make([]byte, 1000)
			copy(pkt, h[:])
			binary.BigEndian.PutUint32(pkt[2:], uint32(i))
			if err := from.Send(localring.NodeID(to.Self().Site), pkt); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("%d of %d message packets arrived: %v", len(got), n, err)
		}
		for k, c := range got {
			if c != 1 {
				t.Fatalf("packet %d arrived %d times", k, c)
			}
		}
	}
	carries(a, b, 2000)
	carries(b, a, 2000)
	if st := b.Stats(); st.SendDrops != 0 {
		t.Fatalf("b dropped %d packets", st.SendDrops)
	}

	// A stripe fails on the dialing side, then on the other: a dials it again.
	for i, tr := range []*transport.Transport{a, b} {
		site := map[*transport.Transport]string{a: "b", b: "a"}[tr]
		if !tr.CloseStripe(site, 0) {
			t.Fatal("no stripe to close")
		}
		waitFor(t, "a dials the lost stripe again", func() bool {
			return a.Stats().StripeConnects >= uint64(4+i) && len(a.ConnStats("b")) == 4 && len(b.ConnStats("a")) == 4
		})
		carries(a, b, 500)
	}
	if st := a.Stats(); st.Connects != 1 || st.Disconnects != 0 {
		t.Fatalf("a lost its connection: %+v", st)
	}

	// The connection ends: so do its stripes.
	b.Close()
	waitFor(t, "a's stripes end with the connection", func() bool {
		st := a.Stats()
		return st.StripeDisconnects == st.StripeConnects
	})
}

// TestDefaultStripesOnLongPaths: with Stripes left at its default, the side
// that dials opens stripes only to a peer whose path has a minimum RTT of
// 100 ms or more (a and b, 120 ms through the WAN emulator), not to one
// close by (a and c, loopback): on a short path one connection carries
// several times more at the same loss, and stripes were measured to cost
// a congested short path's ring its token.
func TestDefaultStripesOnLongPaths(t *testing.T) {
	w := newWorld(t, "a", "b", "c")
	pcs, addrs := w.sockets()
	mesh, err := wanem.NewMesh(wanem.MeshConfig{Sites: map[string]string{"a": addrs["a"], "b": addrs["b"]}, Link: wanem.Params{Delay: 60 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer mesh.Close()
	var trs []*transport.Transport
	for _, site := range []string{"a", "b", "c"} {
		via := maps.Clone(addrs)
		switch site {
		case "a":
			via["b"] = mesh.Addr("a", "b")
		case "b":
			via["a"] = mesh.Addr("b", "a")
		}
		cfg := w.config(site, pcs[site], via, transport.ModeStreams, nil)
		if cfg.Stripes != 0 {
			t.Fatalf("set-up: Stripes %d, want the default", cfg.Stripes)
		}
		trs = append(trs, start(t, cfg))
	}
	a := trs[0]
	waitFor(t, "a has its stripes to b", func() bool { return len(a.ConnStats("b")) == transport.DefaultStripes })
	waitFor(t, "a is connected to c", func() bool { return len(a.ConnStats("c")) >= 1 })
	time.Sleep(500 * time.Millisecond)
	if n := len(a.ConnStats("c")); n != 1 {
		t.Fatalf("a has %d connections to c, 1 ms away; want 1", n)
	}
	if st := a.Stats(); st.StripeConnects != transport.DefaultStripes-1 {
		t.Fatalf("a opened %d stripes; want %d, all to b", st.StripeConnects, transport.DefaultStripes-1)
	}
}

// TestIdleStripesSleep: the stripes of a clean path yield (no loss, so
// none may send) and sleep until the gate changes: they used to look
// again every 20 ms, 50 wake-ups a second each on an idle pair of
// gateways.
func TestIdleStripesSleep(t *testing.T) {
	w := newWorld(t, "a", "b")
	pcs, addrs := w.sockets()
	var trs []*transport.Transport
	for _, site := range []string{"a", "b"} {
		cfg := w.config(site, pcs[site], addrs, transport.ModeStreams, nil)
		cfg.Stripes = 4
		trs = append(trs, start(t, cfg))
	}
	a, b := trs[0], trs[1]
	waitFor(t, "a and b have their stripes", func() bool {
		return len(a.ConnStats("b")) == 4 && len(b.ConnStats("a")) == 4
	})
	before := a.StripeWakes() + b.StripeWakes()
	time.Sleep(time.Second)
	// 6 stripe writers polling every 20 ms woke about 300 times.
	if n := a.StripeWakes() + b.StripeWakes() - before; n > 12 {
		t.Fatalf("the idle stripes' writers woke %d times in a second; want them asleep", n)
	}
}
