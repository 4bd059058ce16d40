package evs

import "fmt"

// Messages: 1.1 no creation, 1.2 no duplication, 1.3 delivery
// configuration, 1.4 local sanity, 3 self-delivery, 4 failure atomicity,
// 5 causal order, 7 Safe and 8 FIFO.

// send handles one send event of p.
func (d *domain) send(p *proc, e *Event) {
	if e.Msg == "" {
		d.report(LocalSanity, e.ConfID, "", []Proc{p.id}, "%s wrote a send without a message id", p.id)
		return
	}
	sc := int32(-1)
	if e.ConfID == "" {
		d.report(LocalSanity, "", e.Msg, []Proc{p.id}, "%s sent %s without naming a configuration", p.id, e.Msg)
	} else {
		sc = d.confOf(e.ConfID)
		if d.checkCurrent(p, int32(len(p.installs))-1, sc, e.Msg, "sent") && d.kindOf(sc) == KindTransitional {
			d.report(LocalSanity, e.ConfID, e.Msg, []Proc{p.id}, "%s sent %s in transitional configuration %s: messages are sent in regular configurations", p.id, e.Msg, e.ConfID)
		}
	}

	mi := d.msgOf(e.Msg)
	m := d.msgs[mi]
	if m.sender >= 0 {
		if first := d.procs[m.sender].id; first == p.id {
			d.report(NoDuplication, e.ConfID, e.Msg, []Proc{p.id}, "%s sent %s twice: message ids are unique forever", p.id, e.Msg)
		} else {
			d.report(NoDuplication, e.ConfID, e.Msg, []Proc{p.id, first}, "%s sent %s, which %s had already sent: message ids are unique forever", p.id, e.Msg, first)
		}
		return
	}
	if owner, ok := parseMsgID(e.Msg); ok && owner != p.id {
		d.report(NoCreation, e.ConfID, e.Msg, []Proc{p.id}, "%s sent %s, an id that belongs to %s", p.id, e.Msg, owner)
	}
	m.sender, m.conf = p.ix, sc
	m.svc, m.hash, m.groups, m.deps = e.Svc, e.Hash, e.Groups, e.Deps
	m.lv = levelOf(e.Svc)
	if m.lv == lvUnknown {
		d.report(LocalSanity, e.ConfID, e.Msg, []Proc{p.id}, "%s sent %s with unknown service level %q (checked as reliable)", p.id, e.Msg, e.Svc)
		m.lv = lvReliable
	}
	if sc < 0 {
		return
	}
	s := d.sendSeq(sendKey{sc, p.ix})
	m.seq = int32(len(s.all))
	s.all = append(s.all, mi)
	if m.lv >= lvFIFO {
		m.fifoRank = int32(len(s.fifo))
		s.fifo = append(s.fifo, mi)
	}
	if m.lv >= lvCausal {
		m.causalRank = int32(len(s.causal))
		s.causal = append(s.causal, mi)
	}
	m.causalUpto = int32(len(s.causal))
}

// checkCurrent checks (1.4) that p, whose current configuration is the one
// at position pos of its installs, sent or delivered message id in its
// current configuration c.
func (d *domain) checkCurrent(p *proc, pos, c int32, id, verb string) bool {
	switch {
	case pos < 0:
		d.report(LocalSanity, d.confs[c].id, id, []Proc{p.id}, "%s %s %s in %s before installing any configuration", p.id, verb, id, d.confs[c].id)
		return false
	case p.installs[pos] != c:
		d.report(LocalSanity, d.confs[c].id, id, []Proc{p.id}, "%s %s %s in %s, but its current configuration is %s", p.id, verb, id, d.confs[c].id, d.confs[p.installs[pos]].id)
		return false
	}
	return true
}

// deliver handles one deliver event of p, whose current configuration is
// at position pos of its installs.
func (d *domain) deliver(p *proc, pos int32, e *Event, ord *orderState, views map[string]*procView) {
	if e.Msg == "" {
		d.report(LocalSanity, e.ConfID, "", []Proc{p.id}, "%s wrote a delivery without a message id", p.id)
		return
	}
	dc := int32(-1)
	if e.ConfID == "" {
		d.report(LocalSanity, "", e.Msg, []Proc{p.id}, "%s delivered %s without naming a configuration", p.id, e.Msg)
	} else {
		dc = d.confOf(e.ConfID)
		d.checkCurrent(p, pos, dc, e.Msg, "delivered")
	}

	mi := d.msgOf(e.Msg)
	m := d.msgs[mi]
	if prev, dup := p.delivered[mi]; dup {
		d.report(NoDuplication, e.ConfID, e.Msg, []Proc{p.id}, "%s delivered %s twice, in %s and again in %s", p.id, e.Msg, d.confName(prev), d.confName(dc))
		return
	}
	p.delivered[mi] = dc
	m.deliveries = append(m.deliveries, delivery{p.ix, dc})

	lv, groups := m.lv, m.groups
	if m.sender < 0 {
		d.report(NoCreation, e.ConfID, e.Msg, []Proc{p.id}, "%s delivered %s, which no process sent", p.id, e.Msg)
		lv, groups = levelOf(e.Svc), e.Groups
	} else {
		d.matchSend(p, e, m)
		if dc >= 0 && m.conf >= 0 && dc != m.conf {
			k, ok := p.installAt[dc]
			if !ok || d.kindOf(dc) != KindTransitional || k == 0 || p.installs[k-1] != m.conf {
				d.report(DeliveryConf, e.ConfID, e.Msg, []Proc{p.id, d.procs[m.sender].id}, "%s delivered %s in %s, but %s sent it in %s and %s is not the transitional configuration that follows it at %s",
					p.id, e.Msg, e.ConfID, d.procs[m.sender].id, d.confs[m.conf].id, e.ConfID, p.id)
			}
		}
		if m.conf >= 0 {
			if lv >= lvFIFO {
				d.checkFIFOCausal(p, m)
			}
			if lv >= lvAgreed {
				p.agreed[m.conf] = append(p.agreed[m.conf], agreedDelivery{msg: mi, conf: dc})
			}
		}
	}
	if lv > lvUnreliable && dc >= 0 {
		if k, ok := p.installAt[dc]; ok {
			p.inConf[k] = append(p.inConf[k], mi)
		}
	}
	if lv >= lvAgreed && e.Order != 0 {
		d.checkOrderField(p, mi, m, e.Order, ord)
	}
	if len(d.groups) > 0 {
		d.checkViewEpoch(p, mi, dc, groups, views)
	}
}

// matchSend checks (1.1) that a delivery carries what was sent.
func (d *domain) matchSend(p *proc, e *Event, m *msg) {
	sender := d.procs[m.sender].id
	if e.Hash != m.hash {
		d.report(NoCreation, e.ConfID, e.Msg, []Proc{p.id, sender}, "%s delivered %s with hash %q, but %s sent it with hash %q", p.id, e.Msg, e.Hash, sender, m.hash)
	}
	if e.Svc != m.svc {
		d.report(NoCreation, e.ConfID, e.Msg, []Proc{p.id, sender}, "%s delivered %s as %s, but %s sent it as %s", p.id, e.Msg, e.Svc, sender, m.svc)
	}
	if !equalStrings(e.Groups, m.groups) && !equalStrings(sortedSet(e.Groups), sortedSet(m.groups)) {
		d.report(NoCreation, e.ConfID, e.Msg, []Proc{p.id, sender}, "%s delivered %s to groups %v, but %s sent it to %v", p.id, e.Msg, e.Groups, sender, m.groups)
	}
}

// progress is what one process delivered of one sender's messages sent in
// one configuration: the length of the delivered prefix of its FIFO (and
// Causal) sends, and the ones delivered beyond that prefix.
type progress struct {
	fifo, causal         int32
	fifoPend, causalPend map[int32]bool
}

func (p *proc) progressOf(k sendKey) *progress {
	pr := p.progress[k]
	if pr == nil {
		pr = new(progress)
		p.progress[k] = pr
	}
	return pr
}

// advance records rank as delivered in the prefix/pending pair.
func advance(prefix *int32, pend *map[int32]bool, rank int32) {
	if rank != *prefix {
		if *pend == nil {
			*pend = make(map[int32]bool)
		}
		(*pend)[rank] = true
		return
	}
	*prefix++
	for len(*pend) > 0 && (*pend)[*prefix] {
		delete(*pend, *prefix)
		*prefix++
	}
}

// checkFIFOCausal checks 8 (FIFO) and 5 (causal) for p's delivery of m:
// every earlier FIFO-or-above send of the sender in the same configuration
// was delivered first, and for a Causal-or-above m, every Causal-or-above
// message that causally precedes it in that configuration was too.
func (d *domain) checkFIFOCausal(p *proc, m *msg) {
	key := sendKey{m.conf, m.sender}
	pr := p.progressOf(key)
	sender := d.procs[m.sender].id
	cname := d.confs[m.conf].id
	if pr.fifo < m.fifoRank {
		missing := d.msgs[d.sends[key].fifo[pr.fifo]]
		d.report(FIFOOrder, cname, m.id, []Proc{p.id, sender}, "%s delivered %s but had not delivered %s, which %s sent before it in %s",
			p.id, m.id, missing.id, sender, cname)
	}
	if m.lv >= lvCausal {
		for _, v := range m.vc {
			k := sendKey{m.conf, v.sender}
			ss := d.sends[k]
			need := d.msgs[ss.all[v.upto]].causalUpto
			if q := p.progressOf(k); q.causal < need {
				missing := d.msgs[ss.causal[q.causal]]
				d.report(CausalOrder, cname, m.id, []Proc{p.id, sender, d.procs[v.sender].id}, "%s delivered %s but had not delivered %s, which causally precedes it (both sent in %s)",
					p.id, m.id, missing.id, cname)
				break
			}
		}
	}
	advance(&pr.fifo, &pr.fifoPend, m.fifoRank)
	if m.causalRank >= 0 {
		advance(&pr.causal, &pr.causalPend, m.causalRank)
	}
}

// vcEntry says that a message causally follows the sends of sender up to
// and including position upto (of all its sends in the configuration).
type vcEntry struct{ sender, upto int32 }

// computeCausal computes, for every message sent in a configuration where
// some send lists deps, the other senders' sends that causally precede it:
// a vector clock over the configuration's senders, built in a topological
// order of the send order of each sender plus the deps edges. Messages
// sent in other configurations need none: their causal past within the
// configuration is their sender's earlier sends, which FIFO covers.
func (d *domain) computeCausal() {
	withDeps := make(map[int32]bool)
	for _, m := range d.msgs {
		if m.sender >= 0 && m.conf >= 0 && len(m.deps) > 0 {
			withDeps[m.conf] = true
		}
	}
	if len(withDeps) == 0 {
		return
	}
	byConf := make(map[int32][]int32)
	for k := range d.sends {
		if withDeps[k.conf] {
			byConf[k.conf] = append(byConf[k.conf], k.sender)
		}
	}
	for c, senders := range byConf {
		d.causalConf(c, senders)
	}
}

func (d *domain) causalConf(c int32, senders []int32) {
	// Edges: each send to the sender's next one, and each dep (sent in c)
	// to the message that lists it.
	indeg := make(map[int32]int32)
	after := make(map[int32][]int32) // dep → messages listing it
	var queue []int32
	for _, s := range senders {
		for i, mi := range d.sends[sendKey{c, s}].all {
			n := int32(0)
			if i > 0 {
				n++
			}
			for _, dep := range d.msgs[mi].deps {
				di, ok := d.msgIx[dep]
				if !ok || di == mi || d.msgs[di].conf != c || d.msgs[di].sender < 0 {
					continue
				}
				after[di] = append(after[di], mi)
				n++
			}
			indeg[mi] = n
			if n == 0 {
				queue = append(queue, mi)
			}
		}
	}
	for len(queue) > 0 {
		mi := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		m := d.msgs[mi]
		ss := d.sends[sendKey{c, m.sender}]
		var vc []vcEntry
		if m.seq > 0 {
			vc = d.msgs[ss.all[m.seq-1]].vc
		}
		for _, dep := range m.deps {
			di, ok := d.msgIx[dep]
			if !ok || di == mi || d.msgs[di].conf != c || d.msgs[di].sender < 0 {
				continue
			}
			dm := d.msgs[di]
			vc = mergeVC(vc, dm.vc, m.sender)
			vc = mergeVC(vc, []vcEntry{{dm.sender, dm.seq}}, m.sender)
		}
		m.vc = vc
		release := func(n int32) {
			if indeg[n]--; indeg[n] == 0 {
				queue = append(queue, n)
			}
		}
		if int(m.seq)+1 < len(ss.all) {
			release(ss.all[m.seq+1])
		}
		for _, n := range after[mi] {
			release(n)
		}
	}
}

// mergeVC returns the entrywise maximum of a and b without own's entry.
// It returns a itself when b adds nothing, so that chains of sends
// without deps share one slice.
func mergeVC(a, b []vcEntry, own int32) []vcEntry {
	adds := false
	for _, e := range b {
		if e.sender == own {
			continue
		}
		if i := findVC(a, e.sender); i < 0 || a[i].upto < e.upto {
			adds = true
			break
		}
	}
	if !adds {
		return a
	}
	out := make([]vcEntry, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].sender < b[j].sender):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].sender < a[i].sender:
			if b[j].sender != own {
				out = append(out, b[j])
			}
			j++
		default:
			e := a[i]
			if b[j].upto > e.upto {
				e.upto = b[j].upto
			}
			out = append(out, e)
			i++
			j++
		}
	}
	return out
}

func findVC(vc []vcEntry, sender int32) int {
	for i, e := range vc {
		if e.sender == sender {
			return i
		}
	}
	return -1
}

// checkSelfDelivery checks 3: a process that does not fail delivers each
// of its own messages above Unreliable.
func (d *domain) checkSelfDelivery() {
	for mi, m := range d.msgs {
		if m.sender < 0 || m.conf < 0 || m.lv <= lvUnreliable {
			continue
		}
		p := d.procs[m.sender]
		if _, ok := p.delivered[int32(mi)]; ok {
			continue
		}
		pos, ok := p.installAt[m.conf]
		if !ok || !d.due(p, pos) {
			continue
		}
		why := "and did not fail (quiescent run)"
		if int(pos)+1 < len(p.installs) {
			next := p.installs[pos+1]
			for _, c := range p.installs[pos+1:] {
				if d.kindOf(c) == KindRegular {
					next = c
					break
				}
			}
			why = "before moving on to " + d.confs[next].id
		}
		d.report(SelfDelivery, d.confs[m.conf].id, m.id, []Proc{p.id}, "%s did not deliver its own %s message %s, sent in %s, %s",
			p.id, m.svc, m.id, d.confs[m.conf].id, why)
	}
}

// checkFailureAtomicity checks 4: processes that go from a configuration to
// the same next configuration delivered the same messages (above
// Unreliable) in it. In a quiescent run, live processes that end in the
// same configuration count as going to the same next one.
func (d *domain) checkFailureAtomicity() {
	type faKey struct{ conf, next int32 }
	var keys []faKey
	groups := make(map[faKey][]installer)
	for _, p := range d.procs {
		for k := range p.installs {
			key := faKey{p.installs[k], -1}
			if k+1 < len(p.installs) {
				key.next = p.installs[k+1]
			} else if !d.c.opts.Quiescent || p.failed {
				continue
			}
			if groups[key] == nil {
				keys = append(keys, key)
			}
			groups[key] = append(groups[key], installer{p.ix, int32(k)})
		}
	}
	for _, key := range keys {
		g := groups[key]
		if len(g) < 2 {
			continue
		}
		count := make(map[int32]int)
		var seen []int32 // in order of first delivery, members in order
		for _, in := range g {
			for _, mi := range d.procs[in.proc].inConf[in.pos] {
				if count[mi] == 0 {
					seen = append(seen, mi)
				}
				count[mi]++
			}
		}
		has := func(p *proc, mi int32) bool {
			dc, ok := p.delivered[mi]
			return ok && dc == key.conf
		}
		for _, in := range g {
			p := d.procs[in.proc]
			first, n := int32(-1), 0
			for _, mi := range seen {
				if count[mi] == len(g) || has(p, mi) {
					continue
				}
				if first < 0 {
					first = mi
				}
				n++
			}
			if first < 0 {
				continue
			}
			var other *proc
			for _, o := range g {
				if q := d.procs[o.proc]; has(q, first) {
					other = q
					break
				}
			}
			both := "both moved on to " + d.confName(key.next)
			if key.next < 0 {
				both = "both ended there alive (quiescent run)"
			}
			more := ""
			if n > 1 {
				more = fmt.Sprintf(" (and %d more such messages)", n-1)
			}
			cname := d.confs[key.conf].id
			d.report(FailureAtomicity, cname, d.msgs[first].id, []Proc{p.id, other.id}, "%s did not deliver %s in %s but %s did, and %s%s",
				p.id, d.msgs[first].id, cname, other.id, both, more)
		}
	}
}

// checkSafe checks 7: a Safe message delivered in a configuration is
// delivered by every process that installed that configuration and does
// not fail (in it, or for a regular one in the transitional one after it).
func (d *domain) checkSafe() {
	for mi, m := range d.msgs {
		if m.lv != lvSafe {
			continue
		}
		var done map[int32]bool
		var confs map[int32]bool
		for _, dl := range m.deliveries {
			if dl.conf < 0 || confs[dl.conf] {
				continue
			}
			if confs == nil {
				confs, done = make(map[int32]bool), make(map[int32]bool)
			}
			confs[dl.conf] = true
			cf := d.confs[dl.conf]
			by := d.procs[dl.proc].id
			for _, in := range cf.installers {
				q := d.procs[in.proc]
				if _, ok := q.delivered[int32(mi)]; ok || done[q.ix] || !d.due(q, in.pos) {
					continue
				}
				done[q.ix] = true
				d.report(SafeDelivery, cf.id, m.id, []Proc{q.id, by}, "%s, a member of %s that did not fail there, never delivered Safe message %s, which %s delivered in %s",
					q.id, cf.id, m.id, by, cf.id)
			}
		}
	}
}
