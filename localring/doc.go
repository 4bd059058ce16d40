// Package localring implements the Totem single-ring protocol (Amir, Moser,
// Melliar-Smith, Agarwal, Ciarfella, ACM TOCS 1995) as a pure state machine:
// the local ring that totally orders every message of one site.
//
// # What it guarantees
//
// The nodes of a ring deliver messages in one total order and install
// configurations with extended virtual synchrony: every member of a regular
// configuration installs it; a regular configuration is preceded by a
// transitional one that lists the members that move on together; a message
// is delivered in the configuration it was sent in or in the transitional
// one that follows; members that move on together delivered the same
// messages; a Safe message is delivered only once every member holds it.
// Crashes, restarts, partitions and merges all go through one membership
// protocol (gather, commit, recovery).
//
// # Driving a node
//
// A Node does no I/O, reads no clock and starts no goroutine. The driver
// (package localring/driver is the one Atoll uses) owns the sockets, the
// clock and one timer, and runs a loop like this:
//
//	n, err := localring.New(cfg)
//	n.Start(now)
//	for {
//		if n.RingSeq() grew { persist it, durably, before anything below }
//		rd := n.Ready()
//		for _, e := range rd.Events  { hand installs and deliveries to the application }
//		for _, p := range rd.Packets { send p.Data to p.To, or multicast when p.To == "" }
//		wait for a packet, a message to submit, or n.NextDeadline()
//		now = clock.Now()
//		n.Step(now, packet) | n.Submit(now, svc, payload) | n.Tick(now)
//	}
//
// Step decodes a packet with bounds checks on every field; a malformed
// packet returns an error wrapping ErrMalformed, is counted in Stats and
// changes nothing. Packet security (authentication, encryption, replay
// windows) is the driver's job, below Step, in package localring/seal.
//
// # The protocol, briefly
//
// The token travels among the members in ascending id order. Its holder
// multicasts retransmissions that others asked for and then new packets,
// each with the next sequence number, within a flow-control window shared
// by the ring (WindowPackets per rotation, MaxPacketsPerVisit per visit,
// split by backlog, counted in packets or, with Config.ByteWindow, in
// bytes, MaxPacketBytes per packet of the window;
// and, per node, Node.SetSendLimit, which the driver
// sets from its transport's send backlog when a congested connection
// carries less than the window). Small messages are packed into one packet; messages up
// to 1 MiB are fragmented. A member asks on the token for the packets it
// misses that were sent before its previous visit (later ones may still
// be on their way) and, with Config.RequestGaps (on in DefaultWAN), at
// once for those it misses between two packets of one sender's visit,
// which are lost: on a long path with random loss that saves a lost
// packet, and every delivery held behind it, a rotation. With
// Config.NackDelay (on in DefaultWAN) a member does not wait for the
// token at all: NackDelay after it learns that packets it misses were
// sent (a later packet arrived, or the token showed them), it asks their
// senders for them directly with a nack packet (an Atoll extension to
// Totem), and the sender answers it alone, about a round trip after the
// loss; the token's requests remain for what a lost nack leaves missing
// (nack.go). A lost token
// stops the ring until its sender retransmits it (TokenRetransmit);
// with Config.TokenCopies (1 by default) each hop sends the token in
// that many copies, and the successor drops the later ones. With
// Config.NackDelay a member that got packets of its predecessor's visit
// but, NackDelay after the last, no token asks the predecessor for it
// (a token nack), which sends it again at once; and after a visit that
// sent nothing, which shows the successor no token is due, the passer
// itself sends the token again once the pass goes unshown for longer
// than its passes take (timed from the token's sending to the first sign
// that the successor has it, as TCP times an acknowledgement), instead
// of at TokenRetransmit: three sites 10 ms apart lost a token hop in a
// hundred at 1 % loss, and each cost 48 ms instead of about a rotation.
//
// A WAN ring sizes its window from the declared bandwidth of its paths
// (WindowForBDP); when a path carries less, the ring keeps the
// bottleneck's queue full, and the token waits in that queue at every
// hop. With Config.AdaptWindow (on in DefaultWAN, off in the LAN and
// cloud presets) each node therefore makes its window delay-based, as
// TCP Vegas does with its congestion window, from the one delay Totem
// measures itself, the token's rotation: a busy rotation longer than
// three times the ring's fastest (kept between TokenTimeout/42 and
// TokenTimeout/6) halves the
// window, at most at every other visit, and a rotation shorter than twice
// the fastest gives back WindowPackets/16 of it. A ring whose window
// matches its paths rotates, saturated, in about twice its idle rotation
// (the window's own packets take about one more), so the window stays
// whole there; over a slower bottleneck it shrinks until the rotations,
// and the queue the token waits in, are short again. Recovery always
// uses the whole window. A node delivers a packet once it holds every
// earlier one (Agreed); a Safe message waits until the token's aru, the
// sequence number up to which every member holds everything, has covered
// it at two consecutive visits. The idle representative holds the token
// for TokenHold before passing it (longer once the ring has stayed idle:
// Config.IdleTokenHold, then Config.IdleTokenHoldMax while its rotations
// and holds run on time), which bounds the cost of an idle ring,
// once every member has delivered everything (after Safe messages, two
// rotations in a row in which nothing was sent and the aru covered
// everything: the representative's own Safe deliveries can come a
// rotation before the others', which would wait out the hold); a
// member that gets a message to send while the ring is idle multicasts a
// small wake packet so that the representative releases the token at once
// (an Atoll extension to Totem: low latency at low load without an idle
// ring spinning the token). With Config.BusyRotation the representative
// also keeps the token of a lightly loaded ring, one that carries a few
// packets a visit and is far from its window, until a rotation has lasted
// that long, so that every member's visit finds more messages waiting:
// fewer token passes per message for up to BusyRotation more latency.
//
// A node that does not see the token for TokenTimeout, or hears a join or a
// merge-detect message from outside its ring, starts the membership
// protocol described at enterGather in membership.go.
//
// A member whose multicasts never arrive, or that receives none, while its
// tokens still pass breaks no timeout. Every member writes its aru on the
// token; when the lowest one stays put for FailRecvRotations rotations
// (about 0.5 s on a LAN: a stalled ring rotates once per StallHold), the
// smaller side of the members that hold the missing packet and those that
// do not is taken out of the ring, with an EventEvict that names each
// member and the cause, and quarantined for EvictQuarantine before a
// merge-detect may bring it back. A node outside the ring whose joins or
// merge-detect messages arrive but that never agrees to a membership (it
// receives nothing) is quarantined the same way after two rounds in which
// only its merge-detects arrived (it stayed in a ring of its own), or
// five rounds in a row of either kind (each lasts up to ConsensusTimeout
// plus a merge interval: a deaf node that restarts is ignored about 1 s
// after it starts on a LAN), not after a burst of loss that fails a round
// or two.
// While stalled, members send no new packets and retransmit at most four
// per visit. See stall.go.
//
// # Total order
//
// A ring orders its messages by packet: the token hands out packet
// sequence numbers 1, 2, 3, ... on every new ring, and each packet carries
// up to 1023 messages. A message's place in a ring domain's total order is
// therefore the triple Order{Ring, Seq, Index}: the sequence number of the
// ring it was sent in (ring ids only grow, by 4 or more per
// reconfiguration), its packet's sequence number in that ring and its
// index in the packet. Every field is as wide as the counter it copies, so
// the order cannot wrap: at a million packets a second a ring would have
// to stay installed for 580,000 years to exhaust Seq. Messages delivered
// in a transitional configuration keep the order of the old ring they
// were sent in, which is below every message of the next ring.
//
// Order is compared only through its methods (Compare, Less); layers above
// (groups, the agent) never take it apart into bits.
//
// # A domain's order that survives reconfigurations
//
// A ring's order restarts with every ring: it totally orders one domain
// only together with the ring ids. A federation domain needs more: its
// sites deliver in one order across federation ring reconfigurations and
// gateway failovers (DESIGN.md, "Hierarchy"), and a gateway that takes
// over must tell which positions its site already injected. The federation
// therefore assigns each message a DomainOrder when a gateway holds the
// federation ring's token: a domain-wide sequence number that the next
// federation ring continues from the highest number any of its members
// assigned or delivered, so it only grows. The federation ring itself is
// this package's ring and delivers with an Order; DomainOrder is the layer
// above it.
//
// # The trace's order field
//
// EVS.md's trace writes `order` as a JSON number, which readers with
// 53-bit (float64) numbers must read exactly. Neither type fits 53 bits
// whole, so the trace carries, for a ring domain (site/...), the position
// within the ring, Seq·1024 + Index (Order.Position): the same at every
// process, growing along a process's deliveries of the messages sent in
// one configuration, and exact while Seq < 2^43 (8.8·10^12 packets in one
// installed ring: 2.8 years at 100,000 packets a second without a single
// reconfiguration). Beyond that bound Position reports false and the trace
// omits the field; the checker then judges the order from the deliveries
// alone. The ring part of the order is in the trace already: the
// configuration id names the ring, and the checker compares order numbers
// only between messages sent in the same configuration. For a federation
// domain (fed/...) of the hierarchy the trace carries DomainOrder.Seq,
// which is exact below 2^53 (285 years at a million messages a second)
// and grows across configurations, so the checker compares it along a
// process's whole domain (evs.Options.DomainOrder). The traces of a bare
// federation ring, below the layer that assigns DomainOrder, carry ring
// positions like a site's.
package localring
