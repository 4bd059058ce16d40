package groups

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

func (r *testRing) join(id, client, group string) {
	r.t.Helper()
	tn := r.nodes[id]
	if err := tn.g.Join(client, group); err != nil {
		r.t.Fatal(err)
	}
	r.collect(tn)
}

func (r *testRing) leave(id, client, group string) {
	r.t.Helper()
	tn := r.nodes[id]
	if err := tn.g.Leave(client, group); err != nil {
		r.t.Fatal(err)
	}
	r.collect(tn)
}

func (r *testRing) mcast(id, client string, svc localring.Service, payload string, groups ...string) {
	r.t.Helper()
	tn := r.nodes[id]
	tn.mcast(client, svc, payload, groups...)
	r.collect(tn)
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func lastView(t *testing.T, tn *tnode, group string) string {
	t.Helper()
	vs := tn.views(group)
	if len(vs) == 0 {
		t.Fatalf("%s has no view of %s", tn.id, group)
	}
	return vs[len(vs)-1]
}

func TestViewTo(t *testing.T) {
	r := newTestRingCfg(t, Config{}, "a", "b")
	r.form([]string{"a", "b"})
	r.join("a", "x", "g")
	r.run()
	if vs := r.node("b").kinds(EventView); len(vs) != 0 {
		t.Fatalf("b has no member in g but saw %d views", len(vs))
	}
	vs := r.node("a").kinds(EventView)
	if len(vs) != 1 || !slices.Equal(vs[0].To, []string{"x"}) {
		t.Fatalf("a's views: %+v", vs)
	}
}

func newTestRingCfg(t testing.TB, cfg Config, ids ...string) *testRing {
	r := newTestRing(t)
	r.cfg = cfg
	for _, id := range ids {
		r.start(id)
	}
	return r
}

func TestACL(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a", "b"})
	tn := r.node("a")
	tn.must(tn.g.SetACL("admin", "g", ACL{Join: []string{"*:ok*"}, Send: []string{"a:*"}, Admin: []string{"a:admin"}}))
	r.collect(tn)
	r.run()
	r.join("b", "ok1", "g")
	r.join("b", "bad", "g")
	r.run()
	if v, _ := r.node("a").g.View("g"); !slices.Equal(v.Members, []string{"b:ok1"}) {
		t.Fatalf("members: %v", v.Members)
	}
	rej := r.node("b").kinds(EventReject)
	if len(rej) != 1 || rej[0].Client != "bad" || !errors.Is(rej[0].Err, ErrDenied) {
		t.Fatalf("b's rejections: %+v", rej)
	}
	if err := r.node("b").g.Leave("bad", "g"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("leave after a denied join: %v", err)
	}
	r.mcast("b", "ok1", localring.Agreed, "from-b", "g") // b:* may not send
	r.mcast("a", "any", localring.Agreed, "from-a", "g")
	r.run()
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"ok1<-from-a"})
	rej = r.node("b").kinds(EventReject)
	if len(rej) != 2 || rej[1].Client != "ok1" || rej[1].Seq == 0 || !errors.Is(rej[1].Err, ErrDenied) {
		t.Fatalf("b's rejections: %+v", rej)
	}
	// Only a:admin may change the ACL.
	tb := r.node("b")
	tb.must(tb.g.SetACL("ok1", "g", ACL{}))
	r.collect(tb)
	r.run()
	if acl, _ := r.node("a").g.ACL("g"); len(acl.Join) != 1 {
		t.Fatalf("ACL changed by a non-admin: %+v", acl)
	}
	tn.must(tn.g.SetACL("admin", "g", ACL{}))
	r.collect(tn)
	r.run()
	if acl, _ := r.node("b").g.ACL("g"); len(acl.Join) != 0 {
		t.Fatalf("ACL not changed by the admin: %+v", acl)
	}
	r.check(true)
}

// TestGroupStats: every node counts, per group, the multicasts naming it
// that it delivered, local members or not, and the members of its view;
// a group forgotten when its last member leaves starts again at zero.
func TestGroupStats(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a", "b"})
	r.join("a", "x", "g1")
	r.join("a", "x", "g2")
	r.join("a", "y", "g2")
	r.join("b", "z", "g1")
	r.run()
	r.mcast("a", "x", localring.Agreed, "1", "g1", "g2")
	r.mcast("b", "z", localring.FIFO, "2", "g2", "g1")
	r.mcast("a", "y", localring.Safe, "3", "g2")
	r.run()
	want := []GroupStats{
		{Group: "g1", Members: 2, Delivered: 2},
		{Group: "g2", Members: 2, Delivered: 3},
	}
	for _, id := range []string{"a", "b"} {
		got := r.node(id).g.GroupStats()
		if len(got) != len(want) {
			t.Fatalf("%s: GroupStats %+v, want %d groups", id, got, len(want))
		}
		for i, w := range want {
			g := got[i]
			v, _ := r.node(id).g.View(g.Group)
			if g.Group != w.Group || g.Members != w.Members || g.Delivered != w.Delivered || g.ViewID != v.ID {
				t.Errorf("%s: GroupStats[%d] = %+v, want %+v with view %s", id, i, g, w, v.ID)
			}
		}
	}
	if got := r.node("a").g.GroupStats(); got[0].LocalMembers != 1 || got[1].LocalMembers != 2 {
		t.Errorf("a: local members %+v, want 1 in g1 and 2 in g2", got)
	}
	if got := r.node("b").g.GroupStats(); got[0].LocalMembers != 1 || got[1].LocalMembers != 0 {
		t.Errorf("b: local members %+v, want 1 in g1 and 0 in g2", got)
	}
	r.leave("a", "x", "g1")
	r.leave("b", "z", "g1")
	r.run()
	r.join("b", "z", "g1")
	r.run()
	if got := r.node("a").g.GroupStats(); got[0].Group != "g1" || got[0].Delivered != 0 || got[0].Members != 1 {
		t.Errorf("a: g1 after it emptied and got a member again: %+v, want 1 member and 0 delivered", got[0])
	}
	r.check(true)
}

// TestPointToPoint: a message to one member reaches only it, in order with
// the sender's multicasts.
func TestPointToPoint(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a", "b"})
	r.join("b", "y", "g")
	r.join("b", "z", "g")
	r.run()
	ta := r.node("a")
	ta.mcast("x", localring.FIFO, "before", "g")
	if _, err := ta.g.Send("x", "b:z", localring.FIFO, 9, []byte("direct")); err != nil {
		t.Fatal(err)
	}
	ta.mcast("x", localring.FIFO, "after", "g")
	r.collect(ta)
	r.run()
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"y<-before", "z<-before", "z<-direct", "y<-after", "z<-after"})
	if len(r.node("a").delivered()) != 0 {
		t.Fatal("a delivered to a client")
	}
	if _, err := ta.g.Send("x", "nocolon", localring.FIFO, 9, nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("send to a bad member name: %v", err)
	}
	// A member of no group: refused, not sent nowhere.
	for _, to := range []string{"b:nobody", "c:z", "a:x"} {
		if _, err := ta.g.Send("x", to, localring.FIFO, 9, nil); !errors.Is(err, ErrNotMember) || !strings.Contains(err.Error(), to+" is a member of no group") {
			t.Errorf("send to %s: %v", to, err)
		}
	}
	r.check(true)
}

// TestSendUnchecked: HasMember says what Send checks; SendUnchecked sends
// to a member this Node's views do not list (the agent found it in
// another domain's), delivered to that client alone, in order with the
// sender's multicasts, where Send refuses.
func TestSendUnchecked(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a", "b"})
	r.join("b", "y", "g")
	r.run()
	ta := r.node("a")
	for member, want := range map[string]bool{"b:y": true, "b:w": false, "a:y": false, "nocolon": false} {
		if got := ta.g.HasMember(member); got != want {
			t.Errorf("HasMember(%s) = %v, want %v", member, got, want)
		}
	}
	if _, err := ta.g.Send("x", "b:w", localring.FIFO, 9, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Send to a member of no group: %v", err)
	}
	ta.mcast("x", localring.FIFO, "before", "g")
	if _, err := ta.g.SendUnchecked("x", "b:w", localring.FIFO, 9, []byte("direct")); err != nil {
		t.Fatal(err)
	}
	ta.mcast("x", localring.FIFO, "after", "g")
	if _, err := ta.g.SendUnchecked("x", "nocolon", localring.FIFO, 9, nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("SendUnchecked to a bad member name: %v", err)
	}
	r.collect(ta)
	r.run()
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"y<-before", "w<-direct", "y<-after"})
	r.check(true)
}

func TestManyGroups(t *testing.T) {
	r := newTestRingCfg(t, Config{}, "a", "b")
	r.form([]string{"a", "b"})
	ta := r.node("a")
	const n = 2000
	for i := 0; i < n; i++ {
		g := "g" + itoa(i)
		ta.must(ta.g.Join("c", g))
		if i%2 == 0 {
			r.node("b").must(r.node("b").g.Join("d", g))
		}
	}
	r.collect(ta)
	r.collect(r.node("b"))
	r.run()
	if got := len(ta.g.ClientGroups("c")); got != n {
		t.Fatalf("c is in %d groups", got)
	}
	if got := len(r.node("b").g.Groups()); got != n {
		t.Fatalf("b knows %d groups", got)
	}
	// A partition and a merge with thousands of groups.
	r.form([]string{"a"}, []string{"b"})
	r.run()
	if got := len(r.node("b").g.Groups()); got != n/2 {
		t.Fatalf("b knows %d groups in its half", got)
	}
	r.form([]string{"a", "b"})
	r.run()
	if got := len(r.node("b").g.Groups()); got != n {
		t.Fatalf("b knows %d groups after the merge", got)
	}
	ta.must(ta.g.Disconnect("c"))
	r.collect(ta)
	r.run()
	if got := len(r.node("b").g.Groups()); got != n/2 {
		t.Fatalf("b knows %d groups after c disconnected", got)
	}
	v, _ := r.node("b").g.View("g0")
	if !slices.Equal(v.Members, []string{"b:d"}) {
		t.Fatalf("g0: %v", v.Members)
	}
	var reasons []string
	for _, e := range r.node("b").kinds(EventView) {
		if e.View.Group == "g0" {
			reasons = append(reasons, e.View.Reason.String())
		}
	}
	if reasons[len(reasons)-1] != "disconnect" {
		t.Fatalf("g0 reasons: %v", reasons)
	}
}

// TestLargeReport: a state exchange larger than one ring message is split.
func TestLargeReport(t *testing.T) {
	r := newTestRingCfg(t, Config{MaxMessageBytes: minMessageBytes, AllViews: true}, "a", "b")
	r.form([]string{"a"}, []string{"b"})
	ta := r.node("a")
	for i := 0; i < 3000; i++ {
		ta.must(ta.g.Join("client-with-a-long-name-"+itoa(i%50), "group-"+itoa(i/50)))
	}
	ta.must(ta.g.SetACL("x", "group-1", ACL{Join: []string{strings.Repeat("*", 200)}}))
	r.collect(ta)
	r.run()
	r.form([]string{"a", "b"})
	reports := 0
	for _, s := range ta.queue {
		if w, err := parseWire(s.Payload); err == nil && w.kind == kindReport {
			reports++
			if len(s.Payload) > minMessageBytes {
				t.Fatalf("report part of %d bytes", len(s.Payload))
			}
		}
	}
	if reports < 2 {
		t.Fatalf("%d report parts", reports)
	}
	r.run()
	if got := len(r.node("b").g.Groups()); got != 60 {
		t.Fatalf("b knows %d groups", got)
	}
	if v, _ := r.node("b").g.View("group-7"); len(v.Members) != 50 {
		t.Fatalf("group-7 has %d members at b", len(v.Members))
	}
	if _, ok := r.node("b").g.ACL("group-1"); !ok {
		t.Fatal("ACL lost")
	}
	r.check(true)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRequestErrors(t *testing.T) {
	g, err := New(Config{Node: localring.Member{ID: "a", Inc: 1}, MaxQueuedMsgs: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"bad client", g.Join("has:colon", "g"), ErrBadName},
		{"empty group", g.Join("c", ""), ErrBadName},
		{"space", g.Join("c", "a b"), ErrBadName},
		{"long group", g.Join("c", strings.Repeat("g", MaxGroupName+1)), ErrBadName},
		{"control", g.Join("c\x01", "g"), ErrBadName},
		{"leave unjoined", g.Leave("c", "g"), ErrNotMember},
		{"bad acl", g.SetACL("c", "g", ACL{Join: []string{""}}), ErrBadName},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
		var e *Error
		if !errors.As(c.err, &e) || e.Op == "" {
			t.Errorf("%s: not an *Error: %v", c.name, c.err)
		}
	}
	if _, err := g.Multicast("c", localring.Agreed, 1, []string{"g"}, make([]byte, localring.MaxMessageBytes)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
	if _, err := g.Multicast("c", 0, 1, []string{"g"}, nil); !errors.Is(err, ErrBadService) {
		t.Errorf("service 0: %v", err)
	}
	if _, err := g.Multicast("c", localring.Agreed, 1, nil, nil); !errors.Is(err, ErrBadName) {
		t.Errorf("no groups: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := g.Multicast("c", localring.Agreed, 1, []string{"g"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Multicast("c", localring.Agreed, 1, []string{"g"}, nil); !errors.Is(err, ErrBackpressure) {
		t.Errorf("full queue: %v", err)
	}
	e := g.Join("bad name", "g")
	if s := e.Error(); !strings.Contains(s, "join") || !strings.Contains(s, "bad name") {
		t.Errorf("error text: %s", s)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a node id")
	}
}
