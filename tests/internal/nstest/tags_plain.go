//go:build !invariants

package nstest

// BuildTags: see tags_invariants.go.
const BuildTags = ""
