package groups

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/localring"
)

// Step consumes one event of the ring node, in the order the ring node
// produced it. Every event must be given, including those of other ring
// users (ignored and counted as Foreign).
func (n *Node) Step(e localring.Event) {
	switch e.Kind {
	case localring.EventInstall:
		if e.Conf != nil {
			if e.Conf.Kind == localring.Transitional {
				n.onTrans(e.Conf)
			} else {
				n.onRegular(e.Conf)
			}
		}
	case localring.EventSend:
		n.onSend(&e.Msg)
	case localring.EventDeliver:
		n.onDeliver(&e.Msg)
	}
	if len(n.forgetQ) > 0 {
		n.forget()
	}
	n.pump()
}

// onSend decides the fate of one of this node's messages as the ring
// sends it: delivered everywhere when sent in a regular configuration
// with agreed state and the current epoch, discarded everywhere otherwise
// (and then sent again), or, told sent in a configuration this node left
// (SentElsewhere), dropped.
func (n *Node) onSend(msg *localring.Message) {
	p := msg.Payload
	if !IsGroupPayload(p) || kind(p[1]) == kindReport || len(p) < epochAt+9 {
		return
	}
	seq, k := binary.Uvarint(p[epochAt+8:])
	if k <= 0 {
		return
	}
	i := slices.IndexFunc(n.out, func(o *outMsg) bool { return o.inRing && o.seq == seq })
	if i < 0 {
		return
	}
	// Messages handed before it and still marked in the ring were never
	// submitted (the driver broke its contract): send them again. Handed
	// before, not queued before: a message sent again after a discard
	// was handed after the ones queued behind it that were still in the
	// ring, and comes after them (a federation domain, whose ring tells
	// a send only when the domain orders the message, tells those first).
	// Taking it for unsent handed it once more while its copy was on its
	// way, and every copy the domain then ordered was delivered (atoll
	// bench isolation under load: 5 and 12 messages of one sender handed
	// 20 times each, while their copies were told unsent one after the
	// other; TestSendAgainAfterLaterMessages).
	o := n.out[i]
	if o.hand != n.sentHand+1 { // else none was handed between the last one sent and o
		for _, q := range n.out {
			if q.inRing && q.hand < o.hand {
				n.leaveRing(q)
			}
		}
	}
	n.sentHand = o.hand
	accepted := n.phase == phaseRegular && n.reg != nil && msg.Conf == n.reg.ID && o.epoch == n.epoch
	n.leaveRing(o)
	elsewhere := msg.Conf == SentElsewhere
	if elsewhere {
		n.stats.Elsewhere++
	} else if !accepted {
		return
	}
	n.outBytes -= len(o.data)
	n.waiting-- // o leaves the queue
	switch {
	case len(n.out) == 1:
		n.out[0] = nil
		n.out = n.out[:0] // keep the array from its start, for the next appends
	case i == 0:
		n.out[0] = nil
		n.out = n.out[1:]
	default:
		n.out = slices.Delete(n.out, i, i+1)
	}
	if o.msg != nil { // o is done with: its message goes out
		o.msg.ID, o.msg.Conf = msg.ID, msg.Conf
		if elsewhere {
			// Delivered, if at all, in a configuration this node left,
			// where it counts as failed (EVS.md 2.4): no send to report
			// in the one it is in, and none to make again; its sender
			// learns that (TestSentElsewhere).
			n.emit(Event{Kind: EventSentElsewhere, Msg: o.msg})
		} else {
			n.emit(Event{Kind: EventSent, Msg: o.msg})
		}
		if o.om != nil {
			n.omOut = append(n.omOut, o.om)
		}
	}
	// A request (join, leave, ACL change: o.msg nil) told sent elsewhere
	// is dropped with no event: the agent answered it when it accepted
	// it, and its client hears nothing more of it (a join: no view, no
	// error), although the members that stayed in the configuration this
	// node left may have applied it. Not seen in a test; telling it would
	// take an EventReject of its own (or sending it again, which a leave
	// would have refused as not a member).
}

func (n *Node) leaveRing(o *outMsg) {
	o.inRing = false
	n.inRing--
	n.waiting++
	if o.epoch != n.epoch {
		n.stale--
	}
}

// knownGroup returns the stored name of a group the node knows.
func (n *Node) knownGroup(b []byte) (string, bool) {
	if g := n.groups[string(b)]; g != nil {
		return g.name, true
	}
	return "", false
}

func (n *Node) onDeliver(msg *localring.Message) {
	if !IsGroupPayload(msg.Payload) {
		n.stats.Foreign++
		return
	}
	origin := localring.Member{ID: msg.ID.Sender, Inc: msg.ID.Inc}
	var clients map[string]*clientInfo // the sender's known clients, for their names
	if ni := n.nodes[origin]; ni != nil {
		clients = ni.clients
	}
	var w wireMsg
	var err error
	var stub *uint64 // the data's hash, for a stub
	if kind(msg.Payload[1]) == kindStub {
		var h uint64
		w, h, err = parseStub(msg.Payload, n.known)
		stub = &h
	} else {
		// The groups are read into the node's scratch list:
		// deliverMulticast copies them into the delivery.
		w, err = parseWireInto(msg.Payload, n.known, clients, n.groupsScratch[:0])
		if cap(w.groups) <= MaxGroupsPerMessage {
			n.groupsScratch = w.groups[:0]
		}
	}
	if err != nil {
		n.stats.Malformed++
		return
	}
	if w.kind == kindReport {
		n.onReport(msg, origin, w.rep)
		return
	}
	if (n.phase != phaseRegular && n.phase != phaseTrans) || w.epoch != n.epoch {
		n.stats.Discarded++
		return
	}
	switch w.kind {
	case kindMulticast:
		n.deliverMulticast(msg, origin, &w, stub)
	case kindUnicast:
		n.deliverUnicast(msg, origin, &w, stub)
	default:
		if n.phase == phaseTrans {
			// Views change only in regular configurations: requests
			// accepted here are applied at the next one.
			n.tops = append(n.tops, top{origin: origin, op: w})
			return
		}
		n.applyOp(origin, &w, opViewID(n.reg.ID, msg.Order), stamp{order: msg.Order})
	}
}

// delivery is a delivered message and the first of the local clients it
// goes to (Event.To), in one allocation instead of two: the group layer
// makes one for every message the ring delivers.
type delivery struct {
	m  Message
	to [2]string
	gs [1]string // Message.Groups of a multicast to one group
}

// newDelivery returns a delivery to fill in: a fresh one, or with
// Config.ReuseMessages one that a Release gave back.
func (n *Node) newDelivery() *delivery {
	if !n.cfg.ReuseMessages {
		return new(delivery)
	}
	var d *delivery
	if k := len(n.dlvFree); k > 0 {
		d = n.dlvFree[k-1]
		n.dlvFree[k-1] = nil
		n.dlvFree = n.dlvFree[:k-1]
	} else {
		d = new(delivery)
	}
	n.dlvOut = append(n.dlvOut, d)
	return d
}

// maxFreeDeliveries bounds the deliveries kept for reuse: those of a
// larger output are left to the garbage collector.
const maxFreeDeliveries = 1024

// releaseDeliveries takes back the deliveries and the sent multicasts of
// the last Ready (Config.ReuseMessages), cleared so that they hold no
// payload.
func (n *Node) releaseDeliveries() {
	for i, d := range n.dlvReady {
		if len(n.dlvFree) < maxFreeDeliveries {
			*d = delivery{}
			n.dlvFree = append(n.dlvFree, d)
		}
		n.dlvReady[i] = nil
	}
	n.dlvReady = n.dlvReady[:0]
	// The multicasts whose EventSent the Ready held: out of the queue
	// (onSend), so nothing but that event pointed to them.
	for i, om := range n.omReady {
		if len(n.omFree) < maxFreeDeliveries {
			*om = outMulticast{}
			n.omFree = append(n.omFree, om)
		}
		n.omReady[i] = nil
	}
	n.omReady = n.omReady[:0]
}

// senderName is the member name of the sender of w, from origin: the
// known client's stored name that parsing found (no map lookups), or
// memberName's.
func (n *Node) senderName(origin localring.Member, w *wireMsg) string {
	if w.ci != nil {
		return w.ci.full
	}
	return n.memberName(origin, w.client)
}

// deliverMulticast delivers a multicast, or a stub of one (stub: the
// data's hash).
func (n *Node) deliverMulticast(msg *localring.Message, origin localring.Member, w *wireMsg, stub *uint64) {
	d := n.newDelivery()
	d.m = Message{ID: msg.ID, Seq: w.seq, Sender: n.senderName(origin, w), Svc: msg.Svc, Type: w.mtype,
		Payload: w.data, Conf: msg.Conf, Order: msg.Order}
	m := &d.m
	if len(w.groups) == 1 {
		d.gs[0] = w.groups[0]
		m.Groups = d.gs[:]
	} else {
		m.Groups = slices.Clone(w.groups)
	}
	if stub != nil {
		m.Stub, m.DataHash = true, *stub
	}
	for _, name := range w.groups {
		if g := n.groups[name]; g != nil && g.acl != nil && !g.acl.acl.MaySend(m.Sender) {
			err := &Error{Op: "multicast", Client: w.client, Group: name, Err: ErrDenied}
			n.stats.Denied++
			n.emit(Event{Kind: EventDeliver, Msg: m, Err: err})
			if origin == n.me.m {
				n.emit(Event{Kind: EventReject, Client: w.client, Group: name, Seq: w.seq, Err: err})
			}
			return
		}
	}
	to := d.to[:0]
	gen := n.nextGen()
	for _, name := range w.groups {
		g := n.groups[name]
		if g == nil {
			continue
		}
		g.delivered++
		if g.nlocal == 0 {
			continue
		}
		for _, mb := range g.cur() {
			if mb.c.node == n.me && mb.c.mark != gen {
				mb.c.mark = gen
				to = append(to, mb.c.name)
			}
		}
	}
	n.stats.Delivered++
	n.emit(Event{Kind: EventDeliver, Msg: m, To: n.stubTo(m, to)})
}

// deliverUnicast delivers a point-to-point message, or a stub of one
// (stub: the data's hash).
func (n *Node) deliverUnicast(msg *localring.Message, origin localring.Member, w *wireMsg, stub *uint64) {
	d := n.newDelivery()
	d.m = Message{ID: msg.ID, Seq: w.seq, Sender: n.senderName(origin, w), Svc: msg.Svc, Type: w.mtype,
		To: w.to, Payload: w.data, Conf: msg.Conf, Order: msg.Order}
	m := &d.m
	if stub != nil {
		m.Stub, m.DataHash = true, *stub
	}
	var to []string
	if node, client, err := SplitMember(w.to); err == nil && node == n.me.m.ID {
		to = append(d.to[:0], client)
	}
	n.stats.Delivered++
	n.emit(Event{Kind: EventDeliver, Msg: m, To: n.stubTo(m, to)})
}

// stubTo returns the clients a message goes to: to, or none for a stub,
// which has no data. A stub with local recipients is a message this node
// lost (the site's gateway decided its site had no use for it, which
// Needs rules out: Stats.StubRecipients).
func (n *Node) stubTo(m *Message, to []string) []string {
	if !m.Stub {
		return to
	}
	n.stats.Stubs++
	if len(to) == 0 {
		return nil
	}
	n.stats.StubRecipients++
	return nil
}

// applyOp applies a join, leave, disconnect or ACL change; vid names the
// views it makes and st stamps the new member or ACL.
func (n *Node) applyOp(origin localring.Member, op *wireMsg, vid viewID, st stamp) {
	n.stats.Ops++
	full := MemberName(origin.ID, op.client)
	switch op.kind {
	case kindJoin:
		g := n.groups[op.group]
		if g != nil && g.acl != nil && !g.acl.acl.MayJoin(full) {
			n.reject(origin, op, ErrDenied)
			return
		}
		c := n.clientOf(n.nodeOf(origin), op.client)
		if g != nil && g.has(c) {
			return
		}
		if g == nil {
			g = n.newGroup(op.group)
		}
		nm := make([]member, len(g.members), len(g.members)+1)
		copy(nm, g.members)
		nm = append(nm, member{c: c, st: st})
		sortMembers(nm)
		n.setRegular(g, nm, vid, ReasonJoin)
	case kindLeave:
		g := n.groups[op.group]
		c := n.lookupClient(origin, op.client)
		if g == nil || c == nil || !g.has(c) {
			n.reject(origin, op, ErrNotMember)
			return
		}
		n.setRegular(g, without(g.members, c), vid, ReasonLeave)
		n.maybeDrop(g)
		if origin == n.me.m {
			n.emit(Event{Kind: EventLeft, Client: op.client, Group: op.group})
		}
	case kindDisconnect:
		c := n.lookupClient(origin, op.client)
		if c == nil {
			return
		}
		gs := slices.Clone(c.groups)
		slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.name, b.name) })
		for _, g := range gs {
			n.yield()
			n.setRegular(g, without(g.members, c), vid, ReasonDisconnect)
			n.maybeDrop(g)
		}
	case kindACL:
		g := n.groups[op.group]
		if g != nil && g.acl != nil && !g.acl.acl.MayAdmin(full) {
			n.reject(origin, op, ErrDenied)
			return
		}
		if g == nil {
			g = n.newGroup(op.group)
		}
		g.acl = &aclState{acl: op.acl, st: st}
	}
}

func (n *Node) reject(origin localring.Member, op *wireMsg, err error) {
	if origin != n.me.m {
		return
	}
	if op.kind == kindJoin {
		if in := n.intent[op.client]; in != nil {
			delete(in, op.group)
			if len(in) == 0 {
				delete(n.intent, op.client)
			}
		}
	}
	n.emit(Event{Kind: EventReject, Client: op.client, Group: op.group,
		Err: &Error{Op: op.kind.String(), Client: op.client, Group: op.group, Err: err}})
}

func (n *Node) newGroup(name string) *group {
	g := &group{name: name}
	n.groups[name] = g
	n.byNameOK = false
	return g
}

// maybeDrop forgets a group with no members, no ACL and no pending view.
func (n *Node) maybeDrop(g *group) {
	if len(g.members) == 0 && g.acl == nil && !g.hasTrans && n.groups[g.name] == g {
		delete(n.groups, g.name)
		n.byNameOK = false
	}
}

func without(ms []member, c *clientInfo) []member {
	out := make([]member, 0, len(ms))
	for _, m := range ms {
		if m.c != c {
			out = append(out, m)
		}
	}
	return out
}

// sortMembers orders members by join time, ties broken by name.
func sortMembers(ms []member) {
	slices.SortStableFunc(ms, func(a, b member) int {
		switch {
		case a.st.less(b.st):
			return -1
		case b.st.less(a.st):
			return 1
		}
		return strings.Compare(a.c.full, b.c.full)
	})
}

func sameMembers(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].c != b[i].c {
			return false
		}
	}
	return true
}

func names(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.c.full
	}
	return out
}

// memberNames returns the names of ms and the client names of those on
// this node (nil when none), in one allocation (each list with its own
// capacity, so that appending to one cannot write into the other).
func (n *Node) memberNames(ms []member) (all, local []string) {
	k := 0
	for _, m := range ms {
		if m.c.node == n.me {
			k++
		}
	}
	buf := make([]string, len(ms)+k)
	all = buf[:len(ms):len(ms)]
	for i, m := range ms {
		all[i] = m.c.full
	}
	if k == 0 {
		return all, nil
	}
	local = buf[len(ms):len(ms)]
	for _, m := range ms {
		if m.c.node == n.me {
			local = append(local, m.c.name)
		}
	}
	return all, local
}

// setRegular makes nm (a fresh slice, ordered) the group's regular view
// and emits it. It keeps the clients' group lists up to date.
func (n *Node) setRegular(g *group, nm []member, vid viewID, reason Reason) {
	old := g.members
	gen := n.nextGen()
	for _, m := range nm {
		m.c.mark = gen
	}
	var leftBuf, joinedBuf [4]member // most changes add or remove a few
	left := leftBuf[:0]
	for _, m := range old {
		if m.c.mark != gen {
			left = append(left, m)
		}
	}
	gen = n.nextGen()
	for _, m := range old {
		m.c.mark = gen
	}
	joined := joinedBuf[:0]
	for _, m := range nm {
		if m.c.mark != gen {
			joined = append(joined, m)
		}
	}
	for _, m := range left {
		m.c.groups = removeGroup(m.c.groups, g)
	}
	for _, m := range joined {
		m.c.groups = append(m.c.groups, g)
	}
	g.members, g.vid, g.hasTrans, g.trans = nm, vid, false, nil
	g.nlocal = 0
	for _, m := range nm {
		if m.c.node == n.me {
			g.nlocal++
		}
	}
	n.stats.Views++
	if g.nlocal > 0 || n.cfg.AllViews {
		all, local := n.memberNames(nm)
		v := &View{Group: g.name, ID: vid.String(), Members: all, Joined: names(joined), Reason: reason}
		// Left lists names: a member whose node restarted and that comes
		// back with the same name is not listed as left (it is in Joined).
		for _, m := range left {
			if len(joined) == 0 || !slices.ContainsFunc(joined, func(j member) bool { return j.c.full == m.c.full }) {
				v.Left = append(v.Left, m.c.full)
			}
		}
		n.emit(Event{Kind: EventView, View: v, To: local})
	}
	for _, m := range left {
		n.forgetQ = append(n.forgetQ, m.c)
	}
}

func removeGroup(gs []*group, g *group) []*group {
	for i, x := range gs {
		if x == g {
			last := len(gs) - 1
			gs[i] = gs[last]
			gs[last] = nil
			return gs[:last]
		}
	}
	return gs
}

// setTrans emits a transitional view of g with members tm (a subset of
// its current view) for transitional configuration trans.
func (n *Node) setTrans(g *group, trans string, tm []member) {
	n.scratch = g.vid.appendTo(n.scratch[:0])
	g.vid = viewID{conf: trans, kind: '~', a: hash64(n.scratch)}
	if !g.hasTrans {
		g.hasTrans = true
		n.transGs = append(n.transGs, g)
	}
	g.trans = tm
	n.stats.Views++
	if g.nlocal > 0 || n.cfg.AllViews {
		all, local := n.memberNames(tm)
		n.emit(Event{Kind: EventView, To: local,
			View: &View{Group: g.name, ID: g.vid.String(), Members: all, Reason: ReasonNetwork, Transitional: true}})
	}
}

func memberSet(c *localring.Configuration) map[localring.Member]bool {
	s := make(map[localring.Member]bool, len(c.Members))
	for _, m := range c.Members {
		s[m] = true
	}
	return s
}

// filterNodes returns the members on nodes in in: ms itself when that is
// all of them (member lists are never modified in place), a new slice
// otherwise.
func filterNodes(ms []member, in map[localring.Member]bool) []member {
	i := 0
	for i < len(ms) && in[ms[i].c.node.m] {
		i++
	}
	if i == len(ms) {
		return ms
	}
	out := make([]member, i, len(ms)-1)
	copy(out, ms[:i])
	for _, m := range ms[i+1:] {
		if in[m.c.node.m] {
			out = append(out, m)
		}
	}
	return out
}

func sortedGroups(gs []*group) []*group {
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.name, b.name) })
	return gs
}

// allSorted returns every group, sorted by name. The slice is the node's
// until the next creation or removal of a group; the caller must not
// modify it.
func (n *Node) allSorted() []*group {
	if !n.byNameOK {
		// Sorting (name, group) pairs compares without loading each
		// group: about twice as fast at 100,000 groups.
		type named struct {
			name string
			g    *group
		}
		ps := make([]named, 0, len(n.groups))
		for name, g := range n.groups {
			ps = append(ps, named{name, g})
		}
		slices.SortFunc(ps, func(a, b named) int { return strings.Compare(a.name, b.name) })
		n.byName = make([]*group, len(ps)) // callers may still hold the old one
		for i := range ps {
			n.byName[i] = ps[i].g
		}
		n.byNameOK = true
	}
	return n.byName
}

// sortGroups returns the groups of gs (groups of the node, each once)
// sorted by name. When gs is a good share of all groups (a configuration
// change affects every group with a member on some node), it picks them
// out of allSorted instead of sorting them: a configuration change then
// sorts nothing unless groups came or went since the last one.
func (n *Node) sortGroups(gs []*group) []*group {
	if len(gs) < 64 || len(gs) < len(n.groups)/8 {
		return sortedGroups(gs)
	}
	all := n.allSorted()
	gen := n.nextGen()
	for _, g := range gs {
		g.mark = gen
	}
	out := make([]*group, 0, len(gs))
	for _, g := range all {
		if g.mark == gen {
			out = append(out, g)
		}
	}
	if len(out) != len(gs) { // a group not in n.groups, or one twice
		return sortedGroups(gs)
	}
	return out
}
