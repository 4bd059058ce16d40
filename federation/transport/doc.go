// Package transport carries a federation ring's packets between the active
// gateways of its sites over QUIC. It implements driver.Transport with the
// sites as ring member ids: a federation ring's members are sites, and the
// gateway speaking for a site is whichever of its gateway-eligible nodes
// holds a connection.
//
// Guarantees:
//
//   - One connection per peer site. The site whose name sorts first dials,
//     trying the peer's gateway endpoints in order with backoff, and dials
//     again when the connection ends; a newer connection of a site replaces
//     the older one. Keep-alives (Config.KeepAlive) run below the idle
//     timeout, so a quiet ring keeps its connections.
//   - TLS 1.3 with mutual authentication against the cluster CA
//     (`atoll certs`, package internal/pki). The peer's identity — cluster,
//     site and gateway node id — comes from its certificate's
//     atoll://CLUSTER/SITE/NODE URI SAN and must name a gateway-eligible
//     node of a site of the ring (Peers builds the list from the topology),
//     never from its address.
//   - The ALPN protocol name carries the protocol version, the transport
//     mode and the ring's configuration hash (ALPN), so gateways started
//     with different configurations refuse each other.
//   - Every refusal — unknown CA, expired certificate, wrong identity,
//     ALPN mismatch — is one log line naming the cause and what to do, and
//     is counted in Stats.Refused.
//   - Send never blocks: packets go to a bounded per-peer queue drained by
//     one writer per connection; a full queue drops (the ring retransmits).
//
// Ring packets travel as QUIC DATAGRAM frames (RFC 9221, ModeDatagrams) or
// length-prefixed on one unidirectional stream per direction
// (ModeStreams). In datagram mode small ring packets are coalesced, each
// with its 16-bit length, into datagrams of at most 1240 bytes (a QUIC
// packet of 1280 bytes): quic-go keeps at most 128 received datagrams
// waiting for the reader and drops the rest, which a burst of small
// packets would overflow. A datagram that is lost is lost, and the ring
// retransmits; a stream loses nothing but a loss holds back every later
// packet of its direction until QUIC repairs it. DefaultMode is the one
// that measured better (see the figures below).
package transport
