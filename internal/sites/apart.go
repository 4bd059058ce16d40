package sites

import (
	"slices"
	"time"
)

// Apart reports whether a member whose views of a group were views (in the
// order its client got them) was apart from other (a member name, as views
// list it) at some time in [from, to]: whether the view current at from,
// or one installed up to to, lacks other. Such a member does not owe
// other's messages of that time, and other does not owe it its own: EVS
// makes a member deliver what a sender sent only while the two stay
// connected.
//
// Regular views always count. In a site's ring (federated false) so do
// transitional views: one lists the members that move on together, and
// the others were cut off from this one. A member cut off at the install
// of a ring goes through a transitional view of itself alone into the
// next regular view of everyone; no regular view lacks the others, but
// what they sent in the ring it missed is not owed to it. In a federation
// domain (federated true) transitional views do not count: gateway/domconf
// gives each node a transitional view of itself alone at every change,
// whoever moves on with it, so they say nothing of who was cut off.
func Apart(views []View, other string, from, to time.Time, federated bool) bool {
	var cur *View // the last view that counts installed at or before from
	for i := range views {
		v := &views[i]
		if v.Transitional && federated {
			continue
		}
		if v.At.After(to) {
			break
		}
		if !v.At.After(from) {
			cur = v
			continue
		}
		if !slices.Contains(v.Members, other) {
			return true
		}
	}
	return cur != nil && !slices.Contains(cur.Members, other)
}

// DeliveredApart reports whether a member whose views of a group were views
// got a message at at (zero: never) in a transitional view that lacks other:
// EVS makes only the members of that transitional configuration deliver
// it, and other does not owe it. In a federation domain, where a node's
// transitional views hold it alone (gateway/domconf), these are the
// messages the federation delivered in its transitional configuration,
// which the components of a split federation deliver with holes:
// TestDomainBacklogBound under -race with GOMAXPROCS=1 (3 runs of 11)
// lost its federation token; a-1 and a-2 delivered 15 of their own
// messages in their transitional views of themselves alone, b-1 in its own
// delivered none of them, and all three went on into one regular view,
// reason network. The EVS checker passed those traces; only the
// transitional view at the sender tells the client that the message may
// not have reached the others.
func DeliveredApart(views []View, other string, at time.Time) bool {
	cur := viewAt(views, at)
	return cur != nil && cur.Transitional && !slices.Contains(cur.Members, other)
}

// LeftApart reports whether a member whose views of a group were views
// left the regular view id through a transitional view that lacks other:
// the view after id in views is transitional and does not list other. A
// message that other got in its regular view id is then not owed to the
// member if it did not get it in id: EVS makes a message delivered in a
// regular configuration be delivered by the members that go on with its
// sender into the same next configuration (failure atomicity), and the
// transitional configuration lists who those are. Unlike Apart this holds
// in a federation domain too, where gateway/domconf installs a
// transitional configuration of the node alone when a round opens: the
// node does not know then which others go on with it, and what another
// delivered in the regular configuration after its last delivery there it
// may never get. It does not excuse a member whose transitional view lists
// other (a change that only removes nodes, as a gateway's failover: domconf
// installs the transitional configuration of every node left), nor one
// that stayed in id. atoll demo in CI, after a stall of its process and
// 40 s of rings forming again, counted 12 deliveries lost at site a's
// members (c-1's and c-2's messages 19 and 20, which neither Apart nor
// DeliveredApart excused: the senders got them in a regular view, and no
// regular view lacked the other), with the EVS checker passing the traces,
// which were not kept: this is the case that fits.
func LeftApart(views []View, other, id string) bool {
	for i, v := range views {
		if v.ID == id && !v.Transitional {
			return i+1 < len(views) && views[i+1].Transitional && !slices.Contains(views[i+1].Members, other)
		}
	}
	return false
}

// viewAt returns the view current at at in views (nil: none, or at zero).
func viewAt(views []View, at time.Time) *View {
	if at.IsZero() {
		return nil
	}
	var cur *View
	for i := range views {
		if views[i].At.After(at) {
			break
		}
		cur = &views[i]
	}
	return cur
}
