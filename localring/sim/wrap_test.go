package sim

import (
	"flag"
	"fmt"
	"testing"
)

var wrapSeedsFlag = flag.Int("wrap-seeds", 4, "seeds per boundary for TestSimNearWrap")

// TestSimNearWrap runs random simulations with group traffic whose rings
// start just below every boundary of the ring sequence number (2^24, 2^32,
// 2^53, 2^63) and of the packet sequence number (2^30, 2^32, 2^40, 2^43,
// 2^53, 2^63) (EVS.md: "sequence numbers near wrap-around"), under the
// fault mix of each seed, and checks the group-level traces with the EVS
// checker: order fields, view ids and view agreement across the
// boundaries. Each run must cross both of its boundaries. A long run:
//
//	go test ./localring/sim -run 'TestSimNearWrap$' -wrap-seeds 200 -timeout 0
func TestSimNearWrap(t *testing.T) {
	t.Parallel()
	n := *wrapSeedsFlag
	if testing.Short() {
		n = min(n, 2)
	}
	var seeds []uint64
	for s := 1; s <= n; s++ {
		seeds = append(seeds, uint64(s))
	}
	for _, c := range []struct{ ring, seq uint64 }{
		{1<<24 - 8, 1<<30 - 64},
		{1<<32 - 8, 1<<32 - 64},
		{1<<53 - 8, 1<<40 - 64},
		{1<<63 - 8, 1<<43 - 64},
		{1<<24 - 8, 1<<53 - 64},
		{1<<32 - 8, 1<<63 - 64},
	} {
		crossedSeq, crossedRing := 0, 0
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("ring=%#x,seq=%#x,seed=%d", c.ring, c.seq, seed), func(t *testing.T) {
				r := RunGroups(seed, RunOptions{RingSeq: c.ring, StartSeq: c.seq})
				reportGroups(t, r)
				if r.Failed() {
					t.Logf("replay: go test ./localring/sim -run 'TestSimNearWrap$/ring=%#x,seq=%#x,seed=%d$' -wrap-seeds %d -v", c.ring, c.seq, seed, seed)
				}
				if r.Views == 0 || r.Delivered == 0 {
					t.Errorf("%d views and %d deliveries: no group traffic", r.Views, r.Delivered)
				}
				// The boundaries: a ring sequence number of 2^k and a packet
				// sequence number of 2^k are the first past them.
				seq, ring := r.Cluster.Highest()
				if seq >= c.seq+64 {
					crossedSeq++
				}
				if ring >= c.ring+8 {
					crossedRing++
				}
			})
		}
		// A seed whose faults leave one ring installed, or that reconfigures
		// too often to fill one, crosses only one boundary; most cross both.
		t.Logf("ring=%#x, seq=%#x: %d of %d runs crossed the packet boundary, %d the ring boundary", c.ring, c.seq, crossedSeq, len(seeds), crossedRing)
		if crossedSeq == 0 || crossedRing == 0 {
			t.Errorf("ring=%#x, seq=%#x: of %d runs, %d crossed the packet sequence boundary and %d the ring sequence boundary; every boundary must be crossed", c.ring, c.seq, len(seeds), crossedSeq, crossedRing)
		}
	}
}
