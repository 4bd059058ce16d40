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
// cycle. An agent's live heap is small, a few MiB, and at full load it
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
//
// The floor is paid for in resident memory, and issue 3 promises that an
// agent under full load stays under agentRSSBudgetMiB resident. At full
// load an agent peaked at its floor plus up to agentRSSOverFloorMiB, so
// the default floor is 24 MiB: on the benchmark's agents it kept the CPU
// gain of a 64 MiB floor, which peaked at 82 to 92 MiB, where 16 MiB lost
// most of it with one sender (docs/OPERATIONS.md, "Memory"). While the
// floor is raised a memory limit caps the runtime's memory at the floor
// plus floorLimitHeadroom (floorMemoryLimit says why).

// defaultGCHeapFloorMiB is --gc-heap-floor's default: the floor plus what
// an agent was measured to hold over it stays under agentRSSBudgetMiB
// (TestDefaultGCHeapFloorBudget).
const defaultGCHeapFloorMiB = 24

// agentRSSBudgetMiB is issue 3's promise: an agent under full load stays
// under this many MiB resident (peak, VmHWM).
const agentRSSBudgetMiB = 64

// agentRSSOverFloorMiB is the most an agent's peak resident memory
// (VmHWM) was over its heap floor at full load, on 3 agents through the
// client API (apiab, 2026-12-04, a host at load 7 to 21): 34.5 MiB, one
// receiver of one sender in a disturbed run; otherwise up to 33.2 MiB
// with 8 KiB messages from every node and up to 24.3 MiB with 1 KiB ones
// under the 24 MiB floor, 28.4 MiB under a 64 MiB one. Besides the heap up
// to its goal: the binary's pages, goroutine stacks, the runtime's
// metadata, freed pages not yet returned to the kernel. Two runs in about
// thirty with 8 KiB messages, before the memory limit, were exceptions:
// 82 and 87 MiB under a 16 and a 24 MiB floor, for a cause not caught
// (traced runs kept the heap within 25 MB); without a floor one such run
// peaked at 61.5 MiB.
const agentRSSOverFloorMiB = 35

// busyGCInterval: the floor applies while the runtime's own goal would
// have the collector run more often than this.
const busyGCInterval = 50 * time.Millisecond

// gcHeapFloor keeps the collector's heap goal at floor bytes or more while
// the agent allocates fast: after each cycle it sets the GC percent from
// the live heap that cycle found and the bytes allocated since the last.
type gcHeapFloor struct {
	floor     uint64
	base      int              // the GC percent below the floor's, the runtime's before start
	baseLimit int64            // the runtime's memory limit before start (GOMEMLIMIT's, or none)
	now       func() time.Time // the clock that times the rate of allocation (time.Now)

	mu      sync.Mutex
	stopped bool
	percent int   // what it last set
	limit   int64 // the memory limit it last set
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
	return startGCHeapFloorClock(floor, time.Now)
}

// startGCHeapFloorClock is startGCHeapFloor with the clock that times the
// rate of allocation: a test drives it so that its verdict of fast or
// slow does not hang on how busy the host is.
func startGCHeapFloorClock(floor uint64, now func() time.Time) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 { // GOGC=off: nothing to raise
		return func() {}
	}
	baseLimit := debug.SetMemoryLimit(-1)
	g := &gcHeapFloor{floor: floor, base: base, percent: base, baseLimit: baseLimit, limit: baseLimit, now: now,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}}
	g.adjust(now())
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
		if g.adjust(g.now()) {
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
	limit := floorMemoryLimit(p, g.base, g.floor, g.baseLimit)
	if limit < g.limit { // the lower limit first, so that the goal is never over both
		g.limit = limit
		debug.SetMemoryLimit(limit)
	}
	if p != g.percent {
		g.percent = p
		debug.SetGCPercent(p)
	}
	if limit != g.limit {
		g.limit = limit
		debug.SetMemoryLimit(limit)
	}
	return true
}

// floorLimitHeadroom is what the memory limit leaves over the floor, while
// the floor is raised, for the runtime's memory other than the heap's
// objects: goroutine stacks, its metadata, free pages not yet returned.
const floorLimitHeadroom = 16 << 20

// floorMemoryLimit returns the runtime's memory limit for GC percent p:
// while p is the floor's (over base), the floor plus floorLimitHeadroom,
// or baseLimit if lower; otherwise baseLimit. The runtime sets each
// cycle's next goal when the cycle ends, from the live heap it found, at
// the percent then in force; adjust sets the percent only after (in a
// cleanup). A live heap that grew since the cycle before (a backlog of
// large messages) thus gets a percent meant for a smaller one, and a goal
// of up to that many times it (6 times for a percent set at 4 MiB under
// a 24 MiB floor) until adjust runs. The limit caps the goal meanwhile.
// It applies only while the floor does, so that a live heap over the
// floor, under the runtime's own percent, never has the collector run
// against it; a live heap that outgrows it while the floor is raised has
// the collector run more often (the runtime caps that at about half the
// CPU) until the next adjust drops the floor and the limit.
func floorMemoryLimit(p, base int, floor uint64, baseLimit int64) int64 {
	if p == base {
		return baseLimit
	}
	return min(int64(floor)+floorLimitHeadroom, baseLimit)
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

// stop gives the collector back its percent and memory limit of before
// start.
func (g *gcHeapFloor) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped {
		g.stopped = true
		debug.SetGCPercent(g.base)
		debug.SetMemoryLimit(g.baseLimit)
	}
}
