//go:build stagetrace

package stagetrace

import (
	"fmt"
	"os"
	"runtime/trace"
	"strconv"
	"time"
)

// startRuntimeTrace writes an execution trace (runtime/trace) of this
// process to PREFIX.PID.trace, when ATOLL_RTRACE=PREFIX is set, for
// ATOLL_RTRACE_SECONDS (default 3) from the first mark; the returned
// channel (nil without a trace) is closed once it is written. While it
// runs, every mark is also a log event of the trace (category the stage,
// message "SENDER:SEQ SENT_NS"): the goroutines, threads and wake-ups
// around one message can then be followed from process to process, as
// the trace's timestamps, on Linux, are CLOCK_MONOTONIC nanoseconds like
// the send time (go tool trace -d=parsed prints them).
func startRuntimeTrace() <-chan struct{} {
	prefix := os.Getenv("ATOLL_RTRACE")
	if prefix == "" {
		return nil
	}
	d := 3 * time.Second
	if s := os.Getenv("ATOLL_RTRACE_SECONDS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "stagetrace: ATOLL_RTRACE_SECONDS=%q: want a positive number of seconds; tracing %v\n", s, d)
		} else {
			d = time.Duration(v * float64(time.Second))
		}
	}
	path := fmt.Sprintf("%s.%d.trace", prefix, os.Getpid())
	f, err := os.Create(path)
	if err == nil {
		if err = trace.Start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stagetrace: no execution trace: %v\n", err)
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(d)
		trace.Stop()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "stagetrace: execution trace %s: %v\n", path, err)
		}
	}()
	return done
}
