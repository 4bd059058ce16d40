package isolation

import (
	"bytes"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// TestGroupStatsOverRounds: a phase's rounds pool their messages, each
// against its own window's warm-up, and duplicates count in every window's
// phase code but no other.
func TestGroupStatsOverRounds(t *testing.T) {
	s := newMember("a-1", 0, clock{})
	r := newMember("a-2", 0, clock{})
	ms := func(v int) int64 { return int64(v) * 1e6 }
	// Round 1 (code 0) from 0, measured from 5ms; round 2 (code 4) from
	// 100ms, measured from 105ms. Each sends a warm-up message and two more.
	s.sent[0] = []uint32{0, 1, 2}
	s.sent[4] = []uint32{0, 1, 2}
	for seq, sent := range []int64{0, ms(10), ms(20)} {
		r.got[key{0, 0, 0, uint32(seq)}] = &delivery{sent: sent, at: sent + ms(1), count: 1}
	}
	for seq, sent := range []int64{ms(100), ms(110), ms(120)} {
		r.got[key{0, 4, 0, uint32(seq)}] = &delivery{sent: sent, at: sent + ms(3), count: 1}
	}
	r.got[key{0, 4, 0, 2}].count = 2
	r.got[key{0, 1, 0, 0}] = &delivery{count: 7} // another phase: not counted
	ws := []window{{0, 0, ms(5), ms(50), []sender{{s, 0}}}, {4, ms(100), ms(105), ms(150), []sender{{s, 0}}}}
	st := groupStatsOver(0, ws, []*member{r})
	if st.Sent != 6 || st.Delivered != 6 || st.Measured != 4 || st.Duplicated != 1 || st.Lost != 0 {
		t.Errorf("got %+v; want 6 sent, 6 delivered, 4 measured, 1 duplicated, 0 lost", st)
	}
	if st.P50 != time.Millisecond || st.Max != 3*time.Millisecond {
		t.Errorf("p50 %v max %v, want 1ms and 3ms", st.P50, st.Max)
	}
}

// TestWorstSecond: the share of the deliveries above p99 sent in the one
// second that holds the most of them.
func TestWorstSecond(t *testing.T) {
	s := int64(time.Second)
	lat := []int64{1, 1, 9, 9, 9, 8}
	sent := []int64{0, s, 2*s + 1, 2*s + 2, 5 * s, 2 * s}
	if got := worstSecond(lat, sent, 5); got != 0.75 {
		t.Errorf("worstSecond = %v, want 0.75 (3 of the 4 above p99 in second 2)", got)
	}
	if got := worstSecond(lat, sent, 10); got != 0 {
		t.Errorf("worstSecond with nothing above p99 = %v, want 0", got)
	}
}

// TestHistQuantiles: quantiles of a runtime/metrics histogram's delta are
// the upper bounds of their buckets (the lower one for the last, infinite
// bucket).
func TestHistQuantiles(t *testing.T) {
	a := &metrics.Float64Histogram{Buckets: []float64{0, 1e-6, 1e-3, 1, inf()}, Counts: []uint64{5, 5, 5, 5}}
	b := &metrics.Float64Histogram{Buckets: a.Buckets, Counts: []uint64{5 + 90, 5 + 9, 5, 5 + 1}}
	d := histDelta(a, b)
	q := histQuantiles(d, 0.5, 0.95, 0.999)
	if q[0] != time.Microsecond || q[1] != time.Millisecond || q[2] != time.Second {
		t.Errorf("quantiles %v, want 1µs, 1ms, 1s", q)
	}
	if histDelta(a, &metrics.Float64Histogram{Counts: []uint64{1}}) != nil {
		t.Error("histograms of different buckets have a delta")
	}
}

func inf() float64 { var z float64; return 1 / z }

// TestTargetsOverRounds: with rounds, the p99 targets are judged on the
// median of the rounds' ratios, not on the pooled p99s, and the table
// lists every round.
func TestTargetsOverRounds(t *testing.T) {
	ms := time.Millisecond
	g := func(name string, p99 time.Duration) GroupStats {
		return GroupStats{Group: name, Measured: 10, P50: p99 / 2, P99: p99}
	}
	round := func(det, att, sat time.Duration) []Phase {
		return []Phase{{Groups: []GroupStats{g(ALocal, det)}}, {Groups: []GroupStats{g(ALocal, att)}}, {Groups: []GroupStats{g(ALocal, sat)}}}
	}
	r := &Report{Config: Config{Groups: []string{ALocal, ABCGlobal}, Duration: 30 * time.Second, Rounds: 3}}
	r.Predicted.Mean = 1
	// One round with a stall in its saturating phase: its ratio is 5×,
	// the others' 1.0× and 1.05×; the pooled p99 (here 3 ms over 1 ms)
	// would miss the target, the median meets it.
	r.Rounds = [][]Phase{round(ms, ms, 5*ms), round(ms, ms, ms), round(2*ms, 2*ms, 2100*time.Microsecond)}
	r.Phases = []Phase{{Groups: []GroupStats{g(ALocal, ms)}}, {Groups: []GroupStats{g(ALocal, ms)}}, {Groups: []GroupStats{g(ALocal, 3*ms)}}}
	ts := r.Targets()
	if !ts[0].Met || !strings.Contains(ts[0].Measured, "median of 3 rounds 1.05×") || !strings.Contains(ts[0].Measured, "5.00×, 1.00×, 1.05×") || !strings.Contains(ts[0].Measured, "pooled") {
		t.Errorf("a-local: %+v, want met on the median 1.05× of 5.00×, 1.00×, 1.05×", ts[0])
	}
	r.Rounds[1] = round(ms, ms, 2*ms)
	if ts := r.Targets(); ts[0].Met || !strings.Contains(ts[0].Measured, "median of 3 rounds 2.00×") {
		t.Errorf("a-local: %+v, want not met on the median 2.00×", ts[0])
	}
	var out bytes.Buffer
	r.WriteTable(&out, "atoll bench isolation")
	for _, want := range []string{"The rounds (each phase measured 10s per round", "| 3 | 2000µs / 2000µs / 2100µs |", "goroutines waiting runnable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 2}, 2}, {[]float64{4, 1, 2, 3}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
