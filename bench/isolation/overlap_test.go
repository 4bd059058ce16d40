package isolation

import (
	"testing"
	"time"
)

// TestOverlaps splits a-local's latencies by the abc-global deliveries
// around each send: at site a (3 ms before the send to 1 ms after it)
// first, then at b or c only, else none.
func TestOverlaps(t *testing.T) {
	ms := func(f float64) int64 { return int64(f * float64(time.Millisecond)) }
	busy := map[string][]int64{
		"a": {ms(100)},
		"b": {ms(100.5), ms(200)},
		"c": {ms(300)},
	}
	var lat, sent []int64
	add := func(at, l float64) { sent = append(sent, ms(at)); lat = append(lat, ms(l)) }
	for i := range 96 {
		add(400+float64(i), 0.2) // nothing near
	}
	add(99, 5)      // a 1 ms after (b too: a counts)
	add(103, 4)     // a 3 ms before
	add(201, 2)     // b only
	add(299.5, 1)   // c only, 0.5 ms after
	add(303.5, 0.3) // c 3.5 ms before: none
	add(104, 0.3)   // a 4 ms before: none
	got := overlaps(lat, sent, busy, nil)
	want := []struct {
		when     string
		n        int
		tail     float64
		p50, p99 time.Duration
	}{
		{OverlapNone, 98, 0, 200 * time.Microsecond, 300 * time.Microsecond},
		{OverlapSiteA, 2, 1, 4 * time.Millisecond, 5 * time.Millisecond},
		{OverlapOthers, 2, 0, time.Millisecond, 2 * time.Millisecond},
		{OverlapGC, 0, 0, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.When != w.when || g.Deliveries != w.n || g.TailShare != w.tail || g.P50 != w.p50 || g.P99 != w.p99 {
			t.Errorf("row %d: got %+v, want %s n %d tail share %v p50 %v p99 %v", i, g, w.when, w.n, w.tail, w.p50, w.p99)
		}
		if share := float64(w.n) / float64(len(lat)); g.Share != share {
			t.Errorf("row %d: share %v, want %v", i, g.Share, share)
		}
	}
	if overlaps(nil, nil, busy, nil) != nil {
		t.Errorf("no deliveries: want no rows")
	}
}
