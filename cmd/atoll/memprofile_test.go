package main

import (
	"os"
	"runtime"
	"testing"
)

// TestMemProfileRate: the memory profiler's sampling is off in an atoll
// process unless GODEBUG names memprofilerate, whose value the runtime
// took at its start.
func TestMemProfileRate(t *testing.T) {
	for _, tc := range []struct {
		godebug string
		want    int
	}{
		{"", 0},
		{"gctrace=1", 0},
		{"memprofilerate=524288", 4096},
		{"gctrace=1, memprofilerate=1", 4096},
		{"memprofilerate", 4096},
		{"xmemprofilerate=1", 0},
	} {
		if got := memProfileRate(tc.godebug, 4096); got != tc.want {
			t.Errorf("memProfileRate(%q, 4096) = %d, want %d", tc.godebug, got, tc.want)
		}
	}
	// This test binary runs the package's init, as `atoll` does.
	if os.Getenv("GODEBUG") == "" && runtime.MemProfileRate != 0 {
		t.Errorf("runtime.MemProfileRate %d in this process, want 0", runtime.MemProfileRate)
	}
}
