// Package waittest bounds a test's waits for other goroutines: for a
// value or the close of a channel, and for a WaitGroup. A wait that does
// not end within its limit fails the test saying what it waited for,
// where an unbounded one hangs go test until its -timeout (10 minutes by
// default, none in some runs) and then dumps every goroutine of the
// binary instead of the test's failure.
//
// Fatalf ends the calling goroutine: call these from the test's own
// goroutine (or a Cleanup), as testing.T requires.
package waittest

import (
	"sync"
	"testing"
	"time"
)

// Recv returns the next value of ch, or its zero value once ch is
// closed; it fails the test if neither happens within limit. what names
// what the test waits for and, where it helps, what to look at ("the
// relay's exit status after its context ended").
func Recv[T any](t testing.TB, ch <-chan T, limit time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("waited %v for %s", limit, what)
		var zero T
		return zero
	}
}

// Group waits for wg's goroutines to return; it fails the test if they
// have not within limit (what as for Recv). A goroutine still running
// then leaks, with the one Group starts to wait for it.
func Group(t testing.TB, wg *sync.WaitGroup, limit time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	Recv(t, done, limit, what)
}
