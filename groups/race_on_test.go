//go:build race

package groups

// raceEnabled: the race detector adds allocations of its own, so
// allocation counts mean nothing.
const raceEnabled = true
