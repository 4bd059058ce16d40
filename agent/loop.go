package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/internal/stagetrace"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// loopState is what the agent keeps between the driver's passes; the
// driver's hooks own it (they run on the driver's loop).
type loopState struct {
	now       time.Time // the clock reading of the current pass
	load      loadGen
	conf      *localring.Configuration // the last regular configuration
	gather    string                   // the reason of the last gather, for "member lost"
	installed bool                     // a configuration was installed in this output
	loadSubs  uint64                   // messages the load generator submitted
	holdFrom  time.Time                // when the node's new messages were last held back for the trace (traceSends)
}

// newDriver builds the driver of the agent's node: the hooks put the
// ring's log lines, the hand-over to and from the group loop (events in,
// ring messages out), the agent's own submissions, the load generator,
// the status snapshot and the subscribers into its loop. The group layer,
// the clients, the domains and the trace run on the group loop
// (grouploop.go).
func (a *Agent) newDriver() (err error) {
	ls := &a.ls
	a.d, err = driver.New(driver.Config{
		Node:         a.node,
		Transport:    a.st,
		Store:        stateStore{dir: a.cfg.DataDir, node: a.cfg.Node, inc: a.self.Inc},
		Logger:       a.log,
		DrainTimeout: a.cfg.DrainTimeout,
		Hooks: driver.Hooks{
			Events: func(now time.Time, evs []localring.Event) {
				ls.now = now
				a.events(ls, evs)
				// The group loop, on the agent's one thread, writes these
				// events' deliveries once the driver has sent the Ready's
				// packets and waits again. Letting it run first (a yield
				// here for small Readies) lowered the one-sender median at
				// 1,000 msgs/s but raised the every-node median and the
				// half-max p99: the token waited for the group loop at every
				// hop (docs/BENCHMARKS.md, history, "The group loop before
				// the sends").
				a.handEvents(now, evs)
			},
			Output: func(now time.Time, evs []localring.Event) {
				ls.now = now
				if stagetrace.On {
					for i := range evs {
						switch evs[i].Kind {
						case localring.EventDeliver:
							stagetrace.Mark("5a ring.flushed", evs[i].Msg.Payload)
						case localring.EventSend:
							stagetrace.Mark("4a ring.sent", evs[i].Msg.Payload)
						}
					}
				}
				a.submitGroups(now)
				a.traceSends(now)
				a.visitShare.Store(int64(a.node.VisitShare()))
				a.visitMsgs.Store(int64(a.node.VisitMessages()))
				a.updateSnapshot(ls, ls.installed)
				ls.installed = false
				if ls.conf != nil { // after the snapshot: Status shows the ring
					a.readyOnce.Do(func() { close(a.ready) })
				}
				// Last, so that a subscriber's Status call sees at least
				// this state.
				if len(evs) > 0 {
					a.publish(evs)
				}
			},
			Pass: func(now time.Time) {
				ls.now = now
				a.lastPass.Store(now.UnixNano())
				a.takeSubmissions(ls)
				a.submitGroups(now)
				ls.load.run(now, a.node, &ls.loadSubs)
			},
			Deadline: ls.load.deadline,
			Leaving: func(now time.Time) {
				ls.now = now
				a.mu.Lock()
				a.leaving = true
				a.mu.Unlock()
				ls.load.set(Load{}, now)
				a.groupsLeaving()
				a.log.Info("leaving: no more messages accepted; draining the queue", "pending", a.node.Pending()+a.queued(), "drain_timeout", a.cfg.DrainTimeout)
			},
			Drained: func() bool { return a.queued() == 0 && a.groupLoopDrained() },
		},
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// stateStore saves the ring sequence number in the agent's state file,
// synchronously (the driver calls it before sending what reveals it).
type stateStore struct {
	dir, node string
	inc       uint64
}

func (s stateStore) SaveRingSeq(seq uint64) error {
	return writeState(s.dir, state{Node: s.node, Incarnation: s.inc, RingSeq: seq})
}

// takeSubmissions moves queued messages into the ring, as many as it
// takes; the rest wait for the next pass.
func (a *Agent) takeSubmissions(ls *loopState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.newLoad; l != nil {
		a.newLoad = nil
		if !a.leaving {
			ls.load.set(*l, ls.now)
			a.log.Info("load generator set", "rate", l.Rate, "size", l.Size, "svc", l.Service)
		}
	}
	taken := 0
	for _, s := range a.queue {
		if _, err := a.node.Submit(ls.now, s.svc, s.payload); err != nil {
			break // backpressure: the ring's queue is full
		}
		taken++
	}
	if taken > 0 {
		n := copy(a.queue, a.queue[taken:])
		clear(a.queue[n:])
		a.queue = a.queue[:n]
	}
}

func (a *Agent) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue)
}

// events writes the operator's log lines of the node's events (driver's
// loop); the group loop handles them for the trace, the domains and the
// group layer (siteEvents, domainPart).
func (a *Agent) events(ls *loopState, evs []localring.Event) {
	for i, e := range evs {
		switch e.Kind {
		case localring.EventSend:
			if stagetrace.On {
				stagetrace.Mark("4 ring.send", e.Msg.Payload)
			}
		case localring.EventDeliver:
			if stagetrace.On {
				if e.Msg.ID.Sender == a.node.ID().ID {
					stagetrace.Mark("5 ring.deliver.own", e.Msg.Payload)
				} else {
					stagetrace.Mark("5 ring.deliver.other", e.Msg.Payload)
				}
			}
		case localring.EventInstall:
			ls.installed = true
			a.logInstall(ls, evs[i].Conf)
		case localring.EventTokenLost:
			a.log.Warn("token lost: the ring will re-form without the nodes that stopped answering", "reason", e.Reason, "ring", confID(ls.conf))
			a.evlog.add(ls.now, MembershipEvent{Kind: EventTokenLost, Ring: confID(ls.conf), Reason: e.Reason})
		case localring.EventEvict:
			a.log.Warn("ring member taken out for failing to receive or to be received", "member", e.Evicted.String(), "reason", e.Reason, "ring", confID(ls.conf))
			a.evlog.add(ls.now, MembershipEvent{Kind: EventMemberEvicted, Ring: confID(ls.conf), Member: e.Evicted.String(), Reason: e.Reason})
		case localring.EventReadmit:
			a.log.Info("ring member let back in: the link it was taken out for carries again", "member", e.Evicted.String(), "reason", e.Reason, "ring", confID(ls.conf))
			a.evlog.add(ls.now, MembershipEvent{Kind: EventMemberReadmitted, Ring: confID(ls.conf), Member: e.Evicted.String(), Reason: e.Reason})
		case localring.EventGather:
			ls.gather = e.Reason
			a.log.Info("membership change started", "reason", e.Reason, "ring", confID(ls.conf))
			a.evlog.add(ls.now, MembershipEvent{Kind: EventGather, Ring: confID(ls.conf), Reason: e.Reason})
		}
	}
}

// logInstall writes the operator's lines for a configuration change:
// "ring formed" with the members, and one line per member lost, joined or
// restarted.
func (a *Agent) logInstall(ls *loopState, c *localring.Configuration) {
	if c.Kind == localring.Transitional {
		a.log.Debug("transitional configuration", "ring", c.ID, "members", c.MemberIDs())
		return
	}
	prev := ls.conf
	ls.conf = c
	missing := a.missing(c)
	attrs := []any{"ring", c.ID, "members", c.MemberIDs()}
	if len(missing) > 0 {
		attrs = append(attrs, "missing", missing)
	}
	if len(c.Members) < len(a.cfg.Nodes) {
		a.log.Warn("ring formed without every configured node", attrs...)
	} else {
		a.log.Info("ring formed", attrs...)
	}
	a.evlog.add(ls.now, MembershipEvent{Kind: EventRingFormed, Ring: c.ID, Members: c.MemberIDs(), Missing: missing})
	if prev == nil {
		return
	}
	old := map[localring.NodeID]uint64{}
	for _, m := range prev.Members {
		old[m.ID] = m.Inc
	}
	for _, m := range c.Members {
		inc, was := old[m.ID]
		delete(old, m.ID)
		switch {
		case !was:
			a.log.Info("member joined", "member", m.ID, "ring", c.ID)
			a.evlog.add(ls.now, MembershipEvent{Kind: EventMemberJoined, Ring: c.ID, Member: string(m.ID)})
		case inc != m.Inc:
			a.log.Info("member restarted", "member", m.ID, "ring", c.ID, "incarnation", m.Inc)
			a.evlog.add(ls.now, MembershipEvent{Kind: EventMemberRestarted, Ring: c.ID, Member: string(m.ID)})
		}
	}
	for _, m := range prev.Members {
		if _, lost := old[m.ID]; lost {
			reason := ls.gather
			if reason == "" {
				reason = "stopped answering"
			}
			a.log.Warn("member lost", "member", m.ID, "ring", c.ID, "reason", reason)
			a.evlog.add(ls.now, MembershipEvent{Kind: EventMemberLost, Ring: c.ID, Member: string(m.ID), Reason: reason})
		}
	}
	ls.gather = ""
}

// missing lists the configured nodes that are not in c.
func (a *Agent) missing(c *localring.Configuration) []string {
	var out []string
	for _, id := range a.cfg.Nodes {
		if !slices.ContainsFunc(c.Members, func(m localring.Member) bool { return string(m.ID) == id }) {
			out = append(out, id)
		}
	}
	return out
}

func confID(c *localring.Configuration) string {
	if c == nil {
		return "none"
	}
	return c.ID
}

func (a *Agent) transportString() string {
	t := &a.cfg.Transport
	switch {
	case a.cfg.Network != nil && a.udp == nil:
		return "custom, local address " + a.tr.LocalAddr().String()
	case t.Group.IsValid():
		return "multicast " + t.Group.String() + " from " + a.tr.LocalAddr().String()
	default:
		ps := make([]string, len(t.Peers))
		for i, p := range t.Peers {
			ps[i] = p.String()
		}
		return "unicast from " + a.tr.LocalAddr().String() + " to " + strings.Join(ps, ",")
	}
}

func (a *Agent) securityString() string {
	s := a.cfg.Security
	if s.Mode == seal.ModeNone {
		return "none (INSECURE)"
	}
	return s.Mode.String() + " " + s.Suite.String() + " key " + hex32(a.sealer.KeyID()) + " epoch " + itoa(uint64(s.Epoch))
}
