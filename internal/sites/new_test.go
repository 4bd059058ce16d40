package sites_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/internal/sites"
)

// TestNewRefuses: a topology New cannot run is refused with an error that
// names the mistake (its error paths once closed a nil world and
// panicked).
func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"not yaml", "version: [", "sites:"},
		{"no unicast", "version: 1\ncluster: x\nsites:\n  - {name: a, nodes: [{id: a-1}]}\n", "unicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			w, err := sites.New(sites.Config{Topology: []byte(tc.yaml), Dir: d})
			if err == nil || w != nil {
				t.Fatalf("New: world %v, err %v; want an error", w, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
