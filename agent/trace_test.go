package agent

import (
	"bufio"
	"io"
	"testing"

	"github.com/atoll-gcs/atoll/evs"
)

// traceDeliver is a deliver line of a message coming down from a
// federation domain, as a traced agent writes two of for each.
var traceDeliver = evs.Event{Ev: evs.EvDeliver, Node: "a-1", Inc: 1, Domain: "fed/global:a+b+c", ConfID: "a-1/1/17",
	Msg: "b-2/1/4711", Svc: "agreed", Groups: []string{"abc-global"}, Hash: "9f86d081884c7d65", Order: 31337}

// TestTraceWriteAllocs: a trace line costs the group loop no allocation
// (json.Marshal, through Event.MarshalJSON, took 6 for this one).
func TestTraceWriteAllocs(t *testing.T) {
	tr := &tracer{buf: bufio.NewWriterSize(io.Discard, 64<<10)}
	tr.write(traceDeliver)
	if n := testing.AllocsPerRun(100, func() { tr.write(traceDeliver) }); n != 0 {
		t.Errorf("a trace line allocated %v times, want 0", n)
	}
	if tr.err != nil {
		t.Fatal(tr.err)
	}
}

func BenchmarkTraceWrite(b *testing.B) {
	tr := &tracer{buf: bufio.NewWriterSize(io.Discard, 64<<10)}
	b.ReportAllocs()
	for b.Loop() {
		tr.write(traceDeliver)
	}
}
