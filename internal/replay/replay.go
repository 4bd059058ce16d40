// Package replay is a sliding anti-replay window over one sender's packet
// counters, as in IPsec (RFC 6479) and WireGuard: a ring of bits indexed by
// counter, where bit c says "counter c was accepted", valid for counters
// less than a window's size below the highest accepted one. The ring is a
// word larger than the largest window, so sliding forward clears whole
// words. Counter 0 is never valid: senders start at 1.
//
// The local rings' packet seal (localring/seal) and the federation
// transport's sealed datagrams (federation/transport, mode udp) use it.
package replay

// Result is what Check says of a counter.
type Result int

const (
	// Fresh: the counter may be accepted.
	Fresh Result = iota
	// Replayed: the counter was accepted before.
	Replayed
	// TooOld: the counter is 0, or size or more below the highest
	// accepted one, where the window no longer remembers it.
	TooOld
)

// words is the ring's size in 64-bit words; a power of two so that the
// modulo is a mask.
const words = 32

// MaxSize is the largest window size Check can judge.
const MaxSize = (words - 1) * 64

// Window is one sender's window; its zero value has accepted nothing.
type Window struct {
	top  uint64 // highest accepted counter; 0 before the first
	bits [words]uint64
}

// Top returns the highest counter accepted.
func (w *Window) Top() uint64 { return w.top }

// Check says whether counter c may be accepted in a window of size
// counters (1 to MaxSize). It records nothing: a caller accepts c only
// once the packet authenticated.
func (w *Window) Check(c, size uint64) Result {
	switch {
	case c == 0:
		return TooOld
	case c > w.top:
		return Fresh
	case w.top-c >= size:
		return TooOld
	case w.bits[(c/64)%words]&(1<<(c%64)) != 0:
		return Replayed
	}
	return Fresh
}

// Accept records counter c, which Check found Fresh, sliding the window
// forward if c is the new highest.
func (w *Window) Accept(c uint64) {
	if c > w.top {
		cur, next := w.top/64, c/64
		n := min(next-cur, words)
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)%words] = 0
		}
		w.top = c
	}
	w.bits[(c/64)%words] |= 1 << (c % 64)
}
