package hiersim

import (
	"fmt"
	"testing"
)

// TestHeldBehindDoubt replays runs where a gateway term held Ups behind
// an earlier Up of their origin in doubt (bridge afterDoubt) while it
// submitted later Ups of other senders, and a later term of the site,
// taking that term for its predecessor, delivered them in doubt: it must
// order them where the gateway submitted them, after those, not at their
// first places (bridge Site.heldBehindDoubt; Stats.HeldBehindDoubt must
// count at some node). Before, each broke EVS 6 and 9: stray-gateway
// seed 26 with packets=no-local-loss (fra-1 delivered fra-3/1/17 before
// fra-2/1/84 in r:131124:fra, sin-1 the other way: fra-2 submitted its
// own Ups before fra-3's, which waited behind fra-3/1/16 in doubt), and
// gateway-local-cut seed 89 with packets=all (ams-1 delivered ams-2/1/20
// before ams-3/1/44 in r:131092:ams, sin-1 the other way).
func TestHeldBehindDoubt(t *testing.T) {
	parallel(t)
	for _, c := range []struct {
		replay string
		seed   uint64
	}{
		{"fault=stray-gateway packets=no-local-loss", 26},
		{"fault=gateway-local-cut packets=all", 89},
	} {
		t.Run(fmt.Sprintf("%s/%d", c.replay, c.seed), func(t *testing.T) {
			o, err := parseReplay(c.replay)
			if err != nil {
				t.Fatal(err)
			}
			o.Log = openLog(t)
			r := checkedRun(t, c.seed, o)
			var moved uint64
			for _, st := range r.Bridges {
				moved += st.HeldBehindDoubt
			}
			if moved == 0 {
				t.Errorf("no node moved an Up held behind an Up in doubt: the run does not cover the case")
			}
		})
	}
}
