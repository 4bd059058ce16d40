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
// owns the sockets, the clock and one timer, and runs a loop like this:
//
//	n, err := localring.New(cfg)
//	n.Start(now)
//	for {
//		rd := n.Ready()
//		for _, p := range rd.Packets { send p.Data to p.To, or multicast when p.To == "" }
//		for _, e := range rd.Events  { hand installs and deliveries to the application }
//		persist n.RingSeq()
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
// split by backlog). Small messages are packed into one packet; messages up
// to 1 MiB are fragmented. A node delivers a packet once it holds every
// earlier one (Agreed); a Safe message waits until the token's aru, the
// sequence number up to which every member holds everything, has covered
// it at two consecutive visits. The idle representative holds the token
// for TokenHold before passing it, which bounds the cost of an idle ring; a
// member that gets a message to send while the ring is idle multicasts a
// small wake packet so that the representative releases the token at once
// (an Atoll extension to Totem: low latency at low load without an idle
// ring spinning the token).
//
// A node that does not see the token for TokenTimeout, or hears a join or a
// merge-detect message from outside its ring, starts the membership
// protocol described at enterGather in membership.go.
package localring
