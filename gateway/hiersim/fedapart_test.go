package hiersim

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// fedApart names a split of the federation ring among members that stayed
// (one installed a ring the others never did, and each came into the
// next through a transitional configuration without the other), and
// nothing else: not a failover (a site's member comes back with a newer
// incarnation), not a ring formed again that every member came into
// together, not a member that left.
func TestFedApart(t *testing.T) {
	for _, c := range []struct {
		name  string
		confs []string           // a#1's installations, in order (conf)
		want  []localring.Member // apart, at the last regular configuration
	}{
		{"formed again together", []string{"r:1 a1 b1 c1", "t:2 a1 b1 c1", "r:2 a1 b1 c1"}, nil},
		{"a failover", []string{"r:1 a1 b1 c1", "t:2 a1 b1", "r:2 a1 b1 c2"}, nil},
		{"a site left", []string{"r:1 a1 b1 c1", "t:2 a1 b1", "r:2 a1 b1"}, nil},
		// a alone installed r:2 (b's recovery lost its token), then each
		// comes into r:3 on its own; c failed over twice meanwhile (as at the local cut's seed 2).
		{"split", []string{"r:1 a1 b1 c1", "t:2 a1 b1", "r:2 a1 b1 c2", "t:3 a1", "r:3 a1 b1 c3"}, []localring.Member{mem("b", 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a fedApart
			var got []localring.Member
			for _, s := range c.confs {
				got = a.install(mem("a", 1), conf(s))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("apart %v, want %v", got, c.want)
			}
		})
	}
}

// mem is member id#inc.
func mem(id string, inc uint64) localring.Member {
	return localring.Member{ID: localring.NodeID(id), Inc: inc}
}

// conf parses "r:SEQ a1 b1" (a regular configuration of a#1 and b#1) or
// "t:SEQ ..." (a transitional one).
func conf(s string) *localring.Configuration {
	f := strings.Fields(s)
	c := &localring.Configuration{ID: f[0], Kind: localring.Regular}
	if strings.HasPrefix(f[0], "t:") {
		c.Kind = localring.Transitional
	}
	for _, m := range f[1:] {
		var inc uint64
		fmt.Sscanf(m[1:], "%d", &inc)
		c.Members = append(c.Members, mem(m[:1], inc))
	}
	return c
}

// The local cut's seed 2 with packet faults on the federation ring: ams's
// member installed r:131096 alone (fra's new member's and sin's recovery
// lost its token), and ams and sin came into r:196640 each through a
// transitional configuration of its own. The domain changes its
// configuration there, a partition and a merge of the federation; the
// run passes on every check, and, the split not counted, the same run
// fails on "domain configurations installed at a failover": the check
// still holds every other failover to no change.
func TestFedApartCheck(t *testing.T) {
	parallel(t)
	o := Options{Topology: topologyFile, Fault: FaultLocalCut, Packets: PacketsNoLocalLoss}
	r, err := Run(2, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.FedApart == 0 || r.PartialFed != 0 || r.Installs == 0 {
		t.Fatalf("federation splits %d, partial federation configurations %d, domain configurations installed %d: want a split, none partial, some installed", r.FedApart, r.PartialFed, r.Installs)
	}
	if bad := findings(o, r); len(bad) > 0 {
		t.Errorf("the run failed: %s", joinLines(bad))
	}
	r.FedApart = 0
	if bad := findings(o, r); !slices.ContainsFunc(bad, func(s string) bool { return strings.Contains(s, "installed at a failover") }) {
		t.Errorf("without the split, the run's findings %q have no configuration installed at a failover", bad)
	}
}
