package agent

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
)

// scrape fetches url and parses the exposition text.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v\n%s", url, err, b)
	}
	return mfs
}

// histogramCount returns the sample count of the series of mf whose
// labels include want (0 when there is none).
func histogramCount(mf *dto.MetricFamily, want map[string]string) uint64 {
	for _, m := range mf.GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(want) {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestLatencyMetrics: scraped over --metrics-listen, the delivery latency
// histogram counts every message a local client sent, once, under the
// latency class of its group and its service level, and the queue wait
// histogram counts each once too; no series before the traffic.
func TestLatencyMetrics(t *testing.T) {
	c := newCluster(t, 2)
	a1 := c.start("n1", func(cfg *Config) {
		cfg.MetricsListen = "127.0.0.1:0"
		cfg.GroupClasses = []GroupClass{{Group: "rt.*", Class: "realtime"}, {Group: "rt.slow", Class: "bulk"}}
	})
	c.start("n2", nil)
	c.waitRing(c.ids, 5*time.Second)
	url := a1.Status().Config.Metrics
	if url == "" {
		t.Fatal("no metrics URL in the effective configuration")
	}

	before := scrape(t, url)
	if mf := before["atoll_delivery_latency_seconds"]; mf != nil && len(mf.GetMetric()) > 0 {
		t.Errorf("delivery latency series before any message: %v", mf)
	}
	if n := histogramCount(before["atoll_client_queue_wait_seconds"], nil); n != 0 {
		t.Errorf("queue wait count before any message: %d", n)
	}
	if n := histogramCount(before["atoll_client_admission_wait_seconds"], nil); n != 0 {
		t.Errorf("admission wait count before any message: %d", n)
	}

	a := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "a")
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "rt.fast"})
	a.waitView("rt.fast", "n1:a")
	const agreed, safe = uint8(localring.Agreed), uint8(localring.Safe)
	for range 7 {
		a.ok(cp.Frame{Type: cp.TypeMulticast, Svc: agreed, Groups: []string{"rt.fast"}, Payload: []byte("x")})
	}
	for range 3 {
		a.ok(cp.Frame{Type: cp.TypeMulticast, Svc: safe, Groups: []string{"rt.slow"}, Payload: []byte("y")})
	}
	a.ok(cp.Frame{Type: cp.TypeMulticast, Svc: agreed, Groups: []string{"other"}, Payload: []byte("z")})
	a.ok(cp.Frame{Type: cp.TypeSend, Svc: agreed, To: "n1:a", Payload: []byte("p")})
	a.ok(cp.Frame{Type: cp.TypeFlush})

	want := []struct {
		class, svc string
		n          uint64
	}{{"realtime", "agreed", 7}, {"bulk", "safe", 3}, {"none", "agreed", 2}}
	var after map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		after = scrape(t, url)
		done := true
		for _, w := range want {
			done = done && histogramCount(after["atoll_delivery_latency_seconds"], map[string]string{"class": w.class, "service": w.svc}) >= w.n
		}
		if done || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range want {
		if n := histogramCount(after["atoll_delivery_latency_seconds"], map[string]string{"class": w.class, "service": w.svc}); n != w.n {
			t.Errorf("atoll_delivery_latency_seconds{class=%q,service=%q} count %d, want %d", w.class, w.svc, n, w.n)
		}
	}
	if n := len(after["atoll_delivery_latency_seconds"].GetMetric()); n != len(want) {
		t.Errorf("%d delivery latency series, want %d", n, len(want))
	}
	qw := after["atoll_client_queue_wait_seconds"].GetMetric()[0].GetHistogram()
	t.Logf("atoll_client_queue_wait_seconds: %d messages, mean %.3f ms", qw.GetSampleCount(), 1e3*qw.GetSampleSum()/float64(max(qw.GetSampleCount(), 1)))
	if qw.GetSampleCount() != 12 || qw.GetSampleSum() <= 0 {
		t.Errorf("atoll_client_queue_wait_seconds: count %d sum %v, want 12 messages and a positive sum", qw.GetSampleCount(), qw.GetSampleSum())
	}
	aw := after["atoll_client_admission_wait_seconds"].GetMetric()[0].GetHistogram()
	t.Logf("atoll_client_admission_wait_seconds: %d messages, mean %.3f ms", aw.GetSampleCount(), 1e3*aw.GetSampleSum()/float64(max(aw.GetSampleCount(), 1)))
	if aw.GetSampleCount() != 12 || aw.GetSampleSum() > qw.GetSampleSum() {
		t.Errorf("atoll_client_admission_wait_seconds: count %d sum %v, want 12 messages and at most the queue wait's sum %v (admission is part of it)", aw.GetSampleCount(), aw.GetSampleSum(), qw.GetSampleSum())
	}
	for _, m := range after["atoll_delivery_latency_seconds"].GetMetric() {
		h := m.GetHistogram()
		if h.GetSampleSum() <= 0 || h.GetSampleSum() > 10*float64(h.GetSampleCount()) {
			t.Errorf("delivery latency %v: sum %v s for %d messages", m.GetLabel(), h.GetSampleSum(), h.GetSampleCount())
		}
		t.Logf("atoll_delivery_latency_seconds%v: %d messages, mean %.3f ms", m.GetLabel(), h.GetSampleCount(), 1e3*h.GetSampleSum()/float64(h.GetSampleCount()))
	}
}

// TestLatencyForgets: the messages followed are bounded; the oldest are
// forgotten, the newest still observed.
func TestLatencyForgets(t *testing.T) {
	l := newLatency("n1", nil)
	t0 := time.Now()
	for seq := uint64(1); seq <= maxTracked+10; seq++ {
		l.accepted(seq, t0, t0, localring.Agreed, []string{"g"})
	}
	if w := len(l.tracked) - l.head; l.count > maxTracked || w > maxTracked {
		t.Fatalf("%d messages followed in a window of %d, bound %d", l.count, w, maxTracked)
	}
	first, last := l.lookup(1) != nil, l.lookup(maxTracked+10) != nil
	if first || !last {
		t.Error("forgot the wrong messages")
	}
	reads := 0
	clock := func(from time.Time) time.Duration { reads++; return t0.Add(time.Millisecond).Sub(from) }
	l.event(&groups.Event{Kind: groups.EventDeliver, Msg: &groups.Message{Sender: "n1:a", Seq: maxTracked + 10}}, clock)
	l.event(&groups.Event{Kind: groups.EventDeliver, Msg: &groups.Message{Sender: "n2:a", Seq: maxTracked + 9}}, clock)
	l.event(&groups.Event{Kind: groups.EventDeliver, Msg: &groups.Message{Sender: "n1:a", Seq: 1}}, clock) // forgotten
	if reads != 1 {
		t.Errorf("the clock was read %d times for one followed message among three events, want once", reads)
	}
	var m dto.Metric
	if err := l.delivery.WithLabelValues("none", "agreed").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.GetHistogram().GetSampleCount() != 1 || m.GetHistogram().GetSampleSum() != 0.001 {
		t.Errorf("after one own delivery and one of another node: %v", m.GetHistogram())
	}
	if l.lookup(maxTracked+9) == nil {
		t.Error("another node's delivery ended this node's message")
	}
}

// TestLatencyAdmissionWait: the admission wait is the time from reading a
// message's frame to its acceptance, and the queue wait (to the ring's
// sending) includes it; a message without a read time is not followed.
func TestLatencyAdmissionWait(t *testing.T) {
	l := newLatency("n1", nil)
	t0 := time.Now()
	l.accepted(1, t0, t0.Add(3*time.Millisecond), localring.Agreed, []string{"g"})
	l.accepted(2, time.Time{}, t0.Add(4*time.Millisecond), localring.Agreed, []string{"g"})
	at5 := func(from time.Time) time.Duration { return t0.Add(5 * time.Millisecond).Sub(from) }
	l.event(&groups.Event{Kind: groups.EventSent, Msg: &groups.Message{Sender: "n1:a", Seq: 1}}, at5)
	l.event(&groups.Event{Kind: groups.EventSent, Msg: &groups.Message{Sender: "n1:a", Seq: 2}}, at5)
	for _, c := range []struct {
		name string
		h    prometheus.Histogram
		sum  float64
	}{{"admission", l.admission, 0.003}, {"queue", l.queueWait, 0.005}} {
		var m dto.Metric
		if err := c.h.Write(&m); err != nil {
			t.Fatal(err)
		}
		if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != c.sum {
			t.Errorf("%s wait: count %d sum %v, want 1 message of %v s", c.name, h.GetSampleCount(), h.GetSampleSum(), c.sum)
		}
	}
}

// TestLatencyWindow: the followed messages are found whatever the order
// of their deliveries, each is observed once, and a message never
// delivered keeps the others' window working until it is forgotten.
func TestLatencyWindow(t *testing.T) {
	l := newLatency("n1", nil)
	t0 := time.Now()
	ms := func(from time.Time) time.Duration { return t0.Add(time.Millisecond).Sub(from) }
	deliver := func(seq uint64) {
		l.event(&groups.Event{Kind: groups.EventDeliver, Msg: &groups.Message{Sender: "n1:a", Seq: seq}}, ms)
	}
	count := func() uint64 {
		var m dto.Metric
		if err := l.delivery.WithLabelValues("none", "agreed").(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	for seq := uint64(1); seq <= 6; seq++ {
		if seq != 4 { // a join's sequence number: not followed
			l.accepted(seq, t0, t0, localring.Agreed, []string{"g"})
		}
	}
	for _, seq := range []uint64{2, 3, 1, 1, 4, 6, 5} { // 1 twice, 4 not followed
		deliver(seq)
	}
	if got := count(); got != 5 {
		t.Errorf("%d deliveries observed, want 5", got)
	}
	if l.count != 0 || len(l.tracked) != l.head {
		t.Errorf("%d messages followed in a window of %d after every delivery, want none", l.count, len(l.tracked)-l.head)
	}
	// Message 7 is never delivered: the window grows behind it until it
	// is forgotten, and the messages after it are observed meanwhile.
	for seq := uint64(7); seq < 7+2*maxTracked; seq++ {
		l.accepted(seq, t0, t0, localring.Agreed, []string{"g"})
		if seq > 7 {
			deliver(seq)
		}
		if w := len(l.tracked) - l.head; w > maxTracked {
			t.Fatalf("at %d: a window of %d, bound %d", seq, w, maxTracked)
		}
	}
	if got, want := count(), uint64(5+2*maxTracked-1); got != want {
		t.Errorf("%d deliveries observed, want %d", got, want)
	}
	if l.lookup(7) != nil || l.count != 0 {
		t.Errorf("message 7 still followed (%d followed), want it forgotten", l.count)
	}
	next := uint64(7 + 2*maxTracked)
	l.accepted(next, t0, t0, localring.Agreed, []string{"g"})
	l.accepted(3, t0, t0, localring.Agreed, []string{"g"}) // below the window: not followed
	if l.lookup(3) != nil || l.lookup(next) == nil {
		t.Errorf("followed: message 3 (below the window) %v, message %d %v; want false, true", l.lookup(3) != nil, next, l.lookup(next) != nil)
	}
}

// TestEventClock: an eventClock reads the clock once, at its first use,
// and measures every later time from that one reading; a new one reads
// it again.
func TestEventClock(t *testing.T) {
	var c eventClock
	t0 := time.Now()
	first := c.since(t0)
	time.Sleep(2 * time.Millisecond)
	if again := c.since(t0); again != first {
		t.Errorf("since(t0) %v, then %v after 2 ms: want the one reading's %v", first, again, first)
	}
	if d := c.since(t0.Add(-time.Second)); d != first+time.Second {
		t.Errorf("since(t0 - 1s) %v, want %v", d, first+time.Second)
	}
	c = eventClock{}
	if d := c.since(t0); d < first+2*time.Millisecond {
		t.Errorf("a new clock: since(t0) %v, want at least %v (a new reading)", d, first+2*time.Millisecond)
	}
}

// TestLatencyClockReads: at a burst of a client's messages the latency
// histograms read the clock for a few events in each run of
// yieldEventEvery, not at each of the two events of every message (its
// sending and its delivery, each its own group layer step), and still
// observe every message.
func TestLatencyClockReads(t *testing.T) {
	c := newCluster(t, 1)
	a1 := c.start("n1", nil)
	c.waitRing(c.ids, 5*time.Second)
	a := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "a")
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	a.waitView("g", "n1:a")
	const n = 512
	reads0 := eventClockReads.Load()
	for i := range n {
		a.write(cp.Frame{Type: cp.TypeMulticast, Req: uint32(1000 + i), Svc: uint8(localring.Agreed), Groups: []string{"g"}, Payload: []byte("x")})
	}
	for got := 0; got < n; {
		if f := a.waitFrame("a delivery", func(f cp.Frame) bool { return f.Type == cp.TypeMessage }); f.Sender == "n1:a" {
			got++
		}
	}
	reads := eventClockReads.Load() - reads0
	var m dto.Metric
	if err := a1.lat.delivery.WithLabelValues("none", "agreed").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetHistogram().GetSampleCount(); got != n {
		t.Errorf("%d deliveries observed, want %d", got, n)
	}
	t.Logf("%d clock readings for %d messages", reads, n)
	if reads > n/2 {
		t.Errorf("%d clock readings for the latency of %d messages, want at most %d (one for a few events, not one per event)", reads, n, n/2)
	}
}
