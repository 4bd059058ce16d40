// Package evs defines the trace format of docs/EVS.md and checks traces
// against the extended virtual synchrony properties Atoll promises.
//
// Every node (an agent with --trace, or a simulated node) writes one JSON
// line per event its application sees: configuration installs, sends,
// deliveries and group views. Check reads the traces of all nodes of a run,
// groups them by EVS domain and reports every property that does not hold,
// naming the property, the nodes, the configuration and the message.
//
// # Writing and reading traces
//
// A node writes its events with a Writer, in the order its application
// sees them; Read parses them back. docs/EVS.md fixes the fields: "conf" is a
// configuration object on install lines and a configuration id on send and
// deliver lines. Traces of different nodes may be concatenated or read
// from separate files in any order; the events of one node must stay in
// the order it wrote them.
//
// # What is checked
//
// A process is one incarnation of a node (Proc); a restart is a new
// process, and the old one counts as failed. Within each domain, Check
// evaluates:
//
//   - 1.1 no creation: every delivery matches a send with the same id,
//     hash, service level and groups, and a message id names its sender;
//   - 1.2 no duplication: a process sends a message id once and delivers a
//     message at most once;
//   - 1.3 delivery configuration: a message is delivered in the
//     configuration it was sent in, or in the transitional configuration
//     that follows it at the deliverer;
//   - 1.4 local sanity: sends and deliveries happen in the process's
//     current configuration (sends in a regular one), after its first
//     install; no process writes after its node's later incarnation has
//     started (except in a federation domain, fed/..., whose nodes are
//     sites: an old gateway may run on until it is fenced off);
//   - 2.1 self-inclusion; 2.2 agreement (one configuration id, one kind and
//     one membership, installed by one incarnation per node); 2.3 regular
//     and transitional configurations alternate, no id repeats, and ids in
//     Atoll's ring convention (below) increase and link up;
//   - 2.4 a transitional configuration's members are in the regular
//     configurations before and after it, all its installers agree on those
//     two, and each member that does not fail installs it;
//   - 3 self-delivery, 4 failure atomicity, 7 Safe: the "must have
//     delivered" obligations (see Options for when they are due);
//   - 5 causal and 8 FIFO order, within the configuration of the send;
//   - 6 total order of Agreed and Safe messages together: the union of the
//     processes' delivery orders of a configuration's messages is acyclic,
//     regular configurations have no holes, transitional ones only for
//     senders not in them; the order field is the same for a message at
//     every process and increases along each process's deliveries;
//   - G.1–G.4 the group-view rules: view agreement, one view order (and
//     each message delivered in the same view by the group's members),
//     transitional views before network-caused regular ones, and a listed
//     departure with a reason for every member that left.
//
// Liveness (2.5) needs to know which processes are up at the end of a run:
// CheckConverged checks it.
//
// # Service levels
//
// Unreliable messages only have to be created once and delivered at most
// once. Reliable ones are also subject to self-delivery and failure
// atomicity. FIFO, Causal, Agreed and Safe messages are delivered in FIFO
// order per sender: a delivery of such a message requires the sender's
// earlier such messages of the same configuration. Causal, Agreed and Safe
// messages also respect causality: m causally precedes m' if the send of
// m' lists m in deps or the same process sent m first, or transitively
// (through messages of any level); whoever delivers m' must have delivered
// m first, when both are Causal or above and were sent in the same
// configuration. Agreed and Safe messages share one total order.
//
// # Atoll's conventions
//
// Atoll's rings name a regular configuration "r:<ringseq>:<repnode>" and a
// transitional one "t:<ringseq>:<repnode>/<oldringseq>:<oldrepnode>": the
// regular configuration it leads into, then the one it comes from. Two
// transitional configurations with different old rings may lead into one
// regular configuration (a merge). A process's first install may be a
// transitional configuration of itself alone. Ids in other forms get the
// alternation checks only, so hand-written traces work too.
//
// A send names the regular configuration it was sent in; a delivery, the
// configuration it was delivered in.
//
// # Order fields
//
// The order field of Agreed and Safe deliveries is the message's position
// in the domain's total order, a JSON number that readers with 53-bit
// numbers read exactly. Every process must deliver a message with the same
// order, and no two messages sent in one configuration may share one. In
// a ring domain (any name but fed/...), the position is one within the
// ring the message was sent in (localring.Order.Position): the
// configuration ids carry the ring part, so the order must grow along a
// process's deliveries of the messages sent in one configuration, and
// starts again with the next. In a federation domain (fed/...) of the
// hierarchy, the position is the domain-wide sequence number the
// federation assigns (localring.DomainOrder), which survives
// reconfigurations: with Options.DomainOrder it must grow along all of a
// process's deliveries in the domain. Without it (the traces of a bare
// federation ring, whose order fields are ring positions), fed/ domains
// are judged like ring domains. A delivery without an order field is
// judged by the deliveries alone.
package evs
