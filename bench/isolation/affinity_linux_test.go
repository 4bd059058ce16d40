package isolation

import (
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetIdle checks that setIdle puts a thread at SCHED_IDLE, on a
// thread of its own that ends with the test's goroutine.
func TestSetIdle(t *testing.T) {
	errc := make(chan error, 1)
	policy := make(chan uint32, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tid := unix.Gettid()
		if err := setIdle(strconv.Itoa(tid)); err != nil {
			errc <- err
			return
		}
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			errc <- err
			return
		}
		policy <- a.Policy
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if p := <-policy; p != unix.SCHED_IDLE {
		t.Fatalf("policy %d after setIdle, want SCHED_IDLE (%d)", p, unix.SCHED_IDLE)
	}
}
