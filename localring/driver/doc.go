// Package driver runs a localring.Node for real: one goroutine owns the
// node, reads the clock once per pass, arms one timer for the node's next
// deadline, feeds it received packets and the caller's submissions, and
// writes what it produced through a Transport that addresses members by
// ring member id. The agent's local ring (UDP behind packet sealing,
// package localring/driver/sealed) and the federation ring (QUIC) are
// both driven by it; drivertest has an in-memory Transport and the
// contract suite every Transport runs.
//
// # The loop
//
//	d, err := driver.New(driver.Config{Node: n, Transport: t, Store: s, Hooks: h})
//	err = d.Run(ctx) // until ctx is cancelled: drain, leave, close t
//
// Each pass of Run writes what the node produced (see "The order of
// output" below), waits for one of: a batch of received packets, a Wake,
// the timer (the node's NextDeadline or Hooks.Deadline), or the end of
// ctx; then reads the clock once and feeds the node, with that reading:
// the packets the node addressed to itself (the token of a ring of one;
// transports never deliver a member's own packets), every received batch
// that is waiting, whatever woke the pass (so that no timer fires while
// packets that would have stopped it wait), with the tokens last (Totem's
// rule, as in Corosync: a node acts on the token only after the messages
// that arrived before it, so it does not ask for messages it holds), the
// functions other goroutines handed to Do, Hooks.Pass (where the caller
// submits), and Tick when a deadline is due.
// A receive goroutine fills a few recycled batches (Config.RecvBatches of
// Config.RecvBatchPackets packets, allocated once) with Transport.Recv and
// stops reading while the loop is behind, so the transport's buffers
// absorb bursts. Nothing is allocated per packet.
//
// # The order of output
//
// For every Ready of the node the driver does, in this order:
//
//  1. if the node's ring sequence number grew past the last saved value,
//     StateStore.SaveRingSeq(seq+Config.RingSeqReserve), synchronously;
//  2. Hooks.Events with the Ready's events (trace, logs, groups);
//  3. Send or SendAll for each packet (or loopback when addressed to the
//     node itself), then one Flush;
//  4. Hooks.Output.
//
// Step 1 before step 3 is the persistence contract, like etcd-raft's
// HardState before its messages: no packet that reveals a ring sequence
// number leaves a node before that number is durable. A ring is named by
// its sequence number and its representative's node id (not incarnation),
// and a node that restarts with a lower number than it already announced
// could form a second, different ring under the same name; the other
// members, the group layer's view ids and the EVS trace would take one
// for the other. Saving before the events also keeps an installed
// configuration id from reaching the application before it is durable. If
// SaveRingSeq fails, the driver sends nothing of that Ready, logs an
// error and Run returns an error wrapping ErrStateNotSaved that tells the
// operator to fix the storage and restart; the other members see the
// node fail and re-form without it.
//
// The driver saves ahead: seq plus Config.RingSeqReserve (default 1024),
// so that the next 256 ring changes need no save. The cost is one
// synchronous save (an fsync) per 256 membership changes and none per
// message. Saving exactly on every growth would put one fsync on every hop
// of each commit token's first rotation, which the token timeout bounds:
// 16 members × 15 ms fsyncs add 240 ms, more than the LAN preset's 200 ms.
// The price is that ring sequence numbers jump by up to the reserve after
// a restart, which is harmless: they only need to grow.
//
// # Back-pressure from the transport
//
// A transport whose connections run under congestion control (the
// federation ring's QUIC) may carry far less than the ring's window,
// which is sized from the declared bandwidth: QUIC carries about
// 1 Mbit/s at 1 % loss and 200 ms RTT whatever the link's capacity. Such
// a transport implements BacklogReporter, and at every pass the driver
// lets the node put out at most (Config.MaxBacklogBytes − Backlog()) /
// MaxPacketBytes new packets per token visit (localring.Node.SetSendLimit;
// the core stays free of time and I/O). The node then sends what the
// connection drains: its messages wait in its own queue, where the
// application's back-pressure sees them, the transport's queues never
// overflow, and (with the transport keeping tokens ahead of messages) the
// token is never late because of them. A transport that writes to the
// network at once (UDP: the local ring) does not implement it, and
// nothing changes for it.
//
// # Leaving
//
// When Run's context is cancelled the driver calls Hooks.Leaving, then
// keeps running until the node's queue is empty, this node's messages have
// been delivered back to it and Hooks.Drained agrees, or
// Config.DrainTimeout has passed; then the node multicasts its leave
// (the others re-form at once instead of after the token and consensus
// timeouts), Run closes the transport and returns nil.
package driver
