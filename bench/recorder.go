package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"time"
)

// Recorder measures one load node of a run, the same way for `atoll bench
// node` (RunNode) and the client-API load program (tests/bench/clientload):
// it lays out the run's phases once the group is complete, keeps the
// deliveries in the measurement window, takes the CPU time around the
// window, and writes the node's JSON lines (NodeEvent, then NodeResult).
// It is used from one goroutine, the node's event consumer.
type Recorder struct {
	// Res is the result Finish writes; callers add their own fields
	// (ring counters, ConfChanges, ...) before calling it.
	Res   NodeResult
	Clock MonoClock

	// DaemonPID, if not 0, is a separate daemon process whose CPU time
	// over the window and peak RSS go to Res.DaemonCPUS and
	// Res.DaemonMaxRSSKiB. DaemonErr, if set, wraps the errors of reading
	// them.
	DaemonPID int
	DaemonErr func(error) error

	// The phases, set by Begin: sending starts at Start, the measurement
	// window is [WindowStart, WindowEnd), and the run is over at Stop.
	Start, WindowStart, WindowEnd, Stop time.Time

	ready                    bool
	window                   time.Duration
	cpuStart, daemonCPUStart time.Duration
	cpuStartAt               time.Time
	cpuDone                  bool
	latencies                sampleChunks
	out                      *bufio.Writer
}

// sampleChunks keeps latency samples in chunks of sampleChunk that are
// never copied or moved. One slice grown by append copied every sample
// into a larger one at each growth (by a quarter, beyond 256), and took
// the page faults of its new memory, dear on a host whose kernel runs
// page-table isolation without PCID. At half of the ring's maximum
// through the client API every clientload grew its slice at the same
// deliveries, since each delivers every message: the deliveries around
// the growths (1.7, 2.2, 2.7, 3.4 and 4.3 s into the window, each a
// quarter later than the one before), 8 % of a run's, held 16 to 61 % of
// its slowest 1 % (docs/BENCHMARKS.md, history, the halfmax entry).
// cpgload's realloc moves its pages instead of copying them.
type sampleChunks struct {
	full [][]int64 // chunks of sampleChunk samples
	last []int64   // the chunk being filled, with sampleChunk of capacity
}

// sampleChunk is the samples of one chunk: 256 KiB, a few milliseconds of
// deliveries at full load.
const sampleChunk = 1 << 15

func (c *sampleChunks) add(v int64) {
	if len(c.last) == cap(c.last) {
		if c.last != nil {
			c.full = append(c.full, c.last)
		}
		c.last = make([]int64, 0, sampleChunk)
	}
	c.last = append(c.last, v)
}

// all returns every sample in the order added, in one slice.
func (c *sampleChunks) all() []int64 {
	out := make([]int64, 0, len(c.full)*sampleChunk+len(c.last))
	for _, ch := range c.full {
		out = append(out, ch...)
	}
	return append(out, c.last...)
}

// NewRecorder returns a Recorder for the node named node that writes its
// JSON lines to out.
func NewRecorder(node string, out io.Writer) *Recorder {
	return &Recorder{
		Res:   NodeResult{Type: "result", Node: node},
		Clock: NewMonoClock(),
		out:   bufio.NewWriter(out),
	}
}

// Ready reports whether Begin was called: the group was complete.
func (r *Recorder) Ready() bool { return r.ready }

// Begin lays out the run when the group is complete at now: sending
// starts after settle, the window after a further warmup and lasts
// duration, and the run ends drain after the window. It returns when to
// call Advance first (the start of the window).
func (r *Recorder) Begin(now time.Time, settle, warmup, duration, drain time.Duration) time.Time {
	r.ready = true
	r.window = duration
	r.Start = now.Add(settle)
	r.WindowStart = r.Start.Add(warmup)
	r.WindowEnd = r.WindowStart.Add(duration)
	r.Stop = r.WindowEnd.Add(drain)
	return r.WindowStart
}

// Deliver records a message delivered at now: if it is a benchmark
// message (ParsePayload) delivered in the window, it counts it and its
// bytes and keeps its latency from its send time.
func (r *Recorder) Deliver(now time.Time, payload []byte) {
	if !r.ready || now.Before(r.WindowStart) || !now.Before(r.WindowEnd) {
		return
	}
	h, err := ParsePayload(payload)
	if err != nil {
		return
	}
	r.Res.Delivered++
	r.Res.Bytes += uint64(len(payload))
	r.latencies.add(r.Clock.Ns(now) - h.SentNs)
}

// Advance moves the run on at now, when the timer set to the time Begin or
// the previous Advance returned fires: first it starts the CPU window
// (at the start of the measurement window), then it ends it (at the end
// of the window), and after the drain it reports done.
func (r *Recorder) Advance(now time.Time) (next time.Time, done bool, err error) {
	switch {
	case r.cpuStartAt.IsZero():
		return r.WindowEnd, false, r.startCPU(now)
	case !r.cpuDone:
		return r.Stop, false, r.endCPU(now)
	default:
		return time.Time{}, true, nil
	}
}

func (r *Recorder) startCPU(now time.Time) error {
	var err error
	r.cpuStartAt = now
	if r.cpuStart, err = ProcCPU(0); err != nil {
		return err
	}
	if r.DaemonPID != 0 {
		if r.daemonCPUStart, err = ProcCPU(r.DaemonPID); err != nil {
			return r.daemonErr(err)
		}
	}
	return nil
}

func (r *Recorder) endCPU(now time.Time) error {
	cpu, err := ProcCPU(0)
	if err != nil {
		return err
	}
	r.Res.CPUS = (cpu - r.cpuStart).Seconds()
	if r.DaemonPID != 0 {
		dcpu, err := ProcCPU(r.DaemonPID)
		if err != nil {
			return r.daemonErr(err)
		}
		r.Res.DaemonCPUS = (dcpu - r.daemonCPUStart).Seconds()
		r.Res.DaemonMaxRSSKiB, _ = ProcMaxRSS(r.DaemonPID)
	}
	r.Res.CPUWindowS = now.Sub(r.cpuStartAt).Seconds()
	r.cpuDone = true
	return nil
}

func (r *Recorder) daemonErr(err error) error {
	if r.DaemonErr != nil {
		return r.DaemonErr(err)
	}
	return err
}

// Finish completes Res with sent (the messages this node sent), the
// window's length, this process's peak RSS and the latency percentiles,
// writes the latency samples to samplesFile unless it is "", in the
// order of the deliveries (a tail's messages in a row were delivered in
// one stall), and writes
// Res as the node's last JSON line.
func (r *Recorder) Finish(sent uint64, samplesFile string) error {
	r.Res.Sent = sent
	r.Res.WindowS = r.window.Seconds()
	r.Res.MaxRSSKiB, _ = ProcMaxRSS(0)
	lat := r.latencies.all()
	r.latencies = sampleChunks{}
	if samplesFile != "" { // in the order delivered, before Quantiles sorts them
		if err := WriteSamples(samplesFile, lat); err != nil {
			return err
		}
		r.Res.Samples = samplesFile
	}
	q := Quantiles(lat, 0.5, 0.99, 0.999)
	r.Res.P50Us, r.Res.P99Us, r.Res.P999Us = us(q[0]), us(q[1]), us(q[2])
	return r.write(r.Res)
}

// Event writes a progress line, stamped with this node's name.
func (r *Recorder) Event(e NodeEvent) {
	e.Node = r.Res.Node
	_ = r.write(e)
}

func (r *Recorder) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.out.Write(append(b, '\n'))
	return r.out.Flush()
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// Sleep waits for d, or until ctx ends; it reports whether it slept the
// whole d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
