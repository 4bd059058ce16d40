// Package agent is the daemon around one local ring node: it drives a
// localring.Node with real sockets, real time, packet security, a trace
// file, a state file and an admin API, and offers the in-process API that
// embedding programs, clients and benchmarks build on.
//
// # Using it
//
//	f, err := topology.Load("atoll.yaml")
//	cfg, err := agent.FromTopology(f, "fra-1", agent.PresetAuto)
//	cfg.DataDir = "/var/lib/atoll"
//	cfg.Security.KeyFile = "/etc/atoll/atoll.key" // unless the file names it
//	a, err := agent.New(cfg)
//	sub := a.Subscribe(1024)         // installs and deliveries, bounded
//	go func() { err := a.Run(ctx) }() // until ctx is cancelled
//	a.Submit(localring.Agreed, payload)
//	for e := range sub.C { ... }
//	st := a.Status()                 // state, ring, members, health, counters
//
// New takes the data dir's lock (one agent per data dir), persists a new
// incarnation (seal.NextIncarnation of the last one, fsynced before the
// first packet is sealed, so nonces never repeat), loads the key, opens the
// transport, the trace file and the admin socket. Run drives the ring until
// its context is cancelled, then leaves gracefully: Submit fails with
// ErrStopped, the messages already accepted are sent and delivered back for
// at most Config.DrainTimeout, and everything is closed before Run returns
// (no goroutine outlives it). Last, the node multicasts a leave
// (localring.Node.Leave), so the other nodes re-form in about one join
// interval instead of waiting for the token and consensus timeouts.
//
// # The loop
//
// The loop is localring/driver's Driver: one goroutine owns the Node,
// reads the clock once per pass, arms one timer, feeds the core the
// batches of a receive goroutine, and writes what it produced with one
// Flush per pass. The transport it sees is localring/driver/sealed: the
// UDP transport behind the sealer, which authenticates and decrypts in the
// receive goroutine (so the cryptography runs on another core than the
// ring's work, and only authenticated packets from the site's configured
// nodes reach the loop), names each packet's sender from the sealed
// header, and sends tokens to the address the successor's authenticated
// packets come from (multicast until it has been heard from). A packet
// that fails to open is counted by the sealer and explained in one log
// line per source address per minute, naming the peer and what differs
// (key id, cluster, ring settings).
//
// The ring's work runs in the driver's hooks, on its loop: each pass
// takes the queued Submits, the group loop's ring messages and the load
// generator's due messages into the core (Hooks.Pass); the core's events
// go to the operator log and, copied, to the group loop (Hooks.Events);
// after the packets, the group loop's messages go to the ring, the status
// snapshot is updated and the subscribers get the events (Hooks.Output).
// The ring sequence number is written to the state file (fsynced) before
// any packet or event that reveals a new one, as the driver's persistence
// contract says; the agent stops with an error naming the data dir
// problem when it cannot be.
//
// The group layer, the client sessions' requests, the federation domains,
// the introspection calls and the trace run on a second goroutine, the
// group loop (grouploop.go), which gets every ring event in order: a
// configuration change costs the group layer time in proportion to the
// groups (seconds at 100,000), and on the driver's loop that time stopped
// the token. The events waiting for the group loop are bounded; beyond,
// the driver waits for it. With a trace, the trace file never lags behind
// what the network saw of the node's sends: while the group loop has
// events left to trace, the node sends no new messages (it still passes
// the token), and a pass in which it sent waits until they are traced.
//
// # Operator log
//
// The agent logs with log/slog, one line per event an operator acts on:
// "ring formed" with the members (a warning when configured nodes are
// missing), "member lost" with the reason of the membership change that
// dropped it, "member joined", "member restarted", "token lost",
// "membership change started", rejected packets from a peer with another
// key or other ring settings, send failures, subscriber evictions, and the
// start and end of the agent with its incarnation, transport and security.
//
// # Status and health
//
// Status reports the protocol state, the installed ring, each configured
// node (in the ring or not, its address and the last time it was heard),
// the counters of the ring, the seal and the transport, and a Health:
// Healthy in a ring with every configured node of the site, Degraded in a
// ring lacking some, Down when not in a ring. The admin API serves it on a
// Unix socket in the data dir (see Client), with Prometheus metrics from a
// registry of the agent's own (Agent.Metrics).
//
// # Logs
//
// The agent logs with log/slog (Config.Logger) under fixed keys, so that
// log pipelines can index them: every line carries node (this node's id)
// and site; lines about a ring carry ring (the configuration id, such as
// r:12:fra-2) and member (another node's id); lines about a group carry
// group; lines about a client session carry client (its name), via (unix,
// tcp or local) and peer (its address or credentials); a packet's source
// is peer; an error is err. Operators' lines are at Info and Warn; Debug
// is for developers.
//
// # Groups and clients
//
// The group loop owns a groups.Node, the group layer: every ring event goes
// to it in order, the ring messages it produces (joins, leaves, group
// messages, state exchanges) are handed to the ring in order, kept in
// order while the ring pushes back, and its views and messages go to the
// client sessions they concern. Clients speak the client protocol
// (docs/PROTOCOL.md; Go programs use package client) over the Unix
// socket client.sock in the data dir (mode 0660; principals from the
// peer's credentials), over TCP with TLS (Config.ClientListen; principals
// from verified client certificates), or in process (LocalConn). Each
// session has a reader goroutine that decodes requests into an inbox the
// group loop empties at each pass (a few requests per session at a time, and
// none while the group layer's queue is over half full, so a fast sender
// is slowed down by its own socket), handing it all the requests it read
// at once, and a bounded queue of frames encoded back to back: at the end
// of each step the group loop writes it to the socket as far as the
// socket takes it without waiting, and a writer goroutine writes the rest.
// The group loop never waits for a client: a client whose queue passes half
// its bound is warned, and past the bound it is disconnected with the
// reason and its memberships end
// with reason disconnect. A client that sends a malformed frame is told
// why and disconnected. The topology file's group ACLs (Config.GroupACLs)
// are checked by the agent for its own clients, by principal, and the
// rules of exactly named groups are also set in the ring
// (groups.Node.SetACL) when the agent starts. When the agent leaves, its
// clients get a goodbye (shutting down) and their memberships are
// disconnected while the ring drains.
//
// # Traces
//
// With Config.TracePath the agent appends every install, send and delivery
// to the file in the format of docs/EVS.md (package evs), with the node id, the
// incarnation and the domain "site/<site>", mapped exactly as the
// simulator maps them, so evs.Check judges real runs like simulated ones.
// Group messages are traced as the group layer sends and delivers them
// (with their groups), views of every group as view lines, and other ring
// messages (the load generator's, Submit's) as the ring delivers them.
// A restarted node appends to the same file under its new incarnation.
//
// # Load
//
// Load and SetLoad run a load generator inside the loop: Rate messages per
// second of Size bytes, timestamped, submitted directly to the core. The
// multi-host tests and benchmarks use it through `atoll agent --load-rate`
// and the admin API's PUT /load.
package agent
