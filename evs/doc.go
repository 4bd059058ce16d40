// Package evs defines the trace format of EVS.md and checks traces against
// the extended virtual synchrony properties Atoll promises.
//
// Every node (an agent with --trace, or a simulated node) writes one JSON
// line per event its application sees: configuration installs, sends,
// deliveries and group views. Check reads the traces of all nodes of a run,
// groups them by EVS domain and reports every property that does not hold,
// naming the property, the nodes, the configuration and the message.
package evs
