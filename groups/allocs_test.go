package groups

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestAllocsPerDelivery bounds the group layer's allocations for a
// multicast the ring delivers to one local member: the list of its
// groups, and the Message with room for its first recipients (delivery);
// 3 before the Message and Event.To shared one allocation.
func TestAllocsPerDelivery(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	l := newLoop(t, Config{})
	if err := l.g.Join("c", "g"); err != nil {
		t.Fatal(err)
	}
	l.flush()
	n2 := localring.Member{ID: "n2", Inc: 1}
	w := wireMsg{kind: kindMulticast, epoch: l.g.epoch, seq: 1, client: "r", groups: []string{"g"}, data: make([]byte, 1024)}
	payload := w.append(nil)
	l.remoteJoin(n2, "r", "g")
	deliver := func() {
		l.deliver(n2, payload, localring.Agreed)
		rd := l.g.Ready()
		if len(rd.Events) != 1 || len(rd.Events[0].To) != 1 {
			t.Fatalf("events %+v, want one delivery to c", rd.Events)
		}
		l.g.Release(rd)
	}
	deliver()
	if got := testing.AllocsPerRun(1000, deliver); got > 2 {
		t.Errorf("%.1f allocations per delivery, want at most 2", got)
	}
}
