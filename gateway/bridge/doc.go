// Package bridge is the gateway's bridge between a site's local ring and a
// federation domain's ring, as a pure state machine (no sockets,
// goroutines, clock, os or sync; localring's TestPureStateMachine checks
// it). Every node of a site runs one Site per federation domain its site
// is in, not only the gateway: any node may become the active gateway, and
// every node must know what its site sent up and brought down.
//
// # Up
//
// A node sends a message to the domain by submitting EncodeUp(svc,
// payload) on its local ring. Its origin id is the id the local ring gives
// it (node, incarnation, seq), qualified by the site, so Seq grows along
// each origin. Every node of the site keeps the Up as pending (at most
// Config.MaxPending) until it sees it come down. The active gateway
// submits each pending Up to the federation ring once per gateway term, in
// local order; a node that becomes the active gateway (a new term)
// submits again every Up still pending.
//
// # Positions and the Sync phase
//
// A message's place in the domain is a localring.DomainOrder: Seq, a
// domain-wide number, and Ring, the federation ring that assigned it
// (which tells apart the numbers two partitioned components assign). The
// federation ring's own localring.Order is not used: after a merge the
// members come from rings with different histories, and it does not fit a
// trace's 53-bit order field. The gateways number instead: when the
// federation ring installs a regular configuration, every member's
// gateway submits Sync{site, ring, last position its site holds} before
// anything else; federation deliveries are held until every member's Sync
// for this ring has been delivered (or the ring ends, when the Syncs
// delivered so far count: a message follows its sender's Sync, so any
// message means at least one Sync; a ring that ends before any Sync
// continues from the gateway's own last number, the same at members that
// come from one configuration and possibly not at others: a known gap).
// The numbering then continues after base, the highest position in the
// Syncs: the regular configuration is base+1, then the held messages,
// then every later delivery, in federation order. The domain's
// transitional configuration comes after the messages the federation
// delivers in its transitional configuration (they were sent in the
// regular one, and every site that moves on with this one delivers them),
// just before the next regular configuration. Every member sees the same
// deliveries in the same order, so all number alike.
//
// # When a message is sent
//
// In EVS terms a domain message is sent in the configuration in which the
// federation orders it, as a ring message is sent when the ring takes it
// (localring.EventSend): an Up waits at its site, and goes up again after
// a failover, until it is ordered. The stream tells the sender's node with
// an EntrySend just before the message's delivery. A sender that crashed
// before its message came down has no such entry.
//
// # Down
//
// The active gateway injects every numbered entry (messages and
// configuration changes) into its local ring as a Down, in position
// order. Every node applies Downs in local order and drops every position
// at or below the last it applied, so a new gateway's re-injection is
// harmless; the applied Downs are the domain's stream (Ready.Stream) for
// the domain's groups.Node. A message whose origin seq is at or below the
// highest already delivered for its origin is dropped (Stats.Duplicates):
// the copy a new gateway re-submitted of an Up the old one got ordered.
// Every site drops the same copies, since all see one federation order.
//
// # Catch-up, and the bound
//
// A site whose gateway failed may have missed entries that the federation
// ordered while the site was still a member (its old gateway died before
// injecting them). When its new gateway joins, its Sync names the last
// position the site holds. The lowest-id member whose Sync is base
// answers every member behind it with a CatchUp: the entries of its log
// after that position up to base, if its log holds that exact position
// (the two sites then share the history up to it), or a refusal: when the
// position is older than the log (Stats.BeyondLog), or when the log does
// not hold it because the asking site comes from another component of a
// split federation, which numbered its own entries (Stats.Diverged; every
// position carries the ring that numbered it, so two components never
// share one). Every node keeps the last Config.LogEntries entries (default
// 8192 entries, DefaultLogEntries): that is the bound. The gateway that waits for its
// CatchUp holds the new ring's entries back until it arrives.
//
// The site injects the entries of configurations it was still a member of,
// up to the first configuration change that excludes it; at that position,
// where the other sites installed a transitional configuration without it,
// it installs a transitional configuration of its own (only its site), and
// then the new ring's regular configuration at base+1 with everyone. On a
// refusal (the gap exceeds the log) it installs the same transitional
// configuration at once and misses what it did not hold: a partition and a
// merge. Either way, what the other sites delivered in configurations
// without this site is not delivered here (EVS: a message is delivered in
// the configuration it was sent in, to its members).
//
// # Views
//
// The stream's configuration entries are the domain's configuration
// changes (sites connected through the federation ring); the domain's
// groups.Node turns them, with group joins and leaves that travel up like
// messages, into views at the same place in the domain order at every
// site: a site that left has its members leave with reason network.
//
// A gateway failover is therefore a partition and a merge of its site for
// the domain (transitional, then regular), not an invisible change:
// keeping the site in the domain's configuration while it has no gateway
// would let the other sites deliver messages in a configuration that
// names the site while its members cannot receive them.
package bridge
