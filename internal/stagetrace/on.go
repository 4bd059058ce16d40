//go:build stagetrace

package stagetrace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
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

	mu      sync.Mutex
	order   []string
	samples = map[string][]int64{}
)

func start() {
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
	go func() {
		for {
			time.Sleep(time.Second)
			dump()
		}
	}()
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
	now := offset + int64(time.Since(base))
	mu.Lock()
	if _, ok := samples[stage]; !ok {
		order = append(order, stage)
	}
	samples[stage] = append(samples[stage], now-sent)
	mu.Unlock()
}

func dump() {
	// Copy under the lock, sort and format outside it: the marks on the
	// measured path wait for this lock, and sorting a long run's samples
	// every second under it stalled them.
	mu.Lock()
	stages := slices.Clone(order)
	copies := make([][]int64, len(stages))
	for i, st := range stages {
		copies[i] = slices.Clone(samples[st])
	}
	mu.Unlock()
	var b bytes.Buffer
	for i, st := range stages {
		s := copies[i]
		slices.Sort(s)
		q := func(p float64) time.Duration { return time.Duration(s[min(len(s)-1, int(p*float64(len(s))))]) }
		fmt.Fprintf(&b, "%-22s n %7d  p50 %8v  p90 %8v  p99 %8v  p99.9 %8v\n", st, len(s),
			q(0.5).Round(time.Microsecond), q(0.9).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(0.999).Round(time.Microsecond))
	}
	os.WriteFile(fmt.Sprintf("%s.%d", prefix, os.Getpid()), b.Bytes(), 0o644)
}
