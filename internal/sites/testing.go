package sites

import "testing"

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
