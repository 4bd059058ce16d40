package clientproto

import (
	"runtime/metrics"
	"testing"
)

var slabSink [][]byte

// TestSlabIsSmallObject: a payload block of SlabBytes is a small object
// of the allocator (the 32 KiB size class), not a large one: the runtime's
// histogram of allocations by size counts the blocks in its last bucket
// below 32 KiB, not in the bucket of larger objects.
func TestSlabIsSmallObject(t *testing.T) {
	const n = 200
	small, large := allocsBySize(t)
	for range n {
		slabSink = append(slabSink, make([]byte, 0, SlabBytes))
	}
	small2, large2 := allocsBySize(t)
	slabSink = nil
	// The counts are flushed from the per-thread caches lazily: allow for
	// a few not counted yet.
	if d := small2 - small; d < n/2 {
		t.Errorf("%d of %d blocks of %d bytes were allocated as 28-32 KiB small objects; want all", d, n, SlabBytes)
	}
	if d := large2 - large; d >= n/2 {
		t.Errorf("%d of %d blocks of %d bytes were allocated as large objects (over 32 KiB): each takes the heap's lock; want none", d, n, SlabBytes)
	}
}

// allocsBySize returns the runtime's counts of allocations of 28-32 KiB
// (the largest small-object size class) and of large objects.
func allocsBySize(t *testing.T) (small, large uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs-by-size:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		t.Skip("runtime/metrics has no /gc/heap/allocs-by-size:bytes")
	}
	h := s[0].Value.Float64Histogram()
	for i, c := range h.Counts {
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		switch {
		case lo <= 32<<10 && hi == 32<<10+1:
			small += c
		case lo > 32<<10:
			large += c
		}
	}
	return small, large
}
