// Command atoll is the single binary of the Atoll group communication
// system: the agent daemon, the topology planner, the demo, and the
// operator's tools. Each subcommand is a thin layer over a package API.
package main

import "os"

func main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}
