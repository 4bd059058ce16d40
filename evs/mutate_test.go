package evs

import "testing"

// Mutation tests: each case takes validRun, which TestValidRun shows to be
// clean, alters or adds a few events so that exactly one check of the
// checker has something to report, and expects that report by its detail
// (so the case fails when that check is taken out). They cover the checks
// TestProperties leaves out: with any one of them disabled, no other test
// of the package failed.

// mutation is one case: edit alters validRun's trace; Check (with opts)
// must report every want and nothing outside want and also.
type mutation struct {
	name string
	edit func(t *testing.T, b *tb)
	opts Options
	want []want
	also []Property
}

func runMutations(t *testing.T, cases []mutation) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := validRun()
			tc.edit(t, b)
			expect(t, Check(b.events, tc.opts), tc.want, tc.also...)
		})
	}
}

// find returns the events of proc (every process if "") of kind ev whose
// message id, configuration id (installs) or view id (views) is id.
func (b *tb) find(ev, proc, id string) []*Event {
	var out []*Event
	for i := range b.events {
		e := &b.events[i]
		if e.Ev != ev || proc != "" && (Proc{e.Node, e.Inc}).String() != proc {
			continue
		}
		switch {
		case e.Msg == id && (ev == EvSend || ev == EvDeliver),
			ev == EvInstall && e.Conf != nil && e.Conf.ID == id,
			ev == EvView && e.View != nil && e.View.ID == id:
			out = append(out, e)
		}
	}
	return out
}

// one returns the one event find returns, failing the test otherwise.
func (b *tb) one(t *testing.T, ev, proc, id string) *Event {
	t.Helper()
	es := b.find(ev, proc, id)
	if len(es) != 1 {
		t.Fatalf("%d %s events of %q with id %s in validRun, want 1", len(es), ev, proc, id)
	}
	return es[0]
}

// insertAfter puts e, written by proc, right after the install of
// configuration conf at proc.
func (b *tb) insertAfter(t *testing.T, conf, proc string, e Event) {
	t.Helper()
	at := b.one(t, EvInstall, proc, conf)
	p := mustProc(proc)
	e.Node, e.Inc, e.Domain = p.Node, p.Inc, b.domain
	for i := range b.events {
		if &b.events[i] == at {
			b.events = append(b.events[:i+1], append([]Event{e}, b.events[i+1:]...)...)
			return
		}
	}
}

// TestMutatedLocalSanity: 1.4 local sanity, on events that lack what every
// event of their kind carries or name what cannot be.
func TestMutatedLocalSanity(t *testing.T) {
	runMutations(t, []mutation{
		{
			name: "install without an id",
			edit: func(t *testing.T, b *tb) {
				b.add("a/1", Event{Ev: EvInstall, Conf: &Conf{Kind: KindRegular, Members: members("a")}})
			},
			want: []want{{LocalSanity, "", "", []string{"a/1"}, "installed a configuration without an id"}},
		},
		{
			name: "install of an unknown kind",
			edit: func(t *testing.T, b *tb) {
				b.add("c/1", Event{Ev: EvInstall, ConfID: "r:9:c", Conf: &Conf{ID: "r:9:c", Kind: "regular", Members: members("c")}})
			},
			want: []want{{LocalSanity, "r:9:c", "", []string{"c/1"}, `with kind "regular", neither "reg" nor "trans"`}},
		},
		{
			name: "send without a message id",
			edit: func(t *testing.T, b *tb) {
				b.add("a/1", Event{Ev: EvSend, ConfID: "r:3:a", Svc: SvcAgreed, Groups: []string{"g"}, Hash: "h"})
			},
			want: []want{{LocalSanity, "r:3:a", "", []string{"a/1"}, "wrote a send without a message id"}},
		},
		{
			name: "send without a configuration",
			edit: func(t *testing.T, b *tb) { b.one(t, EvSend, "a/1", "a/1/6").ConfID = "" },
			want: []want{{LocalSanity, "", "a/1/6", []string{"a/1"}, "sent a/1/6 without naming a configuration"}},
		},
		{
			name: "send in a transitional configuration",
			edit: func(t *testing.T, b *tb) {
				b.insertAfter(t, "t:2:a/1:a", "a/1", Event{Ev: EvSend, ConfID: "t:2:a/1:a", Msg: "a/1/9", Svc: SvcAgreed, Groups: []string{"g"}, Hash: "h:a/1/9"})
			},
			want: []want{{LocalSanity, "t:2:a/1:a", "a/1/9", []string{"a/1"}, "messages are sent in regular configurations"}},
			// Nobody delivers it, a/1 included.
			also: []Property{SelfDelivery},
		},
		{
			name: "send at an unknown service level",
			edit: func(t *testing.T, b *tb) {
				b.add("a/1", Event{Ev: EvSend, ConfID: "r:3:a", Msg: "a/1/9", Svc: "urgent", Groups: []string{"g"}, Hash: "h:a/1/9"})
			},
			want: []want{{LocalSanity, "r:3:a", "a/1/9", []string{"a/1"}, `with unknown service level "urgent"`}},
		},
		{
			name: "delivery without a message id",
			edit: func(t *testing.T, b *tb) {
				b.add("b/1", Event{Ev: EvDeliver, ConfID: "r:3:a", Svc: SvcAgreed, Groups: []string{"g"}, Hash: "h"})
			},
			want: []want{{LocalSanity, "r:3:a", "", []string{"b/1"}, "wrote a delivery without a message id"}},
		},
		{
			name: "delivery without a configuration",
			edit: func(t *testing.T, b *tb) { b.one(t, EvDeliver, "c/1", "a/1/6").ConfID = "" },
			want: []want{{LocalSanity, "", "a/1/6", []string{"c/1"}, "delivered a/1/6 without naming a configuration"}},
		},
		{
			name: "view without an id",
			edit: func(t *testing.T, b *tb) {
				e := b.one(t, EvView, "c/1", "g/4")
				v := *e.View
				v.ID = ""
				e.View = &v
			},
			want: []want{{LocalSanity, "r:3:a", "", []string{"c/1"}, "delivered a group view without a group or a view id"}},
			// c/1 then delivers a/1/6 in view g/3, the others in g/4.
			also: []Property{ViewOrder},
		},
		{
			name: "event without a node",
			edit: func(t *testing.T, b *tb) {
				b.events = append(b.events, Event{Ev: EvDeliver, Domain: b.domain, ConfID: "r:3:a", Msg: "a/1/6", Svc: SvcAgreed, Groups: []string{"g"}, Hash: "h:a/1/6"})
			},
			want: []want{{LocalSanity, "", "", nil, "(deliver) names no node"}},
		},
	})
}

// TestMutatedMessages: 1.1 no creation when a delivery's service level or
// groups differ from the send's, 1.2 no duplication when a second process
// sends an id already sent.
func TestMutatedMessages(t *testing.T) {
	runMutations(t, []mutation{
		{
			name: "1.1 delivered at another service level",
			edit: func(t *testing.T, b *tb) { b.one(t, EvDeliver, "c/1", "b/1/2").Svc = SvcFIFO },
			want: []want{{NoCreation, "r:1:a", "b/1/2", []string{"c/1", "b/1"}, "delivered b/1/2 as fifo, but b/1 sent it as reliable"}},
		},
		{
			name: "1.1 delivered to other groups",
			edit: func(t *testing.T, b *tb) { b.one(t, EvDeliver, "a/1", "b/1/2").Groups = []string{"h"} },
			want: []want{{NoCreation, "r:1:a", "b/1/2", []string{"a/1", "b/1"}, "delivered b/1/2 to groups [h], but b/1 sent it to [g]"}},
		},
		{
			name: "1.2 an id another process sent",
			edit: func(t *testing.T, b *tb) { b.send("c/1", "r:3:a", "b/1/2", SvcAgreed) },
			want: []want{{NoDuplication, "r:3:a", "b/1/2", []string{"c/1", "b/1"}, "sent b/1/2, which b/1 had already sent"}},
		},
	})
}

// TestMutatedConfigurations: 2.3 monotonic configurations (an id installed
// twice, a kind the id contradicts, a regular configuration other than the
// one the transitional before it leads into) and 2.4 transitional shape (a
// member not in the next regular configuration, installers that disagree
// on the regular configuration after it, a member that did not fail and
// never installed it).
func TestMutatedConfigurations(t *testing.T) {
	runMutations(t, []mutation{
		{
			name: "2.3 one configuration installed twice",
			edit: func(t *testing.T, b *tb) {
				b.trans("t:4:a/3:a", "a", "a/1").reg("r:4:a", "a", "a/1").trans("t:4:a/3:a", "a", "a/1")
			},
			want: []want{{ConfOrder, "t:4:a/3:a", "", []string{"a/1"}, "installed t:4:a/3:a twice (installs #"}},
			// The second install also comes from the wrong ring, with a
			// ring sequence number that does not grow, and puts the
			// transitional configuration between two pairs of neighbours.
			also: []Property{ConfOrder, TransShape},
		},
		{
			name: "2.3 kind the id contradicts",
			edit: func(t *testing.T, b *tb) { b.trans("r:4:a", "a", "a/1") },
			want: []want{{ConfOrder, "r:4:a", "", []string{"a/1"}, "with kind trans, but the id names a regular configuration"}},
		},
		{
			name: "2.3 regular configuration the transitional one does not lead into",
			edit: func(t *testing.T, b *tb) { b.trans("t:4:a/3:a", "a", "a/1").reg("r:5:a", "a", "a/1") },
			want: []want{{ConfOrder, "r:5:a", "", []string{"a/1"}, "after transitional t:4:a/3:a, which leads into r:4:a"}},
		},
		{
			name: "2.4 transitional member not in the next regular configuration",
			edit: func(t *testing.T, b *tb) {
				b.trans("t:4:a/3:a", "a b", "a/1", "b/1").reg("r:4:a", "a", "a/1")
			},
			want: []want{{TransShape, "t:4:a/3:a", "", []string{"a/1"}, "with members [b] not in the next regular configuration r:4:a"}},
		},
		{
			name: "2.4 installers disagree on the next regular configuration",
			// Ids outside the ring convention, so that 2.3 leaves them alone.
			edit: func(t *testing.T, b *tb) {
				b.trans("T9", "a b", "a/1", "b/1").reg("R9", "a b", "a/1").reg("R10", "a b", "b/1")
			},
			want: []want{{TransShape, "T9", "", []string{"b/1", "a/1"}, "b/1 installed T9 between r:3:a and R10 but a/1 between r:3:a and R9"}},
		},
		{
			name: "2.4 member that did not fail never installed it (quiescent run)",
			edit: func(t *testing.T, b *tb) { b.trans("t:4:a/3:a", "a b", "a/1").reg("r:4:a", "a b", "a/1") },
			opts: Options{Quiescent: true},
			want: []want{{TransShape, "t:4:a/3:a", "", []string{"b/1", "a/1"}, "b/1, a member of t:4:a/3:a that did not fail, never installed it"}},
		},
	})
}

// TestMutatedOrder: 6 order field, two messages of one configuration
// delivered with the same order.
func TestMutatedOrder(t *testing.T) {
	runMutations(t, []mutation{
		{
			name: "two messages with one order",
			edit: func(t *testing.T, b *tb) {
				order := b.find(EvDeliver, "", "a/1/1")[0].Order
				for _, e := range b.find(EvDeliver, "", "c/1/1") {
					e.Order = order
				}
			},
			want: []want{{OrderField, "r:1:a", "c/1/1", []string{"a/1"}, "a/1/1 and c/1/1, both sent in r:1:a, have the same order 1"}},
			// Each process's order also stands still from a/1/1 to c/1/1.
			also: []Property{OrderField},
		},
	})
}

// TestMutatedViews: G.2 a view delivered twice, G.3 a transitional view
// with a member the regular view before it lacks, G.4 an unknown reason
// and a member listed as left that stays.
func TestMutatedViews(t *testing.T) {
	editView := func(b *tb, id string, f func(v *View)) {
		for _, e := range b.find(EvView, "", id) {
			v := *e.View
			f(&v)
			e.View = &v
		}
	}
	runMutations(t, []mutation{
		{
			name: "G.2 one view delivered twice",
			edit: func(t *testing.T, b *tb) {
				b.view("g/4", View{Members: members("a:x c:x"), Left: members("b:x"), Reason: ReasonLeave}, "a/1")
			},
			want: []want{{ViewOrder, "r:3:a", "g/4", []string{"a/1"}, "delivered view g/4 of group g twice"}},
		},
		{
			name: "G.3 transitional view with a member the regular one lacks",
			edit: func(t *testing.T, b *tb) {
				b.view("g/4t", View{Members: members("a:x b:x"), Transitional: true}, "a/1")
			},
			want: []want{{ViewTransitional, "r:3:a", "g/4t", []string{"a/1"}, "with members [b:x] not in the previous regular view g/4"}},
		},
		{
			name: "G.4 unknown reason",
			edit: func(t *testing.T, b *tb) { editView(b, "g/4", func(v *View) { v.Reason = "quit" }) },
			want: []want{
				{ViewReason, "r:3:a", "g/4", []string{"a/1"}, `with unknown reason "quit"`},
				{ViewReason, "r:3:a", "g/4", []string{"c/1"}, `with unknown reason "quit"`},
			},
			// b:x leaves with it: a reason that is not one for leaving.
			also: []Property{ViewReason},
		},
		{
			name: "G.4 member listed as left that stays",
			edit: func(t *testing.T, b *tb) { editView(b, "g/4", func(v *View) { v.Left = members("b:x c:x") }) },
			want: []want{{ViewReason, "r:3:a", "g/4", []string{"b/1"}, "lists [c:x] as left but keeps them as members"}},
		},
	})
}

// TestMutatedConvergence: 2.5 liveness (CheckConverged) on validRun, whose
// three processes converge, when a live process installed no configuration
// or ended in a transitional one.
func TestMutatedConvergence(t *testing.T) {
	live := []Proc{{"a", 1}, {"b", 1}, {"c", 1}}
	if vs := CheckConverged(validRun().events, live); len(vs) > 0 {
		t.Fatalf("validRun does not converge:\n%s", dump(vs))
	}
	for _, tc := range []struct {
		name string
		edit func(b *tb)
		live []Proc
		want []want
	}{
		{
			name: "a live process that installed no configuration",
			edit: func(b *tb) { b.add("d/1", Event{Ev: EvSend, ConfID: "r:3:a", Msg: "d/1/1", Svc: SvcUnreliable}) },
			live: append(live, Proc{"d", 1}),
			want: []want{
				{Liveness, "", "", []string{"d/1"}, "live process d/1 installed no configuration"},
				{Liveness, "r:3:a", "", []string{"d/1"}, "but the live processes a/1 b/1 c/1 d/1 are on nodes [a b c d]"},
			},
		},
		{
			name: "a live process that ended in a transitional configuration",
			edit: func(b *tb) { b.trans("t:4:a/3:a", "a b c", "a/1") },
			live: live,
			want: []want{{Liveness, "t:4:a/3:a", "", []string{"a/1"}, "live process a/1 ended in trans configuration t:4:a/3:a"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := validRun()
			tc.edit(b)
			expect(t, CheckConverged(b.events, tc.live), tc.want)
		})
	}
}
