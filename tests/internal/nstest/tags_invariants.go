//go:build invariants

package nstest

// BuildTags are the build tags of this test binary that the atoll binary
// the tests run is built with too (Main, tests/deploy's static build):
// with the invariants tag (.ci/run), the agents in namespaces and
// containers check localring's counters after every input, as those in
// process do, and their build links the packages that go test compiled
// with the tag rather than compiling every one again without it.
const BuildTags = "invariants"
