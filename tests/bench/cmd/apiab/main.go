// Command apiab runs the client-API row of tests/bench/compare.sh for two
// or more builds in turn (A B A B ...) on one set of Linux network
// namespaces and prints, per run, the throughput, the latency and the CPU
// per message of each agent and load client: an A/B that the machine's
// other work weighs on alike. It needs root. See docs/BENCHMARKS.md, "A/B
// of the client API".
//
//	sudo apiab -v old=/tmp/atoll-old:/tmp/clientload-old -v new=/tmp/atoll:/tmp/clientload -rounds 3
package main

import (
	"fmt"
	"os"

	"github.com/atoll-gcs/atoll/tests/bench"
)

func main() {
	if err := bench.ABMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apiab:", err)
		os.Exit(1)
	}
}
