// Command idleab runs a ring of idle `atoll agent` processes for each of
// two or more builds, side by side on Linux network namespaces, and prints
// per window each agent's CPU, its wake-ups per token rotation and the
// ring's rotations: an A/B of the idle cost that the machine's other work
// weighs on alike. It needs root. See docs/BENCHMARKS.md, "An idle ring,
// side by side".
//
//	sudo idleab -v old=/tmp/atoll-old -v new=/tmp/atoll -windows 5 -window 60s
package main

import (
	"fmt"
	"os"

	"github.com/atoll-gcs/atoll/tests/bench"
)

func main() {
	if err := bench.IdleMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "idleab:", err)
		os.Exit(1)
	}
}
