package localring

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPureStateMachine keeps the protocol core free of I/O, goroutines,
// locks, the wall clock and global randomness, so that the simulator can
// drive it deterministically. Subpackages (transports, seal, sim) are
// exempt; package federation, which configures the same core for the
// federation ring, and package gateway/bridge, the gateway's state machine
// between the local and the federation ring, are held to the same rule.
func TestPureStateMachine(t *testing.T) {
	forbidden := map[string]string{
		"net":       "sockets belong in localring/transport",
		"os":        "files belong in the driver",
		"sync":      "the core is single-threaded; the driver owns it",
		"math/rand": "inject randomness through Config.Rand (math/rand/v2 source)",
		"io/ioutil": "no I/O",
		"log":       "logs are built from events in the driver",
		"log/slog":  "logs are built from events in the driver",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fed, err := filepath.Glob("../federation/*.go")
	if err != nil || len(fed) == 0 {
		t.Fatalf("no files of package federation to check (%v)", err)
	}
	files = append(files, fed...)
	bridge, err := filepath.Glob("../gateway/bridge/*.go")
	if err != nil || len(bridge) == 0 {
		t.Fatalf("no files of package gateway/bridge to check (%v)", err)
	}
	files = append(files, bridge...)
	domconf, err := filepath.Glob("../gateway/domconf/*.go")
	if err != nil || len(domconf) == 0 {
		t.Fatalf("no files of package gateway/domconf to check (%v)", err)
	}
	files = append(files, domconf...)
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
		}
		text := string(src)
		for _, banned := range []string{"time.Now(", "time.Since(", "time.Sleep(", "time.After(", "time.NewTimer(", "time.Tick(", "go func"} {
			if strings.Contains(text, banned) {
				t.Errorf("%s uses %s: time and concurrency come from the driver", name, banned)
			}
		}
	}
}
