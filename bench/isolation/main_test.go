package isolation

import (
	"os"
	"testing"
)

// TestMain lets this test binary be a site's process of the benchmark
// (ChildMain): the multi-process runs re-execute it.
func TestMain(m *testing.M) {
	ChildMain()
	os.Exit(m.Run())
}
