package topology

import (
	"math"
	"time"
)

// ExactRingSites is the largest ring the planner orders exactly. Up to this
// size RingOrder runs the Held-Karp dynamic programme, O(2^n·n²) time:
// about 250 000 steps for 12 sites. Beyond it runs a heuristic whose tour
// is at most twice the optimum when RTTs obey the triangle inequality.
const ExactRingSites = 12

// RingOrder returns the token order of a ring that minimises its rotation
// time, that is the sum of rtt over consecutive members, around the cycle
// (hold times add the same amount to every order). w[i][j] is the round-trip
// time between members i and j. exact reports whether the order is proven
// optimal (len(w) <= ExactRingSites); otherwise it comes from the heuristic
// (nearest neighbour and minimum-spanning-tree tours improved by 2-opt).
//
// The result is canonical, so that equal inputs give equal plans: it starts
// at member 0 and goes in the direction whose second member has the lower
// index.
func RingOrder(w [][]time.Duration) (order []int, exact bool) {
	n := len(w)
	switch {
	case n == 0:
		return nil, true
	case n <= 3:
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
		return canonical(order), true
	case n <= ExactRingSites:
		return canonical(heldKarp(w)), true
	}
	return canonical(heuristicTour(w)), false
}

// tourCost is the length of the closed tour.
func tourCost(w [][]time.Duration, order []int) time.Duration {
	var c time.Duration
	for k, i := range order {
		c += w[i][order[(k+1)%len(order)]]
	}
	return c
}

// canonical rotates a tour to start at its smallest member and picks the
// direction whose second member is smaller than its last.
func canonical(order []int) []int {
	n := len(order)
	if n == 0 {
		return order
	}
	start := 0
	for k, i := range order {
		if i < order[start] {
			start = k
		}
	}
	out := make([]int, n)
	for k := range n {
		out[k] = order[(start+k)%n]
	}
	if n > 2 && out[n-1] < out[1] {
		for a, b := 1, n-1; a < b; a, b = a+1, b-1 {
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}

// heldKarp finds a shortest closed tour exactly. It fixes member 0 as the
// start; best[S][j] is the length of the shortest path from 0 through the
// set S of other members ending at j ∈ S. Ties go to the lowest index, so
// the result is deterministic.
func heldKarp(w [][]time.Duration) []int {
	n := len(w)
	m := n - 1 // members 1..n-1 are bits 0..m-1
	full := 1<<m - 1
	const inf = time.Duration(math.MaxInt64)
	best := make([]time.Duration, (full+1)*m)
	prev := make([]int8, (full+1)*m)
	for i := range best {
		best[i] = inf
	}
	for j := range m {
		best[(1<<j)*m+j] = w[0][j+1]
		prev[(1<<j)*m+j] = -1
	}
	for s := 1; s <= full; s++ {
		for j := range m {
			if s&(1<<j) == 0 {
				continue
			}
			cur := best[s*m+j]
			if cur == inf {
				continue
			}
			for k := range m {
				if s&(1<<k) != 0 {
					continue
				}
				t := s | 1<<k
				if c := cur + w[j+1][k+1]; c < best[t*m+k] {
					best[t*m+k] = c
					prev[t*m+k] = int8(j)
				}
			}
		}
	}
	last, cost := 0, inf
	for j := range m {
		if c := best[full*m+j] + w[j+1][0]; c < cost {
			last, cost = j, c
		}
	}
	order := make([]int, 0, n)
	for s, j := full, last; j >= 0; {
		order = append(order, j+1)
		pj := int(prev[s*m+j])
		s &^= 1 << j
		j = pj
	}
	order = append(order, 0)
	// order is reversed (from last back to 0); any direction is a tour.
	return order
}

// heuristicStarts is how many nearest-neighbour tours heuristicTour tries.
const heuristicStarts = 8

// heuristicTour builds tours by nearest neighbour from several starts and by a
// preorder walk of a minimum spanning tree (at most twice the optimum on
// metric inputs), improves each with 2-opt to a local optimum, and returns
// the shortest.
func heuristicTour(w [][]time.Duration) []int {
	n := len(w)
	var best []int
	bestCost := time.Duration(math.MaxInt64)
	try := func(t []int) {
		twoOpt(w, t)
		if c := tourCost(w, t); c < bestCost {
			best, bestCost = t, c
		}
	}
	try(mstTour(w))
	// Nearest neighbour from up to heuristicStarts members spread over
	// the ring, to bound the work on large rings.
	starts := min(n, heuristicStarts)
	for k := range starts {
		try(nearestNeighbour(w, k*n/starts))
	}
	return best
}

func nearestNeighbour(w [][]time.Duration, start int) []int {
	n := len(w)
	seen := make([]bool, n)
	order := []int{start}
	seen[start] = true
	for cur := start; len(order) < n; {
		next := -1
		for j := range n {
			if !seen[j] && (next < 0 || w[cur][j] < w[cur][next]) {
				next = j
			}
		}
		order = append(order, next)
		seen[next] = true
		cur = next
	}
	return order
}

// mstTour walks a minimum spanning tree (Prim's algorithm, rooted at 0) in
// preorder. On metric inputs the walk is at most twice the tree's weight,
// and the tree weighs less than any tour.
func mstTour(w [][]time.Duration) []int {
	n := len(w)
	in := make([]bool, n)
	parent := make([]int, n)
	dist := make([]time.Duration, n)
	for i := range dist {
		dist[i] = time.Duration(math.MaxInt64)
		parent[i] = -1
	}
	dist[0] = 0
	children := make([][]int, n)
	for range n {
		u := -1
		for i := range n {
			if !in[i] && (u < 0 || dist[i] < dist[u]) {
				u = i
			}
		}
		in[u] = true
		if parent[u] >= 0 {
			children[parent[u]] = append(children[parent[u]], u)
		}
		for v := range n {
			if !in[v] && w[u][v] < dist[v] {
				dist[v], parent[v] = w[u][v], u
			}
		}
	}
	order := make([]int, 0, n)
	stack := []int{0}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, u)
		for i := len(children[u]) - 1; i >= 0; i-- {
			stack = append(stack, children[u][i])
		}
	}
	return order
}

// twoOpt improves t in place until no exchange of two edges (a reversal of
// a segment) shortens it. It assumes symmetric w.
func twoOpt(w [][]time.Duration, t []int) {
	n := len(t)
	for improved := true; improved; {
		improved = false
		for i := 0; i < n-1; i++ {
			for j := i + 2; j < n; j++ {
				if i == 0 && j == n-1 {
					continue // the two edges share member t[0]
				}
				a, b, c, d := t[i], t[i+1], t[j], t[(j+1)%n]
				if w[a][c]+w[b][d] < w[a][b]+w[c][d] {
					for x, y := i+1, j; x < y; x, y = x+1, y-1 {
						t[x], t[y] = t[y], t[x]
					}
					improved = true
				}
			}
		}
	}
}
