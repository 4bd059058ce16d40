package sim

import (
	"fmt"
	"slices"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// Fencing is the simulator's own property, beyond EVS.md: a configuration
// never holds two incarnations of one member id, and every process that
// installs a regular configuration sees the same members with the same
// incarnations. In a federation ring, whose member ids are sites, it says
// that two gateways of one site are never members of one configuration.
// The EVS traces name members by id only, so the simulator checks it on
// the configurations the nodes install (Cluster.FenceViolations).
var Fencing = evs.Property{Num: "F.1", Name: "one incarnation per member id"}

// fenceCheck watches every install for Fencing.
type fenceCheck struct {
	regular    map[string][]localring.Member // configuration id -> members, as first installed
	violations []evs.Violation
}

// install checks the configuration conf that process id#inc installs.
func (f *fenceCheck) install(domain string, id localring.NodeID, inc uint64, conf *localring.Configuration) {
	bad := func(format string, a ...any) {
		f.violations = append(f.violations, evs.Violation{Property: Fencing, Domain: domain, Conf: conf.ID,
			Procs: []evs.Proc{{Node: string(id), Inc: inc}}, Detail: fmt.Sprintf(format, a...)})
	}
	seen := map[localring.NodeID]uint64{}
	self := false
	for _, m := range conf.Members {
		if other, dup := seen[m.ID]; dup {
			bad("%s#%d installs a configuration with two incarnations of %s: %d and %d", id, inc, m.ID, other, m.Inc)
		}
		seen[m.ID] = m.Inc
		self = self || m == localring.Member{ID: id, Inc: inc}
	}
	if !self {
		bad("%s#%d installs a configuration that lists %s#%d, not itself", id, inc, id, seen[id])
	}
	if conf.Kind != localring.Regular {
		return
	}
	if f.regular == nil {
		f.regular = map[string][]localring.Member{}
	}
	first, ok := f.regular[conf.ID]
	if !ok {
		f.regular[conf.ID] = slices.Clone(conf.Members)
		return
	}
	if !slices.Equal(first, conf.Members) {
		bad("%s#%d installs members %v but an earlier installer of the same configuration saw %v", id, inc, conf.Members, first)
	}
}

// FenceViolations returns the violations of Fencing seen so far.
func (c *Cluster) FenceViolations() []evs.Violation { return c.fence.violations }
