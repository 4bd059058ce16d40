package evs

import (
	"fmt"
	"sort"
)

// CheckConverged checks liveness (2.5) at the end of a run whose faults
// have stopped and whose network has been stable long enough: in every
// domain where the live processes wrote events, the last install of each
// of them is one and the same regular configuration, whose members are
// exactly their nodes, and each of them delivered in it every message
// (above Unreliable) that anyone sent in it. live lists the processes
// that are up at the end; a live process without any event is a violation
// too. Check the safety properties with Check.
func CheckConverged(events []Event, live []Proc) []Violation {
	liveSet := make(map[Proc]bool, len(live))
	for _, p := range live {
		liveSet[p] = true
	}
	type procEnd struct {
		last      *Conf
		delivered map[string]string // message → configuration, since the last install
	}
	type domainEnd struct {
		procs map[Proc]*procEnd
		sends map[string][]string // configuration → messages sent in it
	}
	doms := make(map[string]*domainEnd)
	seen := make(map[Proc]bool)
	for i := range events {
		e := &events[i]
		d := doms[e.Domain]
		if d == nil {
			d = &domainEnd{procs: make(map[Proc]*procEnd), sends: make(map[string][]string)}
			doms[e.Domain] = d
		}
		if e.Ev == EvSend && e.ConfID != "" && e.Msg != "" && levelOf(e.Svc) != lvUnreliable {
			d.sends[e.ConfID] = append(d.sends[e.ConfID], e.Msg)
		}
		p := Proc{e.Node, e.Inc}
		if !liveSet[p] {
			continue
		}
		seen[p] = true
		st := d.procs[p]
		if st == nil {
			st = &procEnd{delivered: make(map[string]string)}
			d.procs[p] = st
		}
		switch e.Ev {
		case EvInstall:
			if e.Conf != nil {
				st.last = e.Conf
				clear(st.delivered)
			}
		case EvDeliver:
			st.delivered[e.Msg] = e.ConfID
		}
	}

	var out []Violation
	add := func(domain, conf, msg string, procs []Proc, format string, args ...any) {
		out = append(out, Violation{Property: Liveness, Domain: domain, Conf: conf, Msg: msg, Procs: procs, Detail: fmt.Sprintf(format, args...)})
	}
	for _, p := range live {
		if !seen[p] {
			add("", "", "", []Proc{p}, "live process %s wrote no events", p)
		}
	}
	names := make([]string, 0, len(doms))
	for name, d := range doms {
		if len(d.procs) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		d := doms[name]
		procs := make([]Proc, 0, len(d.procs))
		var nodes []string
		for p := range d.procs {
			procs = append(procs, p)
			nodes = append(nodes, p.Node)
		}
		sort.Slice(procs, func(i, j int) bool {
			if procs[i].Node != procs[j].Node {
				return natLess(procs[i].Node, procs[j].Node)
			}
			return procs[i].Inc < procs[j].Inc
		})
		nodes = sortedSet(nodes)

		var ref Proc
		var final *Conf
		for _, p := range procs {
			if c := d.procs[p].last; c != nil && c.Kind == KindRegular {
				ref, final = p, c
				break
			}
		}
		for _, p := range procs {
			switch last := d.procs[p].last; {
			case last == nil:
				add(name, "", "", []Proc{p}, "live process %s installed no configuration", p)
			case last.Kind != KindRegular:
				add(name, last.ID, "", []Proc{p}, "live process %s ended in %s configuration %s", p, last.Kind, last.ID)
			case last.ID != final.ID:
				add(name, last.ID, "", []Proc{p, ref}, "live process %s ended in %s but %s in %s", p, last.ID, ref, final.ID)
			}
		}
		if final == nil {
			continue
		}
		if members := sortedSet(final.Members); !equalStrings(members, nodes) {
			add(name, final.ID, "", procs, "the final configuration %s has members %v, but the live processes %s are on nodes %v", final.ID, members, procsKey(procs), nodes)
		}
		for _, p := range procs {
			st := d.procs[p]
			if st.last == nil || st.last.ID != final.ID {
				continue
			}
			first, n := "", 0
			for _, m := range d.sends[final.ID] {
				if st.delivered[m] != final.ID {
					if n == 0 {
						first = m
					}
					n++
				}
			}
			if n > 0 {
				more := ""
				if n > 1 {
					more = fmt.Sprintf(" (and %d more)", n-1)
				}
				add(name, final.ID, first, []Proc{p}, "live process %s did not deliver %s, sent in the final configuration %s%s", p, first, final.ID, more)
			}
		}
	}
	return finish(out, DefaultMaxPerProperty)
}
