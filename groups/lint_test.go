package groups

import (
	"testing"

	"github.com/atoll-gcs/atoll/internal/purelint"
)

// TestPureStateMachine keeps the group layer free of I/O, goroutines,
// locks, clocks and randomness, and dependent only on the standard
// library and localring, so that the simulator drives it deterministically
// and the import graph points down (agent → groups → localring).
func TestPureStateMachine(t *testing.T) {
	purelint.Check(t, purelint.Rules{
		Imports: map[string]string{
			"net":          "sockets belong in the driver",
			"os":           "files belong in the driver",
			"sync":         "a Node is single-threaded; the driver owns it",
			"time":         "a Node reads no clock; its decisions follow the ring's order",
			"math/rand":    "a Node needs no randomness",
			"math/rand/v2": "a Node needs no randomness",
			"log":          "logs are built from events in the driver",
			"log/slog":     "logs are built from events in the driver",
		},
		Text:    map[string]string{"go func": "a Node starts no goroutine"},
		Deps:    []string{"github.com/atoll-gcs/atoll/localring"},
		DepsWhy: "groups depends on the standard library and localring only",
	}, ".")
}
