package agent

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/gateway/domconf"
	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/stagetrace"
	"github.com/atoll-gcs/atoll/localring"
)

// The group layer: the agent owns a groups.Node beside its
// localring.Node, on the group loop (grouploop.go). Every ring event goes
// to the group layer in order (stepGroups); the ring messages it produces
// are handed to the driver in order, which submits them and on the ring's
// back-pressure keeps them, in order, for its next pass (submitGroups);
// its events go to the trace and to the client sessions (groupOutput);
// client requests reach it through the client server's inbox
// (takeClientRequests).

// groupLoop is the group loop's state of the group layer.
type groupLoop struct {
	queue       []groups.Submit          // ring messages the ring has not taken yet, in order
	pending     []clientReq              // requests taken from the inbox and not handled yet (back-pressure)
	waiting     map[*session]bool        // takeClientRequests' sessions with a request that waits; empty between passes
	ends        []*session               // ended sessions whose disconnect the group layer has not accepted yet
	leaving     bool                     // the agent is leaving: requests are refused
	conf        *localring.Configuration // the last regular configuration the group loop saw
	traceFailed bool                     // the trace write error was logged
	stepped     func(e *localring.Event) // tests: runs after the group layer stepped e
	domSnaps    []domainSnap             // the domains' status as this pass ends (updateGroupSnapshot)
	maxMsgs     int                      // bounds of the messages waiting for the ring (setSendQueueLimits)
	maxBytes    int
	heldUntil   time.Time // while readers hold the requests back: when the hold ends by the clock (clientServer.holdBack)
	acl         aclTable
	yielded     time.Time  // when the group loop last yielded
	events      uint32     // calls of yieldEvent, for its clock reads
	clock       eventClock // the latency histograms' clock for the events of the last few

	// domq holds, from domHead on, the events whose domain part waits
	// (domainPart), in order, and domBytes their payload bytes.
	domq          []localring.Event
	domHead       int
	domBytes      int
	domainStepped func(e *localring.Event) // tests: runs after the domain layers took e
}

// domainWaits reports whether events wait for their domain part.
func (gl *groupLoop) domainWaits() bool { return gl.domHead < len(gl.domq) }

// domainLag returns the events that wait for their domain part, and
// their payload bytes.
func (gl *groupLoop) domainLag() (int, int) { return len(gl.domq) - gl.domHead, gl.domBytes }

// groupYieldEvery is how much work the group loop does, at most, before
// it lets the other goroutines run (yield).
const groupYieldEvery = time.Millisecond

// yield lets the other goroutines run, the driver's loop above all, once
// the group loop has worked for groupYieldEvery since it last did (group
// loop; the group layer calls it every few hundred groups of a
// configuration change, siteEvents, domainPart and groupOutput every few
// events).
// With one thread (GOMAXPROCS 1, the agent's default) the group loop
// otherwise holds it until the Go runtime preempts it, at best every
// 10 ms, and on a loaded host much later: execution traces of
// BenchmarkGroupsConfChange showed a group loop running 800 ms at a
// stretch while the ring's goroutines waited to run, and the token was
// lost (docs/BENCHMARKS.md).
//
// It runs for every event, so it reads the monotonic clock only
// (time.Since of a time with a monotonic reading), not the wall clock as
// well as time.Now does.
func (gl *groupLoop) yield() {
	if time.Since(gl.yielded) >= groupYieldEvery {
		runtime.Gosched()
		gl.yielded = time.Now()
	}
}

// yieldEventEvery is how many events make one yield (yieldEvent): an
// event's own work is a few microseconds (the group layer's long loops,
// the views of a configuration change, call yield themselves, through
// groups.Config.Yield).
const yieldEventEvery = 16

// yieldEvent is yield for the loops over events (siteEvents, domainPart,
// groupOutput), which reads the clock every yieldEventEvery calls only:
// at full load those loops read it for every event, once in the ring's
// and once in the group layer's, 2.2 % of the CPU of a ring of three
// agents and their clients in one process (client BenchmarkFullLoad).
// The latency histograms' clock (gl.clock) is read again after it.
func (gl *groupLoop) yieldEvent() {
	gl.events++
	if gl.events%yieldEventEvery == 0 {
		gl.yield()
		gl.clock = eventClock{}
	}
}

// Defaults of the group layer the agent relies on.
const defaultMaxQueuedMsgs = 10000

// newGroups creates the group layer and asks the ring to apply the
// topology file's ACLs of exactly named groups.
func (a *Agent) newGroups() error {
	gc := a.cfg.Groups
	gc.Node = a.self
	gc.MaxMessageBytes = a.maxMessage()
	gc.AllViews = gc.AllViews || a.cfg.TracePath != ""
	if gc.MaxQueuedMsgs == 0 {
		gc.MaxQueuedMsgs = defaultMaxQueuedMsgs
	}
	a.cfg.Groups = gc
	gc.Yield = a.gl.yield
	// groupOutput encodes each delivery into its clients' frames before
	// it releases the Ready: the group layer may reuse the Messages.
	gc.ReuseMessages = true
	g, err := groups.New(gc)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.g = g
	a.gl.acl = newACLTable(a.cfg.GroupACLs)
	if err := a.setRingACLs(a.g, func(string) bool { return true }); err != nil {
		return err
	}
	a.groupOutput()
	return nil
}

// setRingACLs asks layer's ring to apply the topology file's ACLs of the
// exactly named groups that mine says the layer runs.
func (a *Agent) setRingACLs(layer *groups.Node, mine func(group string) bool) error {
	for _, r := range a.cfg.GroupACLs {
		if isPattern(r.Group) || !mine(r.Group) {
			continue // patterns are checked here only: the ring's ACLs name single groups
		}
		ra := groups.ACL{Join: nodePatterns(r.Join), Send: nodePatterns(r.Send), Admin: []string{"*:" + reservedClient}}
		if err := layer.SetACL(reservedClient, r.Group, ra); err != nil {
			return fmt.Errorf("agent: group %q: ACL: %w", r.Group, err)
		}
	}
	return nil
}

// maxMessage is the largest ring payload, so the largest group message.
func (a *Agent) maxMessage() int {
	if m := a.cfg.Ring.MaxMessageBytes; m > 0 && m < localring.MaxMessageBytes {
		return m
	}
	return localring.MaxMessageBytes
}

// nodePatterns turns principals into the ring ACL's member patterns: only
// node principals can be checked by every node ("node:fra-1" is
// "fra-1:*"); a list with any other principal is open at the ring's level
// and checked by the client's own agent.
func nodePatterns(principals []string) []string {
	var out []string
	for _, p := range principals {
		id, ok := strings.CutPrefix(p, "node:")
		if !ok {
			return nil
		}
		out = append(out, id+":*")
	}
	return out
}

func isPattern(name string) bool { return strings.ContainsAny(name, "*?") }

// stepGroups feeds one ring event to the group layer and handles what it
// produced.
func (a *Agent) stepGroups(e localring.Event) {
	a.g.Step(e)
	if a.gl.stepped != nil {
		ec := e // the hook takes a pointer: only this copy goes to the heap, not every event
		a.gl.stepped(&ec)
	}
	a.groupOutput()
}

// groupOutput takes the group layer's output: ring messages into the
// queue, events to the trace and to the client sessions.
func (a *Agent) groupOutput() {
	if !a.g.HasReady() {
		return
	}
	rd := a.g.Ready()
	a.gl.queue = append(a.gl.queue, rd.Submits...)
	if stagetrace.On {
		for _, s := range rd.Submits {
			stagetrace.Mark("2 group.submit", s.Payload)
		}
	}
	for i := range rd.Events {
		e := &rd.Events[i]
		if a.trace != nil {
			a.trace.recordGroup(e)
		}
		a.lat.event(e, a.gl.clock.since)
		a.routeGroupEvent(a.g, e)
		a.gl.yieldEvent()
	}
	a.g.Release(rd) // nothing above keeps the events
}

// traceRaw reports whether a ring event has its own trace line: installs,
// and the sends and deliveries of messages that are not group messages
// (the group layer's own lines stand for those).
func traceRaw(e *localring.Event) bool {
	switch e.Kind {
	case localring.EventSend, localring.EventDeliver:
		return !groups.IsGroupPayload(e.Msg.Payload)
	}
	return true
}

// recordGroup writes the trace line of a group event: sends, deliveries
// with their groups, and views (package tracemap decides). Installs come
// from the ring's own events.
func (t *tracer) recordGroup(e *groups.Event) {
	if e.Kind == groups.EventConf {
		return
	}
	if te, ok := t.proc.Group(e); ok {
		t.write(te)
	}
}

// routeGroupEvent hands a group event of layer to the sessions it
// concerns.
func (a *Agent) routeGroupEvent(layer *groups.Node, e *groups.Event) {
	cs := a.cs
	switch e.Kind {
	case groups.EventView:
		if len(e.To) == 0 {
			return
		}
		b := cs.encode(&cp.Frame{Type: cp.TypeView, View: viewFrame(e.View)})
		for _, c := range e.To {
			if s := cs.loopSession(c); s != nil {
				s.send(b)
			}
		}
	case groups.EventDeliver:
		if len(e.To) == 0 || e.Err != nil {
			return
		}
		m := e.Msg
		if stagetrace.On {
			stagetrace.Mark("6 group.deliver", m.Payload)
		}
		pos, _ := m.Order.Position()
		if layer != a.g {
			pos, _ = domconf.Position(m.Order).Position()
		}
		f := cp.Frame{Type: cp.TypeMessage, Svc: uint8(m.Svc), MsgType: m.Type, Sender: m.Sender, Seq: m.Seq,
			Order: pos, MsgIDBytes: cs.ids.write(m.ID), Groups: m.Groups, Payload: m.Payload}
		if m.To != "" {
			f.Flags8, f.To = cp.FlagPointToPoint, m.To
		}
		if len(e.To) == 1 { // encoded in the session's queue: its payload copied once
			if s := cs.loopSession(e.To[0]); s != nil {
				s.sendFrame(&f)
			}
			return
		}
		b := cs.encode(&f)
		for _, c := range e.To {
			if s := cs.loopSession(c); s != nil {
				s.send(b)
			}
		}
	case groups.EventLeft:
		if s := cs.loopSession(e.Client); s != nil {
			s.sendFrame(&cp.Frame{Type: cp.TypeLeft, Group: e.Group})
		}
	case groups.EventReject:
		if e.Client == reservedClient {
			a.log.Warn("the ring refused this agent's ACL for a group: another agent with other ACLs set it first; give every node the same topology file",
				"group", e.Group, "err", e.Err)
			return
		}
		if s := cs.loopSession(e.Client); s != nil {
			var ge *groups.Error
			op := cp.Type(0)
			if errors.As(e.Err, &ge) {
				op = opType(ge.Op)
			}
			s.sendFrame(&cp.Frame{Type: cp.TypeError, Code: errorCode(e.Err), Op: op, Seq: e.Seq, Group: e.Group,
				Text: rejectText(e.Err, a.cfg.Node)})
		}
	case groups.EventSent, groups.EventSentElsewhere:
		_, client, err := groups.SplitMember(e.Msg.Sender)
		if err != nil {
			return
		}
		s := cs.loopSession(client)
		if s == nil {
			return
		}
		if e.Kind == groups.EventSentElsewhere {
			// The message's fate is settled too, as failed in the
			// configuration this node left: the client is told which
			// message, before the answer of a flush that waited for it.
			s.sendFrame(a.sentElsewhereFrame(layer, e.Msg))
		}
		if ls := s.seq(layer); e.Msg.Seq > ls.sent {
			ls.sent = e.Msg.Seq
			s.completeFlushes()
		}
	}
}

// sentElsewhereFrame returns the Error (req 0) that tells a client that its
// message m, of group layer layer, was ordered, if at all, in a
// configuration this node had left (groups.EventSentElsewhere: a
// federation domain's configuration that went on without this node's part
// of the site, gateway/bridge Entry.Gone).
func (a *Agent) sentElsewhereFrame(layer *groups.Node, m *groups.Message) *cp.Frame {
	f := &cp.Frame{Type: cp.TypeError, Code: cp.CodeSentElsewhere, Op: cp.TypeMulticast, Seq: m.Seq}
	to := fmt.Sprintf("to member %q", m.To)
	if m.To != "" {
		f.Op = cp.TypeSend
	} else {
		f.Group = m.Groups[0]
		to = "to group " + strconv.Quote(f.Group)
		if len(m.Groups) > 1 {
			to = fmt.Sprintf("to %d groups (%q first)", len(m.Groups), f.Group)
		}
	}
	domain := "its domain"
	for _, dl := range a.doms {
		if dl.g == layer {
			domain = "federation domain " + dl.d.Name
		}
	}
	f.Text = fmt.Sprintf("message %d %s was ordered, if at all, in a configuration of %s that this node left when site %s was cut off: "+
		"delivered there, if at all, to the members that stayed, not in this member's views; not sent again (send it again if they must have it; reported by agent %s)",
		m.Seq, to, domain, a.cfg.Site, a.cfg.Node)
	return f
}

// appendMsgIDHead appends the part of id's string (MessageID.String)
// before its sequence number, "sender/incarnation/".
func appendMsgIDHead(b []byte, id localring.MessageID) []byte {
	b = append(b, id.Sender...)
	b = append(b, '/')
	b = strconv.AppendUint(b, id.Inc, 10)
	return append(b, '/')
}

// msgIDs writes the message ids of deliveries as localring.MessageID.String
// writes them, "sender/incarnation/seq", without a string per delivery: into
// one buffer, with the heads of the ids of the last senders (appendMsgIDHead)
// kept written: a delivery formats only its sequence number. At full load
// through a ring of three, formatting every delivery's incarnation (16
// digits) as well was 2.5-3.7 % of an agent's CPU (group loop).
type msgIDs struct {
	buf   []byte
	heads [maxIDHeads]msgIDHead
	next  int // the entry of heads replaced next
}

// maxIDHeads bounds the senders whose ids' heads msgIDs keeps: a ring of
// more senders than that sending at once has some of its heads written
// again, as before.
const maxIDHeads = 16

// msgIDHead is the head of the ids of one sender and incarnation.
type msgIDHead struct {
	sender localring.NodeID
	inc    uint64
	b      []byte // appendMsgIDHead's; empty in an entry not used yet
}

// write returns id written as MessageID.String writes it, in a buffer
// valid until the next call.
func (w *msgIDs) write(id localring.MessageID) []byte {
	var h *msgIDHead
	for i := range w.heads {
		if e := &w.heads[i]; e.inc == id.Inc && e.sender == id.Sender && len(e.b) > 0 {
			h = e
			break
		}
	}
	if h == nil {
		h = &w.heads[w.next]
		w.next = (w.next + 1) % len(w.heads)
		h.sender, h.inc, h.b = id.Sender, id.Inc, appendMsgIDHead(h.b[:0], id)
	}
	w.buf = strconv.AppendUint(append(w.buf[:0], h.b...), id.Seq, 10)
	return w.buf
}

func rejectText(err error, node string) string {
	return fmt.Sprintf("%v (decided in the ring's order, reported by agent %s)", err, node)
}

// seq returns what layer did with the session's messages (group loop).
func (s *session) seq(layer *groups.Node) *layerSeq {
	ls := s.seqs[layer]
	if ls == nil {
		if s.seqs == nil {
			s.seqs = map[*groups.Node]*layerSeq{}
		}
		ls = &layerSeq{}
		s.seqs[layer] = ls
	}
	return ls
}

// unsent returns, per group layer, the session's last accepted message
// that the layer's ring has not sent yet, and the highest Seq accepted in
// any layer (a flush's answer) (group loop).
func (s *session) unsent() (want map[*groups.Node]uint64, last uint64) {
	for g, ls := range s.seqs {
		last = max(last, ls.accepted)
		if ls.accepted > ls.sent {
			if want == nil {
				want = map[*groups.Node]uint64{}
			}
			want[g] = ls.accepted
		}
	}
	return want, last
}

// completeFlushes answers the flushes whose messages the rings have sent
// (group loop).
func (s *session) completeFlushes() {
	i := 0
	for ; i < len(s.flushes); i++ {
		done := true
		for g, seq := range s.flushes[i].want {
			done = done && s.seq(g).sent >= seq
		}
		if !done {
			break
		}
		s.sendFrame(&cp.Frame{Type: cp.TypeOK, Req: s.flushes[i].req, Seq: s.flushes[i].seq})
	}
	s.flushes = s.flushes[i:]
}

func viewFrame(v *groups.View) cp.View {
	f := cp.View{Group: v.Group, ID: v.ID, Members: v.Members, Joined: v.Joined, Left: v.Left}
	if v.Transitional {
		f.Flags = cp.FlagTransitional
	} else {
		f.Reason = uint8(v.Reason)
	}
	return f
}

func opType(op string) cp.Type {
	switch op {
	case "join":
		return cp.TypeJoin
	case "leave":
		return cp.TypeLeave
	case "multicast":
		return cp.TypeMulticast
	case "send":
		return cp.TypeSend
	}
	return 0
}

// errorCode maps the group layer's errors to the protocol's codes.
func errorCode(err error) cp.Code {
	switch {
	case errors.Is(err, groups.ErrBadName):
		return cp.CodeBadName
	case errors.Is(err, groups.ErrNotMember):
		return cp.CodeNotMember
	case errors.Is(err, groups.ErrTooLarge):
		return cp.CodeTooLarge
	case errors.Is(err, groups.ErrDenied):
		return cp.CodeDenied
	case errors.Is(err, groups.ErrBackpressure):
		return cp.CodeBackpressure
	case errors.Is(err, groups.ErrBadService):
		return cp.CodeInvalid
	}
	return cp.CodeInternal
}

// clientsLeaving starts the agent's leave for its clients: no more
// sessions or requests; each session gets a goodbye after its queued
// frames, and its memberships are disconnected while the ring drains.
func (a *Agent) clientsLeaving() {
	a.gl.leaving = true
	a.cs.shutdown(cp.CodeShuttingDown, fmt.Sprintf("agent %s is shutting down", a.cfg.Node))
}

// takeClientRequests handles the sessions' requests in order, as long as
// the group layer a request adds to holds less than SendQueueVisits token
// visits' worth for its ring (setSendQueueLimits), and no local client
// that reads has more than that waiting for it (clientServer.holdBack):
// beyond, the requests wait unanswered, so that clients of protocol
// version 2 wait for their windows and the others' sessions run out of
// credit and their readers stop reading. Clients feel the ring's
// back-pressure instead of getting errors, and a message waits at the
// agent for a few token rotations, not behind a deep queue.
//
// Each group layer (the site's, and each federation domain's) has its own
// bound: a domain whose far sites hold its messages back (a saturated WAN
// link) stops the requests for its own groups only, and the sessions that
// have no request waiting go on. A session's requests stay in the order
// it sent them: one that waits holds every later request of the session
// (a client that sends to a site-local and a far group waits for the far
// one; give them separate sessions to keep them apart). With one bound for
// all layers, a global group saturating its links held a site-local
// group's senders on the same node for seconds (atoll bench isolation:
// a-local's p99 12.5 s with abc-global saturating, 20 ms without). Letting
// a session's later requests for another layer pass one that waits left a
// flush unanswered for good in tests/fednetns TestSitesNetns (one client
// in a site-local and a cross-site group, through a gateway failover).
func (a *Agent) takeClientRequests() {
	gl := &a.gl
	a.setSendQueueLimits()
	gl.pending = a.cs.take(gl.pending)
	// After the take: every request taken was read before now. The
	// requests of one pass are accepted at this one time (the latency
	// histograms' admission wait), not at a clock reading each.
	now := time.Now()
	gl.clock = eventClock{now: now}
	held := false
	gl.heldUntil = time.Time{}
	if len(gl.pending) > 0 {
		held, gl.heldUntil = a.cs.holdBack(now)
	}
	if held && !gl.leaving {
		a.cs.n.held.Add(1)
	}
	// The requests that wait stay where they are, moved down only past
	// the ones handled before them, and the waiting sessions' map is kept
	// from pass to pass: while a domain's far sites hold its messages
	// back, each of its senders' sessions keeps a window of requests
	// here (ClientWindowMsgs), and every pass of the group loop, which
	// also carries the site's own messages, copied each of them onto
	// itself (about 500 bytes) and allocated the map
	// (BenchmarkHeldRequests).
	waiting := gl.waiting // sessions with a request that waits
	var last *session     // the session of the request before, if it waits (a reader's batch is in a row)
	rest := gl.pending[:0]
	for i := range gl.pending {
		r := &gl.pending[i] // rest is at or before it
		if r.s == last || waiting[r.s] || !gl.leaving && !r.closed && (held || a.layerFull(a.requestLayer(&r.f))) {
			if waiting == nil {
				waiting = map[*session]bool{}
				gl.waiting = waiting
			}
			if r.s != last {
				waiting[r.s], last = true, r.s
			}
			if len(rest) < i {
				rest = append(rest, *r)
			} else {
				rest = rest[:i+1] // in its place already
			}
			continue
		}
		last = nil
		if r.closed {
			a.sessionEnded(r.s)
			continue
		}
		a.handleRequest(r.s, &r.f, r.read, now, r.buf, r.room)
		select {
		case r.s.credit <- struct{}{}:
		default:
		}
	}
	clear(gl.pending[len(rest):])
	gl.pending = rest
	clear(waiting)
	// Disconnects the group layer refused with back-pressure before.
	ends := gl.ends
	gl.ends = nil
	for _, s := range ends {
		a.sessionEnded(s)
	}
	a.groupOutput()
	for _, dl := range a.doms {
		if dl.outputDue() {
			a.domainOutput(dl)
		}
	}
}

// requestLayer returns the group layer a client request adds a message
// to, nil for a request that adds none (flush, a view, ping).
func (a *Agent) requestLayer(f *cp.Frame) *groups.Node {
	switch f.Type {
	case cp.TypeJoin, cp.TypeLeave:
		return a.layerOf(f.Group)
	case cp.TypeMulticast:
		if len(f.Groups) == 0 {
			return nil // refused by handleRequest
		}
		return a.layerOf(f.Groups[0])
	case cp.TypeSend:
		r, _ := a.sendLayer(f.To)
		return r.layer // nil when refused by handleRequest
	}
	return nil
}

// layerFull reports whether g holds its bound of client messages not yet
// sent by its ring (setSendQueueLimits), or, for a federation domain's
// layer, whether the site's backlog of messages to the domain is at its
// bound (domainLayer.backlogFull).
func (a *Agent) layerFull(g *groups.Node) bool {
	if g == nil {
		return false
	}
	if g.Pending() >= a.gl.maxMsgs || g.PendingBytes() >= a.gl.maxBytes {
		return true
	}
	for _, dl := range a.doms {
		if dl.g == g {
			return dl.backlogFull()
		}
	}
	return false
}

// setSendQueueLimits sets how many client messages, and bytes, the group
// layer may hold not yet sent by the ring (takeClientRequests), from the
// visits this node gets now (sendQueueLimits); at every pass of the
// group loop, which takes client requests.
func (a *Agent) setSendQueueLimits() {
	a.gl.maxMsgs, a.gl.maxBytes = a.sendQueueLimits(int(a.visitShare.Load()), int(a.visitMsgs.Load()))
}

// sendQueueLimits returns the send queue's bounds when the ring lets this
// node send perVisit packets a visit (localring.Node.VisitShare) and it
// sent visitMsgs messages at its last visit (VisitMessages):
// Config.SendQueueVisits visits of perVisit packets of MaxPacketBytes, or
// of visitMsgs messages where that is more, and never more than half the
// group layer's own bound. A message waits about SendQueueVisits token
// rotations in the queue, whether this node sends alone (a visit of
// MaxPacketsPerVisit packets) or every node does (about the window
// divided by the ring's size each), and whatever the messages' size: the
// ring packs small messages many to a packet, so a bound of one message
// per packet held a sender of small messages below what its visits
// could carry (apiab, 64 bytes, one sender, 3 nodes: 146-178 messages a
// visit, its requests held at 343-994 passes of a 5-s run). The bound
// follows what the visits took, not what their packets could hold: the
// agent's CPU, not the packets, ends a visit of small messages (about 200
// of 64 bytes, 18 packets of its 100), and a queue of the packets' worth,
// about 2,700 of them, waited 14 rotations (p99 4.4 -> 15.7 ms).
// Bounded by MaxPacketsPerVisit alone, the queue was as deep with every
// node sending as with one, so a message waited window / share rotations
// in it: with five senders, at full load, a p99 of 52 ms from Multicast
// to delivery (docs/BENCHMARKS.md, run 41).
func (a *Agent) sendQueueLimits(perVisit, visitMsgs int) (msgs, bytes int) {
	perVisit = max(perVisit, 1)
	msgs = max(min(a.cfg.SendQueueVisits*max(perVisit, visitMsgs), a.cfg.Groups.MaxQueuedMsgs/2), 1)
	return msgs, a.cfg.SendQueueVisits * perVisit * a.ringSettings.MaxPacketBytes
}

// sessionEnded disconnects an ended session's memberships and frees its
// name, or keeps it for the next pass when the group layer is full.
func (a *Agent) sessionEnded(s *session) {
	s.gone = true
	for len(s.joined) > 0 {
		if err := s.joined[0].Disconnect(s.name); err != nil {
			if errors.Is(err, groups.ErrBackpressure) {
				a.gl.ends = append(a.gl.ends, s)
				return
			}
			a.log.Error("cannot disconnect a client's memberships", s.attrs("err", err)...)
		}
		s.joined = s.joined[1:]
	}
	s.flushes = nil
	a.cs.unregister(s)
	a.cs.log.Debug("client disconnected", s.attrs()...)
}

// handleRequest answers one request of a session, read at read (group
// loop). A multicast's payload is buf[room:] when buf is not nil, the room
// before it for its header (groups.MulticastIn).
func (a *Agent) handleRequest(s *session, f *cp.Frame, read, now time.Time, buf []byte, room int) {
	fail := func(code cp.Code, group, text string) {
		s.sendFrame(&cp.Frame{Type: cp.TypeError, Req: f.Req, Code: code, Op: f.Type, Group: group, Text: text})
	}
	failErr := func(group string, err error) { fail(errorCode(err), group, err.Error()) }
	ok := func(seq uint64) { s.sendFrame(&cp.Frame{Type: cp.TypeOK, Req: f.Req, Seq: seq}) }
	if s.gone {
		return // a request the reader queued as the session ended
	}
	if a.gl.leaving {
		fail(cp.CodeShuttingDown, f.Group, fmt.Sprintf("agent %s is shutting down; connect to another agent or retry after it restarts", a.cfg.Node))
		return
	}
	switch f.Type {
	case cp.TypeJoin:
		if text := a.gl.acl.check(s, f.Group, "join", nil); text != "" {
			fail(cp.CodeDenied, f.Group, text)
			return
		}
		layer := a.layerOf(f.Group)
		if err := layer.Join(s.name, f.Group); err != nil {
			failErr(f.Group, err)
			return
		}
		if !slices.Contains(s.joined, layer) {
			s.joined = append(s.joined, layer)
		}
		ok(0)
	case cp.TypeLeave:
		if err := a.layerOf(f.Group).Leave(s.name, f.Group); err != nil {
			failErr(f.Group, err)
			return
		}
		ok(0)
	case cp.TypeMulticast:
		svc := localring.Service(f.Svc)
		switch {
		case !svc.Valid():
			fail(cp.CodeInvalid, "", fmt.Sprintf("unknown service level %d: use 1 (unreliable) to 6 (safe)", f.Svc))
			return
		case len(f.Groups) == 0 || len(f.Groups) > groups.MaxGroupsPerMessage:
			fail(cp.CodeInvalid, "", fmt.Sprintf("a multicast names %d groups: name 1 to %d", len(f.Groups), groups.MaxGroupsPerMessage))
			return
		}
		layer, group, text := a.multicastLayer(f.Groups)
		if text != "" {
			fail(cp.CodeInvalid, group, text)
			return
		}
		var mine []string // the client's groups, when an ACL asks for members
		for _, g := range f.Groups {
			if text := a.gl.acl.check(s, g, "send", func() []string {
				if mine == nil {
					mine = layer.ClientGroups(s.name)
				}
				return mine
			}); text != "" {
				fail(cp.CodeDenied, g, text)
				return
			}
		}
		var seq uint64
		var err error
		// The site's layer sends in the reader's buffer: its messages
		// leave within a few token rotations, in the order the reader
		// read them, so the buffer's slab lives about as long as a
		// copy would. A federation domain's layer copies: its messages
		// may wait for the federation's order for seconds
		// (DomainBacklog), and one of them would keep the whole slab of
		// its session's later, long sent messages (64 KiB) alive.
		if buf != nil && layer == a.g {
			seq, err = layer.MulticastIn(s.name, svc, f.MsgType, f.Groups, buf, room)
		} else {
			seq, err = layer.Multicast(s.name, svc, f.MsgType, f.Groups, f.Payload)
		}
		if err != nil {
			var ge *groups.Error
			group := ""
			if errors.As(err, &ge) {
				group = ge.Group
			}
			failErr(group, err)
			return
		}
		s.seq(layer).accepted = seq
		if layer == a.g { // the latency histograms follow the site's group layer's sequence numbers
			a.lat.accepted(seq, read, now, svc, f.Groups)
		}
		if s.version >= cp.Version3 && comesBack(layer, s.name, f.Groups) {
			s.sendHeld(&cp.Frame{Type: cp.TypeOK, Req: f.Req, Seq: seq}, len(f.Payload))
			return
		}
		ok(seq)
	case cp.TypeSend:
		svc := localring.Service(f.Svc)
		if !svc.Valid() {
			fail(cp.CodeInvalid, "", fmt.Sprintf("unknown service level %d: use 1 (unreliable) to 6 (safe)", f.Svc))
			return
		}
		route, text := a.sendLayer(f.To)
		if text != "" {
			fail(cp.CodeInvalid, "", text)
			return
		}
		seq, err := a.send(route, s.name, f.To, svc, f.MsgType, f.Payload)
		if err != nil {
			failErr("", err)
			return
		}
		s.seq(route.layer).accepted = seq
		if route.layer == a.g { // the latency histograms follow the site's group layer's sequence numbers
			a.lat.accepted(seq, read, now, svc, nil)
		}
		ok(seq)
	case cp.TypeFlush:
		want, last := s.unsent()
		if len(want) == 0 {
			ok(last)
			return
		}
		s.flushes = append(s.flushes, flushWait{req: f.Req, seq: last, want: want})
	case cp.TypeListGroups:
		a.listGroups(s, f.Req)
	case cp.TypeGetView:
		r := cp.Frame{Type: cp.TypeViewReply, Req: f.Req}
		if !groups.ValidGroupName(f.Group) {
			fail(cp.CodeBadName, f.Group, fmt.Sprintf("group name %q is not valid: %s", f.Group, groups.GroupNameRule))
			return
		}
		if v, found := a.layerOf(f.Group).View(f.Group); found {
			r.Flags8, r.View = cp.FlagFound, viewFrame(&v)
		}
		s.sendFrame(&r)
	case cp.TypePing:
		s.sendFrame(&cp.Frame{Type: cp.TypePong, Req: f.Req})
	}
}

// comesBack reports whether a multicast of client to groups is delivered
// back to its session (it is a member of one of them), so that its OK may
// wait for that delivery (session.sendHeld): whatever else happens to the
// message or the membership (a view, a rejection) writes a frame to the
// session too.
func comesBack(layer *groups.Node, client string, groups []string) bool {
	for _, g := range groups {
		if layer.IsMember(client, g) {
			return true
		}
	}
	return false
}

// multicastLayer returns the group layer a multicast to names goes to, or
// why the agent refuses it (and the group that makes it refuse): one
// message reaches one domain's order. Every service level crosses sites:
// a Safe message of a federation domain is delivered once every member
// of every site of the domain's configuration holds it (gateway/bridge,
// "Safe delivery across sites").
func (a *Agent) multicastLayer(names []string) (*groups.Node, string, string) {
	first := a.domainOf(names[0])
	for _, g := range names[1:] {
		if dl := a.domainOf(g); dl != first {
			return nil, g, fmt.Sprintf("groups %q (%s) and %q (%s) are in different domains: one multicast is ordered in one domain; send one multicast per domain",
				names[0], a.domainName(first), g, a.domainName(dl))
		}
	}
	if first == nil {
		return a.g, "", ""
	}
	return first.g, "", ""
}

// domainName names a group's domain for errors: the federation domain, or
// the site's own.
func (a *Agent) domainName(dl *domainLayer) string {
	if dl == nil {
		return "local to site " + a.cfg.Site
	}
	return "spans sites in domain " + dl.d.Name
}

// listGroups answers a ListGroups request with as many GroupList frames as
// the groups need, the last flagged.
func (a *Agent) listGroups(s *session, req uint32) {
	const perFrame = 1000
	var names []string
	for _, g := range a.layers() {
		names = append(names, g.Groups()...)
	}
	slices.Sort(names)
	for start := 0; ; start += perFrame {
		end := min(start+perFrame, len(names))
		f := cp.Frame{Type: cp.TypeGroupList, Req: req, Entries: make([]cp.GroupEntry, 0, end-start)}
		for _, name := range names[start:end] {
			v, _ := a.layerOf(name).View(name)
			f.Entries = append(f.Entries, cp.GroupEntry{Group: name, Members: uint32(len(v.Members)), ViewID: v.ID})
		}
		if end == len(names) {
			f.Flags8 = cp.FlagLast
		}
		if !s.sendFrame(&f) || end == len(names) {
			return
		}
	}
}

// ---- the topology file's ACLs ----

// aclTable finds a group's ACL rule: an exact name first, then the first
// pattern that matches.
type aclTable struct {
	exact    map[string]*GroupACL
	patterns []*GroupACL
}

func newACLTable(rules []GroupACL) aclTable {
	t := aclTable{exact: map[string]*GroupACL{}}
	for i := range rules {
		r := &rules[i]
		if isPattern(r.Group) {
			t.patterns = append(t.patterns, r)
		} else if t.exact[r.Group] == nil {
			t.exact[r.Group] = r
		}
	}
	return t
}

func (t *aclTable) rule(group string) *GroupACL {
	if r := t.exact[group]; r != nil {
		return r
	}
	for _, r := range t.patterns {
		if groups.Match(r.Group, group) {
			return r
		}
	}
	return nil
}

// check returns why the session may not join or send to group ("" when
// it may). For a send rule with no principals, the client must be a
// member: memberOf returns the client's groups.
func (t *aclTable) check(s *session, group, what string, memberOf func() []string) string {
	r := t.rule(group)
	if r == nil {
		return ""
	}
	list := r.Join
	if what == "send" {
		list = r.Send
		if len(list) == 0 {
			if slices.Contains(memberOf(), group) {
				return ""
			}
			return fmt.Sprintf("client %s may not send to group %q: the topology file's ACL (rule %q) lets only the group's members send, and the client is not in its view; join first and wait for the view", s.member, group, r.Group)
		}
	} else if len(list) == 0 {
		return ""
	}
	for _, p := range list {
		if p == "*" || slices.Contains(s.principals, p) {
			return ""
		}
	}
	who := "no principal"
	if len(s.principals) > 0 {
		who = strings.Join(s.principals, " ")
	}
	return fmt.Sprintf("client %s (%s, over %s) may not %s group %q: the topology file's ACL (rule %q) allows %s", s.member, who, s.via, map[string]string{"join": "join", "send": "send to"}[what], group, r.Group, strings.Join(list, ", "))
}
