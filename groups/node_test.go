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

func TestJoinLeave(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.run()
	r.join("b", "x", "g")
	r.run()
	r.join("a", "y", "g")
	r.join("c", "z", "g")
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		wantStrings(t, id+" views of g", r.node(id).views("g"), []string{
			"r:4:a@4.0 [b:x] +b:x join",
			"r:4:a@5.0 [b:x a:y] +a:y join",
			"r:4:a@6.0 [b:x a:y c:z] +c:z join",
		})
	}
	r.mcast("c", "w", localring.Agreed, "hello", "g") // w is not a member: open group
	r.run()
	wantStrings(t, "a deliveries", r.node("a").delivered(), []string{"y<-hello"})
	wantStrings(t, "c deliveries", r.node("c").delivered(), []string{"z<-hello"})

	r.leave("b", "x", "g")
	r.run()
	if got := lastView(t, r.node("a"), "g"); got != "r:4:a@8.0 [a:y c:z] -b:x leave" {
		t.Fatalf("after leave: %s", got)
	}
	left := r.node("b").kinds(EventLeft)
	if len(left) != 1 || left[0].Client != "x" || left[0].Group != "g" {
		t.Fatalf("b's EventLeft: %+v", left)
	}
	if v, ok := r.node("c").g.View("g"); !ok || v.Members[0] != "a:y" {
		t.Fatalf("leader after b:x left: %+v", v)
	}
	r.check(true)
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

// TestPartitionMerge: a partition gives each side a transitional view and
// a regular view without the other side (reason network); messages in
// each half reach that half's members; the merge exchanges state and all
// nodes install one view, ordered by join time.
func TestPartitionMerge(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.run()
	r.join("c", "z", "g")
	r.run()
	r.join("b", "y", "g")
	r.run()

	// A message sent before the partition and delivered after it, in the
	// transitional configuration.
	r.mcast("a", "x", localring.Agreed, "m1", "g")
	r.send()
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	wantStrings(t, "a views", r.node("a").views("g")[3:], []string{
		"t:8:a/4:a~" + hexHash("r:4:a@6.0") + " [a:x b:y] trans",
		"r:8:a [a:x b:y] -c:z network",
	})
	wantStrings(t, "c views", r.node("c").views("g")[3:], []string{
		"t:8:c/4:a~" + hexHash("r:4:a@6.0") + " [c:z] trans",
		"r:8:c [c:z] -a:x,b:y network",
	})
	// m1 went to a and b in their transitional view; c got it in its own.
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"y<-m1"})
	wantStrings(t, "c deliveries", r.node("c").delivered(), []string{"z<-m1"})

	r.mcast("a", "x", localring.Safe, "m2", "g")
	r.mcast("c", "z", localring.Safe, "m3", "g")
	r.join("c", "v", "g")
	r.run()
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"y<-m1", "y<-m2"})
	wantStrings(t, "c deliveries", r.node("c").delivered(), []string{"z<-m1", "z<-m3"})

	r.form([]string{"a", "b", "c"})
	r.run()
	want := "r:12:a [a:x c:z b:y c:v]"
	for _, id := range []string{"a", "b", "c"} {
		got := lastView(t, r.node(id), "g")
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "network") {
			t.Fatalf("%s after the merge: %s, want %s ... network", id, got, want)
		}
		if !r.node(id).g.Synced() {
			t.Fatalf("%s not synced after the merge", id)
		}
	}
	if got := lastView(t, r.node("a"), "g"); got != want+" +c:z,c:v network" {
		t.Fatalf("a: %s", got)
	}
	if got := lastView(t, r.node("c"), "g"); got != want+" +a:x,b:y network" {
		t.Fatalf("c: %s", got)
	}
	r.mcast("b", "y", localring.Agreed, "m4", "g")
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		d := r.node(id).delivered()
		if !strings.HasSuffix(d[len(d)-1], "<-m4") {
			t.Fatalf("%s did not get m4: %v", id, d)
		}
	}
	r.check(true)
}

func hexHash(s string) string {
	return viewID{kind: '~', a: hash64(s)}.String()[1:]
}

// TestCrashRestart: a node that crashes and comes back with a new
// incarnation in the next configuration takes its members with reason
// disconnect; one that is merely gone, with reason network.
func TestCrashRestart(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.join("b", "y", "g")
	r.run()
	r.crash("c")
	r.start("c")
	r.form([]string{"a", "b", "c"})
	r.run()
	if got := lastView(t, r.node("a"), "g"); got != "r:8:a [a:x b:y] -c:z disconnect" {
		t.Fatalf("a after c restarted: %s", got)
	}
	r.crash("b")
	r.form([]string{"a", "c"})
	r.run()
	if got := lastView(t, r.node("a"), "g"); got != "r:12:a [a:x] -b:y network" {
		t.Fatalf("a after b vanished: %s", got)
	}
	r.check(true)
}

// TestRestartSameName: a restarted node's client rejoins under the same
// name before the others notice the crash: it is new (joined), not left.
func TestRestartSameName(t *testing.T) {
	r := newTestRing(t, "a", "c")
	r.form([]string{"a", "c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.crash("c")
	r.start("c")
	r.form([]string{"a"}, []string{"c"}) // a does not notice: it keeps its ring
	r.join("c", "z", "g")
	r.run()
	r.form([]string{"a", "c"})
	r.run()
	got := lastView(t, r.node("a"), "g")
	if !strings.HasPrefix(got, "r:12:a [a:x c:z] +c:z") {
		t.Fatalf("a after c's restart and merge: %s", got)
	}
	r.check(true)
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

// TestACLMerge: ACLs survive a merge; the newer one wins.
func TestACLMerge(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a"}, []string{"b"})
	ta, tb := r.node("a"), r.node("b")
	ta.must(ta.g.SetACL("p", "g", ACL{Send: []string{"a:*"}}))
	r.collect(ta)
	r.run()
	r.form([]string{"a"}, []string{"b"}) // b's change comes in a later ring: it is newer
	tb.must(tb.g.SetACL("q", "g", ACL{Send: []string{"b:*"}}))
	tb.must(tb.g.SetACL("q", "h", ACL{Join: []string{"nobody"}}))
	r.collect(tb)
	r.run()
	r.form([]string{"a", "b"})
	r.run()
	for _, tn := range []*tnode{ta, tb} {
		acl, ok := tn.g.ACL("g")
		if !ok || !slices.Equal(acl.Send, []string{"b:*"}) {
			t.Fatalf("%s: ACL of g after the merge: %+v", tn.id, acl)
		}
		if _, ok := tn.g.ACL("h"); !ok {
			t.Fatalf("%s: h lost its ACL", tn.id)
		}
	}
	r.check(true)
}

// TestMultiGroup: a message to several groups reaches each local member
// of any of them once, and every node delivers in one order.
func TestMultiGroup(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a", "b"})
	r.join("a", "x", "g1")
	r.join("a", "x", "g2")
	r.join("a", "y", "g2")
	r.join("b", "z", "g1")
	r.run()
	r.mcast("a", "x", localring.Agreed, "1", "g1", "g2")
	r.mcast("b", "z", localring.FIFO, "2", "g2", "g1", "g2")
	r.mcast("a", "y", localring.Safe, "3", "g2")
	r.run()
	// The fake ring lets a send both its messages before b's.
	wantStrings(t, "a deliveries", r.node("a").delivered(), []string{"x<-1", "y<-1", "x<-3", "y<-3", "x<-2", "y<-2"})
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"z<-1", "z<-2"})
	var ga, gb []string
	for _, e := range r.node("a").kinds(EventDeliver) {
		ga = append(ga, string(e.Msg.Payload)+strings.Join(e.Msg.Groups, ","))
	}
	for _, e := range r.node("b").kinds(EventDeliver) {
		gb = append(gb, string(e.Msg.Payload)+strings.Join(e.Msg.Groups, ","))
	}
	wantStrings(t, "one order", ga, gb)
	wantStrings(t, "groups", ga, []string{"1g1,g2", "3g2", "2g2,g1"})
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

// TestResendAfterMerge: messages still queued in the ring when a merge
// happens are discarded everywhere and sent again once the state is
// agreed, exactly once and in the client's order.
func TestResendAfterMerge(t *testing.T) {
	r := newTestRing(t, "a", "b")
	r.form([]string{"a"}, []string{"b"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	for i := 0; i < 5; i++ {
		r.mcast("a", "x", localring.Agreed, string(rune('0'+i)), "g")
	}
	ga := r.node("a").g
	if ga.Pending() != 5 || ga.PendingBytes() < 5*len("0") {
		t.Fatalf("pending %d messages, %d bytes: want 5 and their encoding", ga.Pending(), ga.PendingBytes())
	}
	// The ring takes the messages, but the merge comes before it sends them.
	r.form([]string{"a", "b"})
	r.run()
	if ga.Pending() != 0 || ga.PendingBytes() != 0 {
		t.Fatalf("after the resend: pending %d messages, %d bytes; want none", ga.Pending(), ga.PendingBytes())
	}
	wantStrings(t, "b deliveries", r.node("b").delivered(), []string{"y<-0", "y<-1", "y<-2", "y<-3", "y<-4"})
	wantStrings(t, "a deliveries", r.node("a").delivered(), []string{"x<-0", "x<-1", "x<-2", "x<-3", "x<-4"})
	if s := r.node("a").g.Stats(); s.Resent != 5 || r.node("b").g.Stats().Discarded != 5 {
		t.Fatalf("resent %d, discarded at b %d", s.Resent, r.node("b").g.Stats().Discarded)
	}
	if n := len(r.node("a").kinds(EventSent)); n != 5+0 {
		t.Fatalf("%d EventSent, want 5", n)
	}
	r.check(true)
}

// TestRequestsInTransitional: requests delivered in a transitional
// configuration take effect after the regular view of the change, with
// their own views.
func TestRequestsInTransitional(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b", "c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.join("b", "y", "g")
	r.leave("a", "x", "g")
	r.send()
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	wantStrings(t, "a views", r.node("a").views("g")[2:], []string{
		"t:8:a/4:a~" + hexHash("r:4:a@5.0") + " [a:x] trans",
		"r:8:a [a:x] -c:z network",
		"r:8:a+1 [] -a:x leave",
		"r:8:a+2 [b:y] +b:y join",
	})
	// c applied nothing from a and b: it learns the result at the merge.
	r.form([]string{"a", "b", "c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		if got := lastView(t, r.node(id), "g"); !strings.HasPrefix(got, "r:12:a [c:z b:y]") {
			t.Fatalf("%s after the merge: %s", id, got)
		}
	}
	r.check(true)
}

// TestMergeWithRequestsInTransitional: requests accepted in a
// transitional configuration before a merge are reported in the exchange
// and applied by everyone after it.
func TestMergeWithRequestsInTransitional(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b"}, []string{"c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.join("b", "y", "g")
	r.send()
	r.form([]string{"a", "b", "c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		vs := r.node(id).views("g")
		wantStrings(t, id+" last views", vs[len(vs)-2:], []string{
			vs[len(vs)-2],
			"r:8:a+1 [c:z a:x b:y] +b:y join",
		})
		// c's join came earlier in its ring than a's did in theirs.
		if !strings.HasPrefix(vs[len(vs)-2], "r:8:a [c:z a:x]") {
			t.Fatalf("%s: %v", id, vs)
		}
	}
	r.check(true)
}

// TestExchangeInterrupted: a merge whose state exchange does not finish
// before the next configuration change delivers nothing in between, and
// the next exchange settles everything.
func TestExchangeInterrupted(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b"}, []string{"c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.form([]string{"a", "b", "c"})
	// Only a's and b's reports are sent before c is cut off again.
	ta, tb := r.node("a"), r.node("b")
	keep := r.node("c").queue
	r.node("c").queue = nil
	r.send()
	r.deliver()
	_ = ta
	_ = tb
	if r.node("a").g.Synced() {
		t.Fatal("a synced without c's report")
	}
	r.node("c").queue = keep
	r.mcast("c", "z", localring.Agreed, "lost?", "g")
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	r.form([]string{"a", "b", "c"})
	r.run()
	for _, id := range []string{"a", "b", "c"} {
		if !r.node(id).g.Synced() {
			t.Fatalf("%s not synced", id)
		}
	}
	// The message went out once c was alone again: only c's member got it.
	wantStrings(t, "c deliveries", r.node("c").delivered(), []string{"z<-lost?"})
	wantStrings(t, "a deliveries", r.node("a").delivered(), nil)
	r.check(true)
}

// TestExchangeCompletesInTransitional: a node that gets the last report
// only in the transitional configuration completes the exchange there and
// delivers what the others delivered in the regular one.
func TestExchangeCompletesInTransitional(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b"}, []string{"c"})
	r.join("a", "x", "g")
	r.join("c", "z", "g")
	r.run()
	r.form([]string{"a", "b", "c"})
	r.send() // every report sent, none delivered
	// a and b deliver everything and send a Safe message (which every
	// member holds, c too); c delivers all of it only in its transitional
	// configuration.
	tr := r.node("a").ring
	r.deliverTo(len(tr.sent), "a", "b")
	r.mcast("a", "x", localring.Safe, "safe", "g")
	r.send()
	r.deliverTo(len(tr.sent), "a", "b")
	r.form([]string{"a", "b"}, []string{"c"})
	r.run()
	wantStrings(t, "c deliveries", r.node("c").delivered(), []string{"z<-safe"})
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

// TestDepartureDuringExchange (found by the simulator, TestSimGroups seeds
// 93 and 2083): when members leave through a transitional configuration
// while a node is exchanging state and come back before the next exchange
// completes, the node must deliver the transitional view and then the
// regular one, even though the group ends with the members it started
// from, because the nodes they left with deliver that regular view.
func TestDepartureDuringExchange(t *testing.T) {
	r := newTestRing(t, "a", "b", "c")
	r.form([]string{"a", "b"}, []string{"c"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	// a and c start a merge that b, listed, never joins: a's exchange
	// cannot finish and it sees no departure (b is in its transitional
	// configuration).
	r.formAbsent([]string{"b"}, []string{"a", "b", "c"})
	r.run()
	if r.node("a").g.Synced() {
		t.Fatal("a synced without b's report")
	}
	// b comes back from its old ring: for a, it left and returned.
	r.form([]string{"a", "b", "c"})
	r.run()
	want := lastView(t, r.node("b"), "g")
	if got := lastView(t, r.node("a"), "g"); !strings.HasPrefix(got, "r:12:a [a:x b:y]") || !strings.HasPrefix(want, "r:12:a [a:x b:y]") {
		t.Fatalf("after the exchange: a %s, b %s", got, want)
	}
	r.mcast("b", "y", localring.Agreed, "m", "g")
	r.run()
	r.check(true)
}

// TestDepartureBeforeInterruptedExchange: the same, when the departure
// happens in the transitional configuration before an exchange that is
// itself cut short, so that the exchange that completes starts with
// everyone together again.
func TestDepartureBeforeInterruptedExchange(t *testing.T) {
	r := newTestRing(t, "a", "b", "d")
	r.form([]string{"a", "b"}, []string{"d"})
	r.join("a", "x", "g")
	r.join("b", "y", "g")
	r.run()
	r.formAbsent([]string{"b"}, []string{"a", "b", "d"}) // a: exchange, b listed but absent
	r.run()
	r.form([]string{"a", "b", "d"}) // a leaves b behind (b comes from its old ring)
	// Nobody sends: this exchange is cut short too.
	r.form([]string{"a", "b", "d"}) // everyone comes from the same ring
	r.run()
	for _, id := range []string{"a", "b"} {
		if got := lastView(t, r.node(id), "g"); !strings.HasPrefix(got, "r:16:a [a:x b:y]") {
			t.Fatalf("%s after the exchange: %s", id, got)
		}
	}
	r.mcast("b", "y", localring.Agreed, "m", "g")
	r.run()
	r.check(true)
}
