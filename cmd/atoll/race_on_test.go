//go:build race

package main

// raceEnabled reports a build with the race detector, which slows every
// goroutine several times: tests that judge real-time federation rings of
// several agents in one process skip then.
const raceEnabled = true
