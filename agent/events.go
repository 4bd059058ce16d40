package agent

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// MembershipEvent is one change of the local ring's membership as this
// node saw it, as the admin API's /v1/events lists them: the same facts
// as the operator's log lines, kept for the tools.
type MembershipEvent struct {
	// Seq numbers the events of this agent from 1, without gaps: a reader
	// that polls with ?since=SEQ misses none the buffer still holds.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is one of the Event* constants.
	Kind string `json:"kind"`
	// Ring is the configuration the event belongs to (the new one for a
	// change, the current one for a gather or a token loss).
	Ring string `json:"ring,omitempty"`
	// Member is the node the event is about, when it is about one.
	Member string `json:"member,omitempty"`
	// Members are the members of a ring formed.
	Members []string `json:"members,omitempty"`
	// Missing are the configured nodes a ring formed without.
	Missing []string `json:"missing,omitempty"`
	Reason  string   `json:"reason,omitempty"`
}

// Kinds of MembershipEvent.
const (
	EventRingFormed       = "ring_formed"
	EventMemberJoined     = "member_joined"
	EventMemberLost       = "member_lost"
	EventMemberRestarted  = "member_restarted"
	EventMemberEvicted    = "member_evicted"
	EventMemberReadmitted = "member_readmitted"
	EventTokenLost        = "token_lost"
	EventGather           = "gather"
	// EventHandover: the site's active gateway of a federation domain
	// moved by an agreed handover (Member is the new one, Reason says
	// from whom and for which domain).
	EventHandover = "gateway_handover"
)

// eventLogSize is how many membership events the agent keeps.
const eventLogSize = 256

// eventLog is a ring buffer of the most recent membership events.
type eventLog struct {
	mu   sync.Mutex
	buf  []MembershipEvent // at most eventLogSize, oldest first
	next uint64            // Seq of the next event, from 1
}

// add appends e, numbered and stamped, dropping the oldest event when the
// buffer is full.
func (l *eventLog) add(now time.Time, e MembershipEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	e.Seq, e.Time = l.next, now
	if len(l.buf) == eventLogSize {
		copy(l.buf, l.buf[1:])
		l.buf = l.buf[:eventLogSize-1]
	}
	l.buf = append(l.buf, e)
}

// since returns the events kept whose Seq is above seq, oldest first.
func (l *eventLog) since(seq uint64) []MembershipEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.buf, seq+1, func(e MembershipEvent, s uint64) int { return cmp.Compare(e.Seq, s) })
	return slices.Clone(l.buf[i:])
}
