package sites

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestKeepTraces: a failed test keeps the agents' traces and the
// federation rings' (NODE.trace, NODE.fed) and nothing else of the
// world's directory (the certificates, the cluster key, the data dirs).
func TestKeepTraces(t *testing.T) {
	w := &World{dir: t.TempDir()}
	for _, f := range []string{"a-1.trace", "a-1.fed", "cluster.key", "a-1/state"} {
		p := filepath.Join(w.dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := w.keepTraces(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"a-1.fed", "a-1.trace"}) {
		t.Errorf("kept %v, want a-1.fed and a-1.trace", names)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a-1.trace")); err != nil || string(b) != "a-1.trace" {
		t.Errorf("a-1.trace kept as %q, %v", b, err)
	}
}
