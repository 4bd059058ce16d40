// Package drivertest tests code around driver.Transport: Network is an
// in-memory transport by ring member id (the fake of driver tests and of
// the agent's and the federation ring's tests), and TestTransport is the
// contract suite that every real transport (UDP behind sealing, QUIC)
// and the fake run.
package drivertest
