package sim

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// BenchmarkRingSize measures how latency grows with the ring: rings of 3
// to 9 nodes on the simulator's LAN (one-way delay 100 µs, jitter 50 µs, no
// loss, the LAN preset), 1 KiB Agreed messages sent round-robin by every
// node, at 1,000 msgs/s in total (rate=1000) and with every node keeping
// 64 messages queued in its ring (rate=full). One op is one message
// delivered at every node. The latencies are virtual time from Submit to
// the delivery, over every delivery at every node (p50-µs, p99-µs); so are
// rotation-µs (the token's round trip, from the tokens node 1 sent),
// pkts-in/msg (packets received across the ring per message) and
// vmsgs/s (messages per virtual second, which at full load only the
// protocol's windows and the delays bound: the simulated network has no
// bandwidth limit and the nodes no CPU cost). ns/op is the real CPU of the
// whole simulation per message, the simulator's own work included (the
// state machine alone: BenchmarkOrdering in package localring).
//
//	go test ./localring/sim -run '^$' -bench RingSize
func BenchmarkRingSize(b *testing.B) {
	for _, n := range []int{3, 5, 7, 9} {
		for _, rate := range []int{1000, 0} {
			name := fmt.Sprintf("nodes=%d/rate=%d", n, rate)
			if rate == 0 {
				name = fmt.Sprintf("nodes=%d/rate=full", n)
			}
			b.Run(name, func(b *testing.B) { benchRingSize(b, n, rate) })
		}
	}
}

func benchRingSize(b *testing.B, n, rate int) {
	const size = 1024
	c := NewCluster(1, n)
	c.StartAll()
	if !c.RunUntil(c.now.Add(10*time.Second), c.Converged) {
		b.Fatalf("%d nodes did not form one ring in 10 s of virtual time", n)
	}
	var (
		sentAt = map[uint64]time.Time{}
		count  = map[uint64]int{}
		lat    []time.Duration
		done   int
		tag    uint64
	)
	c.OnEvent = func(_ localring.NodeID, _ uint64, e localring.Event) {
		if e.Kind != localring.EventDeliver || len(e.Msg.Payload) < 8 {
			return
		}
		k := binary.BigEndian.Uint64(e.Msg.Payload)
		at, ok := sentAt[k]
		if !ok {
			return
		}
		lat = append(lat, c.now.Sub(at))
		if count[k]++; count[k] == n {
			delete(sentAt, k)
			delete(count, k)
			done++
		}
	}
	submit := func(i int) {
		tag++
		p := make([]byte, size)
		binary.BigEndian.PutUint64(p, tag)
		sentAt[tag] = c.now
		if err := c.SubmitPayload(i, localring.Agreed, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(size)
	b.ResetTimer()
	start, tokens0, in0 := c.now, c.Unicasts(0), c.packetsIn()
	next := 0
	for done < b.N {
		if rate > 0 {
			submit(next % n)
			next++
			c.RunFor(time.Second / time.Duration(rate))
		} else {
			for i := 0; i < n; i++ {
				for c.Node(i).Pending() < 64 {
					submit(i)
				}
			}
			c.RunUntil(c.now.Add(time.Second), func() bool {
				for i := 0; i < n; i++ {
					if c.Node(i).Pending() < 32 {
						return true
					}
				}
				return false
			})
		}
		c.trace = c.trace[:0] // the run is checked elsewhere; keep memory flat
	}
	b.StopTimer()
	if !c.Converged() {
		b.Fatalf("the ring of %d nodes re-formed during the run", n)
	}
	elapsed := c.now.Sub(start)
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	if t := c.Unicasts(0) - tokens0; t > 0 {
		b.ReportMetric(float64(elapsed.Microseconds())/float64(t), "rotation-µs")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "vmsgs/s")
	b.ReportMetric(float64(c.packetsIn()-in0)/float64(b.N), "pkts-in/msg")
}

// packetsIn is the packets every node of c has received: on a real host
// each is about one wake-up of a node's process at low rates.
func (c *Cluster) packetsIn() (in uint64) {
	for i := range c.nodes {
		in += c.Node(i).Stats().PacketsIn
	}
	return in
}
