//go:build stagetrace

package stagetrace

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atoll-gcs/atoll/internal/waittest"
)

// TestMark: a benchmark header anywhere in the first bytes of a payload
// (the group layer wraps the client's payload) gives a sample of the time
// since its send time; a payload without one gives none. Run with
// go test -tags stagetrace ./internal/stagetrace/.
func TestMark(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "st")
	t.Setenv("ATOLL_STAGETRACE", prefix)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 40)
	copy(p[10:], "ATLB")
	binary.LittleEndian.PutUint64(p[26:], uint64(ts.Nano()-int64(5*time.Millisecond)))
	Mark("x", p)
	Mark("x", make([]byte, 40))
	mu.Lock()
	h := hists["x"]
	mu.Unlock()
	if h == nil || h.n != 1 || h.quantile(0.5) < 5*time.Millisecond*31/32 || h.quantile(0.5) > time.Second {
		t.Fatalf("histogram %v, want one sample of at least 5ms", h)
	}
	dump()
	b, err := os.ReadFile(prefix + "." + itoa(os.Getpid()))
	if err != nil || !strings.HasPrefix(string(b), "x ") {
		t.Fatalf("dump %q, %v", b, err)
	}
}

func itoa(i int) string {
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestBuckets: every value lies in its bucket, whose width is at most
// 1/32 of its lower bound (exact below 64 ns), and the quantiles of a
// histogram are those of the sorted samples within that width.
func TestBuckets(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 999_999, 1_000_000, 5_000_000, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		b := bucket(v)
		lo := lower(b)
		if b < 0 || b >= nBuckets || lo > v || b+1 < nBuckets && lower(b+1) <= v {
			t.Fatalf("value %d: bucket %d [%d, %d)", v, b, lo, lower(b+1))
		}
		if v >= linear && b+1 < nBuckets && float64(lower(b+1)-lo) > float64(lo)/32 {
			t.Fatalf("value %d: bucket %d is %d wide from %d", v, b, lower(b+1)-lo, lo)
		}
	}
	var h hist
	for v := int64(1); v <= 1000; v++ {
		h.add(v * 1000) // 1 µs to 1 ms
	}
	for _, c := range []struct {
		p    float64
		want int64
	}{{0.5, 501_000}, {0.9, 901_000}, {0.99, 991_000}} {
		got := int64(h.quantile(c.p))
		if got > c.want || float64(c.want-got) > float64(c.want)/32 {
			t.Errorf("p%v = %d, want %d within 1/32 below", c.p*100, got, c.want)
		}
	}
}

// TestRuntimeTrace: with ATOLL_RTRACE set, the process writes an
// execution trace for ATOLL_RTRACE_SECONDS, in which a mark is a log
// event naming the stage and the message.
func TestRuntimeTrace(t *testing.T) {
	t.Setenv("ATOLL_STAGETRACE", filepath.Join(t.TempDir(), "st"))
	once.Do(start) // marks record (before ATOLL_RTRACE: start would trace too)
	prefix := filepath.Join(t.TempDir(), "rt")
	t.Setenv("ATOLL_RTRACE", prefix)
	t.Setenv("ATOLL_RTRACE_SECONDS", "0.1")
	done := startRuntimeTrace()
	if done == nil {
		t.Fatal("no trace started")
	}
	p := make([]byte, 40)
	copy(p, "ATLB")
	binary.LittleEndian.PutUint32(p[4:], 7)
	binary.LittleEndian.PutUint64(p[8:], 12345)
	binary.LittleEndian.PutUint64(p[16:], 99)
	Mark("rt.stage", p)
	waittest.Recv(t, done, 10*time.Second, "the runtime trace of ATOLL_RTRACE_SECONDS=0.1 to end")
	b, err := os.ReadFile(prefix + "." + itoa(os.Getpid()) + ".trace")
	if err != nil || !strings.HasPrefix(string(b), "go 1.") {
		t.Fatalf("trace file: %d bytes starting %.8q, %v; want an execution trace", len(b), b, err)
	}
	if !strings.Contains(string(b), "rt.stage") || !strings.Contains(string(b), "7:12345 99") {
		t.Fatal("the trace has no log event of the mark")
	}
}

// TestSkip: with ATOLL_STAGETRACE_SKIP, the messages sent within that
// long of the first marked one are not counted, those sent later are.
func TestSkip(t *testing.T) {
	t.Setenv("ATOLL_STAGETRACE", filepath.Join(t.TempDir(), "st"))
	t.Setenv("ATOLL_STAGETRACE_SKIP", "1s")
	once.Do(start) // marks record
	mu.Lock()
	skip, from = skipFromEnv(), 0
	mu.Unlock()
	defer func() { skip, from = 0, 0 }()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	mark := func(sent int64) {
		p := make([]byte, 40)
		copy(p, "ATLB")
		binary.LittleEndian.PutUint64(p[16:], uint64(sent))
		Mark("skip", p)
	}
	first := ts.Nano() - int64(3*time.Second)
	mark(first)
	mark(first + int64(999*time.Millisecond))
	mark(first + int64(time.Second))
	mark(first + int64(2*time.Second))
	mu.Lock()
	h := hists["skip"]
	mu.Unlock()
	if h == nil || h.n != 2 {
		t.Fatalf("histogram %+v, want the 2 marks sent 1s or more after the first", h)
	}
}
