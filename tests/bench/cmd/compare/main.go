// Command compare runs Atoll and Corosync side by side on Linux network
// namespaces joined by a bridge and prints the tables of
// docs/BENCHMARKS.md. It needs root; tests/bench/compare.sh installs what
// it needs and runs it.
package main

import (
	"fmt"
	"os"

	"github.com/atoll-gcs/atoll/tests/bench"
)

func main() {
	if err := bench.CompareMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
