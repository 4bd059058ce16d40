package replay

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveWindow is the obvious replay window: every accepted counter in a
// set. window must agree with it on every input.
type naiveWindow struct {
	top  uint64
	seen map[uint64]bool
}

func (w *naiveWindow) check(c, size uint64) Result {
	switch {
	case c == 0, c+size <= w.top:
		return TooOld
	case w.seen[c]:
		return Replayed
	}
	return Fresh
}

func (w *naiveWindow) accept(c uint64) {
	w.seen[c] = true
	w.top = max(w.top, c)
}

// TestWindowMatchesNaive checks the bitmap window against the set on many
// random counter sequences: mostly increasing with reordering, duplicates,
// old counters and large jumps, as networks and attackers produce them,
// with the local rings' window (1,024) and the largest.
func TestWindowMatchesNaive(t *testing.T) {
	for _, size := range []uint64{1024, MaxSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { matchNaive(t, size) })
	}
}

func matchNaive(t *testing.T, size uint64) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0))
		var fast Window
		slow := naiveWindow{seen: map[uint64]bool{}}
		next := uint64(1) + r.Uint64N(3)*uint64(r.IntN(1<<20))
		for step := range 3000 {
			var c uint64
			switch k := r.IntN(100); {
			case k < 60: // in order
				c = next
				next++
			case k < 80: // reordered or duplicated, near the top
				c = next - min(next, r.Uint64N(size+100))
			case k < 85: // just at the window's edge
				c = slow.top - min(slow.top, size-2+r.Uint64N(4))
			case k < 90: // a jump ahead
				next += r.Uint64N(5000)
				c = next
				next++
			case k < 95: // very old
				c = r.Uint64N(next + 1)
			default: // anything
				c = r.Uint64()
			}
			got, want := fast.Check(c, size), slow.check(c, size)
			if got != want {
				t.Fatalf("seed %d step %d: check(%d) with top %d = %v, want %v", seed, step, c, slow.top, got, want)
			}
			if got == Fresh {
				fast.Accept(c)
				slow.accept(c)
				if fast.top != slow.top {
					t.Fatalf("seed %d step %d: top %d, want %d", seed, step, fast.top, slow.top)
				}
			}
		}
	}
}

// TestWindow: counters arrive out of order within the window, each once;
// one the window has passed is refused; a long jump clears the ring.
func TestWindow(t *testing.T) {
	const size = MaxSize
	var w Window
	for _, c := range []uint64{5, 3, 4, 1, 2, 100, 50, size + 99} {
		if r := w.Check(c, size); r != Fresh {
			t.Fatalf("counter %d: %v", c, r)
		}
		w.Accept(c)
	}
	for _, c := range []uint64{100, size + 99} {
		if r := w.Check(c, size); r != Replayed {
			t.Errorf("counter %d again: %v, want Replayed", c, r)
		}
	}
	for _, c := range []uint64{99, 5, 0} {
		if r := w.Check(c, size); r != TooOld {
			t.Errorf("counter %d below the window: %v, want TooOld", c, r)
		}
	}
	if w.Check(101, size) != Fresh || w.Check(size+98, size) != Fresh {
		t.Errorf("fresh counters inside the window refused")
	}
	// A jump of more than the whole ring of bits clears it.
	w.Accept(10 * size)
	if r := w.Check(10*size-5, size); r != Fresh {
		t.Errorf("a fresh counter after a long jump: %v, want Fresh", r)
	}
	if w.Top() != 10*size {
		t.Errorf("Top() = %d, want %d", w.Top(), 10*size)
	}
}
