package localring

import (
	"testing"

	"github.com/atoll-gcs/atoll/internal/purelint"
)

// TestPureStateMachine keeps the protocol core free of I/O, goroutines,
// locks, the wall clock and global randomness, so that the simulator can
// drive it deterministically. Subpackages (transports, seal, sim) are
// exempt; package federation, which configures the same core for the
// federation ring, and packages gateway/bridge, the gateway's state
// machine between the local and the federation ring, gateway/domconf, and
// internal/slab, the allocator the core keeps its packets in, are held to
// the same rule.
func TestPureStateMachine(t *testing.T) {
	const clock = "time and concurrency come from the driver"
	purelint.Check(t, purelint.Rules{
		Imports: map[string]string{
			"net":       "sockets belong in localring/transport",
			"os":        "files belong in the driver",
			"sync":      "the core is single-threaded; the driver owns it",
			"math/rand": "inject randomness through Config.Rand (math/rand/v2 source)",
			"io/ioutil": "no I/O",
			"log":       "logs are built from events in the driver",
			"log/slog":  "logs are built from events in the driver",
		},
		Text: map[string]string{
			"time.Now(": clock, "time.Since(": clock, "time.Sleep(": clock, "time.After(": clock,
			"time.NewTimer(": clock, "time.Tick(": clock, "go func": clock,
		},
	}, ".", "../federation", "../gateway/bridge", "../gateway/domconf", "../internal/slab")
}
