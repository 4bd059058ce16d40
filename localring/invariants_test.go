//go:build invariants

package localring

import (
	"strings"
	"testing"
)

// TestInvariantsPanic breaks each counter invariant of a formed ring by hand
// and checks that the next input panics with the node's state.
func TestInvariantsPanic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(rs *ringState)
		want   string
	}{
		{"aru", func(rs *ringState) { rs.aru = rs.highSeq + 1 }, "aru > highest"},
		{"delivered", func(rs *ringState) { rs.delivered = rs.aru + 1; rs.highSeq = rs.aru + 1 }, "delivered > aru"},
		{"freed", func(rs *ringState) { rs.freed = rs.safeUpTo + 1 }, "freed > min(delivered, safe)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, now := formRing(t, "a", "b")
			n := nodes[0]
			n.checkInvariants("test") // a healthy ring passes
			tc.mutate(n.reg)
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "node a#1") {
					t.Fatalf("panic %v, want one naming node a#1 and %q", r, tc.want)
				}
			}()
			n.Tick(now)
			t.Fatal("no panic")
		})
	}
}
