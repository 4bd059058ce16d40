//go:build stagetrace

package stagetrace

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// On reports whether this build records stages.
const On = true

var (
	once   sync.Once
	prefix string
	base   time.Time
	offset int64 // CLOCK_MONOTONIC at base

	// skip is ATOLL_STAGETRACE_SKIP: marks of messages sent less than
	// this long after the first message this process marked are not
	// counted (a run's warm-up, whose ring forming and first bursts
	// would set the p99 of a short window). from is that first send
	// time plus skip, set at the first mark.
	skip time.Duration
	from int64

	mu    sync.Mutex
	order []string
	hists = map[string]*hist{}
)

// hist counts a stage's samples in buckets about 3 % wide (the first 64
// nanoseconds exact, then 32 buckets per power of two), so that Mark and
// the dump cost the same at any rate. Keeping every sample and sorting
// them all at every dump cost the traced process a sort of all samples
// since the start every second: at half of the ring's maximum through the
// client API (18,000 msgs/s delivered at each of 3 nodes) some 100,000
// more per stage each second, on the agent's one thread (GOMAXPROCS 1),
// and with the sort under the lock every mark waited for it: the stage
// builds' p99 was 74-82 ms where the plain build's was 15-38 ms in the
// same minutes.
type hist struct {
	n      uint64
	counts [nBuckets]uint64
}

const (
	linear   = 64 // values below it have a bucket each
	perPower = 32 // buckets per power of two above it
	nBuckets = linear + (63-6)*perPower
)

// bucket returns v's bucket: v itself below linear, else the power of two
// and the 5 bits under its top bit.
func bucket(v int64) int {
	if v < linear {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - 6 // v>>shift is in [32, 64)
	return linear + (shift-1)*perPower + int(v>>shift) - perPower
}

// lower returns the smallest value of bucket b.
func lower(b int) int64 {
	if b < linear {
		return int64(b)
	}
	b -= linear
	shift := b/perPower + 1
	return int64(b%perPower+perPower) << shift
}

func (h *hist) add(v int64) {
	h.n++
	h.counts[bucket(v)]++
}

// quantile returns the lower bound of the bucket of the sample at rank
// p×n (0 ≤ p < 1), as the sorted samples' s[int(p×n)] was.
func (h *hist) quantile(p float64) time.Duration {
	rank := min(uint64(p*float64(h.n)), h.n-1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(lower(b))
		}
	}
	return 0
}

func start() {
	startRuntimeTrace()
	prefix = os.Getenv("ATOLL_STAGETRACE")
	if prefix == "" {
		return
	}
	var ts unix.Timespec
	base = time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		prefix = ""
		return
	}
	offset = ts.Nano() - int64(time.Since(base)/2)
	skip = skipFromEnv()
	go func() {
		for {
			time.Sleep(time.Second)
			dump()
		}
	}()
}

// skipFromEnv reads ATOLL_STAGETRACE_SKIP.
func skipFromEnv() time.Duration {
	v := os.Getenv("ATOLL_STAGETRACE_SKIP")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		fmt.Fprintf(os.Stderr, "stagetrace: ATOLL_STAGETRACE_SKIP=%q: want a duration such as 1s; counting every mark\n", v)
		return 0
	}
	return d
}

// magic is the benchmark header's first 4 bytes ("ATLB").
var magic = []byte("ATLB")

// Mark records that the benchmark message in payload reached stage now.
func Mark(stage string, payload []byte) {
	once.Do(start)
	if prefix == "" {
		return
	}
	i := bytes.Index(payload[:min(len(payload), 512)], magic)
	if i < 0 || len(payload) < i+24 {
		return
	}
	sent := int64(binary.LittleEndian.Uint64(payload[i+16:]))
	if trace.IsEnabled() {
		trace.Log(context.Background(), stage, fmt.Sprintf("%d:%d %d", binary.LittleEndian.Uint32(payload[i+4:]), binary.LittleEndian.Uint64(payload[i+8:]), sent))
	}
	now := offset + int64(time.Since(base))
	mu.Lock()
	if from == 0 {
		from = sent + int64(skip)
	}
	if sent < from {
		mu.Unlock()
		return
	}
	h := hists[stage]
	if h == nil {
		h = new(hist)
		hists[stage] = h
		order = append(order, stage)
	}
	h.add(now - sent)
	mu.Unlock()
}

func dump() {
	// Copy under the lock, format outside it: the marks on the measured
	// path wait for this lock. A copy is a few kilobytes per stage at any
	// rate (the buckets, not the samples).
	mu.Lock()
	stages := slices.Clone(order)
	copies := make([]hist, len(stages))
	for i, st := range stages {
		copies[i] = *hists[st]
	}
	mu.Unlock()
	var b bytes.Buffer
	for i, st := range stages {
		h := &copies[i]
		q := func(p float64) time.Duration { return h.quantile(p) }
		fmt.Fprintf(&b, "%-22s n %7d  p50 %8v  p90 %8v  p99 %8v  p99.9 %8v\n", st, h.n,
			q(0.5).Round(time.Microsecond), q(0.9).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(0.999).Round(time.Microsecond))
	}
	os.WriteFile(fmt.Sprintf("%s.%d", prefix, os.Getpid()), b.Bytes(), 0o644)
}
