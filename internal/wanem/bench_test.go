package wanem

import (
	"math"
	"testing"
	"time"
)

// The benchmarks measure what the relay delivers against what it is set to,
// over loopback, each with b.N datagrams: run them with a fixed count,
//
//	go test -run '^$' -bench . -benchtime 20000x ./internal/wanem
//
// Each reports measured/set, the ratio of the measured figure to the
// setting (1 is exact), and the figures behind it. Delays are one-way,
// from the sender's write to the sink's read on one monotonic clock, so
// they include two loopback hops (tens of microseconds).

func ratio(b *testing.B, measured, set float64) {
	b.ReportMetric(measured/set, "measured/set")
}

// BenchmarkDelay: one-way delay at 10,000 datagrams/s; the excess over the
// setting in microseconds at the median, p99 and maximum, end to end, and
// the relay's own lateness (Stats.Late, bucket upper bounds) at the median
// and p99.
func BenchmarkDelay(b *testing.B) {
	for _, d := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond} {
		b.Run(d.String(), func(b *testing.B) {
			res := runProbe(b, Params{Delay: d}, b.N, 10000, 200)
			s := res.summarize()
			b.ReportMetric(float64(res.stats.Late.Quantile(0.5))/1e3, "late-p50-µs")
			b.ReportMetric(float64(res.stats.Late.Quantile(0.99))/1e3, "late-p99-µs")
			ratio(b, float64(s.quantile(0.5)), float64(d))
			us := func(x time.Duration) float64 { return float64(x-d) / 1e3 }
			b.ReportMetric(us(s.quantile(0.5)), "p50-excess-µs")
			b.ReportMetric(us(s.quantile(0.99)), "p99-excess-µs")
			b.ReportMetric(us(s.delays[len(s.delays)-1]), "max-excess-µs")
			b.ReportMetric(us(s.delays[0]), "min-excess-µs")
		})
	}
}

// BenchmarkJitter: delay 20 ms ± 4 ms at 100 datagrams/s (10 ms apart, so
// the no-overtaking rule never bites), at most 2000 datagrams: the mean
// delay against 20 ms and the spread against the uniform distribution's
// standard deviation (4/√3 ms).
func BenchmarkJitter(b *testing.B) {
	p := Params{Delay: 20 * time.Millisecond, Jitter: 4 * time.Millisecond}
	s := runProbe(b, p, min(b.N, 2000), 100, 200).summarize()
	mean := s.mean()
	var ss float64
	for _, d := range s.delays {
		ss += math.Pow(float64(d-mean), 2)
	}
	sd := math.Sqrt(ss / float64(len(s.delays)))
	ratio(b, float64(mean), float64(p.Delay))
	b.ReportMetric(sd/(float64(p.Jitter)/math.Sqrt(3)), "sd-measured/set")
	b.ReportMetric(float64(s.delays[0])/1e6, "min-ms")
	b.ReportMetric(float64(s.delays[len(s.delays)-1])/1e6, "max-ms")
}

// BenchmarkLoss: the loss rate seen at the sink (sequence numbers missing)
// against the setting, for random loss and for bursts (mean burst length
// 4, whose measured/set is also reported).
func BenchmarkLoss(b *testing.B) {
	b.Run("random=1%", func(b *testing.B) {
		res := runProbe(b, Params{Loss: 0.01}, b.N, 10000, 200)
		s := res.summarize()
		ratio(b, float64(res.sent-s.unique)/float64(res.sent), 0.01)
		b.ReportMetric(float64(uint64(res.sent)-res.stats.Packets), "kernel-drops")
	})
	b.Run("burst=1%,len=4", func(b *testing.B) {
		res := runProbe(b, Params{Burst: Bursty(0.01, 4)}, b.N, 10000, 200)
		s := res.summarize()
		got := make([]bool, res.sent)
		for _, a := range res.arrivals {
			got[a.seq] = true
		}
		lost, bursts := 0, 0
		for i, ok := range got {
			if !ok {
				lost++
				if i == 0 || got[i-1] {
					bursts++
				}
			}
		}
		ratio(b, float64(res.sent-s.unique)/float64(res.sent), 0.01)
		b.ReportMetric(float64(lost)/float64(max(bursts, 1))/4, "burstlen-measured/set")
		b.ReportMetric(float64(uint64(res.sent)-res.stats.Packets), "kernel-drops")
	})
}

// BenchmarkRate: throughput at the sink against a 10 Mbit/s cap, offered
// 20 Mbit/s (1250-byte datagrams at 2000/s; half must be tail-dropped) and
// 5 Mbit/s (all must pass).
func BenchmarkRate(b *testing.B) {
	const cap = 10_000_000
	for _, tc := range []struct {
		name string
		pps  int
	}{{"offered=2x", 2000}, {"offered=0.5x", 500}} {
		b.Run(tc.name, func(b *testing.B) {
			res := runProbe(b, Params{BitsPerSec: cap}, b.N, tc.pps, 1250)
			s := res.summarize()
			offered := float64(tc.pps * 1250 * 8)
			ratio(b, s.throughput, min(cap, offered))
			b.ReportMetric(s.throughput/1e6, "Mbit/s")
			b.ReportMetric(float64(res.stats.Drops.Queue)/float64(res.sent), "tail-drop-fraction")
		})
	}
}

// BenchmarkDuplicate: the extra copies at the sink against a 5 % setting.
func BenchmarkDuplicate(b *testing.B) {
	res := runProbe(b, Params{Duplicate: 0.05}, b.N, 10000, 200)
	s := res.summarize()
	ratio(b, float64(s.dups)/float64(s.unique), 0.05)
}

// BenchmarkReorder: datagrams that arrive after a later-sent one, against a
// 5 % setting (held back 1 ms at 10,000/s, so about 10 overtake each).
func BenchmarkReorder(b *testing.B) {
	res := runProbe(b, Params{Delay: 5 * time.Millisecond, Reorder: 0.05}, b.N, 10000, 200)
	s := res.summarize()
	ratio(b, float64(s.reordered)/float64(s.unique), 0.05)
}

// BenchmarkMachineTimer is the baseline for BenchmarkDelay's tails: how late
// the link's timer (a timerfd on Linux) wakes a goroutine that sleeps
// 100 µs, b.N times, with no relay around it. On a loaded machine the tail
// of this is the floor under any emulated delay's tail.
func BenchmarkMachineTimer(b *testing.B) {
	w, err := newWaker()
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	var h Histogram
	for b.Loop() {
		due := time.Now().Add(100 * time.Microsecond)
		w.arm(100 * time.Microsecond)
		if err := w.wait(); err != nil {
			b.Fatal(err)
		}
		h.add(time.Since(due))
	}
	b.ReportMetric(float64(h.Quantile(0.5))/1e3, "late-p50-µs")
	b.ReportMetric(float64(h.Quantile(0.99))/1e3, "late-p99-µs")
	b.ReportMetric(float64(h.Quantile(0.999))/1e3, "late-p999-µs")
}

// BenchmarkCapacity: how many 1200-byte datagrams per second a relay with
// a 1 ms delay carries when offered 50,000/s (sender, relay and sink share
// the machine's cores), with the share the relay passed on and the CPU
// time this process spent per relayed datagram.
func BenchmarkCapacity(b *testing.B) {
	var ru0, ru1 unixRusage
	getRusage(&ru0)
	start := time.Now()
	res := runProbe(b, Params{Delay: time.Millisecond}, b.N, 50000, 1200)
	wall := time.Since(start)
	getRusage(&ru1)
	s := res.summarize()
	b.ReportMetric(s.throughput/1200/8, "delivered/s")
	b.ReportMetric(float64(s.unique)/float64(res.sent), "delivered-fraction")
	b.ReportMetric(float64(uint64(res.sent)-res.stats.Packets)/float64(res.sent), "lost-before-relay")
	b.ReportMetric(float64(res.stats.Delivered-uint64(s.unique))/float64(res.sent), "lost-after-relay")
	b.ReportMetric(float64(ru1.cpu()-ru0.cpu())/float64(max(s.unique, 1))/1e3, "cpu-µs/datagram")
	b.ReportMetric(float64(ru1.cpu()-ru0.cpu())/float64(wall), "cores")
}

// BenchmarkDelayProcess is BenchmarkDelay/10ms with the relay in a child
// process, as between network namespaces, so that a stall of the probe
// (sender and sink) and one of the relay are separate; Stats.Late is the
// relay process's own lateness.
func BenchmarkDelayProcess(b *testing.B) {
	const d = 10 * time.Millisecond
	p := Params{Delay: d}
	res := runProbeVia(b, func(target string) probeRelay { return startRelayProcess(b, target, p) }, p, b.N, 10000, 200)
	s := res.summarize()
	us := func(x time.Duration) float64 { return float64(x-d) / 1e3 }
	ratio(b, float64(s.quantile(0.5)), float64(d))
	b.ReportMetric(float64(res.stats.Late.Quantile(0.5))/1e3, "late-p50-µs")
	b.ReportMetric(float64(res.stats.Late.Quantile(0.99))/1e3, "late-p99-µs")
	b.ReportMetric(us(s.quantile(0.5)), "p50-excess-µs")
	b.ReportMetric(us(s.quantile(0.99)), "p99-excess-µs")
	b.ReportMetric(us(s.delays[len(s.delays)-1]), "max-excess-µs")
}
