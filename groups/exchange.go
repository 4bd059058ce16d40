package groups

import (
	"encoding/binary"
	"slices"

	"github.com/atoll-gcs/atoll/localring"
)

func (n *Node) onTrans(c *localring.Configuration) {
	n.emit(Event{Kind: EventConf, Conf: c})
	n.trans = c
	switch n.phase {
	case phaseExchange, phaseTransLost:
		// The state is not agreed: nothing is delivered here unless the
		// exchange completes with reports still in this configuration.
		n.phase = phaseTransLost
	default:
		n.phase = phaseTrans
	}
	// Transitional views come at every configuration change, also in the
	// middle of an exchange: the nodes a member left with deliver one
	// too, and a member that left and comes back must get a regular view
	// at the next exchange at every node.
	n.transViews(c)
}

// transViews emits a transitional view for every group whose current view
// has members on nodes outside transitional configuration c.
func (n *Node) transViews(c *localring.Configuration) {
	in := memberSet(c)
	gen := n.nextGen()
	var affected []*group
	for m, ni := range n.nodes {
		if in[m] {
			continue
		}
		for _, ci := range ni.clients {
			for _, g := range ci.groups {
				if g.mark != gen {
					g.mark = gen
					affected = append(affected, g)
				}
			}
		}
	}
	n.growEvents(len(affected))
	for _, g := range n.sortGroups(affected) {
		n.yield()
		cur := g.cur()
		if tm := filterNodes(cur, in); len(tm) < len(cur) {
			n.setTrans(g, c.ID, tm)
		}
	}
}

func sameMemberList(a, b *localring.Configuration) bool {
	return a != nil && b != nil && slices.Equal(a.Members, b.Members)
}

func (n *Node) onRegular(c *localring.Configuration) {
	n.emit(Event{Kind: EventConf, Conf: c})
	prevT := n.trans
	n.reg = c
	if n.phase == phaseTrans && sameMemberList(prevT, c) {
		// Everyone comes from the same agreed state: the views follow
		// from the configuration alone.
		n.phase = phaseRegular
		n.settle(c)
		return
	}
	n.startExchange(c, prevT)
}

// settle installs the regular views of a configuration change that merged
// nothing, then applies the requests accepted in the transitional
// configuration.
func (n *Node) settle(c *localring.Configuration) {
	in := memberSet(c)
	gs := n.transGs
	n.transGs = nil
	var todo []*group
	for _, g := range gs {
		if g.hasTrans && n.groups[g.name] == g {
			todo = append(todo, g)
		}
	}
	n.growEvents(len(todo))
	for _, g := range n.sortGroups(todo) {
		n.yield()
		n.setRegular(g, filterNodes(g.members, in), viewID{conf: c.ID, kind: 'r'}, ReasonNetwork)
		n.maybeDrop(g)
	}
	n.applyTops(c, in, localring.Order{Ring: c.Ring.Seq})
}

// applyTops applies the requests accepted in the transitional
// configuration whose senders are in c, stamped after everything before.
func (n *Node) applyTops(c *localring.Configuration, in map[localring.Member]bool, order localring.Order) {
	k := uint64(0)
	for i := range n.tops {
		t := &n.tops[i]
		if !in[t.origin] {
			continue
		}
		k++
		n.applyOp(t.origin, &t.op, viewID{conf: c.ID, kind: '+', a: k}, stamp{order: order, sub: k})
	}
	n.tops = nil
}

// startExchange begins a state exchange in regular configuration c: every
// member reports its own members, the requests it accepted in the last
// transitional configuration, and the ACLs it knows.
func (n *Node) startExchange(c *localring.Configuration, prevT *localring.Configuration) {
	n.phase = phaseExchange
	x := &exchange{conf: c, trans: prevT, waiting: make(map[localring.Member]bool, len(c.Members)), got: make(map[localring.Member]*report)}
	for _, m := range c.Members {
		x.waiting[m] = true
	}
	n.exch = x
	rep := n.ownReport(c.ID)
	if len(c.Members) == 1 && c.Members[0] == n.me.m {
		x.got[n.me.m] = rep
		delete(x.waiting, n.me.m)
		x.order = localring.Order{Ring: c.Ring.Seq} // before every message of the ring
		n.complete()
		return
	}
	for _, part := range n.splitReport(rep) {
		w := wireMsg{kind: kindReport, rep: part}
		n.rd.Submits = append(n.rd.Submits, Submit{Svc: localring.Agreed, Payload: w.append(nil)})
	}
}

// ownReport describes this node's share of the group state.
func (n *Node) ownReport(conf string) *report {
	rep := &report{conf: conf, last: true}
	var gs []*group
	gen := n.nextGen()
	for _, c := range n.me.clients {
		for _, g := range c.groups {
			if g.mark != gen {
				g.mark = gen
				gs = append(gs, g)
			}
		}
	}
	// One array holds the members of every group (nlocal counts them).
	total := 0
	for _, g := range gs {
		total += int(g.nlocal)
	}
	all := make([]reportMember, 0, total)
	rep.groups = make([]reportGroup, 0, len(gs))
	for _, g := range n.sortGroups(gs) {
		n.yield()
		start := len(all)
		for _, m := range g.members {
			if m.c.node == n.me {
				all = append(all, reportMember{client: m.c.name, st: m.st})
			}
		}
		rep.groups = append(rep.groups, reportGroup{name: g.name, members: all[start:len(all):len(all)]})
	}
	for _, t := range n.tops {
		if t.origin == n.me.m {
			rep.ops = append(rep.ops, wireMsg{kind: t.op.kind, client: t.op.client, group: t.op.group, acl: t.op.acl})
		}
	}
	var acls []*group
	for _, g := range n.groups {
		if g.acl != nil {
			acls = append(acls, g)
		}
	}
	for _, g := range sortedGroups(acls) {
		rep.acls = append(rep.acls, reportACL{group: g.name, st: g.acl.st, acl: g.acl.acl})
	}
	return rep
}

// splitReport cuts a report into parts that each fit in one ring message.
func (n *Node) splitReport(rep *report) []*report {
	budget := n.cfg.MaxMessageBytes - 64 - len(rep.conf)
	var parts []*report
	cur := &report{conf: rep.conf}
	size := 0
	flush := func() {
		cur.part = uint64(len(parts))
		parts = append(parts, cur)
		cur = &report{conf: rep.conf}
		size = 0
	}
	for _, g := range rep.groups {
		for i := 0; i < len(g.members); {
			head := 1 + len(g.name) + binary.MaxVarintLen64
			if size > 0 && size+head+reportMemberSize(g.members[i].client) > budget {
				flush()
			}
			size += head
			j := i // the part takes members i..j-1, at least one
			for j < len(g.members) && (j == i || size+reportMemberSize(g.members[j].client) <= budget) {
				size += reportMemberSize(g.members[j].client)
				j++
			}
			cur.groups = append(cur.groups, reportGroup{name: g.name, members: g.members[i:j:j]})
			i = j
		}
	}
	for _, op := range rep.ops {
		sz := 3 + len(op.client) + len(op.group) + aclSize(&op.acl)
		if size > 0 && size+sz > budget {
			flush()
		}
		cur.ops = append(cur.ops, op)
		size += sz
	}
	for _, a := range rep.acls {
		sz := 1 + len(a.group) + stampSize + aclSize(&a.acl)
		if size > 0 && size+sz > budget {
			flush()
		}
		cur.acls = append(cur.acls, a)
		size += sz
	}
	cur.last = true
	flush()
	return parts
}

func (n *Node) onReport(msg *localring.Message, origin localring.Member, rep *report) {
	x := n.exch
	if x == nil || (n.phase != phaseExchange && n.phase != phaseTransLost) || rep.conf != x.conf.ID || !x.waiting[origin] {
		return
	}
	acc := x.got[origin]
	if acc == nil {
		acc = &report{conf: rep.conf}
		x.got[origin] = acc
	}
	if rep.part != acc.part {
		n.stats.Malformed++ // parts come in order from a correct sender
		return
	}
	acc.part++
	// The groups stay in their parts (a report of many groups has many;
	// appending them to one slice would copy them again and again).
	acc.groupParts = append(acc.groupParts, rep.groups)
	acc.ops = append(acc.ops, rep.ops...)
	acc.acls = append(acc.acls, rep.acls...)
	if !rep.last {
		return
	}
	delete(x.waiting, origin)
	if len(x.waiting) == 0 {
		x.order = msg.Order
		n.complete()
	}
}

// complete ends a state exchange: the group state becomes the union of the
// reports (each node is the authority on its own members), every group
// whose view changes gets a regular view named after the exchange's
// configuration (after a transitional one, if it had none since its last
// regular view), and the reported requests are applied after it.
func (n *Node) complete() {
	x := n.exch
	n.exch = nil
	n.stats.Exchanges++
	wasTrans := n.phase == phaseTransLost

	// Each group's reported members collect in its xm; a group only the
	// reports know is created here (as the loop below would).
	aclBest := make(map[string]*aclState)
	newInc := make(map[localring.NodeID]uint64, len(x.conf.Members))
	for _, m := range x.conf.Members {
		newInc[m.ID] = m.Inc
		rep := x.got[m]
		if rep == nil {
			continue
		}
		ni := n.nodeOf(m)
		for i := -1; i < len(rep.groupParts); i++ {
			gs := rep.groups
			if i >= 0 {
				gs = rep.groupParts[i]
			}
			for _, rg := range gs {
				n.yield()
				g := n.groups[rg.name]
				if g == nil {
					g = n.newGroup(rg.name)
				}
				if g.xm == nil {
					// Room for a member per reporting node: the usual
					// case, one allocation instead of one per doubling.
					g.xm = make([]member, 0, max(len(x.got), len(rg.members)))
				}
				for _, rm := range rg.members {
					g.xm = append(g.xm, member{c: n.clientOf(ni, rm.client), st: rm.st})
				}
			}
		}
		for i := range rep.acls {
			a := &rep.acls[i]
			if b := aclBest[a.group]; b == nil || b.st.less(a.st) {
				aclBest[a.group] = &aclState{acl: a.acl, st: a.st}
			}
		}
	}
	for name := range aclBest {
		if n.groups[name] == nil {
			n.newGroup(name)
		}
	}
	all := n.allSorted()

	transID := "t:" + x.conf.ID + "/-"
	var transIn map[localring.Member]bool
	if x.trans != nil {
		transID, transIn = x.trans.ID, memberSet(x.trans)
	}
	vid := viewID{conf: x.conf.ID, kind: 'r'}
	n.growEvents(len(all))
	for _, g := range all {
		n.yield()
		nm := dedupMembers(g.xm, n.nextGen())
		g.xm = nil
		sortMembers(nm)
		cur := g.cur()
		tm := cur
		if transIn != nil {
			tm = filterNodes(cur, transIn)
		}
		// A view is due when the members change, and when a transitional
		// view came since the last regular one (members left and came
		// back: the nodes they left with deliver a view too).
		if !sameMembers(g.members, nm) || g.hasTrans || len(tm) < len(cur) {
			if !g.hasTrans || len(tm) < len(cur) {
				n.setTrans(g, transID, tm)
			}
			n.setRegular(g, nm, vid, syncReason(g.members, nm, newInc))
		} else {
			g.vid = vid // agreed everywhere, even where nothing changed
		}
		g.acl = aclBest[g.name]
		n.maybeDrop(g)
	}
	n.transGs = nil

	k := uint64(0)
	for _, m := range x.conf.Members {
		rep := x.got[m]
		if rep == nil {
			continue
		}
		for i := range rep.ops {
			k++
			n.applyOp(m, &rep.ops[i], viewID{conf: x.conf.ID, kind: '+', a: k}, stamp{order: x.order, sub: k})
		}
	}
	n.tops = nil
	// Clients the reports named but that joined nothing.
	for _, ni := range n.nodes {
		for _, c := range ni.clients {
			n.forgetQ = append(n.forgetQ, c)
		}
	}

	n.syncPoint, n.epoch = x.conf.ID, epochOf(x.conf.ID)
	n.stale = n.inRing // everything in the ring was handed with the old epoch
	if wasTrans {
		n.phase = phaseTrans
		n.transViews(n.trans)
	} else {
		n.phase = phaseRegular
	}
}

// dedupMembers drops repeated clients (a report lists each once; this
// guards against a faulty one), in place.
func dedupMembers(ms []member, gen uint64) []member {
	out := ms[:0]
	for _, m := range ms {
		if m.c.mark != gen {
			m.c.mark = gen
			out = append(out, m)
		}
	}
	return out
}

// syncReason says why a state exchange changed a view: disconnect when
// every member that left was on a node that came back with a new
// incarnation (so it crashed), network otherwise.
func syncReason(old, nm []member, newInc map[localring.NodeID]uint64) Reason {
	crashed, left := true, false
	for _, m := range old {
		if slices.ContainsFunc(nm, func(x member) bool { return x.c == m.c }) {
			continue
		}
		left = true
		if inc, ok := newInc[m.c.node.m.ID]; !ok || inc == m.c.node.m.Inc {
			crashed = false
		}
	}
	if left && crashed {
		return ReasonDisconnect
	}
	return ReasonNetwork
}
