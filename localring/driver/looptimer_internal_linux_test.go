package driver

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestLoopTimerMovedOutDoesNotWake: a deadline armed and then moved out
// before it came (the token's retransmission, cancelled by the idle packet
// a moment after the token was passed on) does not wake the process at
// its old time. With one time.Timer Reset to the later time, the runtime
// kept the old time in its heap and the thread sleeping in the network
// poller woke then for nothing, once per rotation of an idle ring. The
// test counts the process's voluntary context switches (each wake of a
// sleeping thread is one) over the same pattern with a plain Reset timer
// and with loopTimer.
func TestLoopTimerMovedOutDoesNotWake(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the agent's setting
	const rounds = 40
	pattern := func(arm func(now, at time.Time) bool, c func() <-chan time.Time) int64 {
		kick, woken := make(chan struct{}, 1), make(chan struct{})
		done := make(chan struct{})
		defer close(done)
		go func() { // wakes the loop without a timer, as a packet does
			for {
				select {
				case <-kick:
					woken <- struct{}{}
				case <-done:
					return
				}
			}
		}()
		wait := time.NewTimer(time.Hour)
		defer wait.Stop()
		time.Sleep(10 * time.Millisecond) // let the start settle
		before := voluntarySwitches(t)
		for range rounds {
			now := time.Now()
			arm(now, now.Add(3*time.Millisecond)) // the retransmission
			kick <- struct{}{}
			select { // the idle packet comes before it is due
			case <-c(): // a busy machine held this goroutine back
				<-woken
			case <-woken:
			}
			if arm(now, now.Add(time.Hour)) { // moved out
				runtime.Gosched() // loopTimer.settle, as the loop before it waits
			}
			wait.Reset(10 * time.Millisecond)
			select { // the quiet of a hold
			case <-c():
				t.Fatal("the deadline moved out fired")
			case <-wait.C:
			}
		}
		return voluntarySwitches(t) - before
	}
	var naive struct{ t *time.Timer }
	naive.t = time.NewTimer(time.Hour)
	defer naive.t.Stop()
	l := newLoopTimer()
	defer l.stop()
	// Alternately, the fewest of at least three tries each: the first runs
	// also pay for starting threads, and a busy machine (go test ./...
	// runs packages side by side) adds switches to either; more tries
	// only while the two are too close, so a loaded run ends where a
	// quiet one would, and a loopTimer that wakes fails every try.
	plain, loop := int64(1<<62), int64(1<<62)
	for try := 0; try < 3 || (try < maxSwitchTries && loop > plain-rounds/2); try++ {
		plain = min(plain, pattern(func(now, at time.Time) bool { naive.t.Reset(at.Sub(now)); return true }, func() <-chan time.Time { return naive.t.C }))
		loop = min(loop, pattern(l.arm, l.C))
	}
	t.Logf("voluntary context switches in %d rounds: %d with a Reset timer, %d with loopTimer", rounds, plain, loop)
	if loop > plain-rounds/2 {
		t.Errorf("loopTimer: %d voluntary context switches in %d rounds, a Reset timer %d: the deadline moved out still wakes the process", loop, rounds, plain)
	}
}

// maxSwitchTries bounds the tries of a test that compares the context
// switches of two timers.
const maxSwitchTries = 10

func voluntarySwitches(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Nvcsw
}
