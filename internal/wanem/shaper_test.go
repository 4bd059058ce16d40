package wanem

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// These tests drive the shaper with an injected clock: they check the fate
// it hands out, statistically over many packets, without sockets or
// timing.

func newShaper(seed uint64) *shaper { return &shaper{rng: rand.New(rand.NewPCG(seed, 7))} }

// feed sends n packets of size bytes, one every gap, and returns the
// verdicts.
func feed(s *shaper, p Params, n, size int, gap time.Duration) []verdict {
	vs := make([]verdict, n)
	for i := range vs {
		vs[i] = s.admit(&p, time.Duration(i)*gap, size)
	}
	return vs
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4g, want %.4g ± %.2g", what, got, want, tol)
	} else {
		t.Logf("%s = %.4g (want %.4g ± %.2g)", what, got, want, tol)
	}
}

func TestShaperDelayExact(t *testing.T) {
	p := Params{Delay: 100 * time.Millisecond}
	for i, v := range feed(newShaper(1), p, 1000, 1200, 100*time.Microsecond) {
		now := time.Duration(i) * 100 * time.Microsecond
		if v.n != 1 || v.at[0] != now+p.Delay {
			t.Fatalf("packet %d entering at %v: %+v, want one delivery at %v", i, now, v, now+p.Delay)
		}
	}
}

func TestShaperJitterBoundedAndInOrder(t *testing.T) {
	p := Params{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}
	gap := 20 * time.Millisecond // slower than the jitter: most draws stand
	var last, sum time.Duration
	vs := feed(newShaper(2), p, 20000, 1200, gap)
	for i, v := range vs {
		now := time.Duration(i) * gap
		d := v.at[0] - now
		if d < p.Delay-p.Jitter || d > p.Delay+p.Jitter {
			t.Fatalf("packet %d: delay %v outside %v ± %v", i, d, p.Delay, p.Jitter)
		}
		if v.at[0] < last {
			t.Fatalf("packet %d overtook its predecessor (%v < %v)", i, v.at[0], last)
		}
		last = v.at[0]
		sum += d
	}
	within(t, "mean delay (ms)", (sum/time.Duration(len(vs))).Seconds()*1000, 50, 0.5)
}

func TestShaperRandomLoss(t *testing.T) {
	p := Params{Loss: 0.01}
	const n = 200000
	lost := 0
	for _, v := range feed(newShaper(3), p, n, 1200, time.Microsecond) {
		if v.n == 0 {
			if v.cause != CauseLoss {
				t.Fatalf("drop cause %v, want loss", v.cause)
			}
			lost++
		}
	}
	within(t, "loss rate", float64(lost)/n, 0.01, 0.0015)
}

func TestShaperBurstLoss(t *testing.T) {
	p := Params{Burst: Bursty(0.02, 5)}
	within(t, "model rate", p.Burst.Rate(), 0.02, 1e-9)
	const n = 500000
	lost, bursts, run := 0, 0, 0
	for _, v := range feed(newShaper(4), p, n, 1200, time.Microsecond) {
		if v.n == 0 {
			if v.cause != CauseBurst {
				t.Fatalf("drop cause %v, want burst", v.cause)
			}
			lost++
			run++
			continue
		}
		if run > 0 {
			bursts++
		}
		run = 0
	}
	within(t, "burst loss rate", float64(lost)/n, 0.02, 0.003)
	within(t, "mean burst length", float64(lost)/float64(bursts), 5, 0.6)
}

func TestShaperDuplicate(t *testing.T) {
	p := Params{Delay: time.Millisecond, Duplicate: 0.05}
	const n = 100000
	dups := 0
	for _, v := range feed(newShaper(5), p, n, 1200, time.Microsecond) {
		if v.n == 2 {
			if !v.dup || v.at[1] < v.at[0] {
				t.Fatalf("duplicate verdict %+v", v)
			}
			dups++
		}
	}
	within(t, "duplicate rate", float64(dups)/n, 0.05, 0.005)
}

func TestShaperReorder(t *testing.T) {
	p := Params{Delay: 10 * time.Millisecond, Reorder: 0.03, ReorderDelay: 2 * time.Millisecond}
	const n = 100000
	gap := 100 * time.Microsecond // 20 packets within the reorder delay
	vs := feed(newShaper(6), p, n, 1200, gap)
	held := 0
	for i, v := range vs {
		if v.reordered > 0 {
			held++
			if i+1 < n && vs[i+1].reordered == 0 && vs[i+1].at[0] >= v.at[0] {
				t.Fatalf("packet %d was held back (at %v) but %d still arrives after it (at %v)", i, v.at[0], i+1, vs[i+1].at[0])
			}
		}
	}
	within(t, "reorder rate", float64(held)/n, 0.03, 0.003)
}

func TestShaperRateCap(t *testing.T) {
	const rate = 8_000_000 // 1 MB/s
	p := Params{BitsPerSec: rate, QueueBytes: 64 << 10}
	// Offer twice the cap: 1000-byte packets every 500 µs.
	const n, size = 20000, 1000
	gap := 500 * time.Microsecond
	vs := feed(newShaper(7), p, n, size, gap)
	var delivered int
	var first, last time.Duration = -1, 0
	for i, v := range vs {
		if v.n == 0 {
			if v.cause != CauseQueue {
				t.Fatalf("packet %d dropped by %v, want queue", i, v.cause)
			}
			continue
		}
		delivered++
		if first < 0 {
			first = v.at[0]
		}
		// The backlog ahead of the packet never exceeds the queue.
		if wait := v.at[0] - time.Duration(i)*gap; wait > time.Duration(float64(p.QueueBytes)*8/rate*float64(time.Second))+time.Millisecond {
			t.Fatalf("packet %d waited %v, more than a full queue", i, wait)
		}
		last = v.at[0]
	}
	got := float64(delivered-1) * size * 8 / (last - first).Seconds()
	within(t, "throughput / cap", got/rate, 1, 0.01)
	within(t, "delivered fraction", float64(delivered)/n, 0.5, 0.01)
}

func TestShaperQueueBound(t *testing.T) {
	p := Params{BitsPerSec: 1_000_000, QueueBytes: 10_000}
	s := newShaper(8)
	accepted := 0
	for range 100 { // a burst at one instant
		if v := s.admit(&p, 0, 1000); v.n == 1 {
			accepted++
		}
	}
	if accepted != 10 {
		t.Fatalf("a 10000-byte queue took %d 1000-byte packets of a burst, want 10", accepted)
	}
}

func TestShaperDefaultQueue(t *testing.T) {
	p := Params{BitsPerSec: 80_000_000}
	if q := p.queueBytes(); q != 1_000_000 {
		t.Fatalf("default queue at 80 Mbit/s = %d bytes, want 100 ms = 1000000", q)
	}
	p.BitsPerSec = 8000
	if q := p.queueBytes(); q != 3000 {
		t.Fatalf("default queue at 8 kbit/s = %d bytes, want the 3000-byte floor", q)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("quantile of an empty histogram")
	}
	for range 90 {
		h.add(30 * time.Microsecond) // bucket [16, 32) µs
	}
	for range 10 {
		h.add(3 * time.Millisecond) // bucket [2048, 4096) µs
	}
	h.add(-time.Second) // clamped to 0
	h.add(time.Hour)    // the last bucket
	if h.Count() != 102 {
		t.Fatalf("count %d", h.Count())
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.005, time.Microsecond}, {0.5, 32 * time.Microsecond}, {0.9, 4096 * time.Microsecond}, {1, (1 << 23) * time.Microsecond}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}
