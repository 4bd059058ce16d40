package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var groupSeedsFlag = flag.Int("group-seeds", 200, "number of random simulator runs for TestSimGroups")

func replayGroups(seed uint64) string {
	return fmt.Sprintf("go test ./localring/sim -run 'TestSimGroups$' -seed %d -v", seed)
}

// TestSimGroups runs random simulations with group traffic (joins, leaves,
// disconnects, multicasts to several groups at every service level,
// point-to-point messages, an ACL) under the fault mixes of TestSimSeeds
// (their persistent faults in the liveness phase included), checks the
// group-level traces with the EVS checker, and fails too when a fault
// that enough seeds enable was injected in none of them. A long run:
//
//	go test ./localring/sim -run 'TestSimGroups$' -group-seeds 20000 -timeout 0
func TestSimGroups(t *testing.T) {
	t.Parallel()
	if *seedFlag != 0 {
		var log bytes.Buffer
		r := RunGroups(*seedFlag, RunOptions{LogTo: &log})
		t.Logf("seed %d, mix: %s\n%s", r.Seed, r.Mix, log.String())
		reportGroups(t, r)
		if *traceOut != "" {
			if err := os.WriteFile(*traceOut, r.TraceBytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	n := *groupSeedsFlag
	if testing.Short() {
		n = min(n, 20)
	}
	var (
		mu                   sync.Mutex
		failed               []*GroupsResult
		events, deliv, views atomic.Int64
		injected             injectedTally
	)
	start := time.Now()
	eachSeed(*firstSeed, n, func(seed uint64) {
		r := RunGroups(seed, RunOptions{})
		events.Add(int64(r.Events))
		deliv.Add(int64(r.Delivered))
		views.Add(int64(r.Views))
		injected.add(&r.Result)
		if r.Failed() {
			r.Cluster, r.Trace = nil, nil
			mu.Lock()
			failed = append(failed, r)
			mu.Unlock()
		}
	})
	t.Logf("%d seeds from %d in %v: %d trace events, %d deliveries, %d views",
		n, *firstSeed, time.Since(start).Round(time.Millisecond), events.Load(), deliv.Load(), views.Load())
	for _, r := range failed {
		reportGroups(t, r)
	}
	// As TestSimSeeds: each fault the mixes enable must really happen,
	// the persistent ones of the liveness phase included.
	t.Logf("faults injected (seeds where it happened/seeds that enable it): %s", &injected)
	injected.check(t)
}

func reportGroups(t *testing.T, r *GroupsResult) {
	t.Helper()
	if !r.Failed() {
		return
	}
	for i, v := range r.Violations {
		if i == 10 {
			t.Errorf("... and %d more", len(r.Violations)-10)
			break
		}
		t.Errorf("seed %d: %s", r.Seed, v)
	}
	t.Errorf("seed %d failed (mix: %s); replay with:\n\t%s", r.Seed, r.Mix, replayGroups(r.Seed))
}

// TestSimGroupsDeterministic runs seeds twice and compares the group
// traces byte for byte.
func TestSimGroupsDeterministic(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{5, 23} {
		a := RunGroups(seed, RunOptions{}).TraceBytes()
		b := RunGroups(seed, RunOptions{}).TraceBytes()
		if !bytes.Equal(a, b) {
			t.Fatalf("seed %d: two runs gave different traces (%d and %d bytes)", seed, len(a), len(b))
		}
		if !bytes.Contains(a, []byte(`"ev":"view"`)) {
			t.Fatalf("seed %d: no views in the trace", seed)
		}
	}
}
