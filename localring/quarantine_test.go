package localring

import (
	"slices"
	"testing"
	"time"
)

// TestQuarantineBackoff pins the quarantine's length (the state machine
// alone, time an argument): EvictQuarantine at a member's first judgment,
// doubled at each renewal that comes while it is still out or within
// 16 × EvictQuarantine of its coming back into a ring with me, at most
// 16 × EvictQuarantine, and EvictQuarantine again at a judgment more
// than 16 × EvictQuarantine after it came back: a ring kept out by a fault
// that persisted is out for at most 16 × EvictQuarantine after the fault
// ends (16 s at the default 1 s, as a starved demo saw its federation
// ring's other site ignored for 2, 4, 8, then 16 s), and one that stayed
// in for that long starts over. Without the bound a fault that persists
// would keep a healed node out for ever longer; without the reset, one
// judgment after a long good while would cost 16 s.
func TestQuarantineBackoff(t *testing.T) {
	n := testNode(t, "n1")
	q := n.cfg.EvictQuarantine
	m := Member{ID: "n2", Inc: 1}
	now := t0
	judge := func(after time.Duration) time.Duration {
		now = now.Add(after)
		n.now = now
		return n.quarantine(m)
	}
	back := func(after time.Duration) {
		now = now.Add(after)
		n.now = now
		n.admitted([]Member{m})
	}
	var got []time.Duration
	// Out again while its quarantine runs (requarantine), or right after it came back.
	got = append(got, judge(0))
	got = append(got, judge(got[0]+time.Millisecond))
	back(got[1] + time.Millisecond)
	got = append(got, judge(time.Second))
	back(got[2])
	got = append(got, judge(16*q-time.Millisecond))
	got = append(got, judge(got[3]))
	got = append(got, judge(got[4]))
	if want := []time.Duration{q, 2 * q, 4 * q, 8 * q, 16 * q, 16 * q}; !slices.Equal(got, want) {
		t.Errorf("quarantines %v, want %v", got, want)
	}
	// Back for longer than 16 × EvictQuarantine: it starts over.
	back(got[5])
	if d := judge(16*q + time.Millisecond); d != q {
		t.Errorf("judged %v after it came back: quarantined %v, want %v", 16*q+time.Millisecond, d, q)
	}
	if !n.isQuarantined(m) || n.isQuarantined(Member{ID: "n2", Inc: 2}) {
		t.Error("the quarantine does not hold m alone (its incarnation)")
	}
	// A new incarnation starts over.
	if d := (func() time.Duration { n.now = now; return n.quarantine(Member{ID: "n2", Inc: 2}) })(); d != q {
		t.Errorf("a new incarnation quarantined %v, want %v", d, q)
	}
}
