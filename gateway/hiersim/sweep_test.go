//go:build sweep

// Temporary sweep (never commit): go test -tags sweep -count=1 -timeout 0 -run 'TestSweep' ./gateway/hiersim -v 2>&1 | grep -E '^(=== RUN|--- FAIL|    --- FAIL|FAIL|ok)'
package hiersim

import (
	"fmt"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	for _, c := range []struct {
		name, topology, domain string
		site, together         bool
	}{
		{"regional", demoTopology, "fed/regional:a+b", false, false},
		{"three-sites", topologyFile, "", false, false},
		{"global", demoTopology, "fed/global:a+b+c", false, false},
		{"regional-process", demoTopology, "fed/regional:a+b", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 100; seed++ {
				t.Run(fmt.Sprint(seed), func(t *testing.T) {
					o := starveOptions(c.topology, c.domain, 300*time.Millisecond, c.site)
					o.starve.together = c.together
					r := checkedRun(t, seed, o)
					if bound := starveSettle(t, o); r.StallSettled > bound || len(r.StallApart) > 0 {
						t.Errorf("seed %d: settled %v (bound %v), apart %v", seed, r.StallSettled, bound, r.StallApart)
					}
				})
			}
		})
	}
}
