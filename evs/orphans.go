package evs

import (
	"fmt"
	"strings"
)

// Orphans returns trace without the deliveries in federation domain
// domain of messages whose sender never wrote their send line, and how
// many such messages there were: a domain message counts as sent where
// the federation orders it (gateway/bridge, "When a message is sent"),
// which a sender that crashed before it came down cannot record. Lines of
// other domains pass unchanged. Unless every process that delivered such
// a message with an order delivered it at the same one, it returns
// violations of the order field: as checkOrderField, it compares only
// orders that are there (a site that delivered its crashed gateway's Ups
// in its transitional configuration, without learning the places the
// others gave them, writes none: gateway/bridge Entry.InDoubt).
func Orphans(domain string, trace []Event) ([]Event, int, []Violation) {
	sent := map[string]bool{}
	for _, l := range trace {
		if l.Ev == EvSend && l.Domain == domain {
			sent[l.Msg] = true
		}
	}
	var (
		out     []Event
		bad     []Violation
		orphans = map[string]bool{}
		at      = map[string]Event{} // the first delivery with an order
		seen    = map[string]bool{}
	)
	for _, l := range trace {
		if l.Ev == EvDeliver && l.Domain == domain && !sent[l.Msg] {
			orphans[l.Msg] = true
			if l.Order == 0 {
				continue
			}
			if o, ok := at[l.Msg]; !ok {
				at[l.Msg] = l
			} else if o.Order != l.Order && !seen[l.Msg] {
				seen[l.Msg] = true
				bad = append(bad, Violation{Property: OrderField, Domain: domain, Msg: l.Msg,
					Procs:  []Proc{{Node: l.Node, Inc: l.Inc}, {Node: o.Node, Inc: o.Inc}},
					Detail: fmt.Sprintf("%s/%d delivered %s (its sender crashed before it was ordered) at order %d, %s/%d at %d", l.Node, l.Inc, l.Msg, l.Order, o.Node, o.Inc, o.Order)})
			}
			continue
		}
		out = append(out, l)
	}
	return out, len(orphans), bad
}

// LiveOrphans returns a violation of no creation (EVS.md 1.1) for every
// message delivered in full but not in kept (Orphans took it out:
// no process recorded its send) whose sender did not fail: only a sender
// killed before its message came down may lack the send line.
func LiveOrphans(full, kept []Event, failed map[Proc]bool) []Violation {
	latest := map[string]uint64{}
	for _, e := range full {
		latest[e.Node] = max(latest[e.Node], e.Inc)
	}
	in := map[string]bool{}
	for _, e := range kept {
		if e.Ev == EvDeliver {
			in[e.Msg] = true
		}
	}
	var out []Violation
	seen := map[string]bool{}
	for _, e := range full {
		if e.Ev != EvDeliver || in[e.Msg] || seen[e.Msg] {
			continue
		}
		seen[e.Msg] = true
		f := strings.Split(e.Msg, "/")
		var inc uint64
		if len(f) == 3 {
			fmt.Sscan(f[1], &inc)
		}
		sender := Proc{Node: f[0], Inc: inc}
		if len(f) != 3 || !failed[sender] && latest[sender.Node] <= inc {
			out = append(out, Violation{Property: NoCreation, Domain: e.Domain, Msg: e.Msg, Procs: []Proc{{Node: e.Node, Inc: e.Inc}},
				Detail: fmt.Sprintf("%s/%d delivered %s, which its sender, still running, never recorded as sent", e.Node, e.Inc, e.Msg)})
		}
	}
	return out
}
