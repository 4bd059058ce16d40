//go:build race

package agent

// raceEnabled reports a build with the race detector, whose allocation
// counts mean nothing.
const raceEnabled = true
