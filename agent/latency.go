package agent

import (
	"strings"
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

// maxTracked bounds the messages followed at once; beyond, the oldest
// half is forgotten (a message the ring never delivers, such as one
// whose ring configuration ended, must not stay forever).
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
	tracked   map[uint64]tracked
	observers map[obsKey]prometheus.Observer // delivery's, by labels
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
		tracked:   map[uint64]tracked{},
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
	if len(l.tracked) >= maxTracked {
		l.forgetOldest()
	}
	class := "none"
	for _, g := range to {
		if c := l.classes.class(g); c != "" {
			class = c
			break
		}
	}
	k := obsKey{class, svc}
	obs := l.observers[k]
	if obs == nil {
		obs = l.delivery.WithLabelValues(class, svc.String())
		l.observers[k] = obs
	}
	l.tracked[seq] = tracked{read: read, obs: obs}
}

// forgetOldest drops the older half of the followed messages.
func (l *latency) forgetOldest() {
	var cut uint64
	for seq := range l.tracked {
		cut = max(cut, seq)
	}
	cut -= maxTracked / 2
	for seq := range l.tracked {
		if seq <= cut {
			delete(l.tracked, seq)
		}
	}
}

// event observes a group event of one of this node's messages at the
// time now returns. It reads that clock only for the messages it follows:
// the group loop calls it for every event, most of them other nodes'.
func (l *latency) event(e *groups.Event, now func() time.Time) {
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
	m, ok := l.tracked[e.Msg.Seq]
	if !ok {
		return
	}
	t := now()
	if e.Kind == groups.EventSent {
		if !m.sent { // a message sent again after a configuration change counts once
			m.sent = true
			l.tracked[e.Msg.Seq] = m
			l.queueWait.Observe(t.Sub(m.read).Seconds())
		}
		return
	}
	delete(l.tracked, e.Msg.Seq)
	m.obs.Observe(t.Sub(m.read).Seconds())
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
