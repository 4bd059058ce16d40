package netns

import (
	"testing"
	"time"
)

var all3 = []string{"n1", "n2", "n3"}
var all5 = []string{"n1", "n2", "n3", "n4", "n5"}

// formTimeout bounds the first ring's formation and every convergence.
const formTimeout = 10 * time.Second

// steady runs n agents under load for d and checks every delivery.
func steady(t *testing.T, n int, tr Transport, d time.Duration) {
	tb := NewTestbed(t, n, tr)
	tb.StartAll()
	want := all3
	if n == 5 {
		want = all5
	}
	before := tb.WaitRing(formTimeout, want)
	time.Sleep(d)
	st := tb.WaitRing(formTimeout, want)
	for id, s := range st {
		b := before[id]
		if s.Ring != b.Ring || s.Counters.TokenLosses != b.Counters.TokenLosses {
			t.Errorf("%s: ring %s with %d token losses before the load, %s with %d after; want no change under steady load", id, b.Ring, b.Counters.TokenLosses, s.Ring, s.Counters.TokenLosses)
		}
		if s.Counters.MessagesDelivered == 0 {
			t.Errorf("%s delivered nothing", id)
		}
		t.Logf("%s: %d sent, %d delivered, %d retransmits", id, s.Counters.MessagesSent, s.Counters.MessagesDelivered, s.Counters.Retransmits)
	}
	tb.Finish(true)
}

func TestSteady3Multicast(t *testing.T) { steady(t, 3, Multicast, 3*time.Second) }

func TestSteady5Unicast(t *testing.T) { steady(t, 5, Unicast, 3*time.Second) }
