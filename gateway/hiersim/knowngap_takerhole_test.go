//go:build knowngaps

// Known gap, kept as a reproduction that FAILS on purpose; it is built
// only with -tags knowngaps, so `go test ./...` and CI do not run it:
//
//	go test -tags knowngaps ./gateway/hiersim -run 'TestTakerDiesHole' -v
//
// Found running TestAgainUnseenTakerDies over seeds 1-150, not looked
// into: the bridge of main before that test (bb52b7a) breaks it alike.
// When a fix lands, drop the build tag.
package hiersim

import "testing"

// TestTakerDiesHole runs TestAgainUnseenTakerDies's seed 96 (victim ams,
// its Up not ordered, six gateway terms): every check must pass. It
// breaks EVS 6 at fra's and sin's nodes, "fra-1/1 delivered ams-4/1/18
// in r:327708:ams without ams-3/1/61, which precedes it in the agreed
// order: a hole in a regular configuration" (ams-3/1/59 with the bridge
// before the Relay: the runs differ from there), and passes without
// Options.killTaker (the seed's TestAgainUnseenInDoubt run on this
// topology).
func TestTakerDiesHole(t *testing.T) {
	parallel(t)
	checkedRun(t, 96, takerDiesOptions(t))
}
