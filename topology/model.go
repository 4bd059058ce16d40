package topology

import (
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// The latency model. docs/PLANNER.md states it with its assumptions; in
// short, for one Totem token ring visited in a fixed order:
//
//	d(i,j)   = rtt(i,j)/2                       one-way delay
//	R        = Σ_k hold(k) + d(k, next(k))      rotation time of the token
//	Max      = R + max_i max_j d(i,j)           worst agreed-delivery latency
//	Mean     = R/2 + mean_i max_j d(i,j)        mean over senders and send instants
//
// A message submitted just after its sender passed the token waits a full
// rotation R for the token, is broadcast when the token arrives, and is
// delivered in agreed order by member j on receipt, d(i,j) later: no earlier
// message can still be missing at j, because when the RTTs obey the triangle
// inequality every earlier broadcast reached j first. "Latency" is until the
// last member delivers.

// Latency is a prediction of the latency model for one ring or one domain.
type Latency struct {
	// Rotation is the token rotation time: one full circle of the ring with
	// the hold time at every member.
	Rotation Duration `json:"rotation"`
	// Mean is the mean agreed-delivery latency (until the last member
	// delivers) over senders and over send instants uniform within a
	// rotation.
	Mean Duration `json:"mean"`
	// Max is the worst agreed-delivery latency without loss: the figure
	// compared with class budgets.
	Max Duration `json:"max"`
}

// PredictAgreedLatency predicts the agreed-delivery latency of one Totem
// token ring without message loss and under light load. order lists the
// ring's members in token order as indices into rtt and hold; rtt[i][j] is
// the round-trip time between members i and j and hold[i] how long member i
// holds the token. Members not in order are ignored. A ring of one member
// has rotation hold and no network delay; an empty ring predicts zero.
//
// This is the function to compare with a simulated ring: members with the
// given one-way delays rtt/2, a token processing time of hold per visit,
// and messages submitted at uniformly random instants; the simulator's mean
// and maximum of "send to delivery at the last member" should approach Mean
// and stay at or below Max.
func PredictAgreedLatency(order []int, rtt [][]time.Duration, hold []time.Duration) Latency {
	n := len(order)
	if n == 0 {
		return Latency{}
	}
	var holds, around time.Duration
	for k, i := range order {
		holds += hold[i]
		around += rtt[i][order[(k+1)%n]]
	}
	rot := holds + around/2 // halve once, so equal tours give equal rotations
	var worst, sum time.Duration
	for _, i := range order {
		var far time.Duration
		for _, j := range order {
			far = max(far, rtt[i][j]/2)
		}
		worst = max(worst, far)
		sum += far
	}
	return Latency{
		Rotation: Duration(rot),
		Mean:     Duration((rot/2 + sum/time.Duration(n)).Round(time.Microsecond)),
		Max:      Duration(rot + worst),
	}
}

// PredictFederatedLatency predicts the agreed-delivery latency of a
// federation domain: a federation ring among one gateway per site, visited
// in order (indices into rtt and hold, as for PredictAgreedLatency), above
// the local rings of those sites, whose own predictions are local[i]. A
// message sent at site a travels
//
//	sender's local ring to a's gateway   ≤ local[a].Max   (wait for the local token, broadcast)
//	wait for the federation token        ≤ R_fed
//	federation broadcast to gateway b      d(a,b)
//	b's gateway into b's local ring      ≤ local[b].Max   (wait for the local token, broadcast)
//
// and the federation ring delivers it only once it is Safe there (the
// bridge has the ring carry every domain message as Safe: a site brings
// down only what every site holds, gateway/bridge), which takes the
// token's all-received-up-to at two visits of each gateway: SafeRotations
// rotations more than agreed delivery. So
//
//	Max = max_a (local[a].Max + (1+SafeRotations)·R_fed + max_b (d(a,b) + local[b].Max)),
//
// where b ranges over every site of the domain, a itself included (its
// gateway injects the ordered message back into its own ring). Mean uses the
// mean of each term instead of its maximum (an approximation: the mean of a
// maximum is not the maximum of means). Without the Safe rotations the
// model predicted a third to a quarter of what atoll bench isolation
// measured (abc-global: 203 ms predicted, 728 ms measured at the median).
func PredictFederatedLatency(order []int, rtt [][]time.Duration, hold []time.Duration, local []Latency) Latency {
	n := len(order)
	if n == 0 {
		return Latency{}
	}
	fed := PredictAgreedLatency(order, rtt, hold)
	rot := fed.Rotation.D()
	var worst, sum time.Duration
	for _, a := range order {
		var farMax, farMean time.Duration
		for _, b := range order {
			d := rtt[a][b] / 2
			farMax = max(farMax, d+local[b].Max.D())
			farMean = max(farMean, d+local[b].Mean.D())
		}
		worst = max(worst, local[a].Max.D()+rot+SafeRotations*rot+farMax)
		sum += local[a].Mean.D() + rot/2 + SafeRotations*rot + farMean
	}
	return Latency{Rotation: fed.Rotation, Mean: Duration((sum / time.Duration(n)).Round(time.Microsecond)), Max: Duration(worst)}
}

// SafeRotations is how many token rotations Safe delivery takes beyond
// agreed delivery on a ring (localring: the token's all-received-up-to
// must cover the message at two visits of each member).
const SafeRotations = 2

// localLatency predicts a site's local ring: n nodes, all pairs lanRTT apart,
// each holding the token for hold. It is PredictAgreedLatency in closed form
// (a ring of thousands of nodes needs no matrix): R = n·(hold + lanRTT/2),
// Max = R + lanRTT/2 and Mean = R/2 + lanRTT/2 for n ≥ 2.
func localLatency(n int, lanRTT, hold time.Duration) Latency {
	if n <= 0 {
		return Latency{}
	}
	if n == 1 {
		return Latency{Rotation: Duration(hold), Mean: Duration((hold / 2).Round(time.Microsecond)), Max: Duration(hold)}
	}
	rot := time.Duration(n)*hold + time.Duration(n)*lanRTT/2
	return Latency{Rotation: Duration(rot), Mean: Duration((rot/2 + lanRTT/2).Round(time.Microsecond)), Max: Duration(rot + lanRTT/2)}
}

// Timeouts are the timers of one ring, derived from its predicted rotation
// time and RTTs rather than tuned by hand (docs/PLANNER.md). Each is rounded
// up to a whole millisecond.
type Timeouts struct {
	// Token is how long a member waits without seeing the token before it
	// declares the token lost and starts a membership change:
	// TokenRetransmitsBeforeLoss+0.2 retransmit periods, as in Corosync.
	Token Duration `json:"token"`
	// Retransmit is how long a member waits, after passing the token, for
	// evidence that its successor got it before sending it again: two
	// rotations, at least MinRetransmit.
	Retransmit Duration `json:"retransmit"`
	// Consensus is how long the membership protocol waits for agreement on
	// the new membership before starting over: 1.2 Token, as in Corosync.
	Consensus Duration `json:"consensus"`
	// Join is how long a member gathering a new membership waits for join
	// messages: twice the largest RTT of the ring, at least MinJoin.
	Join Duration `json:"join"`
}

// Constants of the timeout derivation.
const (
	// TokenRetransmitsBeforeLoss is how many token retransmissions go
	// unanswered before the token is declared lost.
	TokenRetransmitsBeforeLoss = 4
	// MinRetransmit is the floor of the token retransmit timeout, which
	// absorbs scheduling pauses on fast LANs: a garbage collection, a busy
	// host, a noisy neighbour. With it the token timeout of a LAN ring is
	// 202 ms, about the LAN preset's; a 10 ms floor gave 42 ms, and rings
	// on a loaded two-core host re-formed every few seconds.
	MinRetransmit = 48 * time.Millisecond
	// MinJoin is the floor of the join timeout (Corosync's default).
	MinJoin = 50 * time.Millisecond
)

// DeriveTimeouts derives a ring's timeouts from its predicted rotation time
// and the largest RTT between two of its members.
func DeriveTimeouts(rotation, maxRTT time.Duration) Timeouts {
	rt := ceilMs(max(2*rotation, MinRetransmit))
	token := ceilMs(TokenRetransmitsBeforeLoss*rt + rt/5)
	return Timeouts{
		Token:      Duration(token),
		Retransmit: Duration(rt),
		Consensus:  Duration(ceilMs(token + token/5)),
		Join:       Duration(ceilMs(max(2*maxRTT, MinJoin))),
	}
}

// Ring returns the timeouts as the ring core's timers, for
// localring.Config.WithTimings. The merge-detect interval is left to the
// core's derivation from the join timeout (localring.MergeJoins).
func (t Timeouts) Ring() localring.Timings {
	return localring.Timings{Token: t.Token.D(), Retransmit: t.Retransmit.D(), Consensus: t.Consensus.D(), Join: t.Join.D()}
}

// ceilMs rounds d up to a whole millisecond.
func ceilMs(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d
}
