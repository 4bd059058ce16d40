// Package schedprobe notes when a test process did not run. Tests that
// judge a ring by wall-clock timeouts (a token timeout, QUIC's idle
// timeout) start a probe: a goroutine that sleeps 5 ms at a time and
// records every wake-up that came late by a threshold or more. A failure
// can then say how long the machine gave the process no CPU, rather
// than blame the ring for it.
package schedprobe

import (
	"os"
	"strings"
	"sync"
	"time"
)

// Interval is how long the probe sleeps between wake-ups.
const Interval = 5 * time.Millisecond

// Stall is a late wake-up: the process did not run from From to To,
// offsets from the probe's base time.
type Stall struct{ From, To time.Duration }

// Probe records the late wake-ups of its goroutine until Stop.
type Probe struct {
	base    time.Time
	min     time.Duration
	onStall func(Stall)

	mu     sync.Mutex
	stalls []Stall

	done, exited chan struct{}
}

// Start starts a probe that records every wake-up at least min late, as
// offsets from base. onStall, if not nil, is called with each one as it is
// recorded (from the probe's goroutine).
func Start(base time.Time, min time.Duration, onStall func(Stall)) *Probe {
	p := &Probe{base: base, min: min, onStall: onStall, done: make(chan struct{}), exited: make(chan struct{})}
	go p.run()
	return p
}

func (p *Probe) run() {
	defer close(p.exited)
	for {
		t0 := time.Now()
		select {
		case <-p.done:
			return
		case <-time.After(Interval):
		}
		if late := time.Since(t0) - Interval; late >= p.min {
			from := t0.Sub(p.base) + Interval
			s := Stall{From: from, To: from + late}
			p.mu.Lock()
			p.stalls = append(p.stalls, s)
			p.mu.Unlock()
			if p.onStall != nil {
				p.onStall(s)
			}
		}
	}
}

// Stop ends the probe and waits for its goroutine.
func (p *Probe) Stop() {
	close(p.done)
	<-p.exited
}

// Within sums the parts of the recorded stalls that fall in [from, to]
// (offsets from the base), and returns how many stalls overlap it and the
// longest such part.
func (p *Probe) Within(from, to time.Duration) (sum time.Duration, n int, longest time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.stalls {
		lo, hi := max(s.From, from), min(s.To, to)
		if hi > lo {
			sum += hi - lo
			longest = max(longest, hi-lo)
			n++
		}
	}
	return sum, n, longest
}

// LoadAvg returns the host's 1, 5 and 15 minute load averages ("?" where
// /proc/loadavg is not), for a failure or a benchmark figure that a busy
// host can explain: how many threads wanted a core meanwhile.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
