package main

import (
	"fmt"
	"runtime"
)

// procsChoice is how many threads may run the agent's Go code at once
// (GOMAXPROCS) and why.
type procsChoice struct {
	n      int    // 0: leave the runtime's own choice
	reason string // for the start-up log line
}

// chooseProcs decides the agent's GOMAXPROCS from --procs (flag), the
// GOMAXPROCS environment variable (env) and the node's role.
//
// A ring node's work is one loop (the driver's), with goroutines around it
// that read sockets and write to clients. With more than one thread those
// goroutines wake a second one for every hand-off, which on the hosts we
// measured cost more than it gave: on 3 agents of a 2-core host, one
// thread each carried 1.46 times the messages per second through the
// client API with two thirds of the CPU per message (docs/BENCHMARKS.md,
// run 6). A gateway-eligible node also runs QUIC connections and
// federation rings, and an agent with TLS clients their handshakes and
// encryption, beside the local ring: those keep the runtime's default,
// as nobody has measured them with one thread.
func chooseProcs(flag int, env string, gateway, tlsClients bool) (procsChoice, error) {
	switch {
	case flag < 0:
		return procsChoice{}, fmt.Errorf("--procs %d: want 0 (choose from the node's role) or the number of threads that may run the agent's Go code at once", flag)
	case flag > 0:
		return procsChoice{flag, "--procs"}, nil
	case env != "":
		return procsChoice{0, "GOMAXPROCS in the environment"}, nil
	case gateway:
		return procsChoice{0, "a gateway-eligible node keeps the Go runtime's default: its QUIC connections and federation rings run beside the local ring"}, nil
	case tlsClients:
		return procsChoice{0, "an agent serving TLS clients (--client-listen) keeps the Go runtime's default"}, nil
	default:
		return procsChoice{1, "a ring node's work is one loop: a second thread only adds wake-ups (docs/OPERATIONS.md, \"Threads\"); --procs N to change"}, nil
	}
}

// apply sets GOMAXPROCS if the choice says so and returns the value in
// force.
func (c procsChoice) apply() int {
	if c.n > 0 {
		runtime.GOMAXPROCS(c.n)
	}
	return runtime.GOMAXPROCS(0)
}
