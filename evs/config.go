package evs

// Configuration changes: 2.1 self-inclusion, 2.2 agreement, 2.3 monotonic
// ids with regular and transitional configurations alternating, and 2.4 the
// shape of transitional configurations.

// install handles one install event of p: it checks 2.1, 2.2 and 2.3 and
// appends the configuration to p's installs.
func (d *domain) install(p *proc, e *Event) {
	if e.Conf == nil || e.Conf.ID == "" {
		d.report(LocalSanity, "", "", []Proc{p.id}, "%s installed a configuration without an id", p.id)
		return
	}
	ci := d.confOf(e.Conf.ID)
	cf := d.confs[ci]
	kind := e.Conf.Kind
	members := sortedSet(e.Conf.Members)
	if kind != KindRegular && kind != KindTransitional {
		d.report(LocalSanity, cf.id, "", []Proc{p.id}, "%s installed %s with kind %q, neither %q nor %q", p.id, cf.id, kind, KindRegular, KindTransitional)
	}

	// 2.2: one id, one kind and one membership everywhere; one process per node.
	if cf.definer < 0 {
		cf.definer = p.ix
		cf.kind = kind
		cf.members = members
		cf.memberSet = setOf(members)
	} else if cf.kind != kind || !equalStrings(cf.members, members) {
		def := d.procs[cf.definer].id
		d.report(ConfAgreement, cf.id, "", []Proc{p.id, def}, "%s installed %s as %s %v but %s installed it as %s %v",
			p.id, cf.id, kind, members, def, cf.kind, cf.members)
	}
	for _, in := range cf.installers {
		if q := d.procs[in.proc]; q.id.Node == p.id.Node && q != p {
			d.report(ConfAgreement, cf.id, "", []Proc{p.id, q.id}, "%s and %s, two incarnations of one node, both installed %s", q.id, p.id, cf.id)
			break
		}
	}

	// 2.1: a process is a member of every configuration it installs.
	if !setOf(members)[p.id.Node] {
		d.report(SelfInclusion, cf.id, "", []Proc{p.id}, "%s installed %s, whose members %v do not include %s", p.id, cf.id, members, p.id.Node)
	}

	// 2.3: alternation, no repeats, increasing ring sequence numbers.
	pos := int32(len(p.installs))
	if first, seen := p.installAt[ci]; seen {
		d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s twice (installs #%d and #%d)", p.id, cf.id, first+1, pos+1)
	}
	prev := int32(-1)
	prevKind := ""
	if pos > 0 {
		prev = p.installs[pos-1]
		prevKind = d.confs[prev].kind
		if d.confs[prev].definer >= 0 && prev != ci && prevKind == kind {
			d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s %s right after %s %s: regular and transitional configurations must alternate",
				p.id, kind, cf.id, prevKind, d.confs[prev].id)
		}
	}
	d.checkRingIDs(p, cf, kind, prev)

	p.installs = append(p.installs, ci)
	if _, seen := p.installAt[ci]; !seen {
		p.installAt[ci] = pos
	}
	if kind == KindRegular {
		p.lastReg = pos
	}
	cf.installers = append(cf.installers, installer{p.ix, pos})
}

// checkRingIDs checks 2.3 on ids in a convention whose ids name the
// regular configurations around them (ringID): regular configurations
// are numbered increasingly along a process's installs, a transitional
// configuration comes from the regular one before it and leads into the
// one after it. Ids in other forms are not checked here.
func (d *domain) checkRingIDs(p *proc, cf *conf, kind string, prev int32) {
	id := cf.ring
	if !id.ok {
		return
	}
	if id.trans != (kind == KindTransitional) {
		named := "regular"
		if id.trans {
			named = "transitional"
		}
		d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s with kind %s, but the id names a %s configuration",
			p.id, cf.id, kind, named)
		return
	}
	var prevID ringID
	if prev >= 0 {
		prevID = d.confs[prev].ring
	}
	if !id.trans {
		if p.lastReg >= 0 {
			last := d.confs[p.installs[p.lastReg]]
			if c, ok := id.reg.compare(last.ring.reg); ok && last.ring.ok && !last.ring.trans && c <= 0 {
				d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s after %s: %s", p.id, cf.id, last.id, mustIncrease(id.reg))
			}
		}
		if prevID.ok && prevID.trans && prevID.reg.id != "" && prevID.reg.id != id.reg.id {
			d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s after transitional %s, which leads into %s",
				p.id, cf.id, d.confs[prev].id, prevID.reg.id)
		}
		return
	}
	if prevID.ok && !prevID.trans {
		if prevID.reg.id != id.old.id {
			d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s after %s, but the transitional id says it comes from %s",
				p.id, cf.id, d.confs[prev].id, id.old.id)
		}
		if c, ok := id.reg.compare(prevID.reg); ok && c <= 0 {
			d.report(ConfOrder, cf.id, "", []Proc{p.id}, "%s installed %s after %s: %s", p.id, cf.id, d.confs[prev].id, mustIncrease(id.reg))
		}
	}
}

// mustIncrease says what numbers regular configurations in r's convention.
func mustIncrease(r confRef) string {
	if r.num == domainPlaces {
		return "domain positions must increase"
	}
	return "ring sequence numbers must increase"
}

// checkTransitional checks 2.4 for every transitional configuration: its
// members are in the regular configurations before and after it, its
// installers agree on those two, and every member that moves on from the
// same regular configuration into the same next one installs it.
func (d *domain) checkTransitional() {
	for _, t := range d.confs {
		if t.kind != KindTransitional || len(t.installers) == 0 {
			continue
		}
		neighbour := func(in installer, delta int32) int32 {
			p := d.procs[in.proc]
			i := in.pos + delta
			if i < 0 || int(i) >= len(p.installs) || d.kindOf(p.installs[i]) != KindRegular {
				return -1
			}
			return p.installs[i]
		}
		ref := t.installers[0]
		refProc := d.procs[ref.proc]
		refPrev, refNext := neighbour(ref, -1), neighbour(ref, +1)
		reportedPrev := make(map[int32]bool)
		reportedNext := make(map[int32]bool)
		installed := make(map[string]bool)
		for _, in := range t.installers {
			p := d.procs[in.proc]
			installed[p.id.Node] = true
			prev, next := neighbour(in, -1), neighbour(in, +1)

			// members(t) ⊆ members(prev) ∩ members(next); a first install
			// comes from the process's own singleton.
			if !reportedPrev[prev] {
				reportedPrev[prev] = true
				prevSet, prevName := map[string]bool{p.id.Node: true}, "the singleton {"+p.id.Node+"} it starts from"
				if prev >= 0 {
					prevSet, prevName = d.confs[prev].memberSet, "its previous regular configuration "+d.confs[prev].id
				}
				if extra := minus(t.members, prevSet); len(extra) > 0 {
					d.report(TransShape, t.id, "", []Proc{p.id}, "%s installed %s with members %v not in %s",
						p.id, t.id, extra, prevName)
				}
			}
			if next >= 0 && !reportedNext[next] {
				reportedNext[next] = true
				if extra := minus(t.members, d.confs[next].memberSet); len(extra) > 0 {
					d.report(TransShape, t.id, "", []Proc{p.id}, "%s installed %s with members %v not in the next regular configuration %s",
						p.id, t.id, extra, d.confs[next].id)
				}
			}

			// Everyone installs t between the same two regular configurations.
			if in != ref && (prev != refPrev || (next >= 0 && refNext >= 0 && next != refNext)) {
				d.report(TransShape, t.id, "", []Proc{p.id, refProc.id}, "%s installed %s between %s and %s but %s between %s and %s",
					p.id, t.id, d.confName(prev), d.confName(next), refProc.id, d.confName(refPrev), d.confName(refNext))
			}
		}

		// Every member that does not fail installs t after refPrev.
		if refPrev < 0 {
			continue
		}
		for _, n := range t.members {
			if installed[n] {
				continue
			}
			for _, in := range d.confs[refPrev].installers {
				q := d.procs[in.proc]
				if q.id.Node != n || q.failed {
					continue
				}
				last := int(in.pos) == len(q.installs)-1
				switch {
				case last && !d.c.opts.Quiescent:
					// The run may have stopped before q got there.
				case last:
					d.report(TransShape, t.id, "", []Proc{q.id, refProc.id}, "%s, a member of %s that did not fail, never installed it: its trace ends in %s (installed by %s after the same configuration)",
						q.id, t.id, d.confs[refPrev].id, refProc.id)
				case d.nextRegular(q, int(in.pos)) == refNext && refNext >= 0:
					// q moved into the same regular configuration as t's
					// members, but not through t. (A member that was cut off
					// at the moment of the install, and so went on to some
					// other configuration, counts as failed from t's point of
					// view: no protocol can guarantee more in an asynchronous
					// network, so EVS.md's "does not fail" is read that way.)
					d.report(TransShape, t.id, "", []Proc{q.id, refProc.id}, "%s, a member of %s, installed %s after %s instead and then %s like %s",
						q.id, t.id, d.confName(q.installs[in.pos+1]), d.confs[refPrev].id, d.confs[refNext].id, refProc.id)
				}
			}
		}
	}
}

// nextRegular returns the first regular configuration p installed after its
// install at position pos, or -1.
func (d *domain) nextRegular(p *proc, pos int) int32 {
	for _, c := range p.installs[pos+1:] {
		if d.kindOf(c) == KindRegular {
			return c
		}
	}
	return -1
}
