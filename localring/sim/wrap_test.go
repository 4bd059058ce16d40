package sim

import (
	"fmt"
	"testing"
)

// TestSimNearWrap runs random simulations with group traffic whose rings
// start just below every boundary of the ring sequence number (2^24, 2^32,
// 2^53, 2^63) and of the packet sequence number (2^30, 2^32, 2^40, 2^43,
// 2^53, 2^63) (EVS.md: "sequence numbers near wrap-around"), under the
// fault mix of each seed, and checks the group-level traces with the EVS
// checker: order fields, view ids and view agreement across the
// boundaries. Each run must cross both of its boundaries.
func TestSimNearWrap(t *testing.T) {
	seeds := []uint64{3, 11, 29, 47}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, c := range []struct{ ring, seq uint64 }{
		{1<<24 - 8, 1<<30 - 64},
		{1<<32 - 8, 1<<32 - 64},
		{1<<53 - 8, 1<<40 - 64},
		{1<<63 - 8, 1<<43 - 64},
		{1<<24 - 8, 1<<53 - 64},
		{1<<32 - 8, 1<<63 - 64},
	} {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("ring=%#x,seq=%#x,seed=%d", c.ring, c.seq, seed), func(t *testing.T) {
				r := RunGroups(seed, RunOptions{RingSeq: c.ring, StartSeq: c.seq})
				reportGroups(t, r)
				if r.Failed() {
					t.Logf("replay: go test ./localring/sim -run 'TestSimNearWrap/ring=%#x,seq=%#x,seed=%d' -v", c.ring, c.seq, seed)
				}
				seq, ring := r.Cluster.Highest()
				if seq <= c.seq+64 || ring <= c.ring+8 {
					t.Errorf("the run reached packet seq %d and ring seq %d: it did not cross %d and %d", seq, ring, c.seq+64, c.ring+8)
				}
				if r.Views == 0 || r.Delivered == 0 {
					t.Errorf("%d views and %d deliveries: no group traffic", r.Views, r.Delivered)
				}
			})
		}
	}
}
