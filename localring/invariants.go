//go:build invariants

package localring

import "fmt"

// invariantsOn is true in builds with the invariants tag (the simulator's
// runs in CI): checkInvariants then verifies, after every input, the
// counters every ring state must keep in order, and panics with the node's
// state when one is broken.
const invariantsOn = true

func (n *Node) checkInvariants(where string) {
	for _, rs := range [...]*ringState{n.reg, n.next} {
		if rs == nil {
			continue
		}
		var broken string
		switch {
		case rs.aru > rs.highSeq:
			broken = "aru > highest sequence number received"
		case rs.delivered > rs.aru:
			broken = "delivered > aru"
		case rs.freed > min(rs.delivered, rs.safeUpTo):
			broken = "freed > min(delivered, safe)"
		}
		if broken != "" {
			panic(fmt.Sprintf("localring: invariant broken after %s at node %s in state %s on ring %s: %s (aru %d, highest %d, delivered %d, safe %d, freed %d, stored %d)",
				where, n.me, n.state, rs.id, broken, rs.aru, rs.highSeq, rs.delivered, rs.safeUpTo, rs.freed, len(rs.store)))
		}
	}
}
