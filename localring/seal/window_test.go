package seal

import (
	"math/rand/v2"
	"testing"
)

// naiveWindow is the obvious replay window: every accepted counter in a
// set. window must agree with it on every input.
type naiveWindow struct {
	top  uint64
	seen map[uint64]bool
}

func (w *naiveWindow) check(c uint64) *Error {
	switch {
	case c == 0, c+ReplayWindow <= w.top:
		return ErrTooOld
	case w.seen[c]:
		return ErrReplay
	}
	return nil
}

func (w *naiveWindow) accept(c uint64) {
	w.seen[c] = true
	w.top = max(w.top, c)
}

// TestWindowMatchesNaive checks the bitmap window against the set on many
// random counter sequences: mostly increasing with reordering, duplicates,
// old counters and large jumps, as networks and attackers produce them.
func TestWindowMatchesNaive(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0))
		var fast window
		slow := naiveWindow{seen: map[uint64]bool{}}
		next := uint64(1) + r.Uint64N(3)*uint64(r.IntN(1<<20))
		for step := range 3000 {
			var c uint64
			switch k := r.IntN(100); {
			case k < 60: // in order
				c = next
				next++
			case k < 80: // reordered or duplicated, near the top
				c = next - min(next, r.Uint64N(ReplayWindow+100))
			case k < 85: // just at the window's edge
				c = slow.top - min(slow.top, ReplayWindow-2+r.Uint64N(4))
			case k < 90: // a jump ahead
				next += r.Uint64N(5000)
				c = next
				next++
			case k < 95: // very old
				c = r.Uint64N(next + 1)
			default: // anything
				c = r.Uint64()
			}
			got, want := fast.check(c), slow.check(c)
			if got != want {
				t.Fatalf("seed %d step %d: check(%d) with top %d = %v, want %v", seed, step, c, slow.top, got, want)
			}
			if got == nil {
				fast.accept(c)
				slow.accept(c)
				if fast.top != slow.top {
					t.Fatalf("seed %d step %d: top %d, want %d", seed, step, fast.top, slow.top)
				}
			}
		}
	}
}
