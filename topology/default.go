package topology

import (
	_ "embed"
	"fmt"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the default topology: three sites
// (alpha, beta, gamma) of three nodes each on the loopback interface, for
// demos and tests.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the default topology, parsed. See DefaultYAML.
func Default() *File {
	f, err := Parse("default.yaml", defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("topology: the embedded default topology is invalid: %v", err))
	}
	return f
}
