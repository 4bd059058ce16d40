package topology

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// randomMetric returns the RTTs between n random points in a 300×300 ms
// plane: Euclidean distances obey the triangle inequality, like RTTs on a
// well-routed network.
func randomMetric(rng *rand.Rand, n int) [][]time.Duration {
	type pt struct{ x, y float64 }
	pts := make([]pt, n)
	for i := range pts {
		pts[i] = pt{rng.Float64() * 300, rng.Float64() * 300}
	}
	w := make([][]time.Duration, n)
	for i := range w {
		w[i] = make([]time.Duration, n)
		for j := range w[i] {
			w[i][j] = time.Duration(math.Hypot(pts[i].x-pts[j].x, pts[i].y-pts[j].y) * float64(time.Millisecond))
		}
	}
	return w
}

// randomArbitrary returns symmetric RTTs that need not obey the triangle
// inequality, with many ties.
func randomArbitrary(rng *rand.Rand, n int) [][]time.Duration {
	w := make([][]time.Duration, n)
	for i := range w {
		w[i] = make([]time.Duration, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := time.Duration(1+rng.IntN(20)) * time.Millisecond
			w[i][j], w[j][i] = d, d
		}
	}
	return w
}

// bruteForce is the naive reference: it tries every order that starts at
// member 0.
func bruteForce(w [][]time.Duration) time.Duration {
	n := len(w)
	rest := make([]int, n-1)
	for i := range rest {
		rest[i] = i + 1
	}
	best := time.Duration(math.MaxInt64)
	var perm func(k int)
	perm = func(k int) {
		if k == len(rest) {
			best = min(best, tourCost(w, append([]int{0}, rest...)))
			return
		}
		for i := k; i < len(rest); i++ {
			rest[k], rest[i] = rest[i], rest[k]
			perm(k + 1)
			rest[k], rest[i] = rest[i], rest[k]
		}
	}
	perm(0)
	return best
}

func isPermutation(order []int, n int) bool {
	s := slices.Clone(order)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			return false
		}
	}
	return len(s) == n
}

// TestRingOrderMatchesBruteForce checks the Held-Karp programme against
// trying every order, on many random rings (the etcd-raft quorum/quick_test
// habit: an optimised algorithm against a naive one).
func TestRingOrderMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 600 {
		n := 1 + rng.IntN(9)
		w := randomMetric(rng, n)
		if iter%2 == 1 {
			w = randomArbitrary(rng, n)
		}
		order, exact := RingOrder(w)
		if !exact || !isPermutation(order, n) {
			t.Fatalf("n=%d: RingOrder = %v, exact %v", n, order, exact)
		}
		if got, want := tourCost(w, order), bruteForce(w); got != want {
			t.Fatalf("iteration %d, n=%d: Held-Karp tour %v costs %v, brute force finds %v", iter, n, order, got, want)
		}
	}
}

// TestHeuristicAgainstExact runs the heuristic used beyond ExactRingSites on
// rings small enough to solve exactly. On metric RTTs its tour is at most
// twice the optimum (the bound docs/PLANNER.md states); in practice it is
// within a few percent.
func TestHeuristicAgainstExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sum, worst float64
	const runs = 300
	for range runs {
		n := 4 + rng.IntN(ExactRingSites-3)
		w := randomMetric(rng, n)
		h := heuristicTour(w)
		if !isPermutation(h, n) {
			t.Fatalf("heuristic tour %v is not a permutation of %d", h, n)
		}
		opt := tourCost(w, heldKarp(w))
		ratio := float64(tourCost(w, h)) / float64(opt)
		if ratio > 2 {
			t.Fatalf("n=%d: heuristic/optimum = %.3f > 2", n, ratio)
		}
		sum += ratio
		worst = max(worst, ratio)
	}
	if mean := sum / runs; mean > 1.02 {
		t.Errorf("heuristic is %.2f%% above optimum on average (worst %.2f%%), want within 2%%", (mean-1)*100, (worst-1)*100)
	}
	t.Logf("heuristic/optimum over %d metric rings of 4..%d sites: mean %.4f, worst %.4f", runs, ExactRingSites, sum/runs, worst)
}

// TestHeuristicIsTwoOptimal checks the heuristic's postcondition on large
// rings: no exchange of two edges shortens the tour.
func TestHeuristicIsTwoOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		n := ExactRingSites + 1 + rng.IntN(40)
		w := randomMetric(rng, n)
		order, exact := RingOrder(w)
		if exact || !isPermutation(order, n) || order[0] != 0 {
			t.Fatalf("n=%d: RingOrder = %v, exact %v", n, order, exact)
		}
		for i := 0; i < n-1; i++ {
			for j := i + 2; j < n; j++ {
				if i == 0 && j == n-1 {
					continue
				}
				a, b, c, d := order[i], order[i+1], order[j], order[(j+1)%n]
				if w[a][c]+w[b][d] < w[a][b]+w[c][d] {
					t.Fatalf("n=%d: 2-opt move (%d,%d) still improves the tour", n, i, j)
				}
			}
		}
		// The MST walk alone is within twice the optimum; the result can
		// only be shorter than it after 2-opt.
		mst := mstTour(w)
		twoOpt(w, mst)
		if tourCost(w, order) > tourCost(w, mst) {
			t.Fatalf("n=%d: result %v is longer than the improved MST walk %v", n, tourCost(w, order), tourCost(w, mst))
		}
	}
}

func TestRingOrderCanonical(t *testing.T) {
	// A square: 0-1-2-3 is the best ring; both directions cost the same.
	ms := time.Millisecond
	w := [][]time.Duration{
		{0, 1 * ms, 2 * ms, 1 * ms},
		{1 * ms, 0, 1 * ms, 2 * ms},
		{2 * ms, 1 * ms, 0, 1 * ms},
		{1 * ms, 2 * ms, 1 * ms, 0},
	}
	order, exact := RingOrder(w)
	if !exact || !slices.Equal(order, []int{0, 1, 2, 3}) {
		t.Errorf("RingOrder = %v, %v; want [0 1 2 3], true", order, exact)
	}
	for _, in := range [][]int{{2, 3, 0, 1}, {3, 2, 1, 0}, {1, 0, 3, 2}} {
		if got := canonical(in); !slices.Equal(got, []int{0, 1, 2, 3}) {
			t.Errorf("canonical(%v) = %v", in, got)
		}
	}
	if o, _ := RingOrder(nil); len(o) != 0 {
		t.Errorf("RingOrder(nil) = %v", o)
	}
}

func BenchmarkRingOrderExact12(b *testing.B) {
	w := randomMetric(rand.New(rand.NewPCG(7, 8)), ExactRingSites)
	for b.Loop() {
		RingOrder(w)
	}
}
