// Package bench measures an Atoll ring under load: throughput (messages
// and bytes per second delivered in total order), one-way latency from
// submit to delivery (p50, p99, p99.9), retransmissions, and CPU and
// memory per node. It is what `atoll bench` runs, and the Atoll side of the
// namespace testbed in tests/bench that compares Atoll with Corosync
// (docs/BENCHMARKS.md).
//
// # How a run works
//
// Every ring node is its own process (`atoll bench node`, see RunNode), so
// that CPU time and resident memory are measured per node from /proc, as
// for any daemon. A node is an agent (package agent: the ring core, its
// transport, packet protection and loop, as `atoll agent` runs them),
// driven through its in-process API as an embedded application would:
// a generator goroutine calls Agent.Submit, and the node reads deliveries
// and configurations from an Agent.Subscribe subscription.
//
// RunLocal starts the nodes on this host over loopback with the UDP
// unicast transport (loopback has no multicast in containers), needs no
// root, and is what `atoll bench` does. The tests/bench testbed starts one
// node per Linux network namespace, over real multicast on a bridge, with
// the same NodeSpec, through RunProcs.
//
// A node waits until the ring holds every node, then sends for
// Settle+Warmup+Duration and keeps receiving for Drain. Only deliveries
// inside the measurement window [start+Warmup, start+Warmup+Duration)
// count. Every message carries its sender's CLOCK_MONOTONIC send time (see
// Payload), which every process of one host shares, also across network
// namespaces, so the latency of every delivery at every node is measured,
// not estimated. CPU time is read from /proc/self/stat at both ends of the
// window. Each node writes its NodeResult as a JSON line; Summarize merges
// them (and their latency samples) into one Summary.
package bench
