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
// and leaves one that is on as it is: a new term's, with its ring held
// back, its end, and that ring let through at the end.
func TestGraceKeep(t *testing.T) {
	alone := func(seq uint64) *localring.Configuration {
		return &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: seq}, Members: []localring.Member{{ID: "a"}}}
	}
	t0 := time.Unix(1000, 0)
	var g Grace
	g.Keep("m1", t0.Add(time.Second), nil)
	if !g.StartsAlone(alone(1), "m1", true) {
		t.Fatal("a ring alone in a grace Keep started reached the bridge")
	}
	g.Start("m2", t0.Add(time.Second))
	if !g.StartsAlone(alone(2), "m2", true) {
		t.Fatal("a ring alone in a new term's grace reached the bridge")
	}
	g.Keep("m2", t0.Add(time.Hour), nil)
	if until, ok := g.Deadline(); !ok || !until.Equal(t0.Add(time.Second)) {
		t.Fatalf("Keep in a new term's grace: deadline %v (held %v), want the grace's, %v, with its ring held", until, ok, t0.Add(time.Second))
	}
	if c := g.End(t0.Add(time.Second), "m2", true); c == nil || c.Ring.Seq != 2 {
		t.Fatalf("the new term's grace over, End gave %v, want the ring it held back, 2", c)
	}
}

// TestGraceKeepHolds: a grace Keep started lets the ring alone it held
// back through at no time (the old gateway cut off from its site and from
// every other site for longer than the grace went on alone without the
// Safe messages the others delivered in a configuration that named it:
// hiersim TestStrayGatewayLongCut), until a ring with another site ends
// it; over with nothing held, it ends, and a ring alone after it reaches
// the bridge.
func TestGraceKeepHolds(t *testing.T) {
	conf := func(seq uint64, ids ...localring.NodeID) *localring.Configuration {
		c := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: seq}}
		for _, id := range ids {
			c.Members = append(c.Members, localring.Member{ID: id})
		}
		return c
	}
	t0 := time.Unix(1000, 0)
	var g Grace
	g.Keep("m1", t0.Add(time.Second), nil)
	if g.KeptHold() {
		t.Error("a grace Keep started holds before a ring alone came")
	}
	if !g.StartsAlone(conf(1, "a"), "m1", true) {
		t.Fatal("a ring alone in a grace Keep started reached the bridge")
	}
	if !g.KeptHold() {
		t.Error("a grace Keep started, with a ring alone held, does not say it holds")
	}
	if _, ok := g.Deadline(); ok {
		t.Error("a grace Keep started, with a ring held, has a deadline")
	}
	if c := g.End(t0.Add(time.Hour), "m1", true); c != nil {
		t.Fatalf("a grace Keep started let its ring alone %v through when over", c.Ring)
	}
	if g.StartsAlone(conf(2, "a", "b"), "m1", true) {
		t.Fatal("a ring with another site held back")
	}
	if g.KeptHold() {
		t.Error("a grace Keep started still holds after a ring with another site")
	}
	if g.StartsAlone(conf(3, "a"), "m1", true) {
		t.Fatal("a ring alone held back after a ring with another site ended the grace")
	}
	g.Keep("m1", t0.Add(time.Second), nil)
	if until, ok := g.Deadline(); !ok || !until.Equal(t0.Add(time.Second)) {
		t.Fatalf("a grace Keep started with nothing held: deadline %v (%v), want %v", until, ok, t0.Add(time.Second))
	}
	if c := g.End(t0.Add(time.Second), "m1", true); c != nil {
		t.Fatalf("End of a grace with nothing held gave %v", c.Ring)
	}
	if g.StartsAlone(conf(4, "a"), "m1", true) {
		t.Fatal("a ring alone held back after Keep's grace ended over with nothing held")
	}
}

// TestGraceHealed: Healed reports a grace Keep started that holds a ring
// of the site alone once the members hold every node the local ring lost
// (each Keep's, while one is on), and nothing else: no hold, a node still
// away, a new term's grace.
func TestGraceHealed(t *testing.T) {
	alone := &localring.Configuration{Kind: localring.Regular, Ring: localring.RingID{Seq: 1}, Members: []localring.Member{{ID: "a"}}}
	t0 := time.Unix(1000, 0)
	var g Grace
	g.Keep("m1", t0.Add(time.Second), []string{"b"})
	if g.Healed([]string{"a", "b", "c"}) {
		t.Error("Healed with nothing held")
	}
	g.Keep("m1", t0.Add(time.Hour), []string{"c"})
	g.StartsAlone(alone, "m1", true)
	if !g.KeptHold() {
		t.Fatal("no hold")
	}
	for _, m := range [][]string{{"a"}, {"a", "b"}, {"a", "c"}} {
		if g.Healed(m) {
			t.Errorf("Healed with members %v: a node lost is away", m)
		}
	}
	if !g.Healed([]string{"a", "b", "c"}) {
		t.Error("not Healed with every node lost back")
	}
	g.Start("m2", t0.Add(time.Second))
	g.StartsAlone(alone, "m2", true)
	if g.Healed([]string{"a", "b", "c"}) {
		t.Error("a new term's grace Healed")
	}
}

// TestUngated: a node's local ring without a gateway of the domain leaves
// the domain's configuration once PartGrace has passed, not before, and
// once; every later configuration without a gateway is another of its
// part (Install reports it), and one with a gateway ends it all.
func TestUngated(t *testing.T) {
	var u Ungated
	t0 := time.Unix(100, 0)
	if u.Install(true, t0) || u.Due(t0.Add(time.Hour)) {
		t.Fatal("a ring with a gateway started the grace")
	}
	if u.Install(false, t0) {
		t.Fatal("the first configuration without a gateway left at once")
	}
	if at, ok := u.Deadline(); !ok || !at.Equal(t0.Add(PartGrace)) {
		t.Fatalf("deadline %v %v, want %v", at, ok, t0.Add(PartGrace))
	}
	if u.Install(false, t0.Add(PartGrace/2)) || u.Due(t0.Add(PartGrace-time.Millisecond)) {
		t.Fatal("left before the grace was over (a second configuration without a gateway does not restart it)")
	}
	if !u.Due(t0.Add(PartGrace)) || u.Due(t0.Add(2*PartGrace)) {
		t.Fatal("not left once at the end of the grace")
	}
	if _, ok := u.Deadline(); ok {
		t.Fatal("a deadline after the node left")
	}
	if !u.Install(false, t0.Add(3*PartGrace)) {
		t.Fatal("another configuration without a gateway after the node left is not reported")
	}
	if u.Install(true, t0.Add(4*PartGrace)) || u.Install(false, t0.Add(4*PartGrace)) || u.Due(t0.Add(5*PartGrace-time.Millisecond)) {
		t.Fatal("a configuration with a gateway did not end it: the next grace is not a whole one")
	}
}

// Outranks: a part with at least half of its site's nodes takes the role
// back after OutrankedGrace, a smaller one never.
func TestOutranks(t *testing.T) {
	for _, c := range []struct {
		members, site int
		want          bool
	}{{1, 2, true}, {1, 3, false}, {2, 3, true}, {2, 4, true}, {1, 4, false}, {3, 3, true}} {
		if got := Outranks(c.members, c.site); got != c.want {
			t.Errorf("Outranks(%d, %d) = %v, want %v", c.members, c.site, got, c.want)
		}
	}
}
