package groups_test

import (
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/tracemap"
)

// The group layer's tests write their traces with the one trace adapter
// that the agent and the simulators use.
func init() {
	groups.TraceLine = func(node string, inc uint64, domain string, e *groups.Event) (evs.Event, bool) {
		return tracemap.Proc{Node: node, Inc: inc, Domain: domain}.Group(e)
	}
}
