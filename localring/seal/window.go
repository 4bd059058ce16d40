package seal

// window is a sliding replay window over one sender's counters: a ring of
// bits indexed by counter, where bit c says "counter c was accepted", valid
// for counters in (top-ReplayWindow, top]. The ring is larger than the
// window (windowWords×64 ≥ ReplayWindow+63 bits), so sliding forward only
// clears whole words that fell out of the window (as in WireGuard and RFC
// 6479). Counter 0 is never valid: senders start at 1.
type window struct {
	top  uint64 // highest accepted counter; 0 before the first
	bits [windowWords]uint64
}

const windowWords = 32 // 2048 bits; a power of two so the modulo is a mask

// check reports whether counter c may be accepted: ErrTooOld if it is 0 or
// ReplayWindow or more below top, ErrReplay if it was accepted before.
func (w *window) check(c uint64) *Error {
	switch {
	case c == 0:
		return ErrTooOld
	case c > w.top:
		return nil
	case w.top-c >= ReplayWindow:
		return ErrTooOld
	case w.bits[(c/64)%windowWords]&(1<<(c%64)) != 0:
		return ErrReplay
	}
	return nil
}

// accept records counter c, which check accepted, sliding the window
// forward if c is the new highest.
func (w *window) accept(c uint64) {
	if c > w.top {
		cur, next := w.top/64, c/64
		n := min(next-cur, windowWords)
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)%windowWords] = 0
		}
		w.top = c
	}
	w.bits[(c/64)%windowWords] |= 1 << (c % 64)
}
