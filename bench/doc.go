// Package bench measures an Atoll ring under load: throughput (messages
// and bytes per second delivered in total order), one-way latency from
// submit to delivery (p50, p99, p99.9), retransmissions, and CPU and
// memory per node. It is what `atoll bench` runs, and the Atoll side of the
// namespace testbed in tests/bench that compares Atoll with Corosync.
//
// # How a run works
//
// Every ring node is its own process (`atoll bench node`, see RunNode), so
// that CPU time and resident memory are measured per node from /proc, as
// for any daemon. A node drives a real localring.Node over a real UDP
// transport (localring/transport) with real packet protection
// (localring/seal), in the loop an agent runs: one goroutine reads
// datagrams in batches, the other reads the clock once per pass, feeds
// packets, deadlines and submitted messages to the core, and sends what it
// returns with one sendmmsg.
//
// RunLocal starts the nodes on this host over loopback with the UDP
// unicast transport (loopback has no multicast in containers), needs no
// root, and is what `atoll bench` does by default. The tests/bench testbed
// starts one node per Linux network namespace, over real multicast on a
// bridge, with the same NodeSpec.
//
// A node waits until the ring holds every node, then sends for
// Warmup+Duration and keeps receiving for Drain. Only deliveries inside the
// measurement window [start+Warmup, start+Warmup+Duration] count.
// Every message carries its sender's CLOCK_MONOTONIC send time (see
// Payload), which every node of one host shares, also across network
// namespaces, so the latency of every delivery at every node is measured,
// not estimated. CPU time is read from /proc/self/stat at both ends of the
// window.
//
// The node driver here is deliberately small: it is the agent's loop
// without groups, clients or an admin API, so that the benchmark measures
// the ring, its transport and its packet protection.
package bench
