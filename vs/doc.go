// Package vs builds the tools of virtual synchrony (Birman's course,
// SenseiGMS) on package client: a group's leader, state transfer to the
// members that join, a replicated state machine, and publish/subscribe
// by topic.
//
// They rest on what client promises: every member of a group receives
// the same regular views in the same order, members listed oldest first,
// and the same messages in the same order between two views. So a
// decision that depends only on views and messages is taken the same way
// by every member, without a message of its own:
//
//   - Leader: the leader is Members[0] of the last regular view.
//   - Transfer: the oldest member with state sends a snapshot taken while
//     it handles the view that adds members (the view's cut); a joiner
//     buffers what follows its join view until the snapshot arrives, then
//     restores it and replays the buffered messages. Guarantee: after the
//     same sequence of messages following a view, the joiner's state is
//     the one every older member has (see Transfer for the exact protocol
//     and its limits).
//   - RSM: operations are Agreed multicasts applied in the one total
//     order; joiners get the state by Transfer.
//   - PubSub: a topic is a group.
//
// # Driving them
//
// Leader and Transfer do not read the client's events: the program's
// loop hands them each event, in order, like this:
//
//	lead := vs.NewLeader("orders", c.Name(), nil)
//	tr := vs.NewTransfer(c, "orders", c.Name(), myState)
//	for e := range c.Events() {
//		if e.Kind == client.EventView {
//			lead.Observe(e.View)
//		}
//		if err := tr.Handle(ctx, e); err != nil {
//			return err
//		}
//	}
//
// RSM and PubSub own a client and run that loop themselves (Run). The
// programs under examples/ (a replicated counter whose replicas die, a
// leader election, a chat) run in one process against an embedded agent
// (package vstest) and show each tool at work.
package vs
