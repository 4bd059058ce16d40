package topology

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// walkToken is a naive discrete-event model of one token ring, the
// reference for PredictAgreedLatency: the token walks the ring, each member
// broadcasts the messages submitted since its last visit when the token
// arrives, and member j delivers sequence number k only after receiving it
// and every lower one. It returns the mean and maximum, over msgs random
// submissions, of the time from submission to delivery at the last member.
func walkToken(rng *rand.Rand, order []int, rtt [][]time.Duration, hold []time.Duration, msgs int) (mean, worst time.Duration) {
	n := len(order)
	var rot time.Duration
	offset := make(map[int]time.Duration, n) // first token arrival at each member
	for k, i := range order {
		offset[i] = rot
		rot += hold[i] + rtt[i][order[(k+1)%n]]/2
	}
	type msg struct {
		from     int
		submit   time.Duration
		sent     time.Duration
		position int // position of the sender in the ring, to order equal send times
	}
	ms := make([]msg, msgs)
	for k := range ms {
		p := rng.IntN(n)
		i := order[p]
		s := rot + time.Duration(rng.Int64N(int64(50*rot)))
		// Next token arrival at i at or after s.
		visits := (s - offset[i] + rot - 1) / rot
		ms[k] = msg{from: i, submit: s, sent: offset[i] + visits*rot, position: p}
	}
	// The token gives sequence numbers in the order it visits.
	slices.SortStableFunc(ms, func(a, b msg) int {
		if a.sent != b.sent {
			return int(a.sent - b.sent)
		}
		return a.position - b.position
	})
	last := make(map[int]time.Duration, n) // last delivery time at each member
	var sum time.Duration
	for _, m := range ms {
		var done time.Duration
		for _, j := range order {
			at := max(m.sent+rtt[m.from][j]/2, last[j])
			last[j] = at
			done = max(done, at)
		}
		lat := done - m.submit
		sum += lat
		worst = max(worst, lat)
	}
	return sum / time.Duration(msgs), worst
}

// TestPredictAgreedLatencyAgainstTokenWalk compares the closed-form model
// with the naive token walk on many random rings with metric RTTs.
func TestPredictAgreedLatencyAgainstTokenWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := range 200 {
		n := 1 + rng.IntN(10)
		rtt := randomMetric(rng, n)
		hold := make([]time.Duration, n)
		for i := range hold {
			hold[i] = time.Duration(rng.IntN(500)) * time.Microsecond
		}
		order, _ := RingOrder(rtt)
		pred := PredictAgreedLatency(order, rtt, hold)
		mean, worst := walkToken(rng, order, rtt, hold, 4000)
		if worst > pred.Max.D() {
			t.Fatalf("iteration %d (n=%d): token walk saw %v > predicted max %v", iter, n, worst, pred.Max)
		}
		if pred.Rotation > 0 {
			if rel := math.Abs(float64(mean-pred.Mean.D())) / float64(pred.Rotation); rel > 0.05 {
				t.Fatalf("iteration %d (n=%d): token walk mean %v, predicted %v (off by %.1f%% of a rotation)", iter, n, mean, pred.Mean, rel*100)
			}
		}
	}
}

func TestPredictAgreedLatencyByHand(t *testing.T) {
	ms := time.Millisecond
	// Three sites 8, 9 and 10 ms apart, 100us hold each.
	rtt := [][]time.Duration{{0, 8 * ms, 10 * ms}, {8 * ms, 0, 9 * ms}, {10 * ms, 9 * ms, 0}}
	hold := []time.Duration{100 * time.Microsecond, 100 * time.Microsecond, 100 * time.Microsecond}
	got := PredictAgreedLatency([]int{0, 1, 2}, rtt, hold)
	// Rotation = 0.3 + (8+9+10)/2 = 13.8ms; max = 13.8 + 10/2 = 18.8ms;
	// mean = 6.9 + (5 + 4.5 + 5)/3 = 11.733ms.
	want := Latency{Rotation: Duration(13800 * time.Microsecond), Mean: Duration(11733 * time.Microsecond), Max: Duration(18800 * time.Microsecond)}
	if got != want {
		t.Errorf("PredictAgreedLatency = %+v, want %+v", got, want)
	}
	if got := PredictAgreedLatency([]int{0}, rtt, hold); got.Rotation.D() != 100*time.Microsecond || got.Max.D() != 100*time.Microsecond {
		t.Errorf("one member: %+v", got)
	}
	if got := PredictAgreedLatency(nil, nil, nil); got != (Latency{}) {
		t.Errorf("no members: %+v", got)
	}

	// The same ring as a federation over local rings of 540us (max).
	local := localLatency(3, 150*time.Microsecond, 80*time.Microsecond)
	if local.Rotation.D() != 465*time.Microsecond || local.Max.D() != 540*time.Microsecond {
		t.Errorf("localLatency = %+v", local)
	}
	fed := PredictFederatedLatency([]int{0, 1, 2}, rtt, hold, []Latency{local, local, local})
	// max = 0.54 + 13.8 + 2 × 13.8 (Safe) + 5 + 0.54 = 47.48ms.
	if fed.Rotation.D() != 13800*time.Microsecond || fed.Max.D() != 47480*time.Microsecond {
		t.Errorf("PredictFederatedLatency = %+v", fed)
	}
}

func TestDeriveTimeouts(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		rotation, maxRTT time.Duration
		want             Timeouts
	}{
		// A LAN ring: the floors.
		{600 * time.Microsecond, 200 * time.Microsecond, Timeouts{Token: Duration(202 * ms), Retransmit: Duration(48 * ms), Consensus: Duration(243 * ms), Join: Duration(50 * ms)}},
		// A WAN ring rotating in 170ms with a 165ms RTT.
		{170 * ms, 165 * ms, Timeouts{Token: Duration(1428 * ms), Retransmit: Duration(340 * ms), Consensus: Duration(1714 * ms), Join: Duration(330 * ms)}},
	}
	for _, c := range cases {
		got := DeriveTimeouts(c.rotation, c.maxRTT)
		if got != c.want {
			t.Errorf("DeriveTimeouts(%v, %v) = %+v, want %+v", c.rotation, c.maxRTT, got, c.want)
		}
		if got.Token <= got.Retransmit || got.Consensus < got.Token || got.Retransmit.D() < 2*c.rotation {
			t.Errorf("DeriveTimeouts(%v, %v) = %+v breaks Token > Retransmit ≥ 2·rotation, Consensus ≥ Token", c.rotation, c.maxRTT, got)
		}
	}
}
