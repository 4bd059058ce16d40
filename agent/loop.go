package agent

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// rxBatches is how many receive batches circulate between the receive
// goroutine and the loop: the receiver fills one while the loop works on
// another, and blocks (letting the socket buffer absorb the burst) when
// the loop is behind.
const rxBatches = 4

// closedTimeChan is a closed channel, for a select that must not wait.
var closedTimeChan = func() chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// rxBatchLen is the number of datagrams of one ReadBatch.
const rxBatchLen = 64

// rxBatch is one ReadBatch worth of datagrams; pkts are the authenticated
// payloads, in place in the message buffers.
type rxBatch struct {
	ms   []transport.Message
	pkts [][]byte
}

func newRxBatch(maxPacket int) *rxBatch {
	b := &rxBatch{ms: make([]transport.Message, rxBatchLen), pkts: make([][]byte, 0, rxBatchLen)}
	buf := make([]byte, rxBatchLen*maxPacket)
	for i := range b.ms {
		b.ms[i].Buf = buf[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
	}
	return b
}

// loopState is what the loop keeps between passes.
type loopState struct {
	now      time.Time
	timer    *time.Timer
	load     loadGen
	conf     *localring.Configuration // the last regular configuration
	gather   string                   // the reason of the last gather, for "member lost"
	inFlight int                      // own messages sent but not yet delivered back
	sealBuf  []byte
	loadSubs uint64 // messages the load generator submitted

	// loopback holds the packets the core addressed to this node itself
	// (the token and commit token of a ring of one): the transport never
	// delivers a node's own packets, so the loop feeds them back at the
	// next pass.
	loopback [][]byte

	traceFailed bool // the trace write error was logged
}

// loop is the agent's one goroutine that owns the Node. Each pass reads
// the clock once, feeds the core one input (a batch of packets, the
// submit queue, or its due timers), then writes what the core produced:
// trace lines first, then the packets, with one Flush.
func (a *Agent) loop(ctx context.Context) error {
	ls := &loopState{now: time.Now(), timer: time.NewTimer(time.Hour), sealBuf: make([]byte, 0, a.tr.MaxPacket())}
	defer ls.timer.Stop()
	a.statMu.Lock()
	a.started = time.Now()
	a.statMu.Unlock()
	ls.load.set(a.cfg.Load, ls.now)
	a.log.Info("agent starting", "site", a.cfg.Site, "incarnation", a.self.Inc,
		"transport", a.transportString(), "security", a.securityString(), "configured", a.cfg.Nodes)
	a.node.Start(ls.now)

	ctxDone := ctx.Done()
	var leaveBy time.Time // zero until the leave starts
	for {
		a.output(ls)
		if !leaveBy.IsZero() && (a.drained(ls) || !ls.now.Before(leaveBy)) {
			if !a.drained(ls) {
				a.log.Warn("left before every accepted message was delivered", "pending", a.node.Pending()+a.queued(), "in_flight", ls.inFlight)
			}
			// Tell the others, so they re-form at once rather than after
			// the token and consensus timeouts.
			a.node.Leave(ls.now)
			a.output(ls)
			return nil
		}

		next := a.node.NextDeadline()
		for _, d := range []time.Time{ls.load.deadline(), leaveBy} {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
		if !next.IsZero() {
			ls.timer.Reset(max(next.Sub(ls.now), 0))
		} else {
			ls.timer.Stop()
		}

		var batch *rxBatch
		var tick <-chan time.Time = ls.timer.C
		if len(ls.loopback) > 0 || a.node.HasReady() {
			tick = closedTimeChan // do not wait: the core has input or output
		}
		select {
		case batch = <-a.rx:
		case <-a.wake:
		case <-tick:
		case <-ctxDone:
			ctxDone = nil
			a.mu.Lock()
			a.leaving = true
			a.mu.Unlock()
			ls.load.set(Load{}, ls.now)
			a.clientsLeaving()
			leaveBy = time.Now().Add(a.cfg.DrainTimeout)
			a.log.Info("leaving: no more messages accepted; draining the queue", "pending", a.node.Pending()+a.queued(), "drain_timeout", a.cfg.DrainTimeout)
		}
		ls.now = time.Now() // the one clock reading of this pass

		for len(ls.loopback) > 0 {
			p := ls.loopback[0]
			ls.loopback = ls.loopback[1:]
			if err := a.node.Step(ls.now, p); err != nil {
				a.log.Error("the ring core refused its own packet", "err", err)
			}
		}
		if batch != nil {
			for _, p := range batch.pkts {
				if err := a.node.Step(ls.now, p); err != nil {
					a.log.Debug("malformed ring packet dropped", "err", err)
				}
			}
			batch.pkts = batch.pkts[:0]
			a.free <- batch
		}
		a.takeSubmissions(ls)
		a.takeClientRequests(ls)
		if leaveBy.IsZero() {
			ls.load.run(ls.now, a.node, &ls.loadSubs)
		}
		if d := a.node.NextDeadline(); !d.IsZero() && !d.After(ls.now) {
			a.node.Tick(ls.now)
		}
	}
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

// drained reports whether everything accepted has been sent and delivered
// back.
func (a *Agent) drained(ls *loopState) bool {
	return a.queued() == 0 && a.node.Pending() == 0 && ls.inFlight <= 0 && a.groupsDrained()
}

// output handles what the core produced: events to the trace and the
// log; packets, sealed, to the transport; then the status and the
// subscribers.
func (a *Agent) output(ls *loopState) {
	if !a.node.HasReady() {
		a.updateSnapshot(ls, false)
		return
	}
	rd := a.node.Ready()
	installed := false
	for i, e := range rd.Events {
		if a.trace != nil && traceRaw(&rd.Events[i]) {
			a.trace.record(e)
		}
		switch e.Kind {
		case localring.EventSend:
			ls.inFlight++
		case localring.EventDeliver:
			if e.Msg.ID.Sender == a.self.ID && e.Msg.ID.Inc == a.self.Inc {
				ls.inFlight--
			}
		case localring.EventInstall:
			installed = true
			a.logInstall(ls, e.Conf)
		case localring.EventTokenLost:
			a.log.Warn("token lost: the ring will re-form without the nodes that stopped answering", "reason", e.Reason, "ring", confID(ls.conf))
		case localring.EventGather:
			ls.gather = e.Reason
			a.log.Info("membership change started", "reason", e.Reason, "ring", confID(ls.conf))
		}
		a.stepGroups(e)
	}
	if len(rd.Events) > 0 {
		if a.trace != nil {
			if err := a.trace.flush(); err != nil && !ls.traceFailed {
				ls.traceFailed = true
				a.log.Error("cannot write the trace file; tracing stopped", "path", a.cfg.TracePath, "err", err)
			}
		}
	}
	for _, p := range rd.Packets {
		if p.To == a.self.ID {
			ls.loopback = append(ls.loopback, p.Data)
			continue
		}
		pkt := a.sealer.Seal(ls.sealBuf[:0], p.Data)
		var err error
		if p.To == "" {
			err = a.tr.Multicast(pkt)
		} else if addr, ok := a.addrOf(p.To); ok {
			err = a.tr.Unicast(addr, pkt)
		} else {
			// The node has not been heard from yet: multicast; the others
			// ignore a packet addressed to someone else.
			err = a.tr.Multicast(pkt)
		}
		if err != nil {
			a.sendFailed(ls.now, err)
		}
	}
	if len(rd.Packets) > 0 {
		if err := a.tr.Flush(); err != nil {
			a.sendFailed(ls.now, err)
		}
	}
	a.submitGroups(ls)
	if seq := a.node.RingSeq(); seq > a.ringSeq {
		a.ringSeq = seq
		select {
		case a.persistC <- seq:
		default:
			select { // replace the value the persister has not taken yet
			case <-a.persistC:
			default:
			}
			a.persistC <- seq
		}
	}
	a.updateSnapshot(ls, installed)
	// Last, so that a subscriber's Status call sees at least this state.
	if len(rd.Events) > 0 {
		a.publish(rd.Events)
	}
}

func (a *Agent) sendFailed(now time.Time, err error) {
	a.n.sendErrors.Add(1)
	if errors.Is(err, transport.ErrClosed) {
		return
	}
	key := err.Error()
	var se *transport.SendError
	if errors.As(err, &se) {
		key = se.To.String()
	}
	if ok, more := a.sendLog.Allow(key, now); ok {
		a.log.Warn("cannot send ring packets; check the node's network interface and firewall", "err", err, "suppressed", more)
	}
}

// addrOf returns where node id's packets come from.
func (a *Agent) addrOf(id localring.NodeID) (netip.AddrPort, bool) {
	p := a.byID[id]
	if p == nil {
		return netip.AddrPort{}, false
	}
	if ap := p.addr.Load(); ap != nil {
		return *ap, true
	}
	return netip.AddrPort{}, false
}

// logInstall writes the operator's lines for a configuration change:
// "ring formed" with the members, and one line per member lost, joined or
// restarted.
func (a *Agent) logInstall(ls *loopState, c *localring.Configuration) {
	if c.Kind == localring.Transitional {
		a.log.Debug("transitional configuration", "conf", c.ID, "members", c.MemberIDs())
		return
	}
	prev := ls.conf
	ls.conf = c
	ls.inFlight = 0 // messages of earlier configurations are settled
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
		case inc != m.Inc:
			a.log.Info("member restarted", "member", m.ID, "ring", c.ID, "incarnation", m.Inc)
		}
	}
	for _, m := range prev.Members {
		if _, lost := old[m.ID]; lost {
			reason := ls.gather
			if reason == "" {
				reason = "stopped answering"
			}
			a.log.Warn("member lost", "member", m.ID, "ring", c.ID, "reason", reason)
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

// receive is the receive goroutine: it reads batches of datagrams,
// authenticates each (seal.OpenInPlace), so that the loop and the ring
// core never see an unauthenticated byte, and hands the batch to the
// loop. Opening here also puts the decryption on another core than the
// ring's work.
func (a *Agent) receive() {
	for {
		var b *rxBatch
		select {
		case b = <-a.free:
		case <-a.done:
			return
		}
		n, err := a.tr.ReadBatch(b.ms)
		if err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			a.n.rxErrors.Add(1)
			if ok, more := a.sendLog.Allow("receive", time.Now()); ok {
				a.log.Warn("cannot receive ring packets", "err", err, "suppressed", more)
			}
			a.free <- b
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := time.Now().UnixNano()
		for i := range b.ms[:n] {
			m := &b.ms[i]
			if m.Truncated {
				a.n.truncated.Add(1)
				continue
			}
			payload, origin, err := a.sealer.OpenInPlace(m.Payload())
			if err != nil {
				a.rejected(m, err)
				continue
			}
			p := a.peers[origin.Sender]
			if p == nil {
				a.unknownSender(m, origin)
				continue
			}
			p.heardFrom(m.From, origin.Incarnation, now)
			b.pkts = append(b.pkts, payload)
		}
		if len(b.pkts) == 0 {
			a.free <- b
			continue
		}
		select {
		case a.rx <- b:
		case <-a.done:
			return
		}
	}
}

func (p *peer) heardFrom(from netip.AddrPort, inc uint64, now int64) {
	if cur := p.addr.Load(); cur == nil || *cur != from {
		p.addr.Store(&from)
	}
	if p.inc.Load() != inc {
		p.inc.Store(inc)
	}
	p.heard.Store(now)
}

// rejected counts (in the sealer) and logs a packet that failed to open:
// one Warn line per source address per minute, whatever the kind, so that
// an operator at the default level sees every source of rejected packets
// (with the number suppressed since its last line).
func (a *Agent) rejected(m *transport.Message, err error) {
	var se *seal.Error
	kind := seal.Kind(0)
	if errors.As(err, &se) {
		kind = se.Kind
	}
	ok, more := a.rejectLog.Allow(m.From.Addr(), time.Now())
	if !ok {
		return
	}
	attrs := []any{"peer", m.From, "kind", kind.String(), "detail", a.sealer.Diagnose(m.Payload(), err), "suppressed", more}
	switch kind {
	case seal.KindReplay:
		a.log.Warn("rejected a replayed packet: duplicated by the network, or replayed by someone who can reach the ring's port", attrs...)
	case seal.KindTruncated:
		a.log.Warn("rejected a packet too short to be an Atoll packet: another program sends to the ring's port, or the network truncates datagrams", attrs...)
	case seal.KindVersion:
		a.log.Warn("rejected a packet of another packet format version: another Atoll release, or another program sending to the ring's port", attrs...)
	case seal.KindWrongKey:
		a.log.Warn("rejected packets from a peer with another key: it cannot join this ring", attrs...)
	case seal.KindMismatch:
		if h, ok := seal.ConfigHashOf(m.Payload()); ok && errors.Is(err, seal.ErrConfig) {
			attrs = append(attrs, "cause", a.configMismatchCause(h))
		}
		a.log.Warn("rejected packets from a peer with other ring settings: it cannot join this ring", attrs...)
	default:
		a.log.Warn("rejected a packet that failed authentication", attrs...)
	}
}

func (a *Agent) unknownSender(m *transport.Message, o seal.Origin) {
	a.n.unknownSender.Add(1)
	if ok, more := a.rejectLog.Allow(m.From.Addr(), time.Now()); ok {
		a.log.Warn("dropped packets of a node that is not in this site's node list; add it to site "+a.cfg.Site+" of the topology file on every node, or stop it",
			"peer", m.From, "sender", hex64(o.Sender), "suppressed", more)
	}
}
