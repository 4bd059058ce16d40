package isolation

import (
	"slices"
	"testing"
	"time"
)

// TestSendersTakeTurns: a group's senders, starting at different moments
// (in processes of their own) with the slots 0, 1/3 and 2/3, send in turn,
// evenly at three times their own rate, never together.
func TestSendersTakeTurns(t *testing.T) {
	const interval = 10 * time.Millisecond
	starts := []int64{4_120_000_000, 4_121_300_000, 4_125_170_000} // ns on the run's clock
	var times []int64
	for j, now := range starts {
		first := firstSlot(now, interval, float64(j)/float64(len(starts)))
		if first < now || first >= now+int64(interval) {
			t.Fatalf("sender %d starting at %d: first slot %d, want within one interval from its start", j, now, first)
		}
		for k := range 10 {
			times = append(times, first+int64(k)*int64(interval))
		}
	}
	slices.Sort(times)
	from := starts[len(starts)-1] // every sender has started
	var gaps []int64
	for i := 1; i < len(times); i++ {
		if times[i-1] >= from {
			gaps = append(gaps, times[i]-times[i-1])
		}
	}
	want := int64(interval) / 3
	for _, g := range gaps {
		if g < want-1 || g > want+1 {
			t.Fatalf("gaps between the group's sends %v, want every one %v", gaps, time.Duration(want))
		}
	}
	if got := firstSlot(30_000_000, interval, 0); got != 30_000_000 {
		t.Errorf("firstSlot at a slot's instant = %d, want that instant", got)
	}
}
