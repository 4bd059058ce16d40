//go:build !race

package localring_test

const raceEnabled = false
