package localring

import (
	"errors"
	"fmt"
)

// ErrIDTooLong wraps the error Step returns for a membership packet
// (join, commit token, merge-detect) that would admit a member whose node
// id is longer than Config.MaxIDBytes: the packet is refused and counted in
// Stats.LongIDs. Recovery could not wrap a full packet of this ring in a
// header naming that member within MaxPacketBytes.
var ErrIDTooLong = errors.New("localring: node id longer than the ring's node id bound")

// longID returns the first id of ids longer than the node's bound, or "".
func (n *Node) longID(ids ...NodeID) NodeID {
	for _, id := range ids {
		if len(id) > n.cfg.idBytes() {
			return id
		}
	}
	return ""
}

// refuseLongIDs checks the ids a membership packet from sender would admit
// into this node's rings: its sender, the ring it names and the members it
// proposes (a join's fail set admits no one).
func (n *Node) refuseLongIDs(t packetType, sender NodeID, ids []NodeID) error {
	id := n.longID(ids...)
	if id == "" {
		return nil
	}
	n.stats.LongIDs++
	return fmt.Errorf("%w: %s from node %q names node %q of %d bytes, above this node's bound of %d (Config.MaxIDBytes; the agent takes the longest node name of the site): give every node of the ring the same bound, at least %d, or a shorter id",
		ErrIDTooLong, t, sender, id, len(id), n.cfg.idBytes(), len(id))
}

func (j *join) admits() []NodeID {
	ids := []NodeID{j.sender.ID}
	for _, m := range j.proc {
		ids = append(ids, m.ID)
	}
	return ids
}

func (c *commit) admits() []NodeID {
	ids := []NodeID{c.ring.Rep, c.to}
	for _, e := range c.entries {
		ids = append(ids, e.member.ID)
	}
	return ids
}

func (m *merge) admits() []NodeID { return []NodeID{m.ring.Rep, m.sender.ID} }
