package sim

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// regularOf returns the members (with incarnations) of slot i's installed
// regular configuration.
func regularOf(c *Cluster, i int) []localring.Member {
	if c.Node(i) == nil || c.Node(i).Configuration() == nil {
		return nil
	}
	return c.Node(i).Configuration().Members
}

// TestPausedIncarnationResumes: the speaker of member "a" (a site's active
// gateway) is paused past the token timeout (SIGSTOP); the others re-form
// without it, a standby starts as a newer incarnation of "a" and joins;
// then the old one resumes with its socket buffer full of old packets. The
// old incarnation must stop (superseded) instead of taking part, no
// configuration may hold two incarnations of "a", the ring must settle
// with the new one, and the EVS checker must pass. With partitioned set,
// the old one resumes cut off from the new one and hears only b and c,
// which must refuse it. With successorCrashed set, a#2 crashes before the
// old one resumes: b and c, which saw a#2, must tell a#1 that it is
// superseded (the fence notice), or a#1 would run on, refused by b and c,
// and the ring would never again hold every running node.
func TestPausedIncarnationResumes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                          string
		partitioned, successorCrashed bool
	}{
		{name: "together"},
		{name: "cut-off-from-new", partitioned: true},
		{name: "successor-crashed", successorCrashed: true},
	} {
		partitioned := tc.partitioned
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			c := NewClusterOf(7, []localring.NodeID{"a", "a", "b", "c"})
			c.Log = &log
			for _, i := range []int{0, 2, 3} {
				c.Start(i) // slot 1, a's standby, starts later
			}
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", log.String())
				}
			}()
			load := func(d time.Duration) {
				for end := c.Now().Add(d); c.Now().Before(end); c.RunFor(20 * time.Millisecond) {
					for i := 0; i < c.Size(); i++ {
						if c.Alive(i) && !c.Paused(i) {
							_ = c.Submit(i, localring.Agreed, 200)
							_ = c.Submit(i, localring.Safe, 50)
						}
					}
				}
			}
			if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
				t.Fatal("the ring of a#1, b, c did not form")
			}
			load(300 * time.Millisecond)
			c.Pause(0)
			load(2 * time.Second) // b and c re-form without a#1
			if got := regularOf(c, 2); len(got) != 2 {
				t.Fatalf("b's ring while a#1 is paused: %v", got)
			}
			if tc.successorCrashed {
				// Nothing of a#2's time reaches a#1: not a#2's packets,
				// nor b's and c's joins that name a#2.
				for i := 1; i < c.Size(); i++ {
					c.Block(i, 0)
				}
			}
			c.Start(1)
			if !c.RunUntil(c.Now().Add(5*time.Second), func() bool {
				return slices.Equal(regularOf(c, 2), []localring.Member{{ID: "a", Inc: 2}, {ID: "b", Inc: 1}, {ID: "c", Inc: 1}})
			}) {
				t.Fatalf("a#2 did not join b and c: b has %v", regularOf(c, 2))
			}
			if tc.successorCrashed {
				c.Crash(1)
				if !c.RunUntil(c.Now().Add(5*time.Second), func() bool { return len(regularOf(c, 2)) == 2 && len(regularOf(c, 3)) == 2 }) {
					t.Fatalf("b and c did not re-form without a#2: b has %v", regularOf(c, 2))
				}
				c.Heal()
			}
			installsBefore := c.Node(2).Stats().RingsInstalled
			if partitioned {
				c.Block(0, 1)
				c.Block(1, 0)
			}
			c.Resume(0)
			load(5 * time.Second)
			c.Heal()
			if tc.successorCrashed && c.Node(2).Stats().FenceNotices+c.Node(3).Stats().FenceNotices == 0 {
				t.Error("b and c sent a#1 no fence notice")
			}
			if !partitioned && (c.Alive(0) || c.Superseded() != 1) {
				t.Errorf("a#1 still runs after hearing of a#2 (state %v, superseded %d)", c.Alive(0) && c.Node(0) != nil, c.Superseded())
			}
			if !c.Alive(0) {
				t.Logf("a#1 stopped: superseded")
			}
			if n := c.Node(2).Stats().RingsInstalled - installsBefore; n > 1 {
				t.Errorf("b installed %d rings after a#1 resumed: the old incarnation disturbs the ring", n)
			}
			if f := c.Node(2).Stats().Fenced + c.Node(3).Stats().Fenced; partitioned && f == 0 {
				t.Error("b and c refused nothing from a#1")
			}
			if c.Alive(0) {
				// Cut off from a#2 it may run on alone; never with b or c.
				if m := regularOf(c, 0); len(m) != 1 {
					t.Errorf("a#1 is in a ring with %v", m)
				}
				c.Crash(0)
			}
			if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
				t.Fatalf("no convergence: %s", c.describe())
			}
			load(500 * time.Millisecond)
			c.RunFor(2 * time.Second)
			vs := append(evs.Check(c.Trace(), evs.Options{Failed: c.Failed(), Quiescent: true}), c.FenceViolations()...)
			for _, v := range vs {
				t.Error(v)
			}
		})
	}
}

// TestFenceCheckFails feeds the Fencing check the configurations it must
// reject: two incarnations of one id in a configuration, an installer that
// is not in its configuration, and two installers that disagree on an
// incarnation.
func TestFenceCheckFails(t *testing.T) {
	t.Parallel()
	var f fenceCheck
	ok := &localring.Configuration{ID: "r:8:a", Kind: localring.Regular, Members: []localring.Member{{ID: "a", Inc: 2}, {ID: "b", Inc: 1}}}
	f.install("fed/x", "a", 2, ok)
	f.install("fed/x", "b", 1, ok)
	if len(f.violations) != 0 {
		t.Fatalf("a good configuration was flagged: %v", f.violations)
	}
	two := &localring.Configuration{ID: "r:12:a", Kind: localring.Regular, Members: []localring.Member{{ID: "a", Inc: 1}, {ID: "a", Inc: 2}, {ID: "b", Inc: 1}}}
	f.install("fed/x", "b", 1, two)
	notSelf := &localring.Configuration{ID: "r:16:a", Kind: localring.Regular, Members: []localring.Member{{ID: "a", Inc: 2}, {ID: "b", Inc: 1}}}
	f.install("fed/x", "a", 1, notSelf)
	other := &localring.Configuration{ID: "r:8:a", Kind: localring.Regular, Members: []localring.Member{{ID: "a", Inc: 3}, {ID: "b", Inc: 1}}}
	f.install("fed/x", "a", 3, other)
	want := []string{"two incarnations of a", "not itself", "earlier installer"}
	if len(f.violations) != len(want) {
		t.Fatalf("%d violations, want %d: %v", len(f.violations), len(want), f.violations)
	}
	for i, v := range f.violations {
		if v.Property != Fencing || !strings.Contains(v.Detail, want[i]) {
			t.Errorf("violation %d: %v, want %q", i, v, want[i])
		}
	}
}
