package main

import (
	"strings"
	"testing"
)

// TestBenchIsolationFlags: `atoll bench isolation` refuses what it cannot
// run before starting anything, and says what to do. (The run itself is
// bench/isolation's TestSmoke.)
func TestBenchIsolationFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--groups", "a-local,ab-regional"}, "must include a-local and abc-global"},
		{[]string{"--groups", "a-local,abc-global,nope"}, `unknown group "nope"`},
		{[]string{"--size", "8"}, "at least 16 bytes"},
		{[]string{"--saturate-from", "c"}, `not "c"`},
	} {
		code, _, errOut := run(append([]string{"bench", "isolation"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", c.args, code, errOut, c.want)
		}
	}
}
