package waittest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own and returns what
// it failed with, "" if it did not.
func run(f func(tb testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

// TestRecv: a value, or the channel's close, ends the wait; nothing
// within the limit fails the test, naming what it waited for.
func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	var got int
	if failed := run(func(tb testing.TB) { ch <- 8; got = Recv(tb, ch, time.Second, "eight") }); failed != "" || got != 8 {
		t.Errorf("a value waiting: %d, failed %q; want 8", got, failed)
	}
	closed := make(chan struct{})
	close(closed)
	if failed := run(func(tb testing.TB) { Recv(tb, closed, time.Second, "the close") }); failed != "" {
		t.Errorf("a closed channel: failed %q", failed)
	}
	start := time.Now()
	failed := run(func(tb testing.TB) { Recv(tb, make(chan int), 50*time.Millisecond, "the agent's exit") })
	if failed != "waited 50ms for the agent's exit" {
		t.Errorf("nothing comes: failed %q, want it to name the limit and the agent's exit", failed)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("nothing comes: failed after %v, before the limit of 50ms", took)
	}
}

// TestGroup: the group's end ends the wait; a goroutine that does not
// return within the limit fails the test.
func TestGroup(t *testing.T) {
	var wg sync.WaitGroup
	wg.Go(func() {})
	if failed := run(func(tb testing.TB) { Group(tb, &wg, time.Second, "the senders") }); failed != "" {
		t.Errorf("the group returned: failed %q", failed)
	}
	release := make(chan struct{})
	defer close(release)
	wg.Go(func() { <-release })
	if failed := run(func(tb testing.TB) { Group(tb, &wg, 50*time.Millisecond, "the senders") }); failed != "waited 50ms for the senders" {
		t.Errorf("a goroutine that does not return: failed %q", failed)
	}
}
