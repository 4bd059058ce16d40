package isolation

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestGCStopsFilled: over collections, cpuBetween fills the collector's
// stop-the-world time and the part of it spent stopping the world
// (/sched/pauses/stopping/gc:seconds), a part no larger than the whole,
// and the JSON report carries both.
func TestGCStopsFilled(t *testing.T) {
	from := sampleCPU()
	for range 5 {
		runtime.GC()
	}
	c := cpuBetween(from, sampleCPU(), runtime.NumCPU())
	if c.GCPauses <= 0 || c.GCPauseMax <= 0 || c.GCStops <= 0 || c.GCStopMax <= 0 {
		t.Fatalf("after five collections: GC pauses %v (longest %v), stopping %v (longest %v): want all filled", c.GCPauses, c.GCPauseMax, c.GCStops, c.GCStopMax)
	}
	if c.GCStops > c.GCPauses || c.GCStopMax > c.GCPauseMax || c.GCStopMax > c.GCStops {
		t.Errorf("stopping %v (longest %v) of GC pauses %v (longest %v): want a part of them", c.GCStops, c.GCStopMax, c.GCPauses, c.GCPauseMax)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"gc_stops_ns":`, `"gc_stop_max_ns":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("CPU's JSON %s has no %s", b, k)
		}
	}
	var sum CPU
	sum.add(c, 2)
	sum.add(c, 2)
	if sum.GCStops != 2*c.GCStops || sum.GCStopMax != c.GCStopMax {
		t.Errorf("two phases pooled: stopping %v (longest %v), want %v (%v)", sum.GCStops, sum.GCStopMax, 2*c.GCStops, c.GCStopMax)
	}
}
