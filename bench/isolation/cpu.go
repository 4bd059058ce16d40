package isolation

import (
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/bench"
)

// CPU is what the CPUs did over a phase, from its start to the end of its
// sending, as one process saw it: every site of the benchmark runs on the
// host's cores, so a phase that burns more CPU (abc-global saturating)
// also stretches the other groups' latencies by the wait for a core,
// which is the host's doing, not the protocol's.
type CPU struct {
	// Process is the process's CPU time (user and system) over the
	// phase's wall time, in cores; Host the whole machine's busy time
	// (/proc/stat, every process: other work on the host too), 0 where
	// the host does not say.
	Process float64 `json:"process_cores"`
	Host    float64 `json:"host_cores"`
	// SchedP50, SchedP99 and SchedP999 are quantiles of the time the
	// process's goroutines waited runnable for a thread to run them
	// (runtime/metrics /sched/latencies:seconds) over the phase: the
	// wait for a core every ring, agent and client goroutine pays.
	SchedP50  time.Duration `json:"sched_p50_ns"`
	SchedP99  time.Duration `json:"sched_p99_ns"`
	SchedP999 time.Duration `json:"sched_p999_ns"`
	// GCPauses is the total stop-the-world time for the garbage
	// collector over the phase (/sched/pauses/total/gc:seconds, bucket
	// values: bucketValue), GCPauseMax the longest.
	GCPauses   time.Duration `json:"gc_pauses_ns"`
	GCPauseMax time.Duration `json:"gc_pause_max_ns"`
	// GCStops is the part of GCPauses spent stopping the world, from
	// the collector's decision to stop it until every P stopped
	// (/sched/pauses/stopping/gc:seconds, likewise), GCStopMax the
	// longest: a long one says a goroutine that did not reach a
	// preemption point (a thread in a raw system call) held the stop.
	GCStops   time.Duration `json:"gc_stops_ns"`
	GCStopMax time.Duration `json:"gc_stop_max_ns"`
}

// cpuSample is the counters CPU is the difference of.
type cpuSample struct {
	at              time.Time
	proc            time.Duration // user + system
	hostBusy, total time.Duration // bench.HostCPU
	sched, gc, stop *metrics.Float64Histogram
}

const (
	schedMetric = "/sched/latencies:seconds"
	gcMetric    = "/sched/pauses/total/gc:seconds"
	stopMetric  = "/sched/pauses/stopping/gc:seconds"
)

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.hostBusy, s.total = bench.HostCPU()
	ms := []metrics.Sample{{Name: schedMetric}, {Name: gcMetric}, {Name: stopMetric}}
	metrics.Read(ms)
	for i, h := range []**metrics.Float64Histogram{&s.sched, &s.gc, &s.stop} {
		if ms[i].Value.Kind() == metrics.KindFloat64Histogram {
			*h = ms[i].Value.Float64Histogram()
		}
	}
	return s
}

// cpuBetween is what the CPUs did from a to b.
func cpuBetween(a, b cpuSample, cores int) CPU {
	var c CPU
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return c
	}
	c.Process = float64(b.proc-a.proc) / float64(wall)
	if dt := b.total - a.total; b.total > a.total {
		c.Host = float64(b.hostBusy-a.hostBusy) / float64(dt) * float64(cores)
	}
	if d := histDelta(a.sched, b.sched); d != nil {
		q := histQuantiles(d, 0.5, 0.99, 0.999)
		c.SchedP50, c.SchedP99, c.SchedP999 = q[0], q[1], q[2]
	}
	c.GCPauses, c.GCPauseMax = histSum(histDelta(a.gc, b.gc))
	c.GCStops, c.GCStopMax = histSum(histDelta(a.stop, b.stop))
	return c
}

// histSum returns the sum of h's values (each its bucket's value:
// bucketValue) and the largest, zero for a nil h.
func histSum(h *metrics.Float64Histogram) (sum, largest time.Duration) {
	if h == nil {
		return 0, 0
	}
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		v := bucketValue(h, i)
		sum += time.Duration(n) * v
		largest = max(largest, v)
	}
	return sum, largest
}

// histDelta returns b's counts less a's (nil if either is missing or
// their buckets differ).
func histDelta(a, b *metrics.Float64Histogram) *metrics.Float64Histogram {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return nil
	}
	d := &metrics.Float64Histogram{Buckets: b.Buckets, Counts: make([]uint64, len(b.Counts))}
	for i := range b.Counts {
		d.Counts[i] = b.Counts[i] - a.Counts[i]
	}
	return d
}

// histQuantiles returns the quantiles qs of h, each the value of the
// bucket it falls in (bucketValue).
func histQuantiles(h *metrics.Float64Histogram, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return out
	}
	for j, q := range qs {
		rank := uint64(q * float64(n))
		var seen uint64
		for i, c := range h.Counts {
			seen += c
			if seen > rank {
				out[j] = bucketValue(h, i)
				break
			}
		}
	}
	return out
}

// bucketValue is a value for bucket i of h: its upper bound, or its lower
// one when the upper is infinite.
func bucketValue(h *metrics.Float64Histogram, i int) time.Duration {
	hi := h.Buckets[i+1]
	if hi > 1e9 { // +Inf
		hi = h.Buckets[i]
	}
	return time.Duration(hi * float64(time.Second))
}

// add adds c to the average of n phases' figures (the GC pauses and stops summed,
// the longest the longest).
func (a *CPU) add(c CPU, n float64) {
	a.Process += c.Process / n
	a.Host += c.Host / n
	a.SchedP50 += time.Duration(float64(c.SchedP50) / n)
	a.SchedP99 += time.Duration(float64(c.SchedP99) / n)
	a.SchedP999 += time.Duration(float64(c.SchedP999) / n)
	a.GCPauses += c.GCPauses
	a.GCPauseMax = max(a.GCPauseMax, c.GCPauseMax)
	a.GCStops += c.GCStops
	a.GCStopMax = max(a.GCStopMax, c.GCStopMax)
}
