package transport

import "testing"

// TestStripeStep: stripes send only on a path that loses packets at
// random, shows no queue, and leaves a backlog to carry; a standing queue
// stops them all at once, and round trips without a loss stop them one by
// one.
func TestStripeStep(t *testing.T) {
	lossy := stripeSample{lost: true, backlog: true}
	for _, c := range []struct {
		name          string
		active, limit int
		s             stripeSample
		want          int
	}{
		{"a clean path with a backlog adds none", 0, 7, stripeSample{backlog: true, calm: 1}, 0},
		{"a clean path keeps those sending", 3, 7, stripeSample{backlog: true, calm: 1}, 3},
		{"loss and a backlog add one", 2, 7, lossy, 3},
		{"at most limit", 7, 7, lossy, 7},
		{"a lower limit (fewer stripes up)", 7, 4, lossy, 4},
		{"loss without a backlog adds none", 2, 7, stripeSample{lost: true}, 2},
		{"a standing queue stops them all", 5, 7, stripeSample{queue: true, lost: true, backlog: true}, 0},
		{"a heavy loss stops them all", 5, 7, stripeSample{lost: true, burst: true, backlog: true}, 0},
		{"calm round trips stop one", 5, 7, stripeSample{backlog: true, calm: stripeIdleRounds}, 4},
		{"calm, none sending", 0, 7, stripeSample{calm: 100}, 0},
	} {
		if got := stripeStep(c.active, c.limit, c.s); got != c.want {
			t.Errorf("%s: stripeStep(%d, %d, %+v) = %d, want %d", c.name, c.active, c.limit, c.s, got, c.want)
		}
	}
}

// TestBurstLoss: a round trip's loss counts as a full queue's tail drops
// only when it is over 5 % of its packets and at least 4 of them; one
// loss among the dozen packets a connection carrying 1 Mbit/s sends per
// 200 ms round trip is random loss (before, it stopped every stripe and
// the stripes of a lossy path hardly sent).
func TestBurstLoss(t *testing.T) {
	for _, c := range []struct {
		sent, lost uint64
		want       bool
	}{
		{12, 1, false},
		{20, 3, false},
		{1000, 10, false},
		{40, 4, true},
		{100, 6, true},
		{0, 0, false},
	} {
		if got := burstLoss(c.sent, c.lost); got != c.want {
			t.Errorf("burstLoss(sent %d, lost %d) = %v, want %v", c.sent, c.lost, got, c.want)
		}
	}
}
