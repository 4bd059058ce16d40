package gateway

import (
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// TestGrace drives gateway.Grace as the agent and gateway/hiersim do: a
// ring of the member alone is kept out before the stream started and
// during a new term's grace, and held back; a ring with another site ends
// the grace; once the grace is over, End hands the held ring over to the
// active gateway of the member it is for, and to nobody else.
func TestGrace(t *testing.T) {
	alone := func(seq uint64) *localring.Configuration {
		return &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: seq}, Members: []localring.Member{{ID: "a"}}}
	}
	trans := &localring.Configuration{Kind: localring.Transitional, Members: []localring.Member{{ID: "a"}}}
	both := &localring.Configuration{Kind: localring.Regular, Members: []localring.Member{{ID: "a"}, {ID: "b"}}}
	t0 := time.Unix(1000, 0)
	var g Grace
	if !g.StartsAlone(alone(1), nil, false) || !g.Alone() || !g.StartsAlone(trans, nil, false) {
		t.Fatal("a ring of the member alone before the stream started reached the bridge")
	}
	if g.StartsAlone(alone(2), nil, true) || g.Alone() {
		t.Fatal("a ring alone once the stream started, with no grace, was kept out")
	}
	g.Start("m1", t0.Add(time.Second))
	if !g.StartsAlone(alone(3), "m1", true) {
		t.Fatal("a ring alone in the grace reached the bridge")
	}
	if _, ok := g.Deadline(); !ok {
		t.Fatal("no deadline with a ring held back")
	}
	if c := g.End(t0, "m1", true); c != nil {
		t.Fatal("the grace ended before it was over")
	}
	if c := g.End(t0.Add(time.Second), "m2", true); c != nil || g.Alone() != true {
		t.Fatal("another member's grace handed its ring over")
	}
	g.Start("m1", t0.Add(time.Second))
	g.StartsAlone(alone(4), "m1", true)
	if c := g.End(t0.Add(time.Second), "m1", true); c == nil || c.Ring.Seq != 4 || g.Alone() {
		t.Fatalf("the grace over, End gave %v (alone %v), want the ring held back, 4", c, g.Alone())
	}
	if c := g.End(t0.Add(2*time.Second), "m1", true); c != nil {
		t.Fatal("End gave a ring twice")
	}
	g.Start("m1", t0.Add(time.Second))
	if g.StartsAlone(both, "m1", true) || g.StartsAlone(alone(5), "m1", true) {
		t.Fatal("a ring with another site did not end the grace")
	}
	g.Start("m1", t0.Add(time.Second))
	g.StartsAlone(alone(6), "m1", true)
	if c := g.End(t0.Add(time.Second), "m1", false); c != nil {
		t.Fatal("a node no longer active got the ring held back")
	}
}

// TestGraceKeep: Keep starts a grace as Start does when none is on (a
// gateway that lost members of its site: its ring alone is held back),
// and leaves one that is on as it is, with its ring held back and its
// end.
func TestGraceKeep(t *testing.T) {
	alone := func(seq uint64) *localring.Configuration {
		return &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: seq}, Members: []localring.Member{{ID: "a"}}}
	}
	t0 := time.Unix(1000, 0)
	var g Grace
	g.Keep("m1", t0.Add(time.Second))
	if !g.StartsAlone(alone(1), "m1", true) {
		t.Fatal("a ring alone in a grace Keep started reached the bridge")
	}
	g.Keep("m1", t0.Add(time.Hour))
	if until, ok := g.Deadline(); !ok || !until.Equal(t0.Add(time.Second)) {
		t.Fatalf("Keep in a grace: deadline %v (held %v), want the grace's, %v, with its ring held", until, ok, t0.Add(time.Second))
	}
	if c := g.End(t0.Add(time.Second), "m1", true); c == nil || c.Ring.Seq != 1 {
		t.Fatalf("the grace over, End gave %v, want the ring Keep's grace held back, 1", c)
	}
}
