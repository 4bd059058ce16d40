//go:build knowngaps

// Known gap, kept as a reproduction that FAILS on purpose; it is built
// only with -tags knowngaps, so `go test ./...` and CI do not run it:
//
//	go test -tags knowngaps ./gateway/hiersim -run 'TestTakerDiesHole' -v
//
// Found running TestAgainUnseenTakerDies over seeds 1-150; the bridge
// of main before that test (bb52b7a) breaks it alike. The hide's deaf
// standbys are evicted from ams's ring before the kill and go on as a
// part of the site of their own (ams-2, then ams-3, gateways of it, their
// members fenced by ams-1's); killTaker kills ams-2, and ams-3's term
// begins (ring 16) while ams-1, the only gateway whose member ordered
// anything, is still active in the other part (ams-1 and ams-4). At the
// merge (ring 32, ams-3's term still in doubt) ams-4's Again brings
// ams-4/1/18, which ams-1 got ordered, and its Seen names ams-1 at ring
// 24, after ams-3's term began: not its predecessor (Site.seen). The
// predecessor is ams-2 (named at ring 8 in a Seen, so not skipped by
// Site.predecessor), which had ams-3/1/61 and never ams-4/1/18: 61 goes
// first, 18 last, against the order the other sites delivered 18 in
// (without 61). A bridge gap of the kind doc.go keeps ("a term between
// named only in a Seen"), with two terms at once in two parts of the
// site. When a fix lands, drop the build tag.
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
