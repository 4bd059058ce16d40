// Package domconf turns a federation domain's ordered stream (the
// gateway/bridge entries every node of a site applies) into the ring
// events a groups.Node takes, so that the groups of the domain run on the
// same group layer as a site's groups, over every node of every site of
// the domain. It is a pure state machine (no sockets, goroutines, clock,
// os or sync), driven beside the node's bridge.Site.
//
// # Node-level configurations
//
// The bridge's configurations name sites; the group layer needs nodes
// with their incarnations (a client is "node:client", and a message's
// origin is the node that sent it). Each site therefore announces its
// nodes in the domain's order: an announcement (an ordinary Up of the
// bridge, kind byte AnnounceKind) lists the members of its local ring's
// regular configuration. Its sender is the site's announcer, the member
// with the lowest id of that configuration: it announces at every regular
// local configuration, and whenever a round (below) opens. Every node
// keeps the last announcement of every site as the stream delivers it, so
// every node of every site knows the same node sets at the same position.
//
// A configuration for the group layer is derived at a position of the
// stream:
//
//   - a regular configuration of the domain (bridge EntryConfig) opens a
//     round: the node installs at once the transitional configuration
//     "dt:<position>/<previous regular id>/<node>" of itself alone, and
//     waits until every site of the new configuration has announced after
//     this position; at the last announcement it installs the regular
//     configuration "dr:<at>" of all the announced nodes, where <at> is
//     "<position>/<announcement's origin>";
//   - an announcement that only removes nodes (an agent crashed or left)
//     installs the transitional configuration "dt:<at>/<previous regular
//     id>" without them and the regular configuration "dr:<at>" at once;
//   - an announcement that adds nodes opens a round as above (a node that
//     joins knows nothing of the other sites before it);
//   - a regular configuration of the domain that continues the one before
//     (bridge.DomainConf.Continues: a gateway failover with the same sites,
//     every one with the same stream through it; bridge, "Failover without
//     a configuration change") opens no round: the node stays in its
//     configuration and notes the new federation ring. A gateway that died
//     leaves the configuration as any node that dies does: its site's
//     announcement without it removes it (at once, with no state
//     exchange), and a group with no member on it sees no view.
//
// The origin tells apart the streams of two components of a split
// federation whose rings have the same sequence number: their positions
// are alike (localring.DomainOrder.Ring is the ring's sequence number),
// their messages there are not.
//
// Every node derives the same configurations from the same stream,
// so the group layer's guarantees (one view order, views at the same
// place of the order everywhere, transitional views before regular ones,
// reason network for the members of a site that was cut off) carry over
// to the domain.
//
// A round's transitional configuration holds the node alone: which of
// the others go on with it is known only when the round completes, and
// nothing the node derives may depend on its local ring at the moment it
// applies an entry: a node back in its site's ring after a moment out of
// it applies the entries it missed later than the others (its site
// re-injects them: bridge, "Have"), under another local configuration.
// The same holds for a node whose site announced it out (it left its
// site's ring; it applies the announcement late) and for one whose
// stream skipped a configuration of the domain (see View.Entry): each
// leaves its regular configuration for a transitional one of itself, and
// comes back through a round.
//
// An announcement names the local ring it lists (its sequence number),
// and one older than a ring already announced for one of its nodes is
// stale and ignored: the announcer of a part of a site split from its
// active gateway sends its announcement when the site's ring is whole
// again (the bridge sends pending Ups again), possibly after the whole
// ring's.
//
// # The federation's transitional configuration
//
// The messages between the bridge's transitional configuration entry and
// the next regular one are those the federation delivered in its
// transitional configuration: the components of a split federation
// deliver different sets there, with holes. A node in a regular
// configuration installs its transitional configuration of itself alone
// at the entry (as when a round opens: which others go on with it is
// known only at the round's end) and delivers them in it; its own among
// them were sent in the regular configuration before (the bridge puts
// their EntrySends before the entry). An announcement among them only
// updates the site's nodes: the round of the next regular configuration
// installs what it says.
//
// A site whose gateway catches up from another site after it was cut off
// gets the others' transitional configuration's messages in its regular
// configuration (bridge, "Catch-up"), without the entry; the bridge marks
// them (bridge.Entry.FedTrans), and an announcement among them waits for
// the next round as in the transitional configuration (or for the next
// configuration that continues the domain's, which installs what it
// changed, as the regular configuration's announcement would): one that removes a
// node installed a regular configuration there, and the messages after it
// were delivered in that one, not in the one their senders were told they
// were sent in (EVS 1.3; TestAnnounceInTransitional's removes/skip case).
//
// # Messages while a round is open
//
// While a round is open (the node is in its transitional configuration), group messages and requests of the stream are
// discarded (counted) at every node alike, and their senders are told
// that they were not sent in the regular configuration, so their group
// layer sends them again once the new one is agreed; state exchange
// reports go through. A message is never delivered in a configuration in
// which its sender did not see it sent, and a sender is told at its
// message's position (the bridge's EntrySend is held until the message
// comes, or until the bridge's transitional entry for the messages the
// federation delivered in its transitional configuration): a message
// that opens a round there (its stream skipped a configuration) is not
// sent. A message whose sender is not a member of the configuration at
// its position (the regular one, or the one the node left for the
// federation's transitional messages) is discarded too: an Up waits at
// its site until it is ordered, so one can come down after its sender
// left the configuration (a moment out of its site's ring: its site
// announced it out), where the sender, which applies the announcement
// before its message, was told that it was not sent.
//
// # Orders
//
// A delivered message's localring.Order is {Ring: the regular
// configuration's position, Seq: the message's domain position}: it grows
// along the stream, as the group layer's join stamps need. Position
// returns the domain position back, for the trace's order field.
//
// # Known gaps
//
// A node that joins its site after the domain formed learns the domain's
// sites from the announcement that lists it (the announcer's view when it
// sent it): a domain configuration change ordered between that send and
// its delivery may give it a different configuration than the others for
// one round.
//
// A configuration derived at an announcement inside a federation ring's
// stream is not agreed across a partition. A site whose gateway saw the
// announcement safe in the federation's regular configuration installs it
// there and delivers what follows in it; the sites that settle the next
// ring without that site (no Sync of it names the place: bridge, "Positions
// and the Sync phase") have the same places in the federation's
// transitional configuration, where the announcement waits for the next
// round. The messages after it are then delivered in the new
// configuration at the first site and in a transitional configuration
// that follows the old one at the others (EVS 1.3); an announcement that
// adds a node discards them at the first site, where their senders are
// told they were not sent, and the others deliver them (1.1, then a
// duplicate when they are sent again). TestAnnounceRegularAtOneSite (run
// with ATOLL_KNOWN_BUGS set) shows both. Applying the announcement later,
// at a place every site is known to have in the regular configuration (a
// mark of the bridge's Acks), does not close it: one site can deliver
// that place in the regular configuration and the others in the
// transitional one, as any message. Closing it needs the sites that have
// the change in the transitional configuration to follow it there
// (install it, then a transitional configuration of the node alone, with
// each of their own sends told in the configuration at its message's
// place), and then the transitional configuration of an in-ring change
// must hold no node of another site (EVS 2.4: a member of it that
// installs the next regular configuration another way), which shows
// every group with members at other sites a transitional view at every
// change; or changes only at the federation's ring boundaries, where the
// Syncs agree on the place.
package domconf
