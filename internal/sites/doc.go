// Package sites runs a world of Atoll sites in one process: every node of
// a topology file is a real agent (agent.Agent) with a client of its own
// (package client, in process), each site's local ring runs on a simulated
// LAN (transport.FakeNetwork), and the gateways' federation rings run over
// QUIC on loopback through the WAN emulator (wanem.Mesh) with the links'
// round-trip times and bandwidths of the file. `atoll demo`, the
// cross-site tests of package agent and the isolation benchmark build on
// it.
//
// # Use
//
//	w, err := sites.New(sites.Config{Topology: yaml})
//	defer w.Close()
//	err = w.StartAll()                           // an agent and a client per node
//	err = w.WaitDomains(30 * time.Second)        // every federation ring formed
//	err = w.Join(ctx, "orders", w.Nodes()...)    // the clients join
//	err = w.WaitView("orders", w.Nodes(), 30*time.Second)
//	g := w.Load(sites.Load{Phase: "steady", Groups: []string{"orders"}, Senders: w.Nodes(), Every: 20 * time.Millisecond})
//	time.Sleep(3 * time.Second)
//	err = g.Stop()                               // stop sending, flush
//	c := w.Count("steady", w.Nodes(), 20*time.Second) // lost and duplicated
//	err = w.Kill("a-1")                          // crash a node (kill -9)
//	err = w.Isolate("c"); err = w.Rejoin("c")    // cut a site off the WAN, heal it
//	res, err := w.Check()                        // stop everything, EVS-check the traces
//
// # The world
//
// New parses the file, replaces the QUIC endpoints with loopback ports
// (one per site and federation domain: one QUIC endpoint carries one
// federation ring, and a gateway may be in several domains; the agents
// get them as agent.Federation.Rings), makes
// the cluster CA and the gateways' certificates and a cluster key in a
// temporary directory, starts the mesh of relays between the sites and
// gives each path the file's RTT (half each way) and bandwidth. Every site
// must list its nodes' unicast addresses: they name the nodes on the
// simulated LAN. The gateways of a site listen on the site's endpoint of
// a domain in turn (only the active one runs the ring; one taking over
// binds the port in the background while the one it replaces closes);
// the relays from the other sites lead there, and every flow between two
// sites shares the pair's two links (their delay, cap and cuts). The site
// that sorts first in a domain is dialled by no other (a gateway dials the
// sites after its own), so its gateways each listen on a port of their
// own.
//
// Kill emulates kill -9: the node's packets on its LAN and on its QUIC
// sockets are dropped from that instant (nothing it would send on leaving
// gets out, as when the process dies), then its agent is stopped. Stop is
// a graceful stop (the agent leaves its rings). Restart starts a stopped
// node again with a new incarnation and a new client, which has to join
// its groups again. SplitLAN splits a site's LAN into parts that hear
// only themselves (HealLAN ends it); CutGateway drops every packet of a
// node's federation ring members, both ways, while the node runs on
// (MendGateway ends it): a gateway cut off from its site, from every
// other site, or both (the agent's TestKeptHold tests).
//
// # Messages
//
// Send and the load generators (Load) multicast payloads
// "<node>/<phase>/<group>/<i> <unix nanoseconds>" (padded to Load.Size),
// so that every delivery tells its sender, phase and group, and its
// latency from the send (one process, one clock). Each node's client
// records its deliveries (payload → count), its views of each group in
// order, and the errors the agent reported; the world keeps the delivery
// latencies of each group until TakeLatencies, and Config.OnDeliver sees
// every delivery as it happens. Count judges a phase: every message that
// a node of the given set sent in the phase must reach every node of the
// set whose client is in its group, exactly once, unless the two were
// apart after the send (Apart: views without each other, as EVS allows),
// the sender got it in a transitional view without the node
// (DeliveredApart), or the node left the sender's regular view of then
// through a transitional view without the sender (LeftApart), and no
// payload may reach a node twice. A test that
// used NewForTest and failed logs what Count found lost, with both nodes'
// views (Lack), and copies the traces to its artifact directory.
//
// # The check
//
// Check stops every node and runs the EVS checker (package evs) over all
// agents' traces, with the federation domains' domain-wide order
// (evs.Options.DomainOrder); the processes stopped or killed before the
// end count as failed. With Config.FedTrace, CheckFederation does the same
// over the federation rings' own traces.
package sites
