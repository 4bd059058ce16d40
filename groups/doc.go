// Package groups implements lightweight process groups on a Totem ring, in
// Spread's model, as a pure state machine: every agent of a site runs one
// Node beside its localring.Node, feeds it the ring's events in order, and
// gets back views and messages for its local clients. Joins, leaves and
// messages are ring messages, so thousands of groups share one ring and
// one total order, and every agent derives every group's views from that
// order and the ring's configuration changes, without further agreement.
//
// A member is a client of a node, named "node:client" (client names hold
// no ':'). A group exists while it has members (or an ACL); it needs no
// creation.
//
// # What it guarantees
//
// Within one ring (an EVS domain), for every group:
//
//   - every node that delivers a view with a given id delivers the same
//     members in the same order: oldest first, by the ring order of their
//     joins (Members[0] is a natural leader);
//   - nodes deliver a group's views in one order, and a message in the
//     same view at every node that delivers it in the same ring
//     configuration; the message reaches exactly the local members of
//     that view, once per member even when it names several of the
//     member's groups, and a client never sees a message of a view it is
//     not in (virtual synchrony);
//   - a ring configuration change first delivers a transitional view (the
//     members that move on together) to every group that loses members,
//     then a regular view; Joined and Left say what changed since the
//     previous regular view, and Reason why: join, leave (a leave
//     request), disconnect (the client's session ended, or its node came
//     back with a new incarnation, so it crashed), network (anything else
//     the ring reports: a partition, a merge, a node that vanished, which
//     the ring alone cannot tell from a crash);
//   - messages are delivered in the ring's total order, across all groups
//     and all service levels: a multicast to several groups is one ring
//     message, delivered in one consistent order with everything else;
//     a point-to-point message (Send) travels the same way and is ordered
//     with its sender's multicasts.
//
// Groups are open, as in Spread: anyone may send to a group, member or
// not, and anyone may join, unless the group's ACL (SetACL) restricts who
// may join, send or change the ACL. ACLs are checked when a request or
// message is delivered, at every node, against the ACL in force at that
// point of the order, so all nodes decide alike.
//
// # Driving a Node
//
// A Node does no I/O, reads no clock and starts no goroutine. The driver
// that owns the ring node owns it too, from the same goroutine:
//
//	g, err := groups.New(groups.Config{Node: ring.ID()})
//	for {
//		rd := ring.Ready()
//		send rd.Packets
//		for _, e := range rd.Events {
//			g.Step(e)             // every event, in order
//		}
//		grd := g.Ready()
//		queue = append(queue, grd.Submits...)
//		for len(queue) > 0 {        // in order; keep the rest on back-pressure
//			if _, err := ring.Submit(now, queue[0].Svc, queue[0].Payload); err != nil {
//				break
//			}
//			queue = queue[1:]
//		}
//		for _, e := range grd.Events {
//			hand e to the clients in e.To; write it to the trace
//		}
//		wait for a packet, a client request (g.Join, g.Multicast, ...) or the ring's deadline
//	}
//
// Client requests return at once: a name or size error synchronously (an
// *Error wrapping ErrBadName, ErrNotMember, ErrTooLarge, ErrBackpressure),
// and what is decided in the ring's order as an EventReject (ErrDenied,
// ErrNotMember). A join takes effect with the view that lists the client,
// a leave with an EventLeft.
//
// For --trace, write EventConf as "install", EventSent as "send",
// EventDeliver as "deliver" (at every node, also with no recipients: the
// EVS checker judges nodes) and EventView as "view", and set
// Config.AllViews so that the trace holds every view of every group.
//
// # How views are derived
//
// A join, leave, disconnect or ACL change delivered in a regular
// configuration applies at once: its view is named "<conf>@<seq>.<index>"
// after its place in the ring's order. One delivered in a transitional
// configuration waits for the next regular one, where it applies after
// that change's own view ("<conf>+<k>"): views change only in regular
// configurations.
//
// A configuration change delivers transitional views
// ("<trans>~<hash of the previous view's id>") for the groups that lose
// members, then:
//
//   - when every member of the new regular configuration comes from the
//     same regular configuration and group state as this node (its
//     transitional configuration is the whole new one), the new views
//     follow from the configuration alone: the previous views without the
//     departed nodes' members, named "<conf>";
//   - otherwise (a merge, a restarted node, or an earlier exchange that did
//     not finish) the nodes exchange state: each sends a report of its own
//     members, with their join stamps, the requests of its clients it
//     accepted in the transitional configuration, and the ACLs it knows.
//     When the last report is delivered, at the same point of the order at
//     every node, each node computes the union of the reports (a node is
//     the authority on its own members; the newest ACL wins), delivers
//     the regular views that changed, named "<conf>", and applies the
//     reported requests. A node that gets the last report only in the
//     transitional configuration that follows finishes there, so it also
//     delivers what the others delivered after it.
//
// The reason of a configuration change's view is disconnect when every
// member that left was on a node that came back with a new incarnation
// (so it crashed), and network otherwise.
//
// # Sending, and why a message may be sent twice
//
// Group state is agreed only outside exchanges, and messages must be
// delivered in agreed views. Every group message therefore carries the
// epoch of the state its sender had when it handed it to the ring (a hash
// of the configuration of the last exchange). A node delivers or applies
// a message only when it has agreed state (in a regular configuration
// after the exchange, or in the transitional configuration after one) and
// the message's epoch is its own; otherwise every node discards it, alike.
// The sender knows the outcome when the ring sends the message
// (EventSend): in a regular configuration with agreed state and the same
// epoch the message will be delivered wherever it is delivered at all, so
// the Node reports EventSent; otherwise it keeps the message and hands it
// to the ring again once the new state is agreed, after the messages
// still in the ring and before newer ones, so each client's order holds.
// Message.Seq names a message across such resends.
//
// Like Spread, a node hands no client message to the ring while it
// exchanges state, and Config.WindowMsgs bounds what it has in the ring's
// queue, so a merge costs at most a window of resends per node.
//
// # Service levels, and what Causal means here
//
// The service level travels with each message to the ring. The ring
// delivers every level in its single total order, a Safe message only
// once every member holds it (which also holds back the messages behind
// it); the group layer adds no waiting to any level: a message is
// delivered to the clients when the ring delivers it.
//
// So Causal is real causal order, not a synonym for Agreed, and it costs
// exactly what Agreed costs: one ring delivery, no vector clocks on the
// wire. If the sender of m' had delivered m before it submitted m' (or
// sent m itself, first), m precedes m' in the ring's order, because a
// node's new message is ordered after everything it has delivered; every
// node that delivers both, in any groups, delivers m first. As in EVS,
// the promise holds within a configuration: a node that joins later
// delivers m' without m. FIFO and Reliable hold a fortiori. Atoll cannot
// deliver Reliable, FIFO or Causal messages earlier than Agreed ones
// today: the ring hands over each level at the first point its order
// allows. Delivering them ahead of a Safe message that is not yet stable
// would need the ring to deliver out of order; the checker's Causal and
// FIFO rules (with senders' dependencies in traces) are ready for it.
// Unreliable messages are carried as reliably as the others (the ring
// retransmits everything); the level only tells receivers not to rely on
// it.
//
// # Costs
//
// Measured with go test -bench . ./groups on one core of a shared AMD
// EPYC: a group of three members takes about 300 bytes, each further
// membership about 110; a join is one ring message, its view comes with
// its delivery, and applying it takes about 4 µs in a node with 100,000
// groups; a multicast to 100 groups is one ring message, delivered to the
// local members in about 9 µs. A configuration change costs time in
// proportion to the groups that lose members; a state exchange, to all
// groups and memberships (80 ms to merge two halves of 10,000 groups
// each), in reports split to fit the ring's message size. Requests made
// during an exchange wait for it: one report per node, in one rotation
// of the token when nothing else is queued.
package groups
