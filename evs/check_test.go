package evs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// tb builds a trace with a few words per event. Processes are written
// "node/inc", member lists as space-separated node ids. Sends go to group
// "g"; deliveries copy the service level and hash of the send and, for
// Agreed and Safe, get the message's order (assigned at its first
// delivery, from one counter) unless noOrder is set.
type tb struct {
	domain  string
	events  []Event
	sent    map[string]Event
	orders  map[string]uint64
	next    uint64
	noOrder bool
}

func newTrace() *tb {
	return &tb{domain: "site/fra", sent: make(map[string]Event), orders: make(map[string]uint64)}
}

func mustProc(s string) Proc {
	p, err := ParseProc(s)
	if err != nil {
		panic(err)
	}
	return p
}

func (b *tb) add(proc string, e Event) *tb {
	p := mustProc(proc)
	e.Node, e.Inc = p.Node, p.Inc
	if e.Domain == "" {
		e.Domain = b.domain
	}
	b.events = append(b.events, e)
	return b
}

func (b *tb) install(kind, id, members string, procs ...string) *tb {
	for _, p := range procs {
		b.add(p, Event{Ev: EvInstall, Conf: &Conf{ID: id, Kind: kind, Members: strings.Fields(members)}, ConfID: id})
	}
	return b
}

// reg installs regular configuration id with members at each of procs.
func (b *tb) reg(id, members string, procs ...string) *tb {
	return b.install(KindRegular, id, members, procs...)
}

// trans installs transitional configuration id with members at each of procs.
func (b *tb) trans(id, members string, procs ...string) *tb {
	return b.install(KindTransitional, id, members, procs...)
}

// send has proc send msg at level svc in conf, listing deps.
func (b *tb) send(proc, conf, msg, svc string, deps ...string) *tb {
	e := Event{Ev: EvSend, ConfID: conf, Msg: msg, Svc: svc, Groups: []string{"g"}, Hash: "h:" + msg, Deps: deps}
	b.sent[msg] = e
	return b.add(proc, e)
}

// deliver has each of procs deliver msg in conf.
func (b *tb) deliver(conf, msg string, procs ...string) *tb {
	for _, p := range procs {
		b.deliverWith(p, conf, msg, nil)
	}
	return b
}

// deliverOrder has proc deliver msg in conf with the given order field.
func (b *tb) deliverOrder(proc, conf, msg string, order uint64) *tb {
	return b.deliverWith(proc, conf, msg, func(e *Event) { e.Order = order })
}

func (b *tb) deliverWith(proc, conf, msg string, edit func(*Event)) *tb {
	s, ok := b.sent[msg]
	if !ok {
		s = Event{Svc: SvcReliable, Groups: []string{"g"}, Hash: "h:" + msg}
	}
	e := Event{Ev: EvDeliver, ConfID: conf, Msg: msg, Svc: s.Svc, Groups: s.Groups, Hash: s.Hash}
	if !b.noOrder && (s.Svc == SvcAgreed || s.Svc == SvcSafe) {
		if b.orders[msg] == 0 {
			b.next++
			b.orders[msg] = b.next
		}
		e.Order = b.orders[msg]
	}
	if edit != nil {
		edit(&e)
	}
	return b.add(proc, e)
}

// view has each of procs deliver view id of group g.
func (b *tb) view(id string, v View, procs ...string) *tb {
	v.ID = id
	for _, p := range procs {
		vv := v
		b.add(p, Event{Ev: EvView, Group: "g", View: &vv})
	}
	return b
}

func members(s string) []string { return strings.Fields(s) }

// twoRings is a trace of domain where a and b deliver a message of ring 1
// with order first, then one of ring 5 with order second.
func twoRings(domain string, first, second uint64) *tb {
	b := newTrace()
	b.domain = domain
	return b.reg("r:1:a", "a b", "a/1", "b/1").
		send("a/1", "r:1:a", "a/1/1", SvcAgreed).
		deliverOrder("a/1", "r:1:a", "a/1/1", first).deliverOrder("b/1", "r:1:a", "a/1/1", first).
		trans("t:5:a/1:a", "a b", "a/1", "b/1").reg("r:5:a", "a b", "a/1", "b/1").
		send("b/1", "r:5:a", "b/1/1", SvcAgreed).
		deliverOrder("a/1", "r:5:a", "b/1/1", second).deliverOrder("b/1", "r:5:a", "b/1/1", second)
}

// start has a/1, b/1 and c/1 install r:1:a.
func start() *tb { return newTrace().reg("r:1:a", "a b c", "a/1", "b/1", "c/1") }

// want is one violation a test expects.
type want struct {
	prop   Property
	conf   string   // "" matches any
	msg    string   // "" matches any
	procs  []string // each must be among the violation's processes
	detail string   // "" matches any; else a substring of the detail
}

// expect asserts that every want is among vs, each naming its property,
// configuration, message and processes in its one-line message, and that
// vs holds no property outside wants and also.
func expect(t *testing.T, vs []Violation, wants []want, also ...Property) {
	t.Helper()
	allowed := make(map[Property]bool)
	for _, p := range also {
		allowed[p] = true
	}
	for _, w := range wants {
		allowed[w.prop] = true
		if !hasViolation(vs, w) {
			t.Errorf("want a %q violation (conf %q, msg %q, procs %v, detail %q); got:\n%s", w.prop, w.conf, w.msg, w.procs, w.detail, dump(vs))
		}
	}
	for _, v := range vs {
		if !allowed[v.Property] {
			t.Errorf("unexpected violation: %s", v)
		}
	}
}

func hasViolation(vs []Violation, w want) bool {
next:
	for _, v := range vs {
		s := v.String()
		if v.Property != w.prop || !strings.HasPrefix(s, w.prop.String()+": ") {
			continue
		}
		if w.conf != "" && (v.Conf != w.conf || !strings.Contains(s, w.conf)) {
			continue
		}
		if w.msg != "" && (v.Msg != w.msg || !strings.Contains(s, w.msg)) {
			continue
		}
		if w.detail != "" && !strings.Contains(v.Detail, w.detail) {
			continue
		}
		for _, ps := range w.procs {
			p := mustProc(ps)
			found := false
			for _, q := range v.Procs {
				found = found || q == p
			}
			if !found || !strings.Contains(s, ps) {
				continue next
			}
		}
		return true
	}
	return false
}

func dump(vs []Violation) string {
	var b strings.Builder
	if err := Report(&b, vs); err != nil {
		return err.Error()
	}
	if b.Len() == 0 {
		return "(none)\n"
	}
	return b.String()
}

// TestProperties builds, for each property, a small trace that violates it
// and checks that the violation is reported, naming the property, the
// configuration, the message and the processes, and that nothing else is.
func TestProperties(t *testing.T) {
	cases := []struct {
		name  string
		trace *tb
		opts  Options
		want  []want
		also  []Property
	}{
		{
			name:  "1.1 delivery of a message nobody sent",
			trace: start().deliver("r:1:a", "a/1/9", "b/1"),
			want:  []want{{NoCreation, "r:1:a", "a/1/9", []string{"b/1"}, "which no process sent"}},
		},
		{
			name: "1.1 corrupted payload",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcReliable).deliver("r:1:a", "a/1/1", "a/1", "c/1").
				deliverWith("b/1", "r:1:a", "a/1/1", func(e *Event) { e.Hash = "bad" }),
			want: []want{{NoCreation, "r:1:a", "a/1/1", []string{"b/1", "a/1"}, `hash "bad"`}},
		},
		{
			name: "1.1 id of another process",
			trace: start().send("b/1", "r:1:a", "a/1/1", SvcReliable).
				deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1"),
			want: []want{{NoCreation, "r:1:a", "a/1/1", []string{"b/1"}, "belongs to a/1"}},
		},
		{
			name: "1.2 delivered twice",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).
				deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1", "b/1"),
			want: []want{{NoDuplication, "r:1:a", "a/1/1", []string{"b/1"}, "twice"}},
		},
		{
			name: "1.2 sent twice",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).send("a/1", "r:1:a", "a/1/1", SvcFIFO).
				deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1"),
			want: []want{{NoDuplication, "r:1:a", "a/1/1", []string{"a/1"}, "sent a/1/1 twice"}},
		},
		{
			name: "1.3 delivered two configurations later",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcReliable).deliver("r:1:a", "a/1/1", "a/1").
				trans("t:2:a/1:a", "a b c", "a/1", "b/1", "c/1").reg("r:2:a", "a b c", "a/1", "b/1", "c/1").
				deliver("r:2:a", "a/1/1", "b/1", "c/1"),
			want: []want{
				{DeliveryConf, "r:2:a", "a/1/1", []string{"b/1", "a/1"}, "sent it in r:1:a"},
				{DeliveryConf, "r:2:a", "a/1/1", []string{"c/1", "a/1"}, ""},
			},
			also: []Property{FailureAtomicity},
		},
		{
			// Its sender failed after the send and no one delivered it in
			// r:1:a: nothing is wrong but where it was delivered.
			name: "1.3 delivered two configurations later, and nothing else wrong",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcReliable).
				trans("t:2:b/1:a", "b c", "b/1", "c/1").reg("r:2:b", "b c", "b/1", "c/1").
				deliver("r:2:b", "a/1/1", "b/1", "c/1"),
			opts: Options{Failed: map[Proc]bool{{"a", 1}: true}},
			want: []want{
				{DeliveryConf, "r:2:b", "a/1/1", []string{"b/1", "a/1"}, "sent it in r:1:a"},
				{DeliveryConf, "r:2:b", "a/1/1", []string{"c/1", "a/1"}, "sent it in r:1:a"},
			},
		},
		{
			name:  "1.4 send in a configuration never installed",
			trace: start().send("c/1", "r:9:c", "c/1/1", SvcReliable),
			want:  []want{{LocalSanity, "r:9:c", "c/1/1", []string{"c/1"}, "current configuration is r:1:a"}},
		},
		{
			name:  "1.4 delivery before any install",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcReliable).deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1", "d/1"),
			want:  []want{{LocalSanity, "r:1:a", "a/1/1", []string{"d/1"}, "before installing any configuration"}},
		},
		{
			name: "1.4 event after a restart",
			trace: start().reg("r:5:a", "a", "a/2").
				send("a/1", "r:1:a", "a/1/1", SvcReliable),
			want: []want{{LocalSanity, "", "", []string{"a/1", "a/2"}, "after a/2 had started"}},
		},
		{
			name:  "2.1 configuration without the installer",
			trace: start().reg("r:1:d", "a b", "d/1"),
			want:  []want{{SelfInclusion, "r:1:d", "", []string{"d/1"}, "do not include d"}},
		},
		{
			name:  "2.2 one id, two memberships",
			trace: newTrace().reg("r:1:a", "a b c", "a/1", "b/1").reg("r:1:a", "a b c d", "c/1"),
			want:  []want{{ConfAgreement, "r:1:a", "", []string{"c/1", "a/1"}, "[a b c d]"}},
		},
		{
			name:  "2.2 one id, two kinds",
			trace: newTrace().reg("r:1:a", "a b c", "a/1", "b/1").trans("r:1:a", "a b c", "c/1"),
			want:  []want{{ConfAgreement, "r:1:a", "", []string{"c/1", "a/1"}, "as trans"}},
			also:  []Property{ConfOrder},
		},
		{
			name:  "2.3 two regular configurations in a row",
			trace: start().reg("r:2:a", "a b c", "a/1"),
			want:  []want{{ConfOrder, "r:2:a", "", []string{"a/1"}, "must alternate"}},
		},
		{
			name:  "2.3 ring sequence going back",
			trace: newTrace().reg("r:5:a", "a", "a/1").trans("t:3:a/5:a", "a", "a/1").reg("r:3:a", "a", "a/1"),
			want: []want{
				{ConfOrder, "t:3:a/5:a", "", []string{"a/1"}, "must increase"},
				{ConfOrder, "r:3:a", "", []string{"a/1"}, "after r:5:a: ring sequence numbers must increase"},
			},
		},
		{
			name:  "2.3 transitional id from another ring",
			trace: newTrace().reg("r:1:a", "a", "a/1").trans("t:2:a/0:b", "a", "a/1"),
			want:  []want{{ConfOrder, "t:2:a/0:b", "", []string{"a/1"}, "comes from r:0:b"}},
		},
		{
			name: "2.3 hand-written ids only alternate",
			trace: newTrace().install(KindRegular, "first", "a", "a/1").install(KindTransitional, "second", "a", "a/1").
				install(KindRegular, "alpha", "a", "a/1").install(KindRegular, "beta", "a", "a/1"),
			want: []want{{ConfOrder, "beta", "", []string{"a/1"}, "alternate"}},
		},
		{
			name:  "2.4 transitional member not in the previous configuration",
			trace: newTrace().reg("r:1:a", "a b", "a/1", "b/1").trans("t:2:a/1:a", "a c", "a/1"),
			want:  []want{{TransShape, "t:2:a/1:a", "", []string{"a/1"}, "[c] not in its previous regular configuration r:1:a"}},
		},
		{
			name: "2.4 member that moved into the same configuration without installing it",
			// With Atoll's ids this is caught by 2.2 as well (the two
			// transitional ids would be equal); other systems' ids are free.
			trace: newTrace().reg("R1", "a b", "a/1", "b/1").trans("T1", "a b", "a/1").trans("T2", "b", "b/1").
				reg("R2", "a b", "a/1", "b/1"),
			want: []want{{TransShape, "T1", "", []string{"b/1", "a/1"}, "installed T2 after R1 instead and then R2"}},
		},
		{
			// b was cut off at the moment a installed: b goes on to another
			// configuration, which EVS allows (b failed from t's view).
			name: "2.4 member cut off at the install is not a violation",
			trace: start().trans("t:2:a/1:a", "a b", "a/1").trans("t:2:b/1:a", "b", "b/1").
				reg("r:2:a", "a b", "a/1").reg("r:2:b", "b", "b/1"),
			want: nil,
		},
		{
			name: "3 own message never delivered",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).deliver("r:1:a", "a/1/1", "b/1", "c/1").
				trans("t:2:a/1:a", "a b c", "a/1", "b/1", "c/1").reg("r:2:a", "a b c", "a/1", "b/1", "c/1"),
			want: []want{{SelfDelivery, "r:1:a", "a/1/1", []string{"a/1"}, "before moving on to r:2:a"}},
			also: []Property{FailureAtomicity},
		},
		{
			name: "3 own message delivered by no one",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).
				trans("t:2:a/1:a", "a b c", "a/1", "b/1", "c/1").reg("r:2:a", "a b c", "a/1", "b/1", "c/1"),
			want: []want{{SelfDelivery, "r:1:a", "a/1/1", []string{"a/1"}, "before moving on to r:2:a"}},
		},
		{
			name:  "3 quiescent run: the last configuration counts",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).deliver("r:1:a", "a/1/1", "b/1", "c/1"),
			opts:  Options{Quiescent: true},
			want: []want{
				{SelfDelivery, "r:1:a", "a/1/1", []string{"a/1"}, "did not fail"},
				{FailureAtomicity, "r:1:a", "a/1/1", []string{"a/1", "b/1"}, "quiescent"},
			},
		},
		{
			name: "4 two processes leave a configuration with different messages",
			trace: start().send("b/1", "r:1:a", "b/1/1", SvcReliable).deliver("r:1:a", "b/1/1", "a/1", "b/1").
				trans("t:2:a/1:a", "a b c", "a/1", "b/1", "c/1"),
			want: []want{{FailureAtomicity, "r:1:a", "b/1/1", []string{"c/1", "a/1"}, "both moved on to t:2:a/1:a"}},
		},
		{
			name: "5 causal predecessor missing",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcCausal).deliver("r:1:a", "a/1/1", "a/1", "b/1").
				send("b/1", "r:1:a", "b/1/1", SvcCausal, "a/1/1").deliver("r:1:a", "b/1/1", "a/1", "b/1", "c/1").
				deliver("r:1:a", "a/1/1", "c/1"),
			want: []want{{CausalOrder, "r:1:a", "b/1/1", []string{"c/1"}, "had not delivered a/1/1"}},
		},
		{
			name: "5 causal predecessor missing, transitively through a reliable message",
			trace: newTrace().reg("r:1:a", "a b c d", "a/1", "b/1", "c/1", "d/1").
				send("a/1", "r:1:a", "a/1/1", SvcCausal).deliver("r:1:a", "a/1/1", "a/1", "b/1").
				send("b/1", "r:1:a", "b/1/1", SvcReliable, "a/1/1").deliver("r:1:a", "b/1/1", "b/1", "c/1").
				send("c/1", "r:1:a", "c/1/1", SvcCausal, "b/1/1").deliver("r:1:a", "c/1/1", "c/1", "d/1"),
			want: []want{{CausalOrder, "r:1:a", "c/1/1", []string{"d/1"}, "had not delivered a/1/1"}},
		},
		{
			name: "6 two processes disagree on the order",
			trace: func() *tb {
				b := start()
				b.noOrder = true
				return b.send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcSafe).
					deliver("r:1:a", "a/1/1", "a/1").deliver("r:1:a", "b/1/1", "a/1").
					deliver("r:1:a", "b/1/1", "b/1").deliver("r:1:a", "a/1/1", "b/1").
					deliver("r:1:a", "a/1/1", "c/1").deliver("r:1:a", "b/1/1", "c/1")
			}(),
			want: []want{{AgreedOrder, "r:1:a", "a/1/1", []string{"a/1", "b/1"},
				"a/1 delivered a/1/1 before b/1/1 but b/1 delivered b/1/1 before a/1/1"}},
		},
		{
			name: "6 a cycle only the union of three orders shows",
			trace: func() *tb {
				b := start()
				b.noOrder = true
				return b.send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcAgreed).send("c/1", "r:1:a", "c/1/1", SvcAgreed).
					deliver("r:1:a", "a/1/1", "a/1").deliver("r:1:a", "b/1/1", "a/1").
					deliver("r:1:a", "b/1/1", "b/1").deliver("r:1:a", "c/1/1", "b/1").
					deliver("r:1:a", "c/1/1", "c/1").deliver("r:1:a", "a/1/1", "c/1")
			}(),
			want: []want{{AgreedOrder, "r:1:a", "", []string{"a/1", "b/1", "c/1"}, ", and "}},
			also: []Property{AgreedOrder},
		},
		{
			name: "6 hole in a regular configuration (order fields)",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcAgreed).send("a/1", "r:1:a", "a/1/2", SvcAgreed).
				deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1").deliver("r:1:a", "b/1/1", "a/1", "b/1").deliver("r:1:a", "a/1/2", "a/1", "b/1", "c/1"),
			want: []want{{AgreedOrder, "r:1:a", "a/1/2", []string{"c/1", "b/1"}, "without b/1/1, which precedes it in the agreed order: a hole"}},
		},
		{
			name: "6 hole in a regular configuration (delivery orders only)",
			trace: func() *tb {
				b := start()
				b.noOrder = true
				return b.send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcAgreed).send("a/1", "r:1:a", "a/1/2", SvcAgreed).
					deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1").deliver("r:1:a", "b/1/1", "a/1", "b/1").deliver("r:1:a", "a/1/2", "a/1", "b/1", "c/1")
			}(),
			want: []want{{AgreedOrder, "r:1:a", "a/1/2", []string{"c/1", "b/1"}, "a hole in a regular configuration"}},
		},
		{
			name: "6 hole in a transitional configuration for a sender that is in it",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcAgreed).
				trans("t:2:a/1:a", "a b", "a/1", "b/1").
				deliver("t:2:a/1:a", "b/1/1", "b/1").deliver("t:2:a/1:a", "a/1/1", "a/1", "b/1"),
			want: []want{{AgreedOrder, "t:2:a/1:a", "a/1/1", []string{"a/1", "b/1"}, "may skip only messages of senders not in it, and b is"}},
		},
		{
			name: "6 order field differs between processes",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcAgreed).
				deliverOrder("a/1", "r:1:a", "a/1/1", 5).deliverOrder("b/1", "r:1:a", "a/1/1", 6).deliverOrder("c/1", "r:1:a", "a/1/1", 5),
			want: []want{{OrderField, "r:1:a", "a/1/1", []string{"b/1", "a/1"}, "with order 6, but a/1 delivered it with order 5"}},
		},
		{
			name: "6 order field decreasing along a process",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("a/1", "r:1:a", "a/1/2", SvcAgreed).
				deliverOrder("a/1", "r:1:a", "a/1/1", 2).deliverOrder("a/1", "r:1:a", "a/1/2", 1),
			want: []want{{OrderField, "r:1:a", "a/1/2", []string{"a/1"}, "(order 1) after a/1/1 (order 2)"}},
		},
		{
			name:  "6 order field starts again with the next ring of a ring domain",
			trace: twoRings("site/fra", 5120, 1024),
			want:  nil,
		},
		{
			name:  "6 order field of a federation domain decreasing across configurations",
			trace: twoRings("fed/eu", 7, 3),
			opts:  Options{DomainOrder: true},
			want: []want{
				{OrderField, "r:5:a", "b/1/1", []string{"a/1"}, "(order 3) after a/1/1 (order 7)"},
				{OrderField, "r:5:a", "b/1/1", []string{"b/1"}, "(order 3) after a/1/1 (order 7)"},
			},
		},
		{
			name:  "6 order field of a bare federation ring starts again with the next ring",
			trace: twoRings("fed/eu", 7, 3),
			want:  nil,
		},
		{
			name: "7 safe message a member never delivered",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcSafe).deliver("r:1:a", "a/1/1", "a/1", "b/1").
				trans("t:2:a/1:a", "a b", "a/1", "b/1").reg("r:2:a", "a b", "a/1", "b/1").
				trans("t:2:c/1:a", "c", "c/1").reg("r:2:c", "c", "c/1"),
			want: []want{{SafeDelivery, "r:1:a", "a/1/1", []string{"c/1", "a/1"}, "never delivered Safe message a/1/1"}},
		},
		{
			name: "7 safe message delivered in a transitional configuration",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcSafe).
				trans("t:2:a/1:a", "a b", "a/1", "b/1").deliver("t:2:a/1:a", "a/1/1", "a/1").reg("r:2:a", "a b", "a/1", "b/1"),
			want: []want{{SafeDelivery, "t:2:a/1:a", "a/1/1", []string{"b/1", "a/1"}, ""}},
			also: []Property{FailureAtomicity},
		},
		{
			// a/1 fails in t:2:a/1:a, after its delivery there: b/1, which
			// did not fail, must deliver it too, and no other property
			// asks anything of either.
			name: "7 safe message delivered in a transitional configuration by a member that failed there",
			trace: newTrace().reg("r:1:a", "a b", "a/1", "b/1").send("a/1", "r:1:a", "a/1/1", SvcSafe).
				trans("t:2:a/1:a", "a b", "a/1", "b/1").deliver("t:2:a/1:a", "a/1/1", "a/1").reg("r:2:a", "a b", "b/1"),
			opts: Options{Failed: map[Proc]bool{{"a", 1}: true}},
			want: []want{{SafeDelivery, "t:2:a/1:a", "a/1/1", []string{"b/1", "a/1"}, "never delivered Safe message a/1/1"}},
		},
		{
			name: "8 FIFO order broken",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcFIFO).send("a/1", "r:1:a", "a/1/2", SvcFIFO).
				deliver("r:1:a", "a/1/1", "a/1", "c/1").deliver("r:1:a", "a/1/2", "a/1", "b/1", "c/1").deliver("r:1:a", "a/1/1", "b/1"),
			want: []want{{FIFOOrder, "r:1:a", "a/1/2", []string{"b/1", "a/1"}, "had not delivered a/1/1, which a/1 sent before it"}},
		},
		{
			name: "8 FIFO holds across service levels",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("a/1", "r:1:a", "a/1/2", SvcFIFO).send("a/1", "r:1:a", "a/1/3", SvcReliable).
				deliver("r:1:a", "a/1/3", "b/1").deliver("r:1:a", "a/1/2", "b/1").deliver("r:1:a", "a/1/1", "b/1"),
			want: []want{{FIFOOrder, "r:1:a", "a/1/2", []string{"b/1"}, "a/1/1"}},
		},
		{
			name: "G.1 one view id, two member orders",
			trace: start().view("v1", View{Members: members("a:x b:x")}, "a/1").
				view("v1", View{Members: members("b:x a:x")}, "b/1"),
			want: []want{{ViewAgreement, "r:1:a", "v1", []string{"b/1", "a/1"}, "group g"}},
		},
		{
			name: "G.2 views in different orders",
			trace: start().view("v1", View{Members: members("a:x")}, "a/1").
				view("v2", View{Members: members("a:x b:x"), Joined: members("b:x"), Reason: ReasonJoin}, "a/1", "b/1").
				view("v1", View{Members: members("a:x")}, "b/1"),
			want: []want{{ViewOrder, "", "v1", []string{"a/1", "b/1"},
				"group g: a/1 delivered view v1 before v2 but b/1 delivered view v2 before v1"}},
			also: []Property{ViewReason},
		},
		{
			name: "G.2 a message delivered in different views",
			trace: start().send("a/1", "r:1:a", "a/1/1", SvcReliable).
				view("v1", View{Members: members("a:x b:x")}, "a/1", "b/1").
				deliver("r:1:a", "a/1/1", "a/1").
				view("v2", View{Members: members("a:x b:x c:x"), Joined: members("c:x"), Reason: ReasonJoin}, "a/1", "b/1").
				deliver("r:1:a", "a/1/1", "b/1"),
			want: []want{{ViewOrder, "r:1:a", "a/1/1", []string{"b/1", "a/1"}, "in view v2 of group g but a/1 delivered it in view v1"}},
		},
		{
			name: "G.3 network view without a transitional one",
			trace: start().view("v1", View{Members: members("a:x b:x")}, "a/1").
				view("v2", View{Members: members("a:x"), Left: members("b:x"), Reason: ReasonNetwork}, "a/1"),
			want: []want{{ViewTransitional, "r:1:a", "v2", []string{"a/1"}, "without a transitional view after v1"}},
		},
		{
			name: "G.4 member gone without a reason",
			trace: start().view("v1", View{Members: members("a:x b:x")}, "a/1").
				view("v2", View{Members: members("a:x")}, "a/1"),
			want: []want{
				{ViewReason, "r:1:a", "v2", []string{"a/1"}, "drops [b:x] since v1 without listing them as left"},
				{ViewReason, "r:1:a", "v2", []string{"a/1"}, `with reason ""`},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(tc.trace.events, tc.opts)
			expect(t, vs, tc.want, tc.also...)
		})
	}
}

// TestHoleAllowedInTransitional checks that a transitional configuration
// may skip messages of senders that are not in it, with and without order
// fields.
func TestHoleAllowedInTransitional(t *testing.T) {
	for _, noOrder := range []bool{false, true} {
		b := start()
		b.noOrder = noOrder
		b.send("c/1", "r:1:a", "c/1/1", SvcAgreed).send("a/1", "r:1:a", "a/1/1", SvcAgreed).
			trans("t:2:c/1:a", "c", "c/1").deliver("t:2:c/1:a", "c/1/1", "c/1").deliver("t:2:c/1:a", "a/1/1", "c/1").
			trans("t:2:a/1:a", "a b", "a/1", "b/1").deliver("t:2:a/1:a", "a/1/1", "a/1", "b/1").
			reg("r:2:a", "a b", "a/1", "b/1").reg("r:2:c", "c", "c/1")
		if vs := Check(b.events, Options{Quiescent: true}); len(vs) > 0 {
			t.Errorf("noOrder=%v: want no violations, got:\n%s", noOrder, dump(vs))
		}
	}
}

// TestFailedProcessesAreExempt checks that the obligations of a crashed
// process's last configuration are waived, whether the caller says it
// crashed or the trace shows its restart.
func TestFailedProcessesAreExempt(t *testing.T) {
	b := start().send("a/1", "r:1:a", "a/1/1", SvcSafe).deliver("r:1:a", "a/1/1", "a/1", "b/1")
	if vs := Check(b.events, Options{Quiescent: true}); len(vs) == 0 {
		t.Fatal("want violations when c/1 is live, got none")
	}
	if vs := Check(b.events, Options{Quiescent: true, Failed: map[Proc]bool{{"c", 1}: true}}); len(vs) > 0 {
		t.Errorf("c/1 failed: want no violations, got:\n%s", dump(vs))
	}
	b.trans("t:2:a/1:a", "a b", "a/1", "b/1").reg("r:2:a", "a b", "a/1", "b/1").trans("t:3:a/2:a", "a b", "a/1", "b/1").
		trans("t:3:a/0:c", "c", "c/2").reg("r:3:a", "a b c", "a/1", "b/1", "c/2")
	for _, quiescent := range []bool{false, true} {
		if vs := Check(b.events, Options{Quiescent: quiescent}); len(vs) > 0 {
			t.Errorf("c/1 restarted as c/2, quiescent=%v: want no violations, got:\n%s", quiescent, dump(vs))
		}
	}
}

// validRun is a realistic run of three nodes: they start alone and form
// r:1:a, exchange messages at every service level, split into {a,b} and
// {c} through transitional configurations (a, b skip a message of c in
// theirs, as they may), carry on in both halves, merge into r:3:a, and a
// client leaves a group. Group g follows along with its views.
func validRun() *tb {
	b := newTrace()
	all := []string{"a/1", "b/1", "c/1"}
	ab := []string{"a/1", "b/1"}
	b.trans("t:1:a/0:a", "a", "a/1").trans("t:1:a/0:b", "b", "b/1").trans("t:1:a/0:c", "c", "c/1").
		reg("r:1:a", "a b c", all...).
		view("g/1", View{Members: members("a:x b:x c:x"), Joined: members("a:x b:x c:x"), Reason: ReasonJoin}, all...)

	b.send("a/1", "r:1:a", "a/1/1", SvcAgreed).send("b/1", "r:1:a", "b/1/1", SvcFIFO).
		deliver("r:1:a", "a/1/1", all...).deliver("r:1:a", "b/1/1", all...).
		send("c/1", "r:1:a", "c/1/1", SvcSafe).deliver("r:1:a", "c/1/1", all...).
		send("a/1", "r:1:a", "a/1/2", SvcCausal, "c/1/1").deliver("r:1:a", "a/1/2", all...).
		send("b/1", "r:1:a", "b/1/2", SvcReliable).deliver("r:1:a", "b/1/2", "c/1", "b/1", "a/1").
		send("c/1", "r:1:a", "c/1/2", SvcUnreliable).deliver("r:1:a", "c/1/2", "c/1").
		send("c/1", "r:1:a", "c/1/3", SvcAgreed).send("a/1", "r:1:a", "a/1/3", SvcAgreed)

	// The partition: c/1/3 reaches only c, a/1/3 only a and b.
	b.trans("t:2:a/1:a", "a b", ab...).
		view("g/1t-ab", View{Members: members("a:x b:x"), Transitional: true}, ab...).
		deliver("t:2:a/1:a", "a/1/3", ab...).
		reg("r:2:a", "a b", ab...).
		view("g/2-ab", View{Members: members("a:x b:x"), Left: members("c:x"), Reason: ReasonNetwork}, ab...)
	b.trans("t:2:c/1:a", "c", "c/1").
		view("g/1t-c", View{Members: members("c:x"), Transitional: true}, "c/1").
		deliver("t:2:c/1:a", "c/1/3", "c/1").
		reg("r:2:c", "c", "c/1").
		view("g/2-c", View{Members: members("c:x"), Left: members("a:x b:x"), Reason: ReasonNetwork}, "c/1")

	b.send("a/1", "r:2:a", "a/1/4", SvcAgreed).deliver("r:2:a", "a/1/4", ab...).
		send("b/1", "r:2:a", "b/1/3", SvcSafe).deliver("r:2:a", "b/1/3", ab...).
		send("c/1", "r:2:c", "c/1/4", SvcAgreed).deliver("r:2:c", "c/1/4", "c/1").
		send("c/1", "r:2:c", "c/1/5", SvcFIFO).deliver("r:2:c", "c/1/5", "c/1")

	// The merge.
	b.trans("t:3:a/2:a", "a b", ab...).
		view("g/2t-ab", View{Members: members("a:x b:x"), Transitional: true}, ab...).
		trans("t:3:a/2:c", "c", "c/1").
		view("g/2t-c", View{Members: members("c:x"), Transitional: true}, "c/1").
		reg("r:3:a", "a b c", all...)
	b.view("g/3", View{Members: members("a:x b:x c:x"), Joined: members("c:x"), Reason: ReasonNetwork}, ab...).
		view("g/3", View{Members: members("a:x b:x c:x"), Joined: members("a:x b:x"), Reason: ReasonNetwork}, "c/1")

	b.send("a/1", "r:3:a", "a/1/5", SvcSafe).send("c/1", "r:3:a", "c/1/6", SvcAgreed).
		send("b/1", "r:3:a", "b/1/4", SvcFIFO, "a/1/5").
		deliver("r:3:a", "a/1/5", all...).deliver("r:3:a", "c/1/6", all...).deliver("r:3:a", "b/1/4", all...).
		view("g/4", View{Members: members("a:x c:x"), Left: members("b:x"), Reason: ReasonLeave}, all...).
		send("a/1", "r:3:a", "a/1/6", SvcAgreed).deliver("r:3:a", "a/1/6", all...)
	return b
}

func TestValidRun(t *testing.T) {
	b := validRun()
	for _, quiescent := range []bool{false, true} {
		if vs := Check(b.events, Options{Quiescent: quiescent}); len(vs) > 0 {
			t.Errorf("quiescent=%v: want no violations, got:\n%s", quiescent, dump(vs))
		}
	}
	if vs := CheckConverged(b.events, []Proc{{"a", 1}, {"b", 1}, {"c", 1}}); len(vs) > 0 {
		t.Errorf("CheckConverged: want no violations, got:\n%s", dump(vs))
	}
	// The same run written to files and read back, one per node.
	var files [3]bytes.Buffer
	ws := [3]*Writer{NewWriter(&files[0]), NewWriter(&files[1]), NewWriter(&files[2])}
	for _, e := range b.events {
		if err := ws[e.Node[0]-'a'].Write(e); err != nil {
			t.Fatal(err)
		}
	}
	var read []Event
	for i := range files {
		evs, err := Read(&files[i], "node")
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, evs...)
	}
	if vs := Check(read, Options{Quiescent: true}); len(vs) > 0 {
		t.Errorf("after a round trip through files: want no violations, got:\n%s", dump(vs))
	}
}

// TestValidCrashRestart: c/1 crashes in r:1:a with a message nobody got;
// a and b go on; c comes back as c/2 and the three merge.
func TestValidCrashRestart(t *testing.T) {
	b := start().send("a/1", "r:1:a", "a/1/1", SvcSafe).deliver("r:1:a", "a/1/1", "a/1", "b/1", "c/1").
		send("c/1", "r:1:a", "c/1/1", SvcAgreed).
		trans("t:2:a/1:a", "a b", "a/1", "b/1").reg("r:2:a", "a b", "a/1", "b/1").
		send("b/1", "r:2:a", "b/1/1", SvcSafe).deliver("r:2:a", "b/1/1", "a/1", "b/1").
		trans("t:3:a/2:a", "a b", "a/1", "b/1").
		trans("t:3:a/0:c", "c", "c/2").
		reg("r:3:a", "a b c", "a/1", "b/1", "c/2").
		send("c/2", "r:3:a", "c/2/1", SvcAgreed).deliver("r:3:a", "c/2/1", "a/1", "b/1", "c/2")
	if vs := Check(b.events, Options{Quiescent: true}); len(vs) > 0 {
		t.Errorf("want no violations, got:\n%s", dump(vs))
	}
	live := []Proc{{"a", 1}, {"b", 1}, {"c", 2}}
	if vs := CheckConverged(b.events, live); len(vs) > 0 {
		t.Errorf("CheckConverged: want no violations, got:\n%s", dump(vs))
	}
}

func TestCheckConverged(t *testing.T) {
	b := start().trans("t:2:a/1:a", "a b", "a/1", "b/1").reg("r:2:a", "a b", "a/1", "b/1").
		trans("t:2:c/1:a", "c", "c/1").reg("r:2:c", "c", "c/1").
		send("a/1", "r:2:a", "a/1/1", SvcAgreed).deliver("r:2:a", "a/1/1", "a/1")
	vs := CheckConverged(b.events, []Proc{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}})
	expect(t, vs, []want{
		{Liveness, "r:2:c", "", []string{"c/1", "a/1"}, "ended in r:2:c but a/1 in r:2:a"},
		{Liveness, "r:2:a", "", []string{"a/1", "b/1", "c/1"}, "has members [a b], but the live processes a/1 b/1 c/1 are on nodes [a b c]"},
		{Liveness, "r:2:a", "a/1/1", []string{"b/1"}, "did not deliver a/1/1, sent in the final configuration"},
		{Liveness, "", "", []string{"d/1"}, "wrote no events"},
	})
}

// TestDeterministicAndCapped checks that a flood of one violation is cut
// to MaxPerProperty, sorted, with the rest counted.
func TestDeterministicAndCapped(t *testing.T) {
	b := start()
	for i := 30; i >= 1; i-- {
		b.deliver("r:1:a", "z/1/"+itoa(i), "b/1")
	}
	vs := Check(b.events, Options{})
	if len(vs) != DefaultMaxPerProperty {
		t.Fatalf("got %d violations listed, want %d:\n%s", len(vs), DefaultMaxPerProperty, dump(vs))
	}
	if vs[0].Msg != "z/1/1" || vs[1].Msg != "z/1/2" || vs[19].Msg != "z/1/20" {
		t.Errorf("not in natural message order: %s, %s, ..., %s", vs[0].Msg, vs[1].Msg, vs[19].Msg)
	}
	if vs[19].More != 10 || Count(vs) != 30 {
		t.Errorf("More = %d, Count = %d; want 10 and 30", vs[19].More, Count(vs))
	}
	var out strings.Builder
	if err := Report(&out, vs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1.1 no creation: 10 more not shown") {
		t.Errorf("report does not count the rest:\n%s", out.String())
	}
	if err := AsError(vs); err == nil || !strings.HasPrefix(err.Error(), "evs: 30 violations; first: 1.1 no creation: site/fra conf r:1:a: b/1 delivered z/1/1") {
		t.Errorf("AsError = %v", err)
	}
	if !reflect.DeepEqual(vs, Check(b.events, Options{})) {
		t.Error("two checks of one trace differ")
	}
	if all := Check(b.events, Options{MaxPerProperty: -1}); len(all) != 30 {
		t.Errorf("MaxPerProperty -1: got %d violations, want 30", len(all))
	}
}

func itoa(i int) string { return Proc{Inc: uint64(i)}.String()[1:] }

func TestDomainsAreSeparate(t *testing.T) {
	b := start()
	b.domain = "fed/eu"
	b.reg("r:1:a", "a b", "a/1", "b/1") // another domain may use the same id
	b.send("a/1", "r:1:a", "a/1/1", SvcReliable)
	b.domain = "site/fra"
	b.deliver("r:1:a", "a/1/1", "b/1") // not sent in site/fra
	vs := Check(b.events, Options{})
	expect(t, vs, []want{{NoCreation, "r:1:a", "a/1/1", []string{"b/1"}, ""}})
	if vs[0].Domain != "site/fra" {
		t.Errorf("domain = %q, want site/fra", vs[0].Domain)
	}
	if s := Summarize(b.events).String(); s != "7 events from 3 processes in 2 domains" {
		t.Errorf("Summarize = %q", s)
	}
}

func TestViolationString(t *testing.T) {
	v := Violation{Property: AgreedOrder, Domain: "site/fra", Conf: "r:12:a", Msg: "a/1/7",
		Detail: "a/1 delivered a/1/7 before b/1/3 but b/1 delivered b/1/3 before a/1/7"}
	want := "6 agreed order: site/fra conf r:12:a: a/1 delivered a/1/7 before b/1/3 but b/1 delivered b/1/3 before a/1/7"
	if got := v.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestParseProc(t *testing.T) {
	for _, s := range []string{"fra-1/3", "a/b/0"} {
		p, err := ParseProc(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseProc(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "a", "/1", "a/x", "a/-1"} {
		if _, err := ParseProc(s); err == nil || !strings.HasPrefix(err.Error(), "evs: ") {
			t.Errorf("ParseProc(%q) error = %v, want an evs: error", s, err)
		}
	}
}

// TestEventJSON round-trips one event of each kind and checks the shape
// EVS.md fixes: conf is an object on install lines, a string elsewhere.
func TestEventJSON(t *testing.T) {
	cases := []struct {
		e    Event
		want string
	}{
		{Event{Ev: EvInstall, Node: "fra-1", Inc: 3, Domain: "site/fra", Conf: &Conf{ID: "r:12:fra-2", Kind: KindRegular, Members: []string{"fra-1", "fra-2", "fra-3"}}, ConfID: "r:12:fra-2"},
			`{"ev":"install","node":"fra-1","inc":3,"domain":"site/fra","conf":{"id":"r:12:fra-2","kind":"reg","members":["fra-1","fra-2","fra-3"]}}`},
		{Event{Ev: EvSend, Node: "fra-1", Inc: 3, Domain: "site/fra", ConfID: "r:12:fra-2", Msg: "fra-1/3/57", Svc: SvcAgreed, Groups: []string{"orders"}, Hash: "9f2c", Deps: []string{"fra-2/1/40"}},
			`{"ev":"send","node":"fra-1","inc":3,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","groups":["orders"],"hash":"9f2c","deps":["fra-2/1/40"]}`},
		{Event{Ev: EvDeliver, Node: "fra-2", Inc: 1, Domain: "site/fra", ConfID: "r:12:fra-2", Msg: "fra-1/3/57", Svc: SvcAgreed, Groups: []string{"orders"}, Hash: "9f2c", Order: 10412},
			`{"ev":"deliver","node":"fra-2","inc":1,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","groups":["orders"],"hash":"9f2c","order":10412}`},
		{Event{Ev: EvView, Node: "fra-2", Inc: 1, Domain: "site/fra", Group: "orders", View: &View{ID: "v7", Members: []string{"fra-1:client7", "fra-2:client1"}, Joined: []string{"fra-2:client1"}, Left: []string{}, Reason: ReasonJoin}},
			`{"ev":"view","node":"fra-2","inc":1,"domain":"site/fra","group":"orders","view":{"id":"v7","members":["fra-1:client7","fra-2:client1"],"joined":["fra-2:client1"],"left":[],"reason":"join","transitional":false}}`},
		{Event{Ev: EvView, Node: "fra-2", Inc: 1, Domain: "site/fra", Group: "orders", View: &View{ID: "v7~1", Members: []string{}, Joined: []string{}, Left: []string{}, Transitional: true}},
			`{"ev":"view","node":"fra-2","inc":1,"domain":"site/fra","group":"orders","view":{"id":"v7~1","members":[],"joined":[],"left":[],"transitional":true}}`},
	}
	// Empty lists are written as [] also when they are nil.
	if b, err := json.Marshal(View{ID: "v"}); err != nil || string(b) != `{"id":"v","members":[],"joined":[],"left":[],"transitional":false}` {
		t.Errorf("nil lists: encoded %s, %v", b, err)
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.e)
		if err != nil {
			t.Fatalf("%s: %v", tc.e.Ev, err)
		}
		if string(b) != tc.want {
			t.Errorf("%s: encoded\n%s\nwant\n%s", tc.e.Ev, b, tc.want)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", tc.e.Ev, err)
		}
		if !reflect.DeepEqual(back, tc.e) {
			t.Errorf("%s: round trip gave %+v, want %+v", tc.e.Ev, back, tc.e)
		}
	}
}

// TestReadExample reads the lines EVS.md shows.
func TestReadExample(t *testing.T) {
	const trace = `{"ev":"install","node":"fra-1","inc":3,"domain":"site/fra","conf":{"id":"r:12:fra-2","kind":"reg","members":["fra-1","fra-2","fra-3"]}}
{"ev":"send","node":"fra-1","inc":3,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","groups":["orders"],"hash":"9f2c…","deps":["fra-2/1/40"]}

{"ev":"deliver","node":"fra-2","inc":1,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","groups":["orders"],"hash":"9f2c…","order":10412,"extra":"ignored"}
{"ev":"view","node":"fra-2","inc":1,"domain":"site/fra","group":"orders","view":{"id":"…","members":["fra-1:client7","fra-2:client1"],"joined":[],"left":[],"reason":"join","transitional":false}}
`
	evs, err := Read(strings.NewReader(trace), "example")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[0].Conf.Kind != KindRegular || evs[1].ConfID != "r:12:fra-2" || evs[2].Order != 10412 || evs[3].View.Reason != ReasonJoin {
		t.Errorf("read %+v", evs)
	}
	if _, err := Read(strings.NewReader("{\"ev\":\"install\"}\nnot json\n"), "bad.jsonl"); err == nil || !strings.HasPrefix(err.Error(), "evs: bad.jsonl:2: ") {
		t.Errorf("error = %v, want one naming bad.jsonl:2", err)
	}
}

// FuzzRead: any input either fails with an error or reads events whose
// encoding is stable: encode, decode, encode again gives the same bytes.
// Check must not panic on whatever was read.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"ev":"install","node":"a","inc":1,"domain":"d","conf":{"id":"r:1:a","kind":"reg","members":["a"]}}`))
	f.Add([]byte(`{"ev":"deliver","node":"a","inc":1,"domain":"d","conf":"r:1:a","msg":"a/1/1","svc":"safe","order":3}`))
	f.Add([]byte(`{"ev":"view","node":"a","group":"g","view":{"id":"v","members":["a:x"],"transitional":true}}`))
	f.Add([]byte("{\"conf\":null}\n{\"conf\":\"\"}\n\n"))
	f.Add([]byte(`{"conf":[1]}`))
	f.Add([]byte{0xff, '{', '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "evs: ") {
				t.Fatalf("error without the evs: prefix: %v", err)
			}
			return
		}
		for _, e := range evs {
			b1, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("encode %+v: %v", e, err)
			}
			var back Event
			if err := json.Unmarshal(b1, &back); err != nil {
				t.Fatalf("decode %s: %v", b1, err)
			}
			b2, err := json.Marshal(back)
			if err != nil || !bytes.Equal(b1, b2) {
				t.Fatalf("encoding not stable:\n%s\n%s (%v)", b1, b2, err)
			}
		}
		Check(evs, Options{Quiescent: true})
		CheckConverged(evs, []Proc{{"a", 1}})
	})
}

// FuzzParseLine: Read's fast path either declines a line or decodes it
// exactly as json.Unmarshal does.
func FuzzParseLine(f *testing.F) {
	for _, e := range validRun().events {
		b, _ := json.Marshal(e)
		f.Add(b)
	}
	for _, s := range []string{
		`{"ev":"x","EV":"y"}`, `{"ev":"x","ev":"y"}`, `{"inc":01}`, `{"inc":1.5}`, `{"inc":18446744073709551616}`,
		`{"inc":-1}`, `{"conf":null}`, `{"conf":{"id":"a","ID":"b"}}`, `{"view":null,"groups":null,"deps":[]}`,
		`{"extra":[1,-2.5e3,{"a":[true,false,null]}],"msg":"a/1/1"}`, `{"msg":"a\"b"}`, `{"msg":"\xff"}`, `{"msg":"é"}`,
		`{"view":{"transitional":null}}`, `{"node":null,"inc":null}`, `{} x`, `{"Kelvin":1}`, "{\"\u212aind\":1}",
		`{"view":{"id":"v","members":["a"],"x":{}}}`, `{"groups":["a",null]}`, `[]`, `{"conf":"r:1:a"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := newLineParser().parse(b)
		if !ok {
			return
		}
		var want Event
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %q, which json.Unmarshal rejects: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path gave\n%#v\njson.Unmarshal gave\n%#v", b, got, want)
		}
	})
}

// TestParseLineCoversTraces checks that the fast path takes the lines Atoll
// writes (so Read is fast on them), and declines unusual ones.
func TestParseLineCoversTraces(t *testing.T) {
	lp := newLineParser()
	for _, e := range validRun().events {
		b, _ := json.Marshal(e)
		if _, ok := lp.parse(b); !ok {
			t.Errorf("fast path declined %s", b)
		}
	}
	for _, s := range []string{`{"msg":"a\"b"}`, `{"ev":"x","EV":"y"}`, `{"conf":null}`, `{"inc":1e3}`} {
		if _, ok := lp.parse([]byte(s)); ok {
			t.Errorf("fast path took %s", s)
		}
	}
}

// TestFederationOldIncarnationRunsOn: in a federation domain a node is a
// site, and the gateway that spoke for it may write events after the next
// one started (it was paused or cut off, and is fenced off later), which
// a ring domain forbids; two of them installing one configuration is still
// a violation.
func TestFederationOldIncarnationRunsOn(t *testing.T) {
	b := start()
	b.domain = "fed/global:a+b+c"
	for i := range b.events {
		b.events[i].Domain = b.domain
	}
	b.trans("t:5:b/1:a", "b c", "b/1", "c/1").reg("r:5:b", "a b c", "b/1", "c/1").
		trans("t:5:b/0:a", "a", "a/2").reg("r:5:b", "a b c", "a/2").
		trans("t:6:a/1:a", "a", "a/1").reg("r:6:a", "a", "a/1")
	if vs := Check(b.events, Options{}); len(vs) > 0 {
		t.Errorf("an old gateway alone after its successor took over: want no violations, got:\n%s", dump(vs))
	}
	b.trans("t:9:a/6:a", "a", "a/1").reg("r:5:b", "a b c", "a/1")
	expect(t, Check(b.events, Options{}), []want{{ConfAgreement, "r:5:b", "", nil, "incarnation"}}, ConfOrder, TransShape, LocalSanity)
}
