package isolation

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// A message's payload starts with its key and send time:
//
//	[0]     'I'
//	[1]     group index (in Groups)
//	[2]     phase index
//	[3]     sender index (in allNodes)
//	[4:8]   sequence number within (group, phase, sender), big endian
//	[8:16]  send time in ns since the run's clock started
//
// and is padded to the phase's message size.
const headerLen = 16

// key identifies one message: group, phase, sender, sequence number.
type key struct {
	group, phase, sender uint8
	seq                  uint32
}

func encode(b []byte, k key, sent int64) {
	b[0], b[1], b[2], b[3] = 'I', k.group, k.phase, k.sender
	binary.BigEndian.PutUint32(b[4:], k.seq)
	binary.BigEndian.PutUint64(b[8:], uint64(sent))
}

func decode(b []byte) (key, int64, error) {
	if len(b) < headerLen || b[0] != 'I' {
		return key{}, 0, fmt.Errorf("isolation: a delivery of %d bytes is not a benchmark message", len(b))
	}
	return key{b[1], b[2], b[3], binary.BigEndian.Uint32(b[4:])}, int64(binary.BigEndian.Uint64(b[8:])), nil
}

// clock gives nanoseconds since the run started, on the wall clock
// (CLOCK_REALTIME): the coordinator passes its base to every site's
// process, and one host's wall clock is the same in all of them, so send
// and delivery times taken in different processes compare exactly (a
// step of the clock during a run would shift the latencies across it).
type clock struct{ base int64 } // unix ns

func (c clock) now() int64 { return time.Now().UnixNano() - c.base }

// at is the time of ns on the clock.
func (c clock) at(ns int64) time.Time { return time.Unix(0, c.base+ns) }

// delivery is what one receiver saw of one message.
type delivery struct {
	sent, at int64 // send and first delivery times, ns on the run's clock
	count    int
}

// member is one client in one group as the run measures it: what it got
// and sent, from the events of its session (a session, in the process of
// its site) that the coordinator applies as they come (apply).
type member struct {
	node  string
	group int
	clk   clock

	mu    sync.Mutex
	got   map[key]*delivery
	times []int64      // delivery times in arrival order, ns
	view  []string     // the last regular view's members
	views []sites.View // every view, transitional ones included, in order
	errs  []string
	bad   int // deliveries that are not benchmark messages
	sent  map[uint8][]uint32
}

func newMember(node string, group int, clk clock) *member {
	return &member{node: node, group: group, clk: clk, got: map[key]*delivery{}, sent: map[uint8][]uint32{}}
}

// event is one event of a member's client session, as its site's process
// saw it: a delivery (Kind evMessage: the message's key and send time, or
// evBad for a payload that is not the benchmark's), a view or an error,
// At when the client read it (ns on the run's clock).
type event struct {
	Kind   byte         `json:"k"`
	Group  uint8        `json:"g,omitempty"`
	Phase  uint8        `json:"p,omitempty"`
	Sender uint8        `json:"s,omitempty"`
	Seq    uint32       `json:"q,omitempty"`
	Sent   int64        `json:"t,omitempty"`
	At     int64        `json:"a"`
	View   *client.View `json:"v,omitempty"`
	Err    string       `json:"e,omitempty"`
}

// The kinds of event.
const (
	evMessage = 'm'
	evBad     = 'b'
	evView    = 'v'
	evError   = 'e'
)

// eventOf is client event e, read at now, as an event.
func eventOf(e *client.Event, now int64) event {
	switch e.Kind {
	case client.EventMessage:
		k, sent, err := decode(e.Message.Payload)
		if err != nil {
			return event{Kind: evBad, At: now}
		}
		return event{Kind: evMessage, Group: k.group, Phase: k.phase, Sender: k.sender, Seq: k.seq, Sent: sent, At: now}
	case client.EventView:
		return event{Kind: evView, View: e.View, At: now}
	case client.EventError:
		return event{Kind: evError, Err: e.Err.Error(), At: now}
	}
	return event{}
}

// record records one event of the client's session, at now.
func (m *member) record(e *client.Event, now int64) { m.apply(eventOf(e, now)) }

// apply records one event of the member's session.
func (m *member) apply(e event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Kind {
	case evMessage:
		k := key{e.Group, e.Phase, e.Sender, e.Seq}
		d := m.got[k]
		if d == nil {
			d = &delivery{sent: e.Sent, at: e.At}
			m.got[k] = d
			m.times = append(m.times, e.At)
		}
		d.count++
	case evBad:
		m.bad++
	case evView:
		if !e.View.Transitional {
			m.view = slices.Sorted(slices.Values(e.View.Members))
		}
		m.views = append(m.views, sites.View{View: *e.View, At: m.clk.at(e.At)})
	case evError:
		m.errs = append(m.errs, e.Err)
	}
}

// apart reports whether m was apart from other (a member name) at some
// time in [from, to] (sites.Apart: a regular view without other, or in a
// site's group a transitional one; a federation domain's transitional
// views hold the node alone at every change and say nothing).
func (m *member) apart(other string, from, to int64) bool {
	federated := !strings.HasPrefix(wantDomain[Groups[m.group]], "site/")
	return sites.Apart(m.views, other, m.clk.at(from), m.clk.at(to), federated)
}

// name is the member's name in views.
func (m *member) name() string { return m.node + ":" + Groups[m.group] }

// session is one member's client session, in the process of its site:
// it sends, and keeps the events of its session until the coordinator
// takes them (take).
type session struct {
	node  string
	group int
	c     *client.Client
	clk   clock

	mu      sync.Mutex
	pending []event
	sent    map[uint8][]uint32 // by phase code: the sequence numbers the agent accepted
}

// read keeps the client's events until its session ends.
func (m *session) read() {
	name := m.node + ":" + Groups[m.group]
	for e := range m.c.Events() {
		ev := eventOf(&e, m.clk.now())
		logDelivery(name, &ev)
		m.mu.Lock()
		m.pending = append(m.pending, ev)
		m.mu.Unlock()
	}
}

// take returns the events since the last call.
func (m *session) take() []event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.pending
	m.pending = nil
	return out
}

// load is one sender's schedule in a phase.
type load struct {
	rate float64       // messages per second; 0: as fast as MulticastWait returns
	size int           // payload bytes
	dur  time.Duration // how long to send
	slot float64       // the sender's place in its group's schedule, in [0, 1) (firstSlot)
}

// firstSlot returns the first of a sender's send times at or after now
// (ns on the run's clock): the times slot×interval past each whole
// multiple of interval on the run's clock. Every process reads the run's
// clock alike, so the n senders of a group, given the slots 0, 1/n, …,
// (n-1)/n, send in turn at n times their own rate, evenly, wherever
// their processes are: the group's load is what its rate says, not a
// burst of every member at once each interval (which idled a federation
// ring between bursts, and on site a's ring queued each a-local message
// behind its two peers').
func firstSlot(now int64, interval time.Duration, slot float64) int64 {
	iv := int64(interval)
	off := int64(slot * float64(interval))
	k := (now - off) / iv
	if t := off + k*iv; t >= now {
		return t
	}
	return off + (k+1)*iv
}

// sendStall bounds how long past its schedule's end a sender waits for
// the agent to take a message: a domain that stopped delivering fails the
// phase instead of hanging the benchmark.
const sendStall = 60 * time.Second

// send multicasts to the member's group at l's rate for l.dur, each
// message Agreed with MulticastWait, and records what the agent accepted.
// A slot missed while MulticastWait waited is skipped, not made up, so
// that a stall does not turn into a burst. It returns the first error
// other than the context's end, and an error when the agent had no room
// for a message until sendStall after the schedule's end.
func (m *session) send(ctx context.Context, phase, sender uint8, l load) error {
	buf := make([]byte, max(l.size, headerLen))
	group := []string{Groups[m.group]}
	m.mu.Lock()
	m.sent[phase] = nil
	m.mu.Unlock()
	start := time.Now()
	wctx, cancel := context.WithDeadline(ctx, start.Add(l.dur+sendStall))
	defer cancel()
	var interval time.Duration
	next := start
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) / l.rate)
		now := m.clk.now()
		next = start.Add(time.Duration(firstSlot(now, interval, l.slot) - now))
	}
	for seq := uint32(0); ; seq++ {
		now := time.Now()
		if now.Sub(start) >= l.dur {
			return nil
		}
		if interval > 0 {
			if d := next.Sub(now); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			} else if late := -d; late > interval {
				next = next.Add(late / interval * interval) // skip the missed slots, keep the sender's place
			}
			next = next.Add(interval)
		}
		k := key{uint8(m.group), phase, sender, seq}
		sent := m.clk.now()
		encode(buf, k, sent)
		logSend(k, sent)
		if err := m.c.MulticastWait(wctx, client.Agreed, 0, group, buf); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case wctx.Err() != nil:
				return fmt.Errorf("isolation: %s: the agent had no room for a message to %s for %v (since %v into the phase): the domain stopped delivering; see the agents' logs", m.node, group[0], time.Since(now).Round(time.Second), now.Sub(start).Round(time.Millisecond))
			}
			return fmt.Errorf("isolation: %s multicasts to %s: %w", m.node, group[0], err)
		}
		m.mu.Lock()
		m.sent[phase] = append(m.sent[phase], seq)
		m.mu.Unlock()
	}
}

// flush waits until the agent handed on everything the member sent.
func (m *session) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := m.c.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("isolation: %s flushes its messages to %s: %w", m.node, Groups[m.group], err)
	}
	return nil
}
