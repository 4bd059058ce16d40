package isolation

import (
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/bench"
)

// Overlap is a-local's latency over the deliveries of its messages sent
// at one kind of moment: while abc-global's messages were being
// delivered at site a, while they were delivered only at other sites, or
// while none was (Phase.Overlap).
//
// Every site runs on the host's cores: a burst of abc-global messages
// coming down (a federation token visit brings one to every site, a's and
// b's 5 ms apart, c's about 100 ms later) is work for every agent and
// client of every site at once. On separate hosts, site a's a-local pays
// for site a's share of that work only (its ring carries the Downs, its
// group loops and abc-global clients take them); with every site in one
// process (Config.OneProcess) it also waits for b's and c's, and with a
// process per site for the cores b's and c's processes take. The rows
// tell them apart: a slowdown of a-local's messages sent while only b or
// c delivered is the other sites' doing, not site a's.
type Overlap struct {
	// When names the moments: OverlapNone, OverlapSiteA, OverlapOthers.
	When string `json:"when"`
	// Deliveries counts a-local's measured deliveries of messages sent at
	// those moments; Share is their share of all of a-local's, TailShare
	// their share of the deliveries slower than a-local's p99 over the
	// phase.
	Deliveries int     `json:"deliveries"`
	Share      float64 `json:"share"`
	TailShare  float64 `json:"tail_share"`
	// P50, P90 and P99 are over those deliveries.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// The moments Overlap splits a-local's deliveries by.
const (
	OverlapNone   = "no abc-global delivery"
	OverlapSiteA  = "abc-global delivered at site a"
	OverlapOthers = "abc-global delivered at b or c only"
	// OverlapGC: the message's way, from its send to its delivery,
	// overlapped a cycle of site a's process's collector (gcmarks.go),
	// whatever abc-global did; with a process per site only.
	OverlapGC = "site a's collector in a cycle"
)

// overlapBefore and overlapAfter bound the moment of a message's send for
// Overlap: an abc-global delivery from overlapBefore before the send to
// overlapAfter after it counts (the work of a burst of Downs precedes its
// deliveries to the clients by the ring's and the group loop's time, and
// a-local's p50 is about 0.3 ms).
const (
	overlapBefore = 3 * time.Millisecond
	overlapAfter  = time.Millisecond
)

// overlaps splits latencies (lat[i] of the message sent at sent[i], ns
// on the run's clock) by what abc-global's members delivered around
// each send: busy holds their delivery times by site, each sorted; a
// delivery whose send-to-delivery time overlaps one of gc (site a's
// collector's cycles, in order) counts as OverlapGC first.
func overlaps(lat, sent []int64, busy map[string][]int64, gc []span) []Overlap {
	if len(lat) == 0 {
		return nil
	}
	near := func(times []int64, at int64) bool {
		i, _ := slices.BinarySearch(times, at-int64(overlapBefore))
		return i < len(times) && times[i] <= at+int64(overlapAfter)
	}
	p99 := bench.Quantiles(slices.Clone(lat), 0.99)[0]
	whens := []string{OverlapNone, OverlapSiteA, OverlapOthers, OverlapGC}
	by := make([][]int64, len(whens))
	tail := make([]int, len(whens))
	tails := 0
	for i, l := range lat {
		k := 0
		switch {
		case overlapsSpan(gc, sent[i], l):
			k = 3
		case near(busy["a"], sent[i]):
			k = 1
		case near(busy["b"], sent[i]) || near(busy["c"], sent[i]):
			k = 2
		}
		by[k] = append(by[k], l)
		if l > p99 {
			tail[k]++
			tails++
		}
	}
	out := make([]Overlap, len(whens))
	for k, when := range whens {
		o := Overlap{When: when, Deliveries: len(by[k]), Share: float64(len(by[k])) / float64(len(lat))}
		if tails > 0 {
			o.TailShare = float64(tail[k]) / float64(tails)
		}
		if len(by[k]) > 0 {
			q := bench.Quantiles(by[k], 0.5, 0.9, 0.99)
			o.P50, o.P90, o.P99 = time.Duration(q[0]), time.Duration(q[1]), time.Duration(q[2])
		}
		out[k] = o
	}
	return out
}

// overlap is Overlap of a-local's deliveries in windows ws (the phase's
// rounds), against abc-global's deliveries at its members by site.
func (b *runner) overlap(ws []window) []Overlap {
	var lat, sent []int64
	for _, r := range b.receivers(ALocal) {
		r.mu.Lock()
		for k, d := range r.got {
			if int(k.group) == slices.Index(Groups, ALocal) && slices.ContainsFunc(ws, func(w window) bool { return w.code == k.phase && d.sent >= w.from }) {
				lat = append(lat, d.at-d.sent)
				sent = append(sent, d.sent)
			}
		}
		r.mu.Unlock()
	}
	busy := map[string][]int64{}
	for _, m := range b.members[ABCGlobal] {
		m.mu.Lock()
		busy[siteOf(m.node)] = append(busy[siteOf(m.node)], m.times...)
		m.mu.Unlock()
	}
	for s := range busy {
		slices.Sort(busy[s])
	}
	return overlaps(lat, sent, busy, b.gcSpans("a"))
}
