//go:build race

package hiersim

func init() { raceEnabled = true }
