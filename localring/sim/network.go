package sim

import (
	"bytes"
	"math/rand/v2"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// Faults is the network's misbehaviour. Probabilities are per packet and
// per receiver; all zero is a perfect network with BaseDelay latency.
type Faults struct {
	Loss         float64 // any packet
	McastLoss    float64 // multicast packets only
	TokenLoss    float64 // unicast packets (tokens) only
	BurstLoss    float64 // chance that a loss starts a burst on that link
	BurstPackets int     // length of a burst
	Duplicate    float64
	Reorder      float64 // chance of an extra delay of up to ReorderDelay
	ReorderDelay time.Duration
	BaseDelay    time.Duration
	Jitter       time.Duration
	CorruptBytes float64 // chance a packet arrives with a flipped byte
	SocketBuffer int     // packets a paused node's socket holds; more are dropped
	StaleReplay  float64 // chance a node is sent an old token/packet again
}

type link struct{ from, to int }

// Injected counts the faults a run really injected, as opposed to those its
// mix allowed: packets (one per receiver) the network lost, duplicated,
// delayed, corrupted or replayed; the crashes, restarts, pauses and
// resumes of Crash, Start, Pause and Resume; and the partitions, heals and
// blocks of a random run (injectFault). TestSimSeeds fails when a fault
// that some seeds' mixes enable happened in none of them.
type Injected struct {
	// LostUnicast and LostMulticast are packets lost to a random loss
	// draw (Loss plus TokenLoss for a unicast, a token or commit token;
	// Loss plus McastLoss for a multicast); BurstLost the packets of the
	// bursts those losses started; Blocked the packets dropped on a
	// blocked link (partitions, one-way blocks, bridges, clogging);
	// PersistentLost those dropped by a persistent partial fault (mute,
	// deaf, lossy link).
	LostUnicast, LostMulticast, BurstLost, Blocked, PersistentLost int
	// Counted as packets arrive: Duplicated, second copies of a
	// packet; Reordered, packets held back by Reorder's extra delay,
	// longer than their link's delay and jitter can make it, that arrived
	// after one sent later on their link (reordering by jitter alone is
	// not counted); Corrupted, packets with a flipped byte;
	// Replayed, old packets (stale tokens and messages) sent again.
	Duplicated, Reordered, Corrupted, Replayed int

	// Fault actions: crashes (CrashesIn counts those of a node in the
	// membership protocol, by its state), restarts of a crashed node,
	// pauses and resumes (LongPauses: pauses that lasted past the token
	// timeout when resumed; RepPauses: pauses of a ring's
	// representative), partitions and heals, one-way blocks, cut pairs of
	// a non-transitive bridge and clogged nodes.
	Crashes, Restarts, Pauses, Resumes, LongPauses, RepPauses int
	CrashesIn                                                 map[string]int
	Partitions, Heals, OneWay, Bridges, Clogs                 int
}

// network is the simulated LAN: it decides the fate of every packet.
type network struct {
	rng     *rand.Rand
	faults  Faults
	blocked map[link]bool // directed links that drop everything
	burst   map[link]int  // packets left in a loss burst
	queue   packetQueue
	order   uint64
	old     []stale         // a few past packets for stale replays
	lastUni map[int][]byte  // the last unicast packet (token) sent to each node
	lastOrd map[link]uint64 // the newest packet that arrived on each link (Injected.Reordered)
	dropped uint64
	// counts is what the network injected (Injected's packet counts).
	counts Injected
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
	sent time.Time
	ord  uint64
	from int
	to   int
	data []byte
	// What a fault did to the packet, counted as it arrives (pop): the
	// second copy of a duplicated packet, an old packet sent again, one
	// held back by Reorder's extra delay, and the bytes before
	// corruption.
	dup, stale, held bool
	orig             []byte
}

// packetQueue is a binary min-heap of the packets in flight, by arrival
// time and then by the order they were sent: a total order, so packets
// come off it in the same order whatever the heap's shape. It is
// container/heap's algorithm on the concrete type, without its interface
// calls (container/heap's Pop was 7 % of the package's profiled CPU time).
type packetQueue []*inflight

func (q packetQueue) less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].ord < q[j].ord
}

func (q *packetQueue) push(p *inflight) {
	*q = append(*q, p)
	h := *q
	for j := len(h) - 1; j > 0; {
		i := (j - 1) / 2 // parent
		if !h.less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (q *packetQueue) pop() *inflight {
	h := *q
	n := len(h) - 1
	p := h[0]
	h[0] = h[n]
	h[n] = nil
	h = h[:n]
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	*q = h
	return p
}

func newNetwork(rng *rand.Rand) *network {
	return &network{rng: rng, blocked: map[link]bool{}, burst: map[link]int{}, lastUni: map[int][]byte{}, lastOrd: map[link]uint64{},
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
				nw.counts.Blocked++
				continue
			}
			if nw.persistentLoss(l, unicast) {
				nw.dropped++
				nw.counts.PersistentLost++
				continue
			}
			if nw.burst[l] > 0 {
				nw.burst[l]--
				nw.dropped++
				nw.counts.BurstLost++
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
				if unicast {
					nw.counts.LostUnicast++
				} else {
					nw.counts.LostMulticast++
				}
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
			held := false
			if f.Reorder > 0 && nw.rng.Float64() < f.Reorder {
				d += time.Duration(nw.rng.Int64N(int64(f.ReorderDelay) + 1))
				held = true
			}
			p := &inflight{at: now.Add(d), sent: now, from: from, to: t, data: data, dup: c == 1, held: held}
			if f.CorruptBytes > 0 && len(data) > 0 && nw.rng.Float64() < f.CorruptBytes {
				p.data, p.orig = append([]byte(nil), data...), data
				p.data[nw.rng.IntN(len(data))] ^= byte(1 + nw.rng.IntN(255))
			}
			nw.pushPacket(p)
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
			nw.pushPacket(&inflight{at: now.Add(f.BaseDelay + time.Duration(nw.rng.Int64N(int64(50*time.Millisecond)))), from: from, to: s.to, data: s.data, stale: true})
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
	nw.pushPacket(&inflight{at: at, from: from, to: to, data: data})
}

func (nw *network) pushPacket(p *inflight) {
	nw.order++
	p.ord = nw.order
	nw.queue.push(p)
}

func (nw *network) next() (time.Time, bool) {
	if len(nw.queue) == 0 {
		return time.Time{}, false
	}
	return nw.queue[0].at, true
}

// pop takes the next packet off the queue, counting in Injected what the
// network's faults did to it: a duplicate's second copy, a stale replay, a
// corrupted packet, and one held back past its link's delay and jitter
// that arrives after a packet sent later on its link (reordered).
func (nw *network) pop() *inflight {
	p := nw.queue.pop()
	if p.dup {
		nw.counts.Duplicated++
	}
	if p.stale {
		nw.counts.Replayed++
	}
	if p.orig != nil && !bytes.Equal(p.orig, p.data) {
		nw.counts.Corrupted++
	}
	l := link{p.from, p.to}
	if p.ord < nw.lastOrd[l] {
		base := nw.faults.BaseDelay
		if nw.delays != nil {
			base = nw.delays[p.from][p.to]
		}
		if p.held && p.at.Sub(p.sent) > base+nw.faults.Jitter {
			nw.counts.Reordered++
		}
	} else {
		nw.lastOrd[l] = p.ord
	}
	return p
}

// isUnicast reports whether a packet is addressed to one node.
func isUnicast(p localring.Packet) bool { return p.To != "" }
