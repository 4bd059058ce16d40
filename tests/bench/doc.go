// Package bench is the namespace testbed that compares Atoll with
// Corosync 3 on the same Linux network namespaces, in one run, and prints
// the tables of docs/BENCHMARKS.md.
//
// Run it with `sudo bash tests/bench/compare.sh` (which installs corosync
// and libcpg-dev, builds atoll and the libcpg load client in cpgload/, and
// cleans up on exit), or from Go with Run. It needs root, so `go test`
// runs only the report's unit tests unless ATOLL_BENCH=1 is set (see
// TestCompareSmoke).
//
// Pieces: Testbed (netns.go) builds the namespaces and the bridge;
// StartCorosync and CPGLoad (corosync.go) run Corosync and its load
// client; the Atoll side runs `atoll bench node` through package bench
// (github.com/atoll-gcs/atoll/bench); UDPSend and UDPReceive (udp.go) measure
// raw multicast; Run (compare.go) orders the phases; WriteMarkdown
// (table.go) prints the report. RunAB (ab.go, command cmd/apiab) runs the
// client-API row for several builds in turn, an A/B on a shared machine.
package bench
