package agent

import (
	"math"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/qos"
)

// Pacing of the looser send classes. A federation domain's messages reach
// a site's ring in bursts: its active gateway injects what one visit of
// the federation ring's token ordered (a rotation's worth of the
// domain's traffic, tens of KB for a domain whose slowest link carries
// 1 Mbit/s) all at once, and its senders' Ups come back from the
// domain's back-pressure in bursts too. The ring sends the tightest class
// first at every visit and at most qos.LooseVisitPackets packets of each
// looser one (localring Config.ClassVisitPackets), but on a LAN a
// rotation takes tens to hundreds of microseconds, so a burst still
// crosses the ring within a millisecond or two, and every node of the
// site takes all of it (its ring, group loop, clients) at that moment,
// while a realtime group's message waits for the same cores.
//
// So each looser send class whose federation domains all declare the
// bandwidth of their slowest link goes to the ring at most at a rate of
// PaceFactor × that bandwidth (summed over the class's domains), with a
// burst of one visit's worth (qos.LooseVisitPackets × the ring's packet
// size): the domain's stream, which its slowest link bounds, is spread
// over time instead of arriving at once. PaceFactor leaves room for the
// site's Ups and the domain's Downs together, and for the catch-up of a
// new gateway, several times over. Pacing never makes a message wait longer than a
// PaceBudgetShare of its class's budget: when the class's waiting bytes
// would take longer than that at the rate (more traffic than the slowest
// link suggests: each site's own link to a far site may carry its share,
// or a new gateway's catch-up), the class goes faster, at the least rate
// that sends each waiting message within that wait of its arrival, so
// pacing spreads the class's bursts and never throttles its throughput. A
// class with a domain that declares no bandwidth is not paced (nothing
// bounds its traffic to compare with). What waits stays in the group
// loop's queue, in order within its class, as when the ring pushes back
// (submitGroups).

// PaceFactor is how many times the slowest declared link's bandwidth a
// looser send class may send at on the site's ring.
const PaceFactor = 8

// PaceBudgetShare is the share of a paced class's budget (the tightest
// of its domains' classes) that pacing may add to a message's wait: 1/40,
// 25 ms for a class of 1 s.
const PaceBudgetShare = 40

// pacer is a token bucket of bytes for one send class (driver's loop).
// It refills at the class's rate, or faster while that would keep a
// waiting message past its deadline (its arrival plus delay): at the
// least rate that sends every waiting byte by its deadline, so that a
// burst larger than the rate sends in delay is spread evenly over delay
// instead of going partly at once.
type pacer struct {
	rate  float64       // bytes per second
	depth float64       // the most bytes sent at once after a quiet time
	delay time.Duration // the longest wait pacing may add

	cur   float64   // the rate in effect since last: rate, or more for a deadline (start)
	avail float64   // what the class may send now; negative after a message larger than what was left
	last  time.Time // the last refill

	// The class's bytes in arrival order: queued and sent count every
	// byte that arrived (was waiting at a start) and went to the ring;
	// arrivals[i] says that the bytes up to end arrived by at.
	queued, sent float64
	arrivals     []arrival
}

type arrival struct {
	end float64
	at  time.Time
}

// refill adds what the rate in effect gave since the last refill.
func (p *pacer) refill(now time.Time) {
	if p.last.IsZero() {
		p.avail, p.last = p.depth, now
		return
	}
	if dt := now.Sub(p.last); dt > 0 {
		p.avail = math.Min(p.depth, p.avail+dt.Seconds()*p.cur)
		p.last = now
	}
}

// start begins a submitGroups pass in which waiting bytes of the class
// wait for the ring: it notes those that arrived since the last pass and
// sets the rate for their deadlines.
func (p *pacer) start(now time.Time, waiting int) {
	p.refill(now)
	w := float64(waiting)
	if in := w - (p.queued - p.sent); in > 0 {
		p.queued += in
		p.arrivals = append(p.arrivals, arrival{end: p.queued, at: now})
	} else if in < 0 {
		p.sent = p.queued - w // not ours to explain: count it gone
	}
	drop := 0
	for drop < len(p.arrivals) && p.arrivals[drop].end <= p.sent {
		drop++
	}
	p.arrivals = append(p.arrivals[:0], p.arrivals[drop:]...)
	// What is past its deadline goes now; the rest by its deadline.
	for _, a := range p.arrivals {
		if a.at.Add(p.delay).After(now) {
			break
		}
		p.avail = max(p.avail, a.end-p.sent)
	}
	p.cur = p.rate
	for _, a := range p.arrivals {
		if left := a.at.Add(p.delay).Sub(now).Seconds(); left > 0 {
			p.cur = max(p.cur, (a.end-p.sent-max(p.avail, 0))/left)
		}
	}
}

// ready reports whether the class may send a message now.
func (p *pacer) ready() bool { return p.avail > 0 }

// took takes n bytes sent from the bucket.
func (p *pacer) took(n int) {
	p.avail -= float64(n)
	p.sent += float64(n)
}

// next returns when the class may send again.
func (p *pacer) next() time.Time {
	if p.avail > 0 {
		return p.last
	}
	return p.last.Add(time.Duration((-p.avail + 1) / p.cur * float64(time.Second)))
}

// newPacers returns the pacers of the node's send classes (nil for an
// unpaced class; nil when none is paced): for each looser send class whose
// federation domains of the node's site all declare their slowest link's
// bandwidth, PaceFactor × the sum of those bandwidths, with a burst of
// qos.LooseVisitPackets packets of maxPacket bytes.
func (a *Agent) newPacers(maxPacket int) []*pacer {
	if a.classes == nil || len(a.doms) == 0 {
		return nil
	}
	budget := map[string]time.Duration{}
	for _, cl := range a.cfg.Federation.File.Classes {
		budget[cl.Name] = cl.Budget.D()
	}
	rate := map[int]float64{}
	delay := map[int]time.Duration{}
	unpaced := map[int]bool{0: true}
	for _, dl := range a.doms {
		bw := federation.SlowestLink(a.cfg.Federation.File, dl.d)
		b := budget[dl.d.Class]
		if bw <= 0 || b <= 0 {
			unpaced[dl.send] = true
			continue
		}
		rate[dl.send] += PaceFactor * float64(bw.BitsPerSecond()) / 8
		if d, ok := delay[dl.send]; !ok || b/PaceBudgetShare < d {
			delay[dl.send] = b / PaceBudgetShare
		}
	}
	var out []*pacer
	for class, r := range rate {
		if unpaced[class] || r <= 0 || delay[class] <= 0 {
			continue
		}
		if out == nil {
			out = make([]*pacer, qos.MaxClasses)
		}
		out[class] = &pacer{rate: r, cur: r, depth: float64(qos.LooseVisitPackets * maxPacket), delay: delay[class]}
	}
	return out
}
