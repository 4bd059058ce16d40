// Command atoll is the single binary of the Atoll group communication
// system: the agent daemon, the topology planner, the demo, and the
// operator's tools. Each subcommand is a thin layer over a package API.
package main

import (
	"os"

	"github.com/atoll-gcs/atoll/bench/isolation"
)

func main() {
	// `atoll bench isolation` re-executes this binary for each site's
	// process: such a process never gets to the command line.
	isolation.ChildMain()
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}
