//go:build race

package transport_test

// raceEnabled reports a build with the race detector, which slows every
// goroutine several times: timing properties are judged without it.
const raceEnabled = true
