//go:build race

package sites

// RaceEnabled reports a build with the race detector, which slows every
// goroutine several times: the agents of a world then miss the federation
// rings' tokens in real time, and tests that judge real-time rings skip.
const RaceEnabled = true
