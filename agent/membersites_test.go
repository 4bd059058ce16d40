package agent_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
)

// TestCrossSiteUnneeded: group orders spans the three sites of
// crossSiteYAML, but only clients of sites a and b join it. Every
// multicast to it comes down at site c too (the bridge brings every
// domain message down to every site): both of c's nodes count each as
// unneeded (DomainStatus.Unneeded, from groups.Node.Needs, which they
// answer alike from the domain's order), a's and b's none. A client of
// c-2 joins while a and b multicast: it gets every message after its
// join. Once c-1's joins too, every message is needed at both of c's
// nodes (the site has members), and their clients get every one.
//
// With stubs (topology federation.unneeded, stubs by default; "full" in
// the sub-test full), c's gateway brings those messages
// down without their data: c's nodes deliver stubs (no client there is a
// member), no node delivers a stub it had a recipient for (also around
// c-2's join), once c has members none is a stub, and the agents' traces
// pass the EVS checker (a stub's delivery has the message's hash).
func TestCrossSiteUnneeded(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs three sites and a federation ring over QUIC")
	t.Run("full", func(t *testing.T) { crossSiteUnneeded(t, false) })
	t.Run("stubs", func(t *testing.T) { crossSiteUnneeded(t, true) })
}

func crossSiteUnneeded(t *testing.T, stubs bool) {
	var mu sync.Mutex
	race := map[string]map[string][]int{} // node -> sender -> seqs of phase join-race, in delivery order
	onDeliver := func(d sites.Delivery) {
		f := strings.Split(strings.Fields(d.Payload)[0], "/")
		if d.Phase != "join-race" || len(f) != 4 {
			return
		}
		seq, err := strconv.Atoi(f[3])
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if race[d.Node] == nil {
			race[d.Node] = map[string][]int{}
		}
		race[d.Node][d.Sender] = append(race[d.Node][d.Sender], seq)
	}
	w := sites.NewForTest(t, sites.Config{Topology: []byte(crossSiteYAML), Full: !stubs, OnDeliver: onDeliver})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := w.Nodes()
	ab := []string{"a-1", "a-2", "b-1", "b-2"}
	w.JoinForTest(ctx, t, "orders", ab...)
	stubCount := map[string]uint64{} // stubs delivered, per node
	counters := func() (msgs, unneeded map[string]uint64) {
		msgs, unneeded = map[string]uint64{}, map[string]uint64{}
		for _, id := range ids {
			ds := w.Node(id).Agent().Status().Domains
			if len(ds) != 1 {
				t.Fatalf("%s: domains %+v", id, ds)
			}
			msgs[id], unneeded[id] = ds[0].Messages, ds[0].Unneeded
			if want := map[bool]string{true: "stubs", false: "full"}[stubs]; ds[0].UnneededAs != want {
				t.Errorf("%s: status says unneeded messages come down as %q, want %q", id, ds[0].UnneededAs, want)
			}
			stubCount[id] = ds[0].Layer.Stubs
			if n := ds[0].Layer.StubRecipients; n > 0 {
				t.Errorf("%s delivered %d stubs it had recipients for: lost messages", id, n)
			}
		}
		return msgs, unneeded
	}
	// phase sends count rounds from a-1 and b-2 to orders, checks that
	// the members among ids got each once, waits until every node applied
	// them, and returns how many of them each node counted as unneeded.
	phase := func(name string, members []string, count int) map[string]uint64 {
		t.Helper()
		m0, u0 := counters()
		senders := []string{"a-1", "b-2"}
		if err := w.Run(sites.Load{Phase: name, Senders: senders, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: count}); err != nil {
			t.Fatal(err)
		}
		c := w.Count(name, members, 30*time.Second)
		if c.Sent != count*len(senders) || !c.OK() {
			t.Fatalf("%v, want %d sent and nothing lost or duplicated", c, count*len(senders))
		}
		t.Log(c)
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, u := counters()
			behind := ""
			for _, id := range ids {
				if m[id]-m0[id] < uint64(c.Sent) {
					behind += fmt.Sprintf(" %s applied %d", id, m[id]-m0[id])
				}
			}
			if behind == "" {
				out := map[string]uint64{}
				for _, id := range ids {
					out[id] = u[id] - u0[id]
				}
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("phase %s: %d messages sent; nodes behind:%s", name, c.Sent, behind)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	const rounds = 20
	got := phase("ab", ab, rounds)
	for _, id := range ids {
		want := uint64(0)
		if id == "c-1" || id == "c-2" {
			want = 2 * rounds
		}
		if got[id] != want {
			t.Errorf("members at a and b only: %s counted %d messages unneeded, want %d", id, got[id], want)
		}
		if c := id == "c-1" || id == "c-2"; stubs && c && stubCount[id] == 0 || (!stubs || !c) && stubCount[id] != 0 {
			t.Errorf("members at a and b only, stubs %v: %s delivered %d stubs", stubs, id, stubCount[id])
		}
	}
	t.Logf("stubs delivered: %v", stubCount)

	// c-2 joins while a-1 and b-2 multicast, the first member at c: the
	// messages ordered around its join reach its client if they come
	// after it (with stubs, those before may come down as stubs), and no
	// node gets a stub of a message it has a recipient for (counters).
	// The senders go on until every member has the view with c-2, and
	// for 20 rounds more, so that messages come after the join however
	// long it takes: 60 rounds in 120 ms, all of them before a join that
	// took longer under load, left c-2 none.
	m0, _ := counters()
	senders := []string{"a-1", "b-2"}
	gen := w.Load(sites.Load{Phase: "join-race", Senders: senders, Groups: []string{"orders"}, Every: 2 * time.Millisecond})
	time.Sleep(50 * time.Millisecond)
	if err := w.Join(ctx, "orders", "c-2"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", append(slices.Clone(ab), "c-2"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	atView := gen.Sent()
	waitLong(t, "20 rounds of the senders after the view with c-2", 30*time.Second, func() bool { return gen.Sent() >= atView+20*len(senders) })
	if err := gen.Stop(); err != nil {
		t.Fatal(err)
	}
	if c := w.Count("join-race", ab, 30*time.Second); c.Sent != gen.Sent() || !c.OK() {
		t.Fatalf("%v, want %d sent and nothing lost or duplicated at a's and b's members", c, gen.Sent())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m, _ := counters()
		if m["c-2"]-m0["c-2"] >= uint64(gen.Sent()) || time.Now().After(deadline) {
			t.Logf("join-race: c-2 applied %d of %d messages; stubs delivered %v", m["c-2"]-m0["c-2"], gen.Sent(), stubCount)
			break
		}
	}
	// Per sender, c-2's client got the end of what a-2's (a member all
	// along, which got every one: Count) got: every message after its
	// join, none lost.
	ends := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, from := range senders {
			all, got := race["a-2"][from], race["c-2"][from]
			if len(all) == 0 || len(got) == 0 || got[len(got)-1] != all[len(all)-1] {
				return false
			}
		}
		return true
	}
	waitLong(t, "", 30*time.Second, ends)
	mu.Lock()
	for _, from := range senders {
		all, got := race["a-2"][from], race["c-2"][from]
		if len(got) == 0 || len(got) > len(all) || !slices.Equal(got, all[len(all)-len(got):]) {
			t.Errorf("join-race from %s: a-2 got %v, c-2 got %v: want c-2's a non-empty end of a-2's", from, all, got)
		} else {
			t.Logf("join-race from %s: c-2's client got the last %d of %d", from, len(got), len(all))
		}
	}
	mu.Unlock()
	stubsBefore := maps.Clone(stubCount)

	abc := append(slices.Clone(ab), "c-2", "c-1")
	if err := w.Join(ctx, "orders", "c-1"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", abc, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got = phase("abc", abc, rounds)
	for _, id := range ids {
		if got[id] != 0 {
			t.Errorf("after c-1's and c-2's joins: %s counted %d messages unneeded, want 0", id, got[id])
		}
		if stubCount[id] != stubsBefore[id] {
			t.Errorf("after c-1's and c-2's joins: %s delivered %d stubs more", id, stubCount[id]-stubsBefore[id])
		}
	}

	checkTraces(t, w, false)
}

// TestCrossSiteStubsFailover: with stubs (the default), site a has no member of orders
// (b's and c's clients are), so its nodes get stubs; its active gateway
// a-1 stops, and a-2, whose log holds stubs, takes over. b's and c's
// members lose nothing; then a client of a-2 joins and gets every message
// after its join; no node gets a stub it had a recipient for; the traces
// pass the EVS checker.
func TestCrossSiteStubsFailover(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs three sites and a federation ring over QUIC")
	w := sites.NewForTest(t, sites.Config{Topology: []byte(crossSiteYAML)})
	w.StartForTest(t, 45*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bc := []string{"b-1", "b-2", "c-1", "c-2"}
	w.JoinForTest(ctx, t, "orders", bc...)
	layer := func(id string) (stubs, lost uint64) {
		ds := w.Node(id).Agent().Status().Domains
		if len(ds) != 1 {
			t.Fatalf("%s: domains %+v", id, ds)
		}
		return ds[0].Layer.Stubs, ds[0].Layer.StubRecipients
	}
	phase := func(name string, members []string) {
		t.Helper()
		senders := []string{"b-1", "c-2"}
		if err := w.Run(sites.Load{Phase: name, Senders: senders, Groups: []string{"orders"}, Every: 5 * time.Millisecond, Count: 20}); err != nil {
			t.Fatal(err)
		}
		c := w.Count(name, members, 30*time.Second)
		if c.Sent != 20*len(senders) || !c.OK() {
			t.Errorf("%v, want %d sent and nothing lost or duplicated", c, 20*len(senders))
		} else {
			t.Log(c)
		}
	}
	phase("before", bc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s1, _ := layer("a-1")
		s2, _ := layer("a-2")
		if s1 >= 40 && s2 >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's nodes delivered %d and %d stubs, want 40 each", s1, s2)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := w.Stop("a-1"); err != nil {
		t.Fatal(err)
	}
	phase("failover", bc)
	deadline = time.Now().Add(45 * time.Second)
	for {
		st := w.Node("a-2").Agent().Status()
		if len(st.Domains) == 1 && st.Domains[0].Role == "active gateway" && len(st.Domains[0].Connected) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a-2 did not take over: %+v", st.Domains)
		}
		time.Sleep(50 * time.Millisecond)
	}
	live := append(slices.Clone(bc), "a-2")
	if err := w.Join(ctx, "orders", "a-2"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", live, 45*time.Second); err != nil {
		t.Fatal(err)
	}
	phase("after", live)
	for _, id := range live {
		s, lost := layer(id)
		t.Logf("%s: %d stubs delivered", id, s)
		if lost > 0 {
			t.Errorf("%s delivered %d stubs it had recipients for: lost messages", id, lost)
		}
	}
	for _, id := range live {
		if st := w.Node(id).Agent().Status().Domains[0].Bridge; st.ElidedRefused > 0 || st.Elided > 0 {
			t.Logf("%s: bridge made %d stubs, refused %d catch-ups for stubs", id, st.Elided, st.ElidedRefused)
		}
	}
	checkTraces(t, w, false)
}
