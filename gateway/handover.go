package gateway

import "github.com/atoll-gcs/atoll/gateway/bridge"

// Handover is one node's part of a gateway handover for one federation
// domain (`atoll admin handover`, federation.Role.Handover), in the
// order every driver takes it, the agent's (agent/handover.go) and
// gateway/hiersim's (Options.handover) alike:
//
//  1. at the agreed request's delivery on the local ring, every node
//     calls Agreed: the active gateway's bridge drains (bridge
//     Site.Handover), and the old gateway drains its federation ring
//     member;
//  2. once that member stopped, the old gateway calls Stopped (its term
//     ends: bridge Site.FedStopped) and submits the release on the local
//     ring;
//  3. at the release's delivery every node calls Released (bridge
//     Site.Release with the handover's epoch), and the new gateway starts
//     its federation ring member with a grace (Grace.Start, SoloGrace).
//
// A resumption (the old gateway stays active when a configuration change
// ended the handover, federation.Role.Resume) is a release to itself.
type Handover struct {
	B    *bridge.Site // the node's bridge of the domain
	Self string       // the node's id
}

// Agreed applies the agreed request, which hands the role over from
// gateway from, and reports whether this node is from: it drains its
// federation ring member next, and calls Stopped once the member stopped.
func (h Handover) Agreed(from string) (drain bool) {
	h.B.Handover()
	return from == h.Self
}

// Stopped ends the old gateway's term once its drained federation ring
// member stopped, if its bridge still is the active gateway's.
func (h Handover) Stopped() {
	if h.B.Active() {
		h.B.FedStopped()
	}
}

// Released applies the release (or resumption) that makes gateway to the
// active one from the handover's epoch on, and reports whether this node
// is to: it starts its new federation ring member, with a grace.
func (h Handover) Released(to string, epoch uint64) (start bool) {
	h.B.Release(to == h.Self, epoch)
	return to == h.Self
}
