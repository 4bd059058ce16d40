package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary play a benchmark node, so that RunLocal
// can be tested with real processes without building the atoll command.
func TestMain(m *testing.M) {
	if os.Getenv("ATOLL_BENCH_TEST_NODE") == "1" {
		var spec NodeSpec
		if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		if err := RunNode(context.Background(), spec, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPayloadRoundTrip(t *testing.T) {
	b := make([]byte, 1024)
	want := Payload{Sender: 3, Seq: 1 << 40, SentNs: 123456789}
	want.AppendTo(b)
	got, err := ParsePayload(b)
	if err != nil || got != want {
		t.Fatalf("ParsePayload = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParsePayload(b[:PayloadHeaderLen-1]); err != ErrNotBenchPayload {
		t.Errorf("short payload: err = %v, want ErrNotBenchPayload", err)
	}
	if _, err := ParsePayload(make([]byte, 64)); err != ErrNotBenchPayload {
		t.Errorf("payload without magic: err = %v, want ErrNotBenchPayload", err)
	}
}

func TestQuantiles(t *testing.T) {
	var ns []int64
	for i := 1000; i >= 1; i-- {
		ns = append(ns, int64(i))
	}
	q := Quantiles(ns, 0.5, 0.99, 0.999, 1)
	if want := []int64{500, 990, 999, 1000}; !equal(q, want) {
		t.Errorf("Quantiles = %v, want %v", q, want)
	}
	if q := Quantiles(nil, 0.5); q[0] != 0 {
		t.Errorf("Quantiles(nil) = %v, want 0", q)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSummarize(t *testing.T) {
	dir := t.TempDir()
	var rs []NodeResult
	for i, node := range []string{"a", "b"} {
		f := filepath.Join(dir, node+".lat")
		if err := WriteSamples(f, []int64{int64(i+1) * 1000, int64(i+1) * 3000}); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, NodeResult{Node: node, Delivered: 2000, Bytes: 2000 * 1024, WindowS: 2,
			CPUS: 0.5, CPUWindowS: 2, DaemonCPUS: 0.5, MaxRSSKiB: 1024, Retransmits: 3, Samples: f})
	}
	s, err := Summarize(rs)
	if err != nil {
		t.Fatal(err)
	}
	if s.MsgsPerSec != 1000 || s.CPUPercent != 50 || s.Retransmits != 6 || s.Samples != 4 || s.P50 != 2*time.Microsecond || s.P99 != 6*time.Microsecond {
		t.Errorf("Summarize = %+v", s)
	}
}

func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := ProcCPU(0); err != nil {
		t.Error(err)
	}
	if rss, err := ProcMaxRSS(0); err != nil || rss <= 0 {
		t.Errorf("ProcMaxRSS = %d, %v", rss, err)
	}
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat"); err == nil {
		a, err := ProcSchedStat(0)
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
		b, err2 := ProcSchedStat(0)
		if err != nil || err2 != nil || a.Runs == 0 || b.Run < a.Run || b.Runs < a.Runs {
			t.Errorf("ProcSchedStat = %+v, %v then %+v, %v", a, err, b, err2)
		}
	}
	c := NewMonoClock()
	if d := MonoNow() - c.Ns(time.Now()); d < -int64(time.Millisecond) || d > int64(time.Millisecond) {
		t.Errorf("monotonic clock conversion is off by %v", time.Duration(d))
	}
}

// TestRunLocal runs a short benchmark of three node processes over
// loopback, at a fixed rate and at full load.
func TestRunLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and runs for seconds")
	}
	if os.Getenv("ATOLL_BENCH") == "" {
		// It judges throughput and latency of real processes over seconds
		// of wall time: on a loaded 2-core machine (CI runs the simulator
		// beside it) it flakes, and benchmarks must not be timed tests.
		t.Skip("set ATOLL_BENCH=1 to run the local benchmark smoke test (real processes, wall-clock timing)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ATOLL_BENCH_TEST_NODE", "1")
	for _, rate := range []float64{300, 0} {
		var log bytes.Buffer
		s, err := RunLocal(context.Background(), LocalConfig{
			Nodes: 3, Rate: rate, Security: "encrypt", Size: 256,
			Warmup: 200 * time.Millisecond, Duration: 700 * time.Millisecond,
		}, []string{exe}, &log)
		if err != nil {
			t.Fatalf("rate %v: %v\n%s", rate, err, log.String())
		}
		if s.Nodes != 3 || s.MsgsPerSec <= 0 || s.Samples == 0 || s.P50 <= 0 || s.ConfChanges != 0 {
			t.Fatalf("rate %v: implausible summary %+v", rate, s)
		}
		// Loose bounds: a busy machine delays the generator, which then
		// catches up in a burst.
		if rate > 0 && (s.MsgsPerSec < rate/4 || s.MsgsPerSec > rate*2) {
			t.Errorf("offered %v msgs/s, delivered %.0f", rate, s.MsgsPerSec)
		}
		var out bytes.Buffer
		if err := WriteReport(&out, s); err != nil || !strings.Contains(out.String(), "msgs/s") {
			t.Errorf("WriteReport: %v\n%s", err, out.String())
		}
	}
}

// TestMonoClockPreempted: a process descheduled between its readings of
// the two clocks must not shift the conversion by half of that pause (it
// shifted every timestamp of one sender by −770 µs once, and the median
// latency of a run went negative with it).
func TestMonoClockPreempted(t *testing.T) {
	// A fake host: one timeline, CLOCK_MONOTONIC = Go's clock + 5 s. The
	// first reading of CLOCK_MONOTONIC comes after a 1.5 ms preemption;
	// every other read of a clock takes 200 ns.
	var cur time.Duration
	start := time.Unix(1000, 0)
	calls := 0
	now := func() time.Time { cur += 200 * time.Nanosecond; return start.Add(cur) }
	mono := func() int64 {
		calls++
		if calls == 1 {
			cur += 1500 * time.Microsecond
		}
		cur += 200 * time.Nanosecond
		return int64(5*time.Second + cur)
	}
	c := newMonoClock(now, mono, monoClockTries)
	probe := start.Add(time.Hour)
	want := int64(5*time.Second + time.Hour)
	if d := time.Duration(c.Ns(probe) - want); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("conversion off by %v after one preempted reading; want within 1µs", d)
	}
}

// TestParseHostCPU: busy is every state of /proc/stat's cpu line but idle
// and iowait, total all of them, in clock ticks of 10 ms.
func TestParseHostCPU(t *testing.T) {
	stat := "cpu  13677 5 3050 24471 239 1 41 9 0 0\ncpu0 6000 0 1500 12000 100 0 20 4 0 0\n"
	busy, total := parseHostCPU(stat)
	if want := (13677 + 5 + 3050 + 1 + 41 + 9) * 10 * time.Millisecond; busy != want {
		t.Errorf("busy = %v, want %v", busy, want)
	}
	if want := (13677 + 5 + 3050 + 24471 + 239 + 1 + 41 + 9) * 10 * time.Millisecond; total != want {
		t.Errorf("total = %v, want %v", total, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5\n", "cpu 1 2 3\n", "cpu 1 2 x 4 5\n"} {
		if b, tt := parseHostCPU(bad); b != 0 || tt != 0 {
			t.Errorf("parseHostCPU(%q) = %v, %v, want 0, 0", bad, b, tt)
		}
	}
	if b, tt := HostCPU(); b <= 0 || tt < b {
		t.Errorf("HostCPU() = %v busy of %v: want some busy time, at most the total", b, tt)
	}
}

func TestParseSchedStat(t *testing.T) {
	s, err := parseSchedStat("5863933 6432581 8\n")
	if err != nil || s != (SchedStat{Run: 5863933, Wait: 6432581, Runs: 8}) {
		t.Errorf("parseSchedStat = %+v, %v", s, err)
	}
	if d := (SchedStat{Run: 10, Wait: 20, Runs: 3}).Sub(SchedStat{Run: 4, Wait: 5, Runs: 1}); d != (SchedStat{Run: 6, Wait: 15, Runs: 2}) {
		t.Errorf("Sub = %+v", d)
	}
	for _, bad := range []string{"", "1 2", "1 2 x", "1 2 3 4"} {
		if _, err := parseSchedStat(bad); err == nil {
			t.Errorf("parseSchedStat(%q) did not fail", bad)
		}
	}
}
