//go:build race

package localring_test

// raceEnabled: the race detector adds allocations of its own, so
// allocation counts mean nothing.
const raceEnabled = true
