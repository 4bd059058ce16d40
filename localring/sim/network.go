package sim

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// Faults is the network's misbehaviour. Probabilities are per packet and
// per receiver; all zero is a perfect network with BaseDelay latency.
type Faults struct {
	Loss          float64 // any packet
	McastLoss     float64 // multicast packets only
	TokenLoss     float64 // unicast packets (tokens) only
	BurstLoss     float64 // chance that a loss starts a burst on that link
	BurstPackets  int     // length of a burst
	Duplicate     float64
	Reorder       float64 // chance of an extra delay of up to ReorderDelay
	ReorderDelay  time.Duration
	BaseDelay     time.Duration
	Jitter        time.Duration
	CorruptBytes  float64 // chance a packet arrives with a flipped byte
	SocketBuffer  int     // packets a paused node's socket holds; more are dropped
	StaleReplay   float64 // chance a node is sent an old token/packet again
	staleCapacity int
}

type link struct{ from, to int }

// network is the simulated LAN: it decides the fate of every packet.
type network struct {
	rng     *rand.Rand
	faults  Faults
	blocked map[link]bool // directed links that drop everything
	burst   map[link]int  // packets left in a loss burst
	queue   packetQueue
	order   uint64
	old     []stale        // a few past packets for stale replays
	lastUni map[int][]byte // the last unicast packet (token) sent to each node
	dropped uint64
	// delays, when set, is the one-way delay from slot i to slot j, used
	// instead of Faults.BaseDelay (a WAN's delay matrix).
	delays [][]time.Duration

	// Persistent partial faults: they last until Heal, unlike Faults' loss
	// draws that every packet survives with some chance. Probabilities; 1
	// drops everything (and draws nothing from rng).
	mcastOut map[int]float64  // multicasts this node sends (its tokens pass)
	mcastIn  map[int]float64  // multicasts to this node (tokens to it pass)
	linkLoss map[link]float64 // every packet on a directed link
}

type inflight struct {
	at   time.Time
	ord  uint64
	from int
	to   int
	data []byte
}

type packetQueue []*inflight

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].ord < q[j].ord
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(*inflight)) }
func (q *packetQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newNetwork(rng *rand.Rand) *network {
	return &network{rng: rng, blocked: map[link]bool{}, burst: map[link]int{}, lastUni: map[int][]byte{},
		mcastOut: map[int]float64{}, mcastIn: map[int]float64{}, linkLoss: map[link]float64{}}
}

// send schedules a packet from node `from` to the nodes in `to`.
func (nw *network) send(now time.Time, from int, to []int, data []byte, unicast bool) {
	f := nw.faults
	if unicast {
		for _, t := range to {
			nw.lastUni[t] = data
		}
	}
	for _, t := range to {
		l := link{from, t}
		if from != t {
			if nw.blocked[l] {
				nw.dropped++
				continue
			}
			if nw.persistentLoss(l, unicast) {
				nw.dropped++
				continue
			}
			if nw.burst[l] > 0 {
				nw.burst[l]--
				nw.dropped++
				continue
			}
			loss := f.Loss
			if unicast {
				loss += f.TokenLoss
			} else {
				loss += f.McastLoss
			}
			if loss > 0 && nw.rng.Float64() < loss {
				if f.BurstLoss > 0 && nw.rng.Float64() < f.BurstLoss {
					nw.burst[l] = f.BurstPackets
				}
				nw.dropped++
				continue
			}
		}
		copies := 1
		if f.Duplicate > 0 && nw.rng.Float64() < f.Duplicate {
			copies = 2
		}
		for c := 0; c < copies; c++ {
			d := f.BaseDelay
			if nw.delays != nil {
				d = nw.delays[from][t]
			}
			if f.Jitter > 0 {
				d += time.Duration(nw.rng.Int64N(int64(f.Jitter)))
			}
			if f.Reorder > 0 && nw.rng.Float64() < f.Reorder {
				d += time.Duration(nw.rng.Int64N(int64(f.ReorderDelay) + 1))
			}
			b := data
			if f.CorruptBytes > 0 && len(b) > 0 && nw.rng.Float64() < f.CorruptBytes {
				b = append([]byte(nil), b...)
				b[nw.rng.IntN(len(b))] ^= byte(1 + nw.rng.IntN(255))
			}
			nw.push(now.Add(d), from, t, b)
		}
	}
	if f.StaleReplay > 0 {
		// Replay an old packet to a node it was sent to before.
		for _, t := range to {
			old := stale{to: t, data: data}
			if len(nw.old) < 64 {
				nw.old = append(nw.old, old)
			} else {
				nw.old[nw.rng.IntN(len(nw.old))] = old
			}
		}
		if nw.rng.Float64() < f.StaleReplay {
			s := nw.old[nw.rng.IntN(len(nw.old))]
			nw.push(now.Add(f.BaseDelay+time.Duration(nw.rng.Int64N(int64(50*time.Millisecond)))), from, s.to, s.data)
		}
	}
}

// persistentLoss decides whether a persistent partial fault drops a packet
// on link l.
func (nw *network) persistentLoss(l link, unicast bool) bool {
	lost := func(p float64) bool { return p >= 1 || p > 0 && nw.rng.Float64() < p }
	if !unicast && (lost(nw.mcastOut[l.from]) || lost(nw.mcastIn[l.to])) {
		return true
	}
	return lost(nw.linkLoss[l])
}

type stale struct {
	to   int
	data []byte
}

func (nw *network) push(at time.Time, from, to int, data []byte) {
	nw.order++
	heap.Push(&nw.queue, &inflight{at: at, ord: nw.order, from: from, to: to, data: data})
}

func (nw *network) next() (time.Time, bool) {
	if len(nw.queue) == 0 {
		return time.Time{}, false
	}
	return nw.queue[0].at, true
}

func (nw *network) pop() *inflight { return heap.Pop(&nw.queue).(*inflight) }

// isUnicast reports whether a packet is addressed to one node.
func isUnicast(p localring.Packet) bool { return p.To != "" }
