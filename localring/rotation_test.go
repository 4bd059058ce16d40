package localring

import (
	"testing"
	"time"
)

// TestRotationHistogram: every node counts the rotations of the token in
// the operational ring; on an idle ring of three each rotation takes the
// members' token holds and the hops, so they fall in the bucket of 50 ms
// and below, and the sum divided by the count is the mean rotation.
func TestRotationHistogram(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	before := make([]Histogram, len(nodes))
	for i, n := range nodes {
		before[i] = n.Stats().Rotation
	}
	pump(t, nodes, now, time.Second)
	for i, n := range nodes {
		h := n.Stats().Rotation
		count := h.Count - before[i].Count
		if count < 10 {
			t.Fatalf("%s: %d rotations in 1s of an idle ring", n.me.ID, count)
		}
		var inBuckets uint64
		for _, c := range h.Buckets {
			inBuckets += c
		}
		if inBuckets != h.Count {
			t.Errorf("%s: %d observations in buckets, count %d", n.me.ID, inBuckets, h.Count)
		}
		mean := (h.Sum - before[i].Sum) / time.Duration(count)
		if mean <= 0 || mean > time.Second/time.Duration(count)+time.Millisecond {
			t.Errorf("%s: mean rotation %v over %d rotations in 1s", n.me.ID, mean, count)
		}
	}
	var h Histogram
	for _, d := range []time.Duration{0, 100 * time.Microsecond, 101 * time.Microsecond, time.Second, time.Minute} {
		h.observe(d)
	}
	if h.Count != 5 || h.Sum != time.Minute+time.Second+201*time.Microsecond || h.Buckets[0] != 2 || h.Buckets[1] != 1 || h.Buckets[12] != 1 {
		t.Errorf("observe: %+v", h)
	}
}
