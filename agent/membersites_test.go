package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
)

// TestCrossSiteUnneeded: group orders spans the three sites of
// crossSiteYAML, but only clients of sites a and b join it. Every
// multicast to it comes down at site c too (the bridge brings every
// domain message down to every site): both of c's nodes count each as
// unneeded (DomainStatus.Unneeded, from groups.Node.Needs, which they
// answer alike from the domain's order), a's and b's none. Once a client
// of c-1 joins, every message after its join is needed at both of c's
// nodes (the site has a member), and c-1's client gets every one.
func TestCrossSiteUnneeded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sites and a federation ring over QUIC")
	}
	if sites.RaceEnabled {
		t.Skip("judges a real-time federation ring: runs without the race detector only")
	}
	w := sites.NewForTest(t, sites.Config{Topology: []byte(crossSiteYAML)})
	if err := w.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitDomains(45 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := w.Nodes()
	ab := []string{"a-1", "a-2", "b-1", "b-2"}
	if err := w.Join(ctx, "orders", ab...); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", ab, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	counters := func() (msgs, unneeded map[string]uint64) {
		msgs, unneeded = map[string]uint64{}, map[string]uint64{}
		for _, id := range ids {
			ds := w.Node(id).Agent().Status().Domains
			if len(ds) != 1 {
				t.Fatalf("%s: domains %+v", id, ds)
			}
			msgs[id], unneeded[id] = ds[0].Messages, ds[0].Unneeded
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
	}

	abc := append(ab, "c-1")
	if err := w.Join(ctx, "orders", "c-1"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitView("orders", abc, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got = phase("abc", abc, rounds)
	for _, id := range ids {
		if got[id] != 0 {
			t.Errorf("after c-1's join: %s counted %d messages unneeded, want 0", id, got[id])
		}
	}
}
