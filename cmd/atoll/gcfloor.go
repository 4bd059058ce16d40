package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The agent's heap floor (--gc-heap-floor).
//
// With the Go runtime's default (GOGC 100) the garbage collector runs
// whenever the heap has grown by as much as was live after the last
// cycle. An agent's live heap is small, ten-odd MiB, and at full load it
// allocates for every message (the ring's packets, the group layer's
// messages, the client sessions' frames), so it collected many times a
// second: on 3 agents of a 2-core host at full load through the client
// API, the collector's marking, its assists and the scavenger returning
// the freed pages to the kernel (and the page faults that take them back)
// were about a fifth of each agent's CPU (`apiab -profile`). A floor under
// the heap goal spaces the cycles out, for at most the floor's bytes more
// memory. At low rates it does not pay: at 1,000 msgs/s a heap allowed to
// grow to the floor cost the agents 10 to 20 % more CPU per message
// (docs/BENCHMARKS.md, "The garbage collector" and "The garbage
// collector's heap floor"), so the floor applies only
// while the agent allocates fast enough that the runtime's own goal would
// have it collect more often than every busyGCInterval. Once the live heap
// is over the floor, GOGC's goal applies as before, so a heap that grows
// (large queues, many clients) costs no more memory than the runtime's
// default would make it (docs/OPERATIONS.md, "Memory").

// defaultGCHeapFloorMiB is --gc-heap-floor's default.
const defaultGCHeapFloorMiB = 64

// busyGCInterval: the floor applies while the runtime's own goal would
// have the collector run more often than this.
const busyGCInterval = 50 * time.Millisecond

// gcHeapFloor keeps the collector's heap goal at floor bytes or more while
// the agent allocates fast: after each cycle it sets the GC percent from
// the live heap that cycle found and the bytes allocated since the last.
type gcHeapFloor struct {
	floor uint64
	base  int // the GC percent below the floor's, the runtime's before start

	mu      sync.Mutex
	stopped bool
	percent int // what it last set
	sample  []metrics.Sample
	allocs  uint64    // bytes allocated since the process started, at the last adjust
	at      time.Time // the last adjust
}

// runtimeHeapMinimum is the Go runtime's smallest heap goal at GOGC 100;
// it scales with the GC percent (runtime/mgcpacer.go, defaultHeapMinimum).
const runtimeHeapMinimum = 4 << 20

// gcPercentFor returns the GC percent that puts the heap goal, live bytes
// plus that percent of them, at floor, and base once the live heap makes
// base's goal the larger. A live heap under the runtime's minimum goal
// gets the percent whose minimum goal is floor: the runtime scales its
// minimum with the percent, and a larger one would put the goal over
// floor.
func gcPercentFor(live, floor uint64, base int) int {
	live = max(live, 1)
	if live >= floor {
		return base
	}
	p := min((floor-live)*100/live, floor*100/runtimeHeapMinimum)
	return max(int(p), base)
}

// chooseGCHeapFloor decides the heap floor in bytes from --gc-heap-floor
// (mib) and the GOGC environment variable (env), and says why.
func chooseGCHeapFloor(mib int, env string) (uint64, string, error) {
	switch {
	case mib < 0:
		return 0, "", fmt.Errorf("--gc-heap-floor %d: want 0 (none) or a number of MiB", mib)
	case env != "":
		return 0, "GOGC in the environment decides alone", nil
	case mib == 0:
		return 0, "--gc-heap-floor 0: GOGC's goal alone", nil
	}
	return uint64(mib) << 20, "fewer collections at full load while the live heap is small (docs/OPERATIONS.md, \"Memory\"); --gc-heap-floor to change", nil
}

// startGCHeapFloor starts keeping the heap goal at floor bytes or more,
// until stop; it does nothing for a floor of 0.
func startGCHeapFloor(floor uint64) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 { // GOGC=off: nothing to raise
		return func() {}
	}
	g := &gcHeapFloor{floor: floor, base: base, percent: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}}
	g.adjust(time.Now())
	g.arm()
	return g.stop
}

// sentinel is an object that only a cleanup refers to: it becomes garbage
// at once, so its cleanup runs after the next collection. It holds a
// pointer so that the allocator does not put it in a block with others.
type sentinel struct{ _ *byte }

// arm runs adjust after the next collection, and arms again.
func (g *gcHeapFloor) arm() {
	runtime.AddCleanup(new(sentinel), func(g *gcHeapFloor) {
		if g.adjust(time.Now()) {
			g.arm()
		}
	}, g)
}

// adjust sets the GC percent for the live heap the last cycle found and
// the rate of allocation since the last adjust, at now; it reports false
// once stopped.
func (g *gcHeapFloor) adjust(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	metrics.Read(g.sample)
	live, allocs := sampleUint64(g.sample[0]), sampleUint64(g.sample[1])
	p := g.base
	if !g.at.IsZero() && busy(live, allocs-g.allocs, now.Sub(g.at), g.base) {
		p = gcPercentFor(live, g.floor, g.base)
	}
	g.allocs, g.at = allocs, now
	if p != g.percent {
		g.percent = p
		debug.SetGCPercent(p)
	}
	return true
}

// busy reports whether allocating allocated bytes in d would have the
// collector, at GC percent base and live bytes live, run more often than
// every busyGCInterval.
func busy(live, allocated uint64, d time.Duration, base int) bool {
	if d <= 0 {
		return false
	}
	growth := max(live, runtimeHeapMinimum) * uint64(base) / 100 // what the heap may grow by between cycles
	return float64(allocated)/d.Seconds()*busyGCInterval.Seconds() > float64(growth)
}

func sampleUint64(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// stop gives the collector back its percent of before start.
func (g *gcHeapFloor) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped {
		g.stopped = true
		debug.SetGCPercent(g.base)
	}
}
