package hiersim

import (
	"testing"
)

// TestTwoPartsDoubt replays the partial cut's seed 20 with packets=all:
// fra's local ring split again and again, and fra-1 and fra-2, each
// alone and each fra's active gateway, left r:65544:ams one after the
// other, each delivering fra's Ups in doubt in its own transitional
// configuration in the order of its predecessor's first places, the same
// predecessor's (fra-1's term). fra-2 had fra-1's first place of
// fra-2/1/29 and 78 Ups more in a ring fra-1 left (60), and, from fra-2's
// Again of it, a later one in a ring fra-1 left too (92), which it took:
// fra-1 delivered fra-2/1/29 before fra-1/1/231, fra-2 the other way
// (EVS 6). Of two places left the earlier is the first, in whichever
// order they came (bridge pendingUp.behind, TestFirstsBehindLeft): both
// nodes must deliver Ups in doubt.
func TestTwoPartsDoubt(t *testing.T) {
	parallel(t)
	o, err := parseReplay("fault=partial-cut packets=all")
	if err != nil {
		t.Fatal(err)
	}
	o.Log = openLog(t)
	r := checkedRun(t, 20, o)
	for _, id := range []string{"fra-1", "fra-2"} {
		if r.Bridges[id].InDoubt == 0 {
			t.Errorf("%s delivered no Up in doubt: the run does not cover the case", id)
		}
	}
}

// TestLeftBesideSeed replays the partial cut's seed 28 with packets=all:
// the federation ring r:65552 of ams, fra and sin split three ways as
// sin's gateway got sin-1/1/4 and 7 Ups more ordered; fra's component
// delivered them in its transitional configuration, ams's did not, and
// ams refused fra's catch-up (fra left r:65544:ams alone, delivering
// them there). sin's new term, in r:196672 with both, was answered by
// ams through ams's own transitional configuration out of r:65552, which
// lacks fra too: taking the answer for the domain's word, sin submitted
// the Ups again, ordered in r:196672, their senders told they sent them
// there (EVS 1.3 at fra). The answer does not end the term's doubt now
// (bridge Site.leftBeside, TestInDoubtLeftBeside): sin delivers them in
// doubt in its own transitional configuration (Stats.InDoubtSplit must
// count).
func TestLeftBesideSeed(t *testing.T) {
	parallel(t)
	o, err := parseReplay("fault=partial-cut packets=all")
	if err != nil {
		t.Fatal(err)
	}
	o.Log = openLog(t)
	r := checkedRun(t, 28, o)
	var split uint64
	for _, st := range r.Bridges {
		split += st.InDoubtSplit
	}
	if split == 0 {
		t.Error("no answer left Ups in doubt (bridge Stats.InDoubtSplit): the run does not cover the case")
	}
}
