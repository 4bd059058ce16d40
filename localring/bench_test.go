package localring_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// BenchmarkOrdering measures the state machine alone: n nodes in one
// goroutine, a lossless in-memory network, every node sending 1 KiB
// Agreed messages as fast as flow control lets it. One op is one message
// ordered and delivered at every node, so ns/op is the CPU the whole ring
// spends per message on one core, msgs/s is messages ordered per second per
// core, and allocs/op counts the allocations of all n nodes per message;
// ns/msg/node is ns/op divided by n (the CPU one node spends per message),
// mcasts/msg and tokens/msg count the packets the ring sent per message
// (multicast data packets; unicast tokens); allocs/msg is allocs/op not
// rounded down to an integer. The ring sizes 3 to 9 are the
// curve of docs/BENCHMARKS.md ("Scale").
//
//	go test ./localring -run '^$' -bench Ordering -benchmem
func BenchmarkOrdering(b *testing.B) {
	for _, n := range []int{3, 5, 7, 9} {
		b.Run(fmt.Sprintf("nodes=%d/size=1KiB/agreed", n), func(b *testing.B) {
			benchRing(b, n, 1024, localring.Agreed)
		})
	}
	b.Run("nodes=3/size=1KiB/safe", func(b *testing.B) { benchRing(b, 3, 1024, localring.Safe) })
	// A federation ring's preset, packets of up to WANPacketBytes: full
	// ones, and ones of 8 messages of 256 bytes (each node keeps 8
	// messages queued), about what a site's gateway sends at a visit.
	b.Run("nodes=3/size=1KiB/agreed/wan", func(b *testing.B) {
		benchRingPreset(b, 3, 1024, localring.Agreed, localring.DefaultWAN, 64)
	})
	b.Run("nodes=3/size=256B/agreed/wan/pending=8", func(b *testing.B) {
		benchRingPreset(b, 3, 256, localring.Agreed, localring.DefaultWAN, 8)
	})
}

type benchPacket struct {
	from int
	p    localring.Packet
}

func benchRing(b *testing.B, n, size int, svc localring.Service) {
	benchRingPreset(b, n, size, svc, localring.DefaultLAN, 64)
}

// benchRingPreset is benchRing with the nodes' configurations from
// preset, each node keeping pending messages queued.
func benchRingPreset(b *testing.B, n, size int, svc localring.Service, preset func(localring.NodeID) localring.Config, pending int) {
	now := time.Unix(0, 0)
	nodes := make([]*localring.Node, n)
	index := map[localring.NodeID]int{}
	for i := range nodes {
		cfg := preset(localring.NodeID(fmt.Sprintf("n%d", i+1)))
		cfg.Rand = rand.NewPCG(1, uint64(i))
		nd, err := localring.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = nd
		index[cfg.ID] = i
	}
	var queue []benchPacket
	delivered, mcasts, tokens := 0, 0, 0
	collect := func(i int) {
		rd := nodes[i].Ready()
		for _, p := range rd.Packets {
			queue = append(queue, benchPacket{i, p})
			if p.To == "" {
				mcasts++
			} else {
				tokens++
			}
		}
		if i == 0 {
			for _, e := range rd.Events {
				if e.Kind == localring.EventDeliver {
					delivered++
				}
			}
		}
	}
	step := func() {
		now = now.Add(time.Microsecond)
		if len(queue) == 0 {
			// Nothing in flight: let timers fire.
			next := time.Time{}
			for _, nd := range nodes {
				if d := nd.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
					next = d
				}
			}
			if next.After(now) {
				now = next
			}
			for i, nd := range nodes {
				nd.Tick(now)
				collect(i)
			}
			return
		}
		bp := queue[0]
		queue = queue[1:]
		for i, nd := range nodes {
			if i == bp.from || (bp.p.To != "" && index[bp.p.To] != i) {
				continue
			}
			_ = nd.Step(now, bp.p.Data)
			collect(i)
		}
	}
	for i, nd := range nodes {
		nd.Start(now)
		collect(i)
	}
	for nodes[0].Configuration() == nil || len(nodes[0].Configuration().Members) != n {
		step()
	}
	payload := make([]byte, size)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	b.ResetTimer()
	delivered, mcasts, tokens = 0, 0, 0
	for delivered < b.N {
		for i, nd := range nodes {
			for nd.Pending() < pending {
				if _, err := nd.Submit(now, svc, payload); err != nil {
					b.Fatal(err)
				}
			}
			collect(i)
		}
		step()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(b.N), "allocs/msg") // allocs/op, not rounded down
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg/node")
	b.ReportMetric(float64(mcasts)/float64(delivered), "mcasts/msg")
	b.ReportMetric(float64(tokens)/float64(delivered), "tokens/msg")
}

// TestOrderingAllocs bounds the allocations of the ring of
// BenchmarkOrdering (3 nodes, 1 KiB Agreed messages, 0.875 packets per
// message, most messages split over two packets) per message, all nodes
// together: a packet's mcast at every node, and the chunks of the nodes'
// slabs, which hold the packets' bytes and the messages joined from
// fragments (the sender delivers its own payload, ownMessage). It was 17
// when a reassembly copied its first fragment and then grew, 11 before
// the sender stopped joining its own messages, 10 before a receiver named
// the ring's representative and the packet's sender by the strings of its
// members instead of new ones (TestParseKnownIDs), 7 before the slab
// (a receiver's copy of each packet, the sender's packet and each join an
// allocation of their own).
func TestOrderingAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("runs a benchmark; allocation counts under the race detector mean nothing")
	}
	r := testing.Benchmark(func(b *testing.B) { benchRing(b, 3, 1024, localring.Agreed) })
	if got := r.AllocsPerOp(); got > maxOrderingAllocs {
		t.Errorf("%d allocations per message in a ring of 3, want at most %d (%v)", got, maxOrderingAllocs, r)
	}
}

const maxOrderingAllocs = 3
