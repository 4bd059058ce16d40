package evs

import "strings"

// Group views obey the configuration rules per group:
//
//	G.1 agreement: one view id has the same members, in the same order,
//	    and the same transitional flag everywhere;
//	G.2 order: processes deliver a group's views in one order, each at most
//	    once, and two processes that deliver a message of the group in the
//	    same configuration while members of it deliver it in the same view;
//	G.3 transitional before regular: a regular view caused by the network
//	    follows a transitional view, whose members are a subset of the
//	    previous regular view's;
//	G.4 reason: a regular view lists every member that left since the
//	    previous one, with a reason that says why (and keeps none of them),
//	    and every reason is one of join, leave, disconnect and network.

// group is one process group of a domain.
type group struct {
	ix     int32
	name   string
	views  []*viewDef
	viewIx map[string]int32

	owners   []*proc   // processes that delivered views of the group
	ownerSeq [][]int32 // their views, in delivery order
	ownerIx  map[int32]int
}

// viewDef is a view as first delivered.
type viewDef struct {
	id           string
	members      []string
	memberSet    map[string]bool
	nodes        map[string]bool // the nodes of the members ("node:client")
	transitional bool
	by           int32
}

// procView is one process's state in one group.
type procView struct {
	latest     int32 // the last view delivered, -1 if none
	lastReg    int32 // the last regular view delivered, -1 if none
	transSince bool  // a transitional view came after lastReg
	seen       map[int32]bool
}

type epochKey struct{ msg, group, conf int32 }

type epochAt struct{ proc, view int32 }

func (d *domain) groupOf(name string) *group {
	g := d.groups[name]
	if g == nil {
		g = &group{ix: int32(len(d.groupNames)), name: name, viewIx: make(map[string]int32), ownerIx: make(map[int32]int)}
		d.groups[name] = g
		d.groupNames = append(d.groupNames, name)
	}
	return g
}

// view handles one view event of p, whose current configuration is at
// position pos of its installs.
func (d *domain) view(p *proc, pos int32, e *Event, views map[string]*procView) {
	cname := ""
	if pos >= 0 {
		cname = d.confs[p.installs[pos]].id
	}
	if e.Group == "" || e.View == nil || e.View.ID == "" {
		d.report(LocalSanity, cname, "", []Proc{p.id}, "%s delivered a group view without a group or a view id", p.id)
		return
	}
	g := d.groupOf(e.Group)
	v := e.View
	vi, ok := g.viewIx[v.ID]
	if !ok {
		vi = int32(len(g.views))
		g.viewIx[v.ID] = vi
		nodes := make(map[string]bool, len(v.Members))
		for _, m := range v.Members {
			nodes[m] = true
			if i := strings.LastIndexByte(m, ':'); i > 0 {
				nodes[m[:i]] = true
			}
		}
		g.views = append(g.views, &viewDef{id: v.ID, members: v.Members, memberSet: setOf(v.Members), nodes: nodes, transitional: v.Transitional, by: p.ix})
	} else if def := g.views[vi]; !equalStrings(def.members, v.Members) || def.transitional != v.Transitional {
		by := d.procs[def.by].id
		d.report(ViewAgreement, cname, v.ID, []Proc{p.id, by}, "%s delivered view %s of group %s with members %v (transitional %t), but %s with members %v (transitional %t)",
			p.id, v.ID, g.name, v.Members, v.Transitional, by, def.members, def.transitional)
	}

	st := views[e.Group]
	if st == nil {
		st = &procView{latest: -1, lastReg: -1, seen: make(map[int32]bool)}
		views[e.Group] = st
	}
	if st.seen[vi] {
		d.report(ViewOrder, cname, v.ID, []Proc{p.id}, "%s delivered view %s of group %s twice", p.id, v.ID, g.name)
		return
	}
	st.seen[vi] = true
	oi, ok := g.ownerIx[p.ix]
	if !ok {
		oi = len(g.owners)
		g.ownerIx[p.ix] = oi
		g.owners = append(g.owners, p)
		g.ownerSeq = append(g.ownerSeq, nil)
	}
	g.ownerSeq[oi] = append(g.ownerSeq[oi], vi)

	if v.Transitional {
		if st.lastReg >= 0 {
			u := g.views[st.lastReg]
			if extra := minus(v.Members, u.memberSet); len(extra) > 0 {
				d.report(ViewTransitional, cname, v.ID, []Proc{p.id}, "%s delivered transitional view %s of group %s with members %v not in the previous regular view %s",
					p.id, v.ID, g.name, extra, u.id)
			}
		}
		st.transSince = true
	} else {
		if st.lastReg >= 0 {
			u := g.views[st.lastReg]
			if v.Reason == ReasonNetwork && !st.transSince {
				d.report(ViewTransitional, cname, v.ID, []Proc{p.id}, "%s delivered regular view %s of group %s (reason network) without a transitional view after %s",
					p.id, v.ID, g.name, u.id)
			}
			d.checkViewReason(p, cname, g, u, v)
		}
		switch v.Reason {
		case "", ReasonJoin, ReasonLeave, ReasonDisconnect, ReasonNetwork:
		default:
			d.report(ViewReason, cname, v.ID, []Proc{p.id}, "%s delivered view %s of group %s with unknown reason %q", p.id, v.ID, g.name, v.Reason)
		}
		st.lastReg, st.transSince = vi, false
	}
	st.latest = vi
}

// checkViewReason checks G.4 for p's regular view v after regular view u.
func (d *domain) checkViewReason(p *proc, cname string, g *group, u *viewDef, v *View) {
	now := setOf(v.Members)
	if left := minus(u.members, now); len(left) > 0 {
		if unlisted := minus(left, setOf(v.Left)); len(unlisted) > 0 {
			d.report(ViewReason, cname, v.ID, []Proc{p.id}, "%s delivered view %s of group %s, which drops %v since %s without listing them as left",
				p.id, v.ID, g.name, unlisted, u.id)
		}
		switch v.Reason {
		case ReasonLeave, ReasonDisconnect, ReasonNetwork:
		default:
			d.report(ViewReason, cname, v.ID, []Proc{p.id}, "%s delivered view %s of group %s, which drops %v since %s with reason %q: a member that leaves needs %s, %s or %s",
				p.id, v.ID, g.name, left, u.id, v.Reason, ReasonLeave, ReasonDisconnect, ReasonNetwork)
		}
	}
	var kept []string
	for _, m := range v.Left {
		if now[m] {
			kept = append(kept, m)
		}
	}
	if len(kept) > 0 {
		d.report(ViewReason, cname, v.ID, []Proc{p.id}, "%s delivered view %s of group %s, which lists %v as left but keeps them as members",
			p.id, v.ID, g.name, kept)
	}
}

// checkViewEpoch checks that p delivers message mi, sent to groups, in the
// same view of each group as every other process that delivers it in the
// same configuration dc while a member of the group.
func (d *domain) checkViewEpoch(p *proc, mi, dc int32, groups []string, views map[string]*procView) {
	for _, name := range groups {
		st := views[name]
		if st == nil || st.latest < 0 {
			continue
		}
		g := d.groups[name]
		if !g.views[st.latest].nodes[p.id.Node] {
			continue
		}
		k := epochKey{mi, g.ix, dc}
		at, ok := d.epochs[k]
		if !ok {
			d.epochs[k] = epochAt{p.ix, st.latest}
			continue
		}
		if at.view != st.latest {
			other := d.procs[at.proc].id
			m := d.msgs[mi]
			d.report(ViewOrder, d.confName(dc), m.id, []Proc{p.id, other}, "%s delivered %s in view %s of group %s but %s delivered it in view %s (both in %s)",
				p.id, m.id, g.views[st.latest].id, name, other, g.views[at.view].id, d.confName(dc))
		}
	}
}

// checkViewOrder checks that every group's views are delivered in one
// order: the union of the processes' view sequences is acyclic.
func (d *domain) checkViewOrder() {
	for _, name := range d.groupNames {
		g := d.groups[name]
		gr := newGraph(len(g.views))
		for _, seq := range g.ownerSeq {
			for i := 1; i < len(seq); i++ {
				gr.add(seq[i-1], seq[i])
			}
		}
		cyc := gr.cycle()
		if cyc == nil {
			continue
		}
		positions := make([]map[int32]int, len(g.ownerSeq))
		for i, seq := range g.ownerSeq {
			positions[i] = make(map[int32]int, len(seq))
			for j, v := range seq {
				positions[i][v] = j
			}
		}
		segs := witness(cyc, positions)
		var procs []Proc
		for _, s := range segs {
			procs = appendProc(procs, g.owners[s.owner].id)
		}
		text := describeCycle(segs, "delivered view", func(o int) string { return g.owners[o].id.String() },
			func(n int32) string { return g.views[n].id })
		d.report(ViewOrder, "", g.views[cyc[0]].id, procs, "group %s: %s", g.name, text)
	}
}
