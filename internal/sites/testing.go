package sites

import (
	"fmt"
	"strings"
	"testing"
)

// NewForTest is New for a test: it fails the test if New fails, and at
// the test's end closes the world, first logging, if the test failed,
// every running node's domains and the agents' logs.
func NewForTest(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// What stubs did (federation.unneeded): shown with -v.
		var b strings.Builder
		for _, id := range w.Nodes() {
			if d, r := w.Node(id).Stubs(); d > 0 || r > 0 {
				fmt.Fprintf(&b, " %s %d/%d", id, d, r)
			}
		}
		if b.Len() > 0 {
			t.Logf("stubs delivered/catch-ups refused for a stub, per node:%s", b.String())
		}
		if t.Failed() {
			for _, id := range w.Running() {
				t.Logf("%s: %+v", id, w.Node(id).Agent().Status().Domains)
			}
			w.StopAll()
			t.Logf("logs:\n%s", w.Logs())
		}
		w.Close()
	})
	return w
}
