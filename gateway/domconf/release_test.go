package domconf

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestRelease: a released Ready's events slice carries the View's next
// events (no allocation for them), cleared of the old ones; one taken
// after the View emitted again, or too large, is not reused.
func TestRelease(t *testing.T) {
	v, err := New(Config{Domain: "fed/x", Site: "a", Self: localring.Member{ID: "a-1", Inc: 1}})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("m")
	deliver := func(seq uint64) localring.Event {
		return localring.Event{Kind: localring.EventDeliver, Msg: localring.Message{ID: localring.MessageID{Sender: "b-1", Inc: 1, Seq: seq}, Payload: payload}}
	}
	v.emit(deliver(1))
	v.emit(deliver(2))
	r := v.Ready()
	v.Release(r)
	if n := testing.AllocsPerRun(100, func() {
		v.emit(deliver(3))
		v.Release(v.Ready())
	}); n != 0 {
		t.Errorf("emit, Ready and Release: %v allocations; want 0", n)
	}
	v.emit(deliver(4))
	r2 := v.Ready()
	if len(r2.Events) != 1 || r2.Events[0].Msg.ID.Seq != 4 || &r2.Events[:cap(r2.Events)][0] != &r.Events[:cap(r.Events)][0] {
		t.Fatalf("after Release: events %+v; want the one emitted, in the released slice", r2.Events)
	}
	if e := r2.Events[:2][1]; e.Msg.Payload != nil {
		t.Errorf("a released slice still holds an old event: %+v", e)
	}
	v.emit(deliver(5))
	v.Release(r2) // the View emitted since: not reused
	if r3 := v.Ready(); len(r3.Events) != 1 || r3.Events[0].Msg.ID.Seq != 5 {
		t.Errorf("Release after an emit changed the output: %+v", r3.Events)
	}
	big := Ready{Events: make([]localring.Event, 0, maxReleased+1)}
	v.Release(big)
	if v.out.Events != nil {
		t.Error("Release kept a slice above maxReleased")
	}
}
