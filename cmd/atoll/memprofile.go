package main

import (
	"os"
	"runtime"
	"strings"
)

// The memory profiler's sampling, off by default.
//
// The Go runtime records the stack of one allocation per MemProfileRate
// bytes allocated (512 KiB by default) for the heap and allocs profiles,
// and it unwinds that stack with its full unwinder, tens of
// microseconds on the benchmarks' VMs. An agent at full load allocates a
// few KiB for every message (the ring's slabs, the client sessions'
// payloads), so it took a sample every 150 messages or so: 2.8 % of the
// CPU samples of agents n1 and n2 at 97,000 msgs/s through the client
// API were runtime.profilealloc (apiab -profile, every node sending,
// 2026-12-07; docs/BENCHMARKS.md, "The memory profiler's sampling").
// Every atoll process (the agent, `atoll bench node`, the tools) starts
// with it off, so /debug/pprof/heap and /debug/pprof/allocs on the admin
// socket are empty unless the environment asks for it:
// GODEBUG=memprofilerate=524288 restores the runtime's default.

// memProfileRate returns the memory profiler's rate for this process:
// the runtime's (set from GODEBUG's memprofilerate at its start) when
// godebug (the GODEBUG variable) names it, 0 (off) otherwise.
func memProfileRate(godebug string, runtimeRate int) int {
	for _, kv := range strings.Split(godebug, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(kv), "="); k == "memprofilerate" {
			return runtimeRate
		}
	}
	return 0
}

func init() {
	runtime.MemProfileRate = memProfileRate(os.Getenv("GODEBUG"), runtime.MemProfileRate)
}
