package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecorder checks the phases Begin lays out, that Deliver keeps only
// benchmark messages inside the window, Advance's order, and the result
// line Finish writes.
func TestRecorder(t *testing.T) {
	var out bytes.Buffer
	r := NewRecorder("n1", &out)
	t0 := time.Now()
	msg := func(sent time.Time) []byte {
		b := make([]byte, 100)
		Payload{Sender: 1, Seq: 1, SentNs: r.Clock.Ns(sent)}.AppendTo(b)
		return b
	}
	r.Deliver(t0, msg(t0)) // not ready: ignored
	if r.Ready() {
		t.Fatal("ready before Begin")
	}
	next := r.Begin(t0, time.Second, 2*time.Second, 10*time.Second, 3*time.Second)
	if !r.Ready() || !r.Start.Equal(t0.Add(time.Second)) || !next.Equal(t0.Add(3*time.Second)) ||
		!r.WindowStart.Equal(next) || !r.WindowEnd.Equal(t0.Add(13*time.Second)) || !r.Stop.Equal(t0.Add(16*time.Second)) {
		t.Fatalf("phases: start %v window %v-%v stop %v next %v", r.Start.Sub(t0), r.WindowStart.Sub(t0), r.WindowEnd.Sub(t0), r.Stop.Sub(t0), next.Sub(t0))
	}
	r.Deliver(r.WindowStart.Add(-time.Nanosecond), msg(t0))                      // warm-up
	r.Deliver(r.WindowEnd, msg(t0))                                              // after the window
	r.Deliver(r.WindowStart.Add(time.Second), []byte("not a benchmark message")) // foreign
	r.Deliver(r.WindowEnd.Add(-time.Nanosecond), msg(r.WindowEnd.Add(-4*time.Millisecond-time.Nanosecond)))
	r.Deliver(r.WindowStart, msg(r.WindowStart.Add(-2*time.Millisecond)))
	if r.Res.Delivered != 2 || r.Res.Bytes != 200 {
		t.Fatalf("delivered %d, %d bytes; want 2, 200", r.Res.Delivered, r.Res.Bytes)
	}

	next, done, err := r.Advance(r.WindowStart)
	if err != nil || done || !next.Equal(r.WindowEnd) {
		t.Fatalf("first Advance = %v, %v, %v; want the window end", next.Sub(t0), done, err)
	}
	next, done, err = r.Advance(r.WindowEnd)
	if err != nil || done || !next.Equal(r.Stop) || r.Res.CPUWindowS != 10 {
		t.Fatalf("second Advance = %v, %v, %v, CPU window %v s; want the stop, 10 s", next.Sub(t0), done, err, r.Res.CPUWindowS)
	}
	if _, done, err = r.Advance(r.Stop); err != nil || !done {
		t.Fatalf("third Advance = %v, %v; want done", done, err)
	}

	samples := filepath.Join(t.TempDir(), "samples")
	r.Res.ConfChanges = 1
	if err := r.Finish(7, samples); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res NodeResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatal(err)
	}
	if res.Type != "result" || res.Node != "n1" || res.Sent != 7 || res.Delivered != 2 || res.WindowS != 10 ||
		res.P50Us != 2000 || res.P99Us != 4000 || res.ConfChanges != 1 || res.Samples != samples || res.MaxRSSKiB <= 0 {
		t.Fatalf("result %+v", res)
	}
	if ns, err := ReadSamples(samples); err != nil || len(ns) != 2 || ns[0] != int64(4*time.Millisecond) || ns[1] != int64(2*time.Millisecond) {
		t.Fatalf("samples %v, %v; want 4ms and 2ms, in the order delivered", ns, err)
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep(1ms) = false without cancellation")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with an ended context = true")
	}
}

// TestSampleChunks: samples kept across several chunks come back all, in
// the order added, and a full chunk is never copied into a larger one
// (its backing array stays where it was).
func TestSampleChunks(t *testing.T) {
	var c sampleChunks
	n := 2*sampleChunk + 5
	var first *int64
	for i := range n {
		c.add(int64(i))
		if i == 0 {
			first = &c.last[0]
		}
	}
	if len(c.full) != 2 || &c.full[0][0] != first {
		t.Fatalf("%d full chunks, the first one moved: %v", len(c.full), &c.full[0][0] != first)
	}
	all := c.all()
	if len(all) != n {
		t.Fatalf("%d samples, want %d", len(all), n)
	}
	for i, v := range all {
		if v != int64(i) {
			t.Fatalf("sample %d is %d", i, v)
		}
	}
}
