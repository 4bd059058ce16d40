package agent

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// The latency histograms follow the agent's own clients' messages through
// the agent (group loop): a multicast or send accepted from a client is
// remembered by its sequence number with the time its frame was read;
// its acceptance by the group layer observes the admission wait, the
// group layer's EventSent (the ring sent it) observes the queue wait,
// and its EventDeliver at this agent (every agent delivers its own
// messages, in the ring's order) observes the delivery latency. Both are
// measured at the sending agent, on its monotonic clock: no clocks of
// different nodes are compared.

// latencyBuckets are the histograms' upper bounds in seconds: 100 µs to
// about 13 s, doubling.
var latencyBuckets = prometheus.ExponentialBuckets(100e-6, 2, 18)

// maxTracked bounds the window of sequence numbers followed at once, so
// the messages followed; beyond, the older half is forgotten (a message
// the ring never delivers, such as one whose ring configuration ended,
// must not stay forever).
const maxTracked = 1 << 16

// GroupClass gives a group, or every group a pattern matches, its latency
// class (the topology file's groups[].class). The delivery latency
// histogram is labelled with it.
type GroupClass struct {
	// Group is a group name or a pattern, as in GroupACL.
	Group string
	Class string
}

// latency holds the latency histograms and the messages they follow
// (group loop).
type latency struct {
	node      string
	delivery  *prometheus.HistogramVec
	queueWait prometheus.Histogram
	admission prometheus.Histogram
	classes   classTable
	// tracked holds the messages followed, by sequence number:
	// tracked[head+i] is the message base+i, a zero read time where none
	// is followed.
	// The group layer numbers its messages in the order it accepts them,
	// and the ring delivers them in that order, so the followed messages
	// make a window that slides (a slice, not a map: the group loop looks
	// one up at every event of its own messages).
	tracked   []tracked // the window is tracked[head:]
	head      int
	base      uint64
	count     int                            // the messages followed
	observers map[obsKey]prometheus.Observer // delivery's, by labels
	lastKey   obsKey                         // the labels of the last observer looked up, and it
	lastObs   prometheus.Observer
}

// obsKey is the labels of a delivery latency histogram.
type obsKey struct {
	class string
	svc   localring.Service
}

// tracked is one message of a local client between its frame and its
// delivery.
type tracked struct {
	read time.Time // when the agent read the client's frame
	obs  prometheus.Observer
	sent bool
}

func newLatency(node string, classes []GroupClass) *latency {
	return &latency{
		node: node,
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "atoll_delivery_latency_seconds",
			Help: "Time from reading a local client's multicast or send to delivering it at this, the sending, agent (in the ring's total order), " +
				"by the latency class of its first group (\"none\" without one) and its service level. Measured at the sender only: " +
				"delivery at other nodes is not included.",
			Buckets: latencyBuckets,
		}, []string{"class", "service"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "atoll_client_queue_wait_seconds",
			Help: "Time a local client's message waited in this agent: from reading its frame to the ring sending it " +
				"(flow control, the group layer's queue and the wait for the token).",
			Buckets: latencyBuckets,
		}),
		admission: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "atoll_client_admission_wait_seconds",
			Help: "Time a local client's message waited in this agent before the group layer accepted it: from reading its frame to " +
				"its acceptance (the send-queue bound, local readers holding senders back, the agent loop's turn). " +
				"The rest of atoll_client_queue_wait_seconds is the wait in the group layer and the ring for the token.",
			Buckets: latencyBuckets,
		}),
		classes:   newClassTable(classes),
		observers: map[obsKey]prometheus.Observer{},
	}
}

// collectors returns the histograms to register.
func (l *latency) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.delivery, l.queueWait, l.admission}
}

// accepted starts following the message seq of this node, whose frame
// was read at read and which the group layer accepted at now.
func (l *latency) accepted(seq uint64, read, now time.Time, svc localring.Service, to []string) {
	if read.IsZero() {
		return
	}
	l.admission.Observe(now.Sub(read).Seconds())
	class := "none"
	for _, g := range to {
		if c := l.classes.class(g); c != "" {
			class = c
			break
		}
	}
	k := obsKey{class, svc}
	obs := l.lastObs
	if obs == nil || k != l.lastKey {
		if obs = l.observers[k]; obs == nil {
			obs = l.delivery.WithLabelValues(class, svc.String())
			l.observers[k] = obs
		}
		l.lastKey, l.lastObs = k, obs
	}
	l.track(seq, tracked{read: read, obs: obs})
}

// track follows message seq. Sequence numbers come in increasing order;
// one below the window of those followed is not followed (an empty
// window starts again at any). Past maxTracked sequence numbers in the
// window, the older half is forgotten (a message the ring never
// delivers, such as one whose ring configuration ended, must not stay
// forever).
func (l *latency) track(seq uint64, t tracked) {
	if l.count == 0 {
		l.tracked, l.head, l.base = l.tracked[:0], 0, seq
	}
	if seq < l.base {
		return
	}
	if seq-l.base >= maxTracked {
		l.forgetBelow(seq - maxTracked/2)
		if l.count == 0 {
			l.tracked, l.head, l.base = l.tracked[:0], 0, seq
		}
	}
	i := l.head + int(seq-l.base)
	for len(l.tracked) <= i {
		if len(l.tracked) == cap(l.tracked) && l.head > 0 {
			// Move the window to the buffer's start rather than grow it.
			n := copy(l.tracked, l.tracked[l.head:])
			clear(l.tracked[n:])
			l.tracked = l.tracked[:n]
			i -= l.head
			l.head = 0
			continue
		}
		l.tracked = append(l.tracked, tracked{})
	}
	if l.tracked[i].read.IsZero() {
		l.count++
	}
	l.tracked[i] = t
}

// lookup returns the followed message seq, nil if none is.
func (l *latency) lookup(seq uint64) *tracked {
	if seq < l.base || seq-l.base >= uint64(len(l.tracked)-l.head) {
		return nil
	}
	if t := &l.tracked[l.head+int(seq-l.base)]; !t.read.IsZero() {
		return t
	}
	return nil
}

// forget stops following seq, a message lookup found.
func (l *latency) forget(seq uint64) {
	l.tracked[l.head+int(seq-l.base)] = tracked{}
	l.count--
	n := 0
	for l.head+n < len(l.tracked) && l.tracked[l.head+n].read.IsZero() {
		n++
	}
	l.drop(n)
}

// forgetBelow forgets the messages below seq.
func (l *latency) forgetBelow(seq uint64) {
	n := min(int(seq-l.base), len(l.tracked)-l.head)
	for _, t := range l.tracked[l.head : l.head+n] {
		if !t.read.IsZero() {
			l.count--
		}
	}
	l.drop(n)
	l.base = seq
}

// drop removes the window's first n entries.
func (l *latency) drop(n int) {
	clear(l.tracked[l.head : l.head+n])
	l.head += n
	l.base += uint64(n)
	if l.head == len(l.tracked) {
		l.tracked, l.head = l.tracked[:0], 0
	}
}

// event observes a group event of one of this node's messages, the
// time since its frame was read taken by since (time.Since: the
// monotonic clock alone). It reads that clock only for the messages it
// follows: the group loop calls it for every event, most of them other
// nodes'.
func (l *latency) event(e *groups.Event, since func(time.Time) time.Duration) {
	if e.Msg == nil || (e.Kind != groups.EventSent && e.Kind != groups.EventDeliver) {
		return
	}
	// "node:client": only this node's clients' messages are followed
	// (a prefix test, not groups.SplitMember: the group loop runs this
	// for every delivery).
	if s := e.Msg.Sender; len(s) <= len(l.node) || s[len(l.node)] != ':' || s[:len(l.node)] != l.node ||
		strings.IndexByte(s[len(l.node)+1:], ':') >= 0 {
		return
	}
	m := l.lookup(e.Msg.Seq)
	if m == nil {
		return
	}
	d := since(m.read)
	if e.Kind == groups.EventSent {
		if !m.sent { // a message sent again after a configuration change counts once
			m.sent = true
			l.queueWait.Observe(d.Seconds())
		}
		return
	}
	m.obs.Observe(d.Seconds())
	l.forget(e.Msg.Seq)
}

// eventClock is one reading of the clock for the latency histograms'
// events (groupLoop.clock): taken at the group loop's pass, at its take of
// the clients' requests, or at the first event that needs it, and read
// again after every yieldEventEvery events of the loop (yieldEvent), so a
// time is late by at most the work of that many events. At full load the
// group loop read the clock at two events of every message of its
// clients, its sending and its delivery (each event its own group layer
// step), and a reading costs 50 to 250 ns on the benchmarks' kvm-clock
// VMs.
type eventClock struct{ now time.Time }

// eventClockReads counts the clock readings of eventClocks (tests).
var eventClockReads atomic.Uint64

// since is time.Since at the clock's one reading.
func (c *eventClock) since(t time.Time) time.Duration {
	if c.now.IsZero() {
		c.now = time.Now()
		eventClockReads.Add(1)
	}
	return c.now.Sub(t)
}

// classTable finds a group's latency class: an exact name first, then the
// first pattern that matches (as aclTable).
type classTable struct {
	exact    map[string]string
	patterns []GroupClass
}

func newClassTable(classes []GroupClass) classTable {
	t := classTable{exact: map[string]string{}}
	for _, c := range classes {
		if isPattern(c.Group) {
			t.patterns = append(t.patterns, c)
		} else if _, dup := t.exact[c.Group]; !dup {
			t.exact[c.Group] = c.Class
		}
	}
	return t
}

func (t *classTable) class(group string) string {
	if c, ok := t.exact[group]; ok {
		return c
	}
	for _, p := range t.patterns {
		if groups.Match(p.Group, group) {
			return p.Class
		}
	}
	return ""
}
