package groups

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// The scale benchmarks of docs/BENCHMARKS.md ("Scale"): a ring of three
// nodes (the in-process fake ring of ring_test.go, which orders and
// delivers at once, so the figures are the group layer's CPU and memory;
// a join or a multicast also waits for one Agreed delivery of the ring,
// BenchmarkRingSize in localring/sim) holding G groups, each with one
// member at every node (a node's clients are c0..c99, each in G/100
// groups), for G = 10, 1,000 and 100,000:
//
//	go test ./groups -run '^$' -bench Scale -benchtime 2s
//
// build: one op builds the whole ring (3·G joins); bytes/group/node is the
// heap it holds per group and node. join-new: a client joins a group of
// its own (one ring message, views at every node); join-existing: a
// client joins one of the G groups (each join is undone, untimed);
// multicast: a 1 KiB Agreed message to one group, delivered at the three
// nodes (ns/op is the three nodes' CPU);
// split-merge: node c leaves the ring and comes back (a view change of
// every group, then a state exchange); split-ms and merge-ms are the wall
// time of each half, split-cpu-ms and merge-cpu-ms the process's CPU time
// (the garbage collector's included, which on a loaded machine tells more
// than the wall time), exchange-KiB the state the three nodes sent.
func BenchmarkScale(b *testing.B) {
	for _, g := range []int{10, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("groups=%d/build", g), func(b *testing.B) {
			var per float64
			for i := 0; i < b.N; i++ {
				r, bytes := buildScaleRing(b, g)
				per += bytes
				scaleRings[g] = r
			}
			b.ReportMetric(per/float64(b.N), "bytes/group/node")
			b.ReportMetric(float64(3*g*b.N)/b.Elapsed().Seconds(), "joins/s")
		})
		b.Run(fmt.Sprintf("groups=%d/join-new", g), func(b *testing.B) {
			benchJoin(b, scaleRing(b, g), func(int) string { return "new" })
		})
		b.Run(fmt.Sprintf("groups=%d/join-existing", g), func(b *testing.B) {
			benchJoin(b, scaleRing(b, g), func(i int) string { return scaleGroup(i % g) })
		})
		b.Run(fmt.Sprintf("groups=%d/multicast", g), func(b *testing.B) {
			r := scaleRing(b, g)
			a := r.node("a")
			payload := make([]byte, 1024)
			e0 := r.events
			b.ReportAllocs()
			b.SetBytes(1024)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % g
				if _, err := a.g.Multicast("c"+strconv.Itoa(k%100), localring.Agreed, 1, []string{scaleGroup(k)}, payload); err != nil {
					b.Fatal(err)
				}
				r.collect(a)
				r.run()
			}
			b.StopTimer()
			if ev := r.events - e0; ev < 3*b.N {
				b.Fatalf("%d events for %d multicasts, want a delivery at each of the 3 nodes", ev, b.N)
			}
		})
		b.Run(fmt.Sprintf("groups=%d/split-merge", g), func(b *testing.B) {
			r := scaleRing(b, g)
			var split, merge, splitCPU, mergeCPU time.Duration
			bytes0 := r.sentBytes
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0, c0 := time.Now(), cpuTime(b)
				r.form([]string{"a", "b"}, []string{"c"})
				r.run()
				t1, c1 := time.Now(), cpuTime(b)
				r.form([]string{"a", "b", "c"})
				r.run()
				split += t1.Sub(t0)
				merge += time.Since(t1)
				splitCPU += c1 - c0
				mergeCPU += cpuTime(b) - c1
			}
			b.StopTimer()
			for _, id := range []string{"a", "b", "c"} {
				if !r.node(id).g.Synced() {
					b.Fatalf("%s did not finish the exchange", id)
				}
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(split), "split-ms")
			b.ReportMetric(ms(merge), "merge-ms")
			b.ReportMetric(ms(splitCPU), "split-cpu-ms")
			b.ReportMetric(ms(mergeCPU), "merge-cpu-ms")
			b.ReportMetric(float64(r.sentBytes-bytes0)/1024/float64(b.N), "exchange-KiB")
		})
	}
}

// benchJoin times the join of a new client at node a to group(i), from
// the request to its views at the three nodes, then (untimed) lets it
// leave again, so that the ring keeps its groups and members.
func benchJoin(b *testing.B, r *testRing, group func(int) string) {
	a := r.node("a")
	d0 := r.ringMsgs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.must(a.g.Join("joiner", group(i)))
		r.collect(a)
		r.run()
		b.StopTimer()
		a.must(a.g.Leave("joiner", group(i)))
		r.collect(a)
		r.run()
		b.StartTimer()
	}
	b.StopTimer()
	if v, _ := a.g.View(group(0)); len(v.Members) != 3 && group(0) != "new" {
		b.Fatalf("%s has members %v after the joins and leaves, want its three", group(0), v.Members)
	}
	b.ReportMetric(float64(r.ringMsgs()-d0)/float64(b.N)/2, "ring-msgs/join")
}

// cpuTime returns the CPU time the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleRings holds the last ring built for each group count, for the
// sub-benchmarks that follow its build.
var scaleRings = map[int]*testRing{}

func scaleRing(b *testing.B, groups int) *testRing {
	r := scaleRings[groups]
	if r == nil {
		r, _ = buildScaleRing(b, groups)
		scaleRings[groups] = r
	}
	r.t = b
	return r
}

func scaleGroup(k int) string { return "g-" + strconv.Itoa(k) }

// buildScaleRing returns a quiet ring of nodes a, b and c with groups
// groups, a member of each at every node, and the heap it holds per group
// and node.
func buildScaleRing(b *testing.B, groups int) (*testRing, float64) {
	before := heapBytes()
	r := newTestRingCfg(b, Config{}, "a", "b", "c")
	r.quiet = true
	r.form([]string{"a", "b", "c"})
	r.run()
	for k := 0; k < groups; k += 1000 {
		for _, id := range []string{"a", "b", "c"} {
			tn := r.node(id)
			for j := k; j < min(k+1000, groups); j++ {
				tn.must(tn.g.Join("c"+strconv.Itoa(j%100), scaleGroup(j)))
			}
			r.collect(tn)
		}
		r.run()
	}
	after := heapBytes()
	runtime.KeepAlive(r)
	return r, float64(after-before) / float64(groups) / 3
}

// ringMsgs counts the ring messages the nodes sent so far.
func (r *testRing) ringMsgs() int {
	n := 0
	for _, tn := range r.nodes {
		n += int(tn.msgSeq)
	}
	return n
}

// TestYieldDuringConfChange: Config.Yield is called at least once per
// yieldEvery groups while a node works through a configuration change of
// many groups (the views when c leaves, the state exchange and its views
// when c comes back), so that the agent's ring loop gets to run in the
// middle of one Step; a Node without it is not affected.
func TestYieldDuringConfChange(t *testing.T) {
	const groups = 4 * yieldEvery
	yields := map[string]*int{"a": new(int), "b": new(int), "c": new(int)}
	r := newTestRingCfg(t, Config{}, "a", "b", "c")
	r.quiet = true
	for id, n := range yields {
		r.node(id).g.cfg.Yield = func() { *n++ }
	}
	r.form([]string{"a", "b", "c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		tn := r.node(id)
		for j := range groups {
			tn.must(tn.g.Join("c"+strconv.Itoa(j%100), scaleGroup(j)))
		}
		r.collect(tn)
	}
	r.run()
	for _, n := range yields {
		*n = 0
	}
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	for _, id := range []string{"a", "b"} {
		if got := *yields[id]; got < groups/yieldEvery {
			t.Errorf("%s: Yield called %d times while the views of %d groups changed (c left), want at least %d", id, got, groups, groups/yieldEvery)
		}
		*yields[id] = 0
	}
	r.form([]string{"a", "b", "c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		if !r.node(id).g.Synced() {
			t.Fatalf("%s did not finish the exchange", id)
		}
		// The exchange: its own report, the reports' groups, the views.
		if got := *yields[id]; got < 2*groups/yieldEvery {
			t.Errorf("%s: Yield called %d times in the state exchange of %d groups (c came back), want at least %d", id, got, groups, 2*groups/yieldEvery)
		}
	}
}
