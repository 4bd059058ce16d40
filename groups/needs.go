package groups

import "github.com/atoll-gcs/atoll/localring"

// Needs reports whether the ring message payload, sent by the node
// origin and delivered as the next message of the order, concerns a node
// for which at returns true: whether a set of nodes (a site of a
// federation domain) must receive it. It is the decision behind
// bringing a domain's messages down only to the sites that have members
// of their groups (gateway/bridge, "Down").
//
// It is false only for a multicast or point-to-point message that the
// node would deliver with agreed state and the current epoch, that
// origin is not one of at, and that names no group with a member of its
// last regular view on one of at, or whose recipient is not on one of
// at. The last regular view, not the transitional one a message after a
// transitional configuration is delivered in (a subset of it): nodes
// that come from one regular configuration into different transitional
// ones (a federation domain's round puts each node in one of itself
// alone: gateway/domconf) have different transitional views and the
// same regular ones, and one node (a site's gateway) decides for the
// others. It is true for every other payload: requests (joins,
// leaves, disconnects, ACL changes) and state-exchange reports, which
// change the group state that every node keeps for every group; payloads
// of other ring users, malformed ones; messages the node would discard
// (exchange in progress, another epoch), to keep the rule simple. An
// ACL that denies the sender makes the message go to no client; Needs
// does not look at ACLs, so it may say true where no client gets it,
// never false where one does.
//
// The answer is a function of the node's group state, which follows from
// the order alone: every node that applied the same order up to the
// message (every node of every site of a domain, as of the same
// position) answers alike for the same at, also in different
// transitional configurations after the same regular one. Messages it says false for
// change no group state, so a node that never receives them keeps the
// same state as one that does.
func (n *Node) Needs(payload []byte, origin localring.NodeID, at func(localring.NodeID) bool) bool {
	if at(origin) || !IsGroupPayload(payload) {
		return true
	}
	var w wireMsg
	var err error
	switch kind(payload[1]) {
	case kindMulticast, kindUnicast:
		w, err = parseWireIntern(payload, n.known, nil)
	case kindStub:
		w, _, err = parseStub(payload, n.known)
	default:
		return true
	}
	if err != nil {
		return true
	}
	if (n.phase != phaseRegular && n.phase != phaseTrans) || w.epoch != n.epoch {
		return true
	}
	if w.kind == kindUnicast {
		node, _, err := SplitMember(w.to)
		return err != nil || at(node)
	}
	gen := n.nextGen() // asks at once per node, not once per membership
	for _, name := range w.groups {
		g := n.groups[name]
		if g == nil {
			continue
		}
		for _, mb := range g.members {
			if ni := mb.c.node; ni.mark != gen {
				ni.mark = gen
				if at(ni.m.ID) {
					return true
				}
			}
		}
	}
	return false
}
