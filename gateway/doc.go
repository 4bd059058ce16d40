// Package gateway runs a gateway node's part of the hierarchy. Today that
// is the member of its site in a federation domain's ring (Runner). The
// bridge that carries a domain's traffic from the local ring to the
// federation ring and back is package gateway/bridge (a pure state
// machine, judged by the hierarchy simulator gateway/hiersim), which the
// agent runs at every node of a site in a federation domain, beside the
// Runner at the active gateway (agent/domains.go).
//
// # The federation ring member
//
// A Runner is one site's member of one federation domain's ring, run by
// the node that is the site's active gateway for the domain: a
// localring.Node with federation.NewConfig's WAN settings, driven by
// localring/driver's Driver over the QUIC transport
// (federation/transport), with
//
//   - the ring sequence number saved in the data dir before it is sent
//     (the driver's persistence contract), in a file of its own per domain,
//     and never below the incarnation's floor (RingSeqOf), so that a
//     standby taking over does not reuse the ids of its predecessor's rings;
//   - the EVS trace of the ring (domain "fed/CLASS:SITES", processes named
//     by site and incarnation) through internal/tracemap;
//   - the operator's lines: "federation ring formed" with the sites, "site
//     joined", "site lost" with the reason, "site's gateway changed", the
//     transport's refusals ("gateway connection refused: CAUSE"), and
//     "superseded" when a newer gateway of the same site took over;
//   - Stats for status: the ring, its members, counters, and the
//     transport's connections and refusals by cause.
//
// Who runs a Runner: the agent starts one when its local ring installs a
// configuration in which its node is the site's active gateway
// (federation.ActiveGateway), with the incarnation that configuration
// gives (federation.Incarnation), and stops it when a later configuration
// makes another node active, after passing that node's newer incarnation
// to Fence, so that the old member stops at once even if its context is
// slow to end. An operator's handover (federation.Role) moves the role
// between configurations: the old member is stopped gracefully (its
// context cancelled, the driver drains it), and the new one starts with
// the handover's epoch (Config.Epoch) once the old one has left.
package gateway
