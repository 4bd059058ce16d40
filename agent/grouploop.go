package agent

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/stagetrace"
	"github.com/atoll-gcs/atoll/localring"
)

// The group loop: the group layer, the client requests and sessions, the
// federation domains, the introspection calls (onLoop) and the trace run
// on a goroutine of their own, not on the ring driver's loop. The
// driver's Events hook hands them the ring's events, in order (a copy of
// each Ready's events: their payloads and configurations stay valid for
// good); the group loop hands the driver the ring messages they produce,
// in order, which the driver submits at its next pass until the ring
// pushes back (submitGroups).
//
// So the ring keeps passing the token and answering the membership
// protocol while the group layer works: a configuration change costs the
// group layer O(groups) (at 100,000 groups, seconds of CPU for the state
// exchange and the views; docs/BENCHMARKS.md), far more than a token
// timeout. On the driver's loop that time stopped the token, the ring
// re-formed, and each re-formation was another configuration change.
//
// The order the group layer sees is unchanged: every ring event, in the
// ring's order. What it submits reaches the ring later than before (one
// hand-over between goroutines, or the time the group layer takes), which
// it already had to bear: messages wait in its queue while the ring
// pushes back, and a report of a state exchange that reaches another
// configuration is ignored there.
//
// The events waiting for the group loop are bounded (maxGroupBacklog):
// beyond, the driver's Events hook waits for the group loop, so a group
// layer that cannot keep up with the ring slows the ring down, as it did
// on the driver's loop, instead of growing without bound.
//
// Each ring event has two parts, done in ring order each: the site part
// (its own trace line, the site's group layer: every line of the local
// ring's EVS domain, site/<name>) and the domain part (the federation
// domains' bridges, Views and group layers: the lines of the fed/...
// domains). The group loop does the site part of every event it takes
// at once, and the domain part after it, in slices that end when new
// ring events or client requests wait or after domainSlice, so that the
// site part, the client requests and the sessions' writes of a pass never
// wait long behind a burst of federation messages coming down (a site's active
// gateway injects the domain's order in bursts: atoll bench isolation).
// Each EVS domain's lines stay in the ring's order; only lines of
// different domains interleave otherwise, which EVS.md leaves free
// (properties are per domain; package evs reads each domain's lines of
// a process apart from the others'). Site and domain layers share no
// state the order between them could change: each federation domain's
// layers see local ring events only through the domain part, the site's
// group layer only through the site part.

// groupRunner is what the driver's loop and the group loop share.
type groupRunner struct {
	wake chan struct{} // capacity 1: the group loop has work
	done chan struct{} // closed when the group loop ended

	mu      sync.Mutex
	cond    sync.Cond         // broadcast when the group loop took events, traced them, and did their domain part
	in      []localring.Event // ring events the group loop has not taken, in order
	handed  uint64            // events handed to the group loop so far
	traced  uint64            // events whose site part the group loop has done, their site lines flushed (the trace gate)
	limited bool              // the driver holds the node's new messages back until traced == handed
	inBytes int               // their payload bytes
	spare   []localring.Event // in's other buffer
	out     []groups.Submit   // ring messages for the driver, in order
	busy    bool              // the group loop works on events it took
	drained bool              // after its last pass: the group layers have nothing left to send
	leave   bool              // the agent is leaving (the driver's Leaving hook)
	waited  time.Time         // when the driver last waited for the group loop (for the log)

	// lag and lagBytes are the events (and their payload bytes) taken
	// whose domain part waits (groupLoop.domq): the backlog bound counts
	// them with in's. Every event handed is handled when traced ==
	// handed and lag == 0.
	lag, lagBytes int

	// For Probe: a stuck group loop (groupStall).
	passStart time.Time     // when the pass in progress started (busy)
	asked     time.Time     // since when work or a probe has waited for a pass to start; zero when none waits
	stallMax  time.Duration // groupStall, or a test's bound
}

// maxGroupBacklog bounds the ring events waiting for the group loop:
// their number, and their payload bytes. At 100,000 groups a
// configuration change keeps the group layer busy for seconds, during
// which an idle ring hands it a few events and a loaded one tens of
// thousands.
const (
	maxGroupBacklog      = 1 << 17
	maxGroupBacklogBytes = 128 << 20
)

// groupStall is how long the group loop may spend in one pass, or leave
// work waiting before it starts one, before Probe reports it stuck. Far
// above a legitimate pass: a configuration change at 100,000 groups keeps
// one pass busy for about 1 to 5 s on a loaded machine
// (docs/BENCHMARKS.md), a backlog of maxGroupBacklog events longer.
const groupStall = 60 * time.Second

func (gr *groupRunner) init() {
	gr.wake = make(chan struct{}, 1)
	gr.done = make(chan struct{})
	gr.cond.L = &gr.mu
	gr.stallMax = groupStall
}

// groupStuck reports, for Probe, whether the group loop has been in one
// pass, or has left work waiting, for longer than its bound at now, in
// words for the operator; nil while it keeps up. It asks for a pass (a
// probe's request counts as work): an idle group loop runs one and
// clears it.
func (a *Agent) groupStuck(now time.Time) error {
	gr := &a.gr
	select {
	case <-gr.done:
		return nil // the agent stopped: nothing is waiting for it
	default:
	}
	gr.mu.Lock()
	busy, start, asked, bound := gr.busy, gr.passStart, gr.asked, gr.stallMax
	if asked.IsZero() {
		gr.asked = now
	}
	waiting, bytes := len(gr.in), gr.inBytes
	gr.mu.Unlock()
	a.wakeGroups()
	switch {
	case busy && now.Sub(start) > bound:
		return fmt.Errorf("agent: the group loop has been in one pass for %v (since %s, bound %v): the groups, the clients and the trace make no progress; %d ring events (%d bytes) wait for it",
			now.Sub(start).Round(time.Millisecond), start.UTC().Format(time.RFC3339), bound, waiting, bytes)
	case !busy && !asked.IsZero() && now.Sub(asked) > bound:
		return fmt.Errorf("agent: the group loop has not started a pass for %v although work waits for it (bound %v): the groups, the clients and the trace make no progress; %d ring events (%d bytes) wait for it",
			now.Sub(asked).Round(time.Millisecond), bound, waiting, bytes)
	}
	return nil
}

// wakeGroups makes the group loop run a pass soon. Safe from any
// goroutine; never blocks.
func (a *Agent) wakeGroups() {
	select {
	case a.gr.wake <- struct{}{}:
	default:
	}
}

// handEvents gives a Ready's events to the group loop (driver's loop). It
// waits while the group loop is maxGroupBacklog behind; and with a trace,
// when the node sent messages in this Ready, until the group loop has
// written their trace lines (traceSends).
func (a *Agent) handEvents(now time.Time, evs []localring.Event) {
	gr := &a.gr
	bytes, sends := 0, false
	for i := range evs {
		bytes += len(evs[i].Msg.Payload)
		sends = sends || evs[i].Kind == localring.EventSend
	}
	gr.mu.Lock()
	if gr.full(len(evs), bytes) {
		if now.Sub(gr.waited) > 10*time.Second {
			a.log.Warn("the group layer is far behind the ring: the ring waits for it; a configuration change with this many groups, or this message rate, needs more CPU",
				"events_waiting", len(gr.in)+gr.lag, "bytes_waiting", gr.inBytes+gr.lagBytes)
		}
		gr.waited = now
		a.wakeGroups()
		for gr.full(len(evs), bytes) {
			gr.cond.Wait()
		}
	}
	if gr.asked.IsZero() {
		gr.asked = now
	}
	gr.in = append(gr.in, evs...)
	gr.inBytes += bytes
	gr.handed += uint64(len(evs))
	a.wakeGroups()
	if a.trace != nil && sends {
		for gr.traced < gr.handed {
			gr.cond.Wait()
		}
	}
	gr.mu.Unlock()
}

// full reports whether n more events of bytes payload bytes would take
// the events waiting for the group loop (not taken yet, or waiting for
// their domain part) past maxGroupBacklog; never while none wait (gr.mu
// held).
func (gr *groupRunner) full(n, bytes int) bool {
	waiting := len(gr.in) + gr.lag
	return waiting > 0 && (waiting+n > maxGroupBacklog || gr.inBytes+gr.lagBytes+bytes > maxGroupBacklogBytes)
}

// traceSends keeps the trace ahead of the network (driver's loop, at the
// end of each output step): a trace cut by kill -9 must end in a state
// the node was in, so the send line of a message must be in the file
// before the message's packet leaves, or the others could deliver a
// message its sender's trace never sent (EVS 1.1). The group loop writes
// the trace after the ring produced the events, and a send line after
// the lines of the events before it: a process's lines are read in file
// order (EVS.md: in the order the application sees them), and there the
// send must come after the install of its configuration (1.4), after the
// sender's earlier sends (1.2, 5 and 8 rank them in that order), after
// the views before it. So while the group loop has events whose lines
// are not written, the node sends no new messages
// (localring.Node.SetSendLimit 0; it still passes the token and answers
// the membership protocol), and a Ready in which it did send waits in
// handEvents until the group loop traced it, which then takes the group
// loop only that Ready's events. Without a trace, neither.
//
// The gate is the site part only (groupRunner.traced): every message the
// node sends is a local ring message, whose send line is in the site's
// domain (site/<name>: a group message's, or the raw line of an Up, a
// bridge or handover message), and the site part writes all of that
// domain's lines, in order. The federation domains' lines, from the
// domain part, come after the send in the file or before it: EVS.md
// checks properties per domain and promises no order between domains.
// A domain's own send lines need no gate: the domain's stream writes
// them as the message comes down (gateway/bridge "When a message is
// sent"), after the federation ordered it, so no packet of this node
// precedes them. So a site's sends no longer wait behind the federation
// messages its nodes apply (a burst of Downs: held 1.6-10.2 ms at p90 in
// one loaded atoll bench isolation run when every event counted).
//
// The price, with a trace only: when the Ready that sends also holds an
// event the site's group layer takes long over (a configuration change's
// views, the end of a state exchange), the driver waits for it, as it
// did when the group layer ran on its loop; and for the domain event the
// group loop is in when the Ready comes (one, not a backlog: domainPart).
func (a *Agent) traceSends(now time.Time) {
	if a.trace == nil {
		return
	}
	gr := &a.gr
	gr.mu.Lock()
	lag := gr.traced < gr.handed
	change := lag != gr.limited
	gr.limited = lag
	gr.mu.Unlock()
	switch {
	case change && lag:
		a.node.SetSendLimit(0)
		a.ls.holdFrom = now
	case change:
		a.node.SetSendLimit(-1)
		a.n.traceHolds.Add(1)
		a.n.traceHeld.Add(int64(now.Sub(a.ls.holdFrom)))
	}
}

// groupsLeaving tells the group loop that the agent leaves (driver's
// loop): from its next pass it refuses client requests, and the driver's
// drain waits for that pass.
func (a *Agent) groupsLeaving() {
	gr := &a.gr
	gr.mu.Lock()
	gr.leave, gr.drained = true, false
	gr.mu.Unlock()
	a.wakeGroups()
}

// groupLoopDrained reports whether the group loop has handled every event
// handed to it and its group layers have nothing left to send (driver's
// loop).
func (a *Agent) groupLoopDrained() bool {
	gr := &a.gr
	gr.mu.Lock()
	defer gr.mu.Unlock()
	return gr.drained && !gr.busy && len(gr.in) == 0 && gr.lag == 0 && len(gr.out) == 0
}

// runGroups is the group loop: a pass at the start (what New queued), at
// every wake, at once while domain parts wait, and last ones once stop is
// closed (after the driver returned: the events it handed last, to the
// end of their domain parts).
func (a *Agent) runGroups(stop <-chan struct{}) {
	defer close(a.gr.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next := a.groupPass(); !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-a.gr.wake:
		case <-timer.C:
		case <-stop:
			a.groupPass()
			for a.gl.domainWaits() {
				a.groupPass()
			}
			return
		}
	}
}

// groupPass does the group loop's work once: the ring's events, the
// introspection calls, the federation rings' events, the client requests;
// then it hands the ring messages to the driver, writes to the sessions
// and publishes the status. It returns when the group loop must run its
// next pass even without a wake, or the zero time: when the readers that
// hold client requests back stop counting as reading (holdBack), at the
// end of a new gateway's grace (endSolo), at the end of a session's grace
// over its queue bound (evictStalled).
//
// Client requests that wait for room otherwise need no timer: whatever
// makes room wakes the group loop. A group layer's send queue and a
// domain's backlog shrink only on ring events (the local ring's,
// handEvents; a federation ring's, fedEvents), a reader's backlog as its
// writer writes (session.wrote, which wakes the group loop when the
// backlog ends). The group loop used to run a pass every 5 ms while
// requests waited, whatever they waited for (TestHeldRequestsNoPolling).
func (a *Agent) groupPass() (next time.Time) {
	gr := &a.gr
	gr.mu.Lock()
	evs := gr.in
	gr.in, gr.spare, gr.inBytes = gr.spare, nil, 0
	gr.busy = true
	gr.passStart, gr.asked = time.Now(), time.Time{}
	leave := gr.leave
	a.gl.clock = eventClock{now: gr.passStart}
	gr.mu.Unlock()
	gr.cond.Broadcast()

	if leave && !a.gl.leaving {
		a.clientsLeaving()
	}
	if len(evs) > 0 {
		a.siteEvents(evs)
		gr.mu.Lock()
		gr.traced += uint64(len(evs))
		gr.lag, gr.lagBytes = a.gl.domainLag()
		caughtUp := gr.limited && gr.traced == gr.handed
		gr.mu.Unlock()
		gr.cond.Broadcast()
		if caughtUp {
			a.d.Wake() // the driver lets the node send again (traceSends)
		}
	}
	if a.gl.domainWaits() {
		// What the site part delivered goes to the clients now, not
		// after a slice of the domain part.
		a.cs.flushSessions()
		a.domainPart()
	}
	a.runLoopCalls()
	a.takeFederation()
	a.takeClientRequests()
	// Only a pass that began after the leave can say the group loop
	// drained: one that began before did not disconnect the clients, and
	// the leave's groupsLeaving, which cleared gr.drained meanwhile, must
	// not be undone by its result (the driver would stop before the
	// clients' leaves went out, and the others see reason network).
	drained := leave && len(a.gl.queue) == 0 && a.g.Pending() == 0 && a.domainsDrained() && !a.gl.domainWaits()

	clear(evs)
	gr.mu.Lock()
	gr.spare = evs[:0]
	gr.out = append(gr.out, a.gl.queue...)
	out := len(gr.out)
	gr.busy = false
	became := drained && !gr.drained
	gr.drained = drained
	gr.mu.Unlock()
	clear(a.gl.queue)
	a.gl.queue = a.gl.queue[:0]
	if out > 0 || became {
		a.d.Wake()
	}
	a.cs.flushSessions()
	a.updateGroupSnapshot()
	// A session over its queue bound is evicted at the end of its grace
	// even if nothing more is queued for it.
	next = a.cs.evictStalled(time.Now())
	if until := a.gl.heldUntil; !until.IsZero() && (next.IsZero() || until.Before(next)) {
		next = until
	}
	if a.gl.domainWaits() {
		next = time.Now() // the next slice of the domain part
	}
	for _, dl := range a.doms {
		if until, ok := dl.grace.Deadline(); ok && (next.IsZero() || until.Before(next)) {
			next = until
		}
		if until, ok := dl.ungated.Deadline(); ok && (next.IsZero() || until.Before(next)) {
			next = until
		}
		if until := dl.outranked.until; !until.IsZero() && (next.IsZero() || until.Before(next)) {
			next = until
		}
	}
	return next
}

// siteEvents does the site part of the ring's events, in order: their
// own trace lines and the site's group layer; it queues their domain part
// (domainPart), and flushes the trace before it returns, so that the
// driver may send once it counts them traced (group loop).
func (a *Agent) siteEvents(evs []localring.Event) {
	gl := &a.gl
	for i := range evs {
		e := &evs[i]
		if stagetrace.On && e.Kind == localring.EventDeliver {
			stagetrace.Mark("5b group.took", e.Msg.Payload)
		}
		if a.trace != nil && traceRaw(e) {
			a.trace.record(*e)
		}
		switch e.Kind {
		case localring.EventInstall:
			if e.Conf.Kind == localring.Regular {
				gl.conf = e.Conf
			}
			if len(a.doms) > 0 {
				gl.domq = append(gl.domq, *e)
			}
		case localring.EventDeliver:
			if len(a.doms) > 0 {
				gl.domq = append(gl.domq, *e)
				gl.domBytes += len(e.Msg.Payload)
			}
		}
		a.stepGroups(*e)
		gl.yieldEvent()
	}
	a.flushTrace()
}

// flushTrace writes the trace's buffered lines to its file; a failure is
// logged once, and tracing stops (group loop).
func (a *Agent) flushTrace() {
	if a.trace == nil {
		return
	}
	if err := a.trace.flush(); err != nil && !a.gl.traceFailed {
		a.gl.traceFailed = true
		a.log.Error("cannot write the trace file; tracing stopped", "path", a.cfg.TracePath, "err", err)
	}
}

// domainSlice is how long the group loop works on the domain part of the
// events it took before it ends the pass (client requests, the sessions'
// writes, the hand-over of ring messages) and starts the next, when no
// new ring event ended it earlier.
const domainSlice = time.Millisecond

// domainPart feeds the queued events' domain part to the federation
// domains' layers, in order, until none waits, new ring events wait for
// their site part, client requests wait, or domainSlice has passed (group
// loop; called while some wait). A client request waits for one domain
// event at most, not for the rest of the slice: a site group's message
// (a realtime class's: atoll bench isolation's a-local) goes to the ring
// in its send class at once, whatever burst of a federation domain's
// messages came down before it.
func (a *Agent) domainPart() {
	gl, gr := &a.gl, &a.gr
	start := time.Now()
	for gl.domHead < len(gl.domq) {
		e := &gl.domq[gl.domHead]
		a.domainsLocalEvent(e)
		if gl.domainStepped != nil {
			gl.domainStepped(e)
		}
		gl.domBytes -= len(e.Msg.Payload)
		gl.domq[gl.domHead] = localring.Event{}
		gl.domHead++
		gl.yieldEvent()
		if gl.domHead < len(gl.domq) && (gr.eventsWait() || a.cs.requestsWait() || time.Since(start) >= domainSlice) {
			break
		}
	}
	a.flushTrace()
	switch {
	case gl.domHead == len(gl.domq):
		gl.domq, gl.domHead = gl.domq[:0], 0
	case gl.domHead >= 1024 && gl.domHead >= len(gl.domq)/2:
		n := copy(gl.domq, gl.domq[gl.domHead:])
		clear(gl.domq[n:])
		gl.domq, gl.domHead = gl.domq[:n], 0
	}
	gr.mu.Lock()
	gr.lag, gr.lagBytes = gl.domainLag()
	gr.mu.Unlock()
	gr.cond.Broadcast() // a driver waiting for room (handEvents)
}

// eventsWait reports whether ring events wait for the group loop to take
// them (any goroutine).
func (gr *groupRunner) eventsWait() bool {
	gr.mu.Lock()
	defer gr.mu.Unlock()
	return len(gr.in) > 0
}

// submitGroups hands the group loop's ring messages to the ring, each in
// its send class (groups.Submit.Class), in order within each class; once
// the ring pushes back on a class, that class's messages wait for the
// next pass, in order, and the other classes' go on (driver's loop).
//
// A message the ring refuses for good (too large for the ring, an unknown
// service or send class: refusedForGood) is dropped, counted
// (Counters.RingRefused) and logged as an error: kept, it would wait at
// the head of its class for ever and every later message of the class
// (a federation domain's whole stream at this node) behind it. Clients'
// messages are checked against the ring's limit before they get here
// (groups.ErrTooLarge); the agent's own layers must not make one larger
// (gateway/bridge splits what grows with its backlog: Config.MaxLocalBytes).
func (a *Agent) submitGroups(now time.Time) {
	gr := &a.gr
	gr.mu.Lock()
	defer gr.mu.Unlock()
	var full uint16 // the classes the ring pushed back on
	kept := 0
	for i, s := range gr.out {
		if full&(1<<s.Class) == 0 {
			_, err := a.node.SubmitClass(now, s.Class, s.Svc, s.Payload)
			if err == nil {
				if stagetrace.On {
					stagetrace.Mark("3 ring.submit", s.Payload)
				}
				continue
			}
			if refusedForGood(err) {
				a.n.ringRefused.Add(1)
				a.log.Error("the local ring refused one of this agent's own messages for good; it is dropped so that the messages after it in its send class go on (a bug: report it with this line)",
					"class", s.Class, "service", s.Svc.String(), "bytes", len(s.Payload), "err", err)
				continue
			}
			if !errors.Is(err, localring.ErrBackpressure) {
				a.log.Debug("the ring refused a group message", "err", err)
			}
			full |= 1 << s.Class
		}
		gr.out[kept] = gr.out[i]
		kept++
	}
	clear(gr.out[kept:])
	gr.out = gr.out[:kept]
}

// refusedForGood reports whether the ring's refusal of a message would be
// the same at every later try: the message itself is wrong for the ring,
// not the ring's queue or state.
func refusedForGood(err error) bool {
	return errors.Is(err, localring.ErrTooLarge) || errors.Is(err, localring.ErrBadService) || errors.Is(err, localring.ErrBadClass)
}
