package driver

import (
	"runtime"
	"time"
)

// deadlineTimer wakes the loop at the node's next deadline: arm sets it
// (the zero time: none) and reports whether the loop must settle before it
// waits; C ticks when it is due (a tick may come for a deadline since
// moved: the loop then finds nothing due); fired records that the loop
// took a tick; stop releases it.
type deadlineTimer interface {
	arm(now, at time.Time) (movedOut bool)
	C() <-chan time.Time
	fired()
	settle()
	stop()
}

// loopTimer wakes the loop at the node's next deadline with runtime
// timers (where there is no timerfd: deadline_linux.go). It uses two
// timers so that a deadline that moves out costs no wake-up: the Go
// runtime leaves a timer that is Reset to a later time at its old place
// in the timer heap until then (it sorts it lazily), and the thread that
// sleeps in the network poller wakes at that old time for nothing. Every
// node of an idle ring moved its deadline out once per rotation: it arms
// the token's retransmission (TokenRetransmit) when it passes the token
// on, and a moment later the representative's idle packet, or the token's
// return, cancels it. So a later deadline goes on the other timer, and
// the first is stopped, which takes it out of the heap the next time the
// runtime looks for work (settle); an earlier one goes on the same timer,
// which the runtime sorts at once.
type loopTimer struct {
	ts  [2]*time.Timer
	cur int       // ts[cur] is the one armed (or the next to be)
	at  time.Time // when ts[cur] fires; zero when none is armed
}

func newLoopTimer() *loopTimer {
	l := &loopTimer{}
	for i := range l.ts {
		l.ts[i] = time.NewTimer(time.Hour)
		l.ts[i].Stop()
	}
	return l
}

// arm makes the loop wake at at (never, for the zero time); now is the
// loop's clock reading. It reports whether it moved the deadline out:
// then the loop calls settle before it waits.
func (l *loopTimer) arm(now, at time.Time) (movedOut bool) {
	switch {
	case at.IsZero():
		if !l.at.IsZero() {
			l.ts[l.cur].Stop()
			l.at = time.Time{}
		}
	case at.Equal(l.at):
	case l.at.IsZero() || at.Before(l.at):
		l.ts[l.cur].Reset(max(at.Sub(now), 0))
		l.at = at
	default: // later than the armed deadline
		l.ts[l.cur].Stop()
		l.cur ^= 1
		l.ts[l.cur].Reset(max(at.Sub(now), 0))
		l.at = at
		return true
	}
	return false
}

// settle yields once, so that the runtime looks for work and takes the
// timer arm stopped out of its heap now: else it computes how long the
// thread may sleep before it does, from the stopped timer's time. Only
// for a loop that is about to wait (a yield puts the goroutine behind
// every other runnable one).
func (l *loopTimer) settle() { runtime.Gosched() }

// C is the channel of the armed timer (of a stopped one, which never
// fires, when none is armed).
func (l *loopTimer) C() <-chan time.Time { return l.ts[l.cur].C }

// fired records that the armed timer's value was received.
func (l *loopTimer) fired() { l.at = time.Time{} }

func (l *loopTimer) stop() {
	for _, t := range l.ts {
		t.Stop()
	}
}
