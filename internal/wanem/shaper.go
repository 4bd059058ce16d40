package wanem

import (
	"math/rand/v2"
	"time"
)

// Cause is why a link dropped a packet.
type Cause uint8

// The causes of drops.
const (
	CauseNone     Cause = iota
	CauseCut            // the link was cut when the packet entered or was due
	CauseLoss           // random loss (Params.Loss)
	CauseBurst          // burst loss (Params.Burst)
	CauseQueue          // the cap's queue was full (tail drop), or the in-flight limit
	CauseNoSocket       // no socket toward the target could be opened for the sender
	CauseWriteErr       // the socket refused the packet
)

func (c Cause) String() string {
	switch c {
	case CauseNone:
		return "none"
	case CauseCut:
		return "cut"
	case CauseLoss:
		return "loss"
	case CauseBurst:
		return "burst"
	case CauseQueue:
		return "queue"
	case CauseNoSocket:
		return "no-socket"
	case CauseWriteErr:
		return "write-error"
	}
	return "unknown"
}

// shaper decides each packet's fate for one direction of a link: dropped
// (and why) or delivered at which times (two with a duplicate). It is a pure
// function of its state, the parameters, the arrival time and its random
// source, so tests drive it with an injected clock.
type shaper struct {
	rng       *rand.Rand
	bad       bool          // Gilbert-Elliott state
	busyUntil time.Duration // when the cap has serialised every queued byte
	lastAt    time.Duration // the latest in-order delivery time handed out
}

// verdict is the shaper's decision on one packet.
type verdict struct {
	n         int              // deliveries: 0 (dropped), 1, or 2 (duplicated)
	at        [2]time.Duration // their times
	cause     Cause            // why a copy was dropped (n < copies)
	reordered int              // copies held back by Reorder
	dup       bool             // a copy was made
}

// admit decides the fate of a packet of size bytes entering at now.
func (s *shaper) admit(p *Params, now time.Duration, size int) verdict {
	var v verdict
	if g := &p.Burst; g.GoodToBad > 0 || g.LossGood > 0 {
		if s.bad {
			if g.BadToGood > 0 && s.rng.Float64() < g.BadToGood {
				s.bad = false
			}
		} else if g.GoodToBad > 0 && s.rng.Float64() < g.GoodToBad {
			s.bad = true
		}
		loss := g.LossGood
		if s.bad {
			loss = g.LossBad
		}
		if loss > 0 && s.rng.Float64() < loss {
			v.cause = CauseBurst
			return v
		}
	}
	if p.Loss > 0 && s.rng.Float64() < p.Loss {
		v.cause = CauseLoss
		return v
	}
	copies := 1
	if p.Duplicate > 0 && s.rng.Float64() < p.Duplicate {
		copies, v.dup = 2, true
	}
	for range copies {
		depart := now
		if p.BitsPerSec > 0 {
			start := max(now, s.busyUntil)
			backlog := (start - now).Seconds() * float64(p.BitsPerSec) / 8 // bytes not yet serialised
			if backlog+float64(size) > float64(p.queueBytes()) {
				v.cause = CauseQueue
				continue
			}
			s.busyUntil = start + time.Duration(int64(size)*8*int64(time.Second)/p.BitsPerSec)
			depart = s.busyUntil
		}
		at := depart + p.Delay
		if p.Jitter > 0 {
			at += time.Duration(s.rng.Int64N(int64(2*p.Jitter)+1)) - p.Jitter
			at = max(at, depart)
		}
		if p.Reorder > 0 && s.rng.Float64() < p.Reorder {
			at = max(at, s.lastAt) + p.reorderDelay()
			v.reordered++
		} else {
			at = max(at, s.lastAt)
			s.lastAt = at
		}
		v.at[v.n] = at
		v.n++
	}
	return v
}
