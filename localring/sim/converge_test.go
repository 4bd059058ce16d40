package sim

import (
	"slices"
	"testing"
	"time"
)

// TestPauseResumeConverges pauses a member past the token timeout and
// resumes it: its socket buffer holds joins that gave up on it, from a
// membership round that is over. The ring must take it back quickly, not
// flap while nodes give up on each other round after round.
func TestPauseResumeConverges(t *testing.T) {
	t.Parallel()
	var times []time.Duration
	for seed := uint64(1); seed <= 30; seed++ {
		c := NewCluster(seed, 3+int(seed%3))
		c.StartAll()
		if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
			t.Fatalf("seed %d: no ring at start", seed)
		}
		victim := int(seed) % c.Size()
		c.Pause(victim)
		c.RunFor(time.Second)
		c.Resume(victim)
		start := c.Now()
		if !c.RunUntil(c.Now().Add(20*time.Second), c.Converged) {
			t.Fatalf("seed %d: no single ring 20s after resuming %s: %s", seed, c.NodeID(victim), c.describe())
		}
		times = append(times, c.Now().Sub(start))
	}
	slices.Sort(times)
	t.Logf("convergence after resume over %d runs: median %v, max %v", len(times), times[len(times)/2], times[len(times)-1])
	if worst := times[len(times)-1]; worst > time.Second {
		t.Errorf("worst convergence after resume %v, want at most 1s (it was 2.6s before stale joins were discounted)", worst)
	}
}
