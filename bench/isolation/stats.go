package isolation

import (
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// GroupStats are one group's figures in one phase.
type GroupStats struct {
	Group string `json:"group"`
	// Sent is how many messages the agents accepted from the group's
	// senders; Delivered how many of them the receivers got (each
	// message once per receiver), Measured how many of those count in
	// the latencies (sent after the warm-up).
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	Measured  int `json:"measured"`
	// P50, P99 and Max are over every delivery at every receiver, from
	// just before the sender's MulticastWait to the receiver's event.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// TailWorstSecond is the share of the deliveries slower than P99
	// whose messages were sent in the one second of the measured part
	// that holds the most of them: near 1, the p99 is one stall (of the
	// host, the collector, a token loss), not the group's steady state.
	TailWorstSecond float64 `json:"tail_worst_second"`
	// LastP50 is the median over messages of the latency to the last
	// receiver (the planner's definition of agreed latency), over the
	// messages every receiver owed them got.
	LastP50 time.Duration `json:"last_p50_ns"`
	// Lost counts (message, receiver) pairs of a message a sender sent
	// and a receiver that stayed connected to it never got; Duplicated
	// the deliveries beyond the first. Separated counts the pairs not
	// owed because sender and receiver were, in the phase, in views
	// without each other (a partition, which EVS allows to split the
	// deliveries), or because the sender got the message in a
	// transitional view without the receiver (sites.DeliveredApart: in a
	// federation domain, what a component delivers in the federation's
	// transitional configuration after its ring broke); on a healthy run
	// it is 0 outside the failover phase (the killed node's messages are
	// not counted at all).
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	Separated  int `json:"separated"`
}

// sender is a member that sends in a phase, with its sender index.
type sender struct {
	m   *member
	idx uint8
}

// window is one run of a phase: the payload's phase code its messages
// carry, when it started, when its measured part began and when it ended
// (ns on the run's clock), and its senders.
type window struct {
	code             uint8
	start, from, end int64
	senders          []sender
}

// groupStats computes group's figures in phase, which ran in [start,
// end], from what senders sent and receivers got; latencies count the
// messages sent at from or later (the ones before are the warm-up), lost
// and duplicated count every message.
func groupStats(group int, phase uint8, start, from, end int64, senders []sender, receivers []*member) GroupStats {
	return groupStatsOver(group, []window{{phase, start, from, end, senders}}, receivers)
}

// groupStatsOver is groupStats over several runs of a phase (the rounds),
// their messages and deliveries pooled.
func groupStatsOver(group int, ws []window, receivers []*member) GroupStats {
	st := GroupStats{Group: Groups[group]}
	var want []key
	var by []*member  // the sender of each wanted message
	var in []int      // the window of each wanted message
	var own []ownCopy // what the sender of each wanted message saw of it
	for wi, w := range ws {
		for _, s := range w.senders {
			s.m.mu.Lock()
			for _, seq := range s.m.sent[w.code] {
				k := key{uint8(group), w.code, s.idx, seq}
				want = append(want, k)
				by = append(by, s.m)
				in = append(in, wi)
				own = append(own, s.m.own(k))
			}
			s.m.mu.Unlock()
		}
	}
	aparts := make([]map[*member]map[*member]bool, len(ws))
	for wi, w := range ws {
		aparts[wi] = separated(w.senders, receivers, w.start, w.end)
	}
	st.Sent = len(want)
	var all, last, sentAt []int64
	lastOf := make([]int64, len(want))
	complete := make([]bool, len(want))
	for i := range complete {
		complete[i] = true
	}
	for _, r := range receivers {
		r.mu.Lock()
		for i, k := range want {
			d := r.got[k]
			if d == nil {
				if aparts[in[i]][by[i]][r] || own[i].apart(r.name()) {
					st.Separated++
				} else {
					st.Lost++
					complete[i] = false
				}
				continue
			}
			st.Delivered++
			if d.sent < ws[in[i]].from {
				complete[i] = false
				continue
			}
			l := d.at - d.sent
			all = append(all, l)
			sentAt = append(sentAt, d.sent)
			lastOf[i] = max(lastOf[i], l)
		}
		for k, d := range r.got {
			if int(k.group) == group && slices.ContainsFunc(ws, func(w window) bool { return w.code == k.phase }) && d.count > 1 {
				st.Duplicated += d.count - 1
			}
		}
		r.mu.Unlock()
	}
	for i, ok := range complete {
		if ok && len(receivers) > 0 {
			last = append(last, lastOf[i])
		}
	}
	st.Measured = len(all)
	q := bench.Quantiles(slices.Clone(all), 0.5, 0.99, 1)
	st.P50, st.P99, st.Max = time.Duration(q[0]), time.Duration(q[1]), time.Duration(q[2])
	st.LastP50 = time.Duration(bench.Quantiles(last, 0.5)[0])
	st.TailWorstSecond = worstSecond(all, sentAt, q[1])
	return st
}

// worstSecond returns the share of the latencies above p99 whose send
// times fall in the second (of the run's clock) that holds the most of
// them (lat[i] is the latency of the message sent at sent[i]).
func worstSecond(lat, sent []int64, p99 int64) float64 {
	by := map[int64]int{}
	n, most := 0, 0
	for i, l := range lat {
		if l <= p99 {
			continue
		}
		n++
		s := sent[i] / int64(time.Second)
		by[s]++
		most = max(most, by[s])
	}
	if n == 0 {
		return 0
	}
	return float64(most) / float64(n)
}

// longestGap returns the longest time between consecutive deliveries in
// times (sorted in place) in [from, until]: counting from from itself (not
// from the last delivery before it: see idleAt) up to the first delivery
// after it, and on to until if nothing came after the last one.
func longestGap(times []int64, from, until int64) time.Duration {
	slices.Sort(times)
	i, _ := slices.BinarySearch(times, from)
	prev := from
	var gap int64
	for _, t := range times[i:] {
		if t > until {
			break
		}
		gap = max(gap, t-prev)
		prev = t
	}
	gap = max(gap, until-prev)
	return time.Duration(gap)
}

// againAfter returns when, counted from from, the longest time without a
// delivery in times (sorted) after from ended: when the member delivered
// again after the kill (until, if it never did).
func againAfter(times []int64, from, until int64) time.Duration {
	i, _ := slices.BinarySearch(times, from+1)
	prev, gap, end := from, int64(-1), until
	for _, t := range times[i:] {
		if t > until {
			break
		}
		if t-prev > gap {
			gap, end = t-prev, t
		}
		prev = t
	}
	if until-prev > gap {
		end = until
	}
	return time.Duration(end - from)
}

// idleAt returns how long before at the last delivery in times (sorted)
// came: the time without deliveries that was already running at at (0
// when none came before it).
func idleAt(times []int64, at int64) time.Duration {
	i, _ := slices.BinarySearch(times, at+1) // the first after at
	if i == 0 {
		return 0
	}
	return time.Duration(at - times[i-1])
}

// ownCopy is what the sender of a message saw of it: when it got the
// message itself (zero: not yet) and its views.
type ownCopy struct {
	at    time.Time
	views []sites.View
}

// own returns what m saw of its own message k; the caller holds m.mu.
func (m *member) own(k key) ownCopy {
	d := m.got[k]
	if d == nil {
		return ownCopy{}
	}
	return ownCopy{m.clk.at(d.at), m.views}
}

// apart reports whether the sender got its message in a transitional view
// without other (a member name), so that other does not owe it
// (sites.DeliveredApart): after the ring broke, the sender's component
// delivered it in its transitional configuration, which EVS does not make
// the other components deliver. In a federation domain a component's
// members get their own messages so, in transitional views of themselves
// alone (gateway/domconf), and may go on into one regular view with the
// others at once, no view ever lacking them: bench isolation under load
// lost its regional federation ring for 0.4 s, sites a and b each alone
// in one, and counted 27 lost, b's 9 messages of that moment delivered at
// every b node and at no a node, the EVS checker passing the traces.
func (o ownCopy) apart(other string) bool {
	return sites.DeliveredApart(o.views, other, o.at)
}

// separated returns, for every sender and receiver, whether the two were
// in views without each other in [start, end].
func separated(senders []sender, receivers []*member, start, end int64) map[*member]map[*member]bool {
	apart := map[*member]map[*member]bool{}
	for _, s := range senders {
		apart[s.m] = map[*member]bool{}
		for _, r := range receivers {
			s.m.mu.Lock()
			a := s.m.apart(r.name(), start, end)
			s.m.mu.Unlock()
			r.mu.Lock()
			a = a || r.apart(s.m.name(), start, end)
			r.mu.Unlock()
			apart[s.m][r] = a
		}
	}
	return apart
}
