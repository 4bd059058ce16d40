package groups

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPureStateMachine keeps the group layer free of I/O, goroutines,
// locks, clocks and randomness, and dependent only on the standard
// library and localring, so that the simulator drives it deterministically
// and the import graph points down (agent → groups → localring).
func TestPureStateMachine(t *testing.T) {
	forbidden := map[string]string{
		"net":          "sockets belong in the driver",
		"os":           "files belong in the driver",
		"sync":         "a Node is single-threaded; the driver owns it",
		"time":         "a Node reads no clock; its decisions follow the ring's order",
		"math/rand":    "a Node needs no randomness",
		"math/rand/v2": "a Node needs no randomness",
		"log":          "logs are built from events in the driver",
		"log/slog":     "logs are built from events in the driver",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if why, bad := forbidden[path]; bad {
				t.Errorf("%s imports %s: %s", name, path, why)
			}
			if strings.Contains(path, ".") && path != "github.com/atoll-gcs/atoll/localring" {
				t.Errorf("%s imports %s: groups depends on the standard library and localring only", name, path)
			}
		}
		if strings.Contains(string(src), "go func") {
			t.Errorf("%s starts a goroutine", name)
		}
	}
}
