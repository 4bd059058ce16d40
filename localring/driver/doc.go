// Package driver runs a localring.Node for real: one goroutine owns the
// node, reads the clock once per pass, arms one timer for the node's next
// deadline, feeds it received packets and submissions, and writes what it
// produced (state first, then packets) through a Transport that addresses
// members by ring member id. The agent's local ring (UDP) and the
// federation ring (QUIC) are both driven by it.
package driver
