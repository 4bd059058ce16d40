package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestChooseProcs(t *testing.T) {
	for _, c := range []struct {
		name         string
		flag         int
		env          string
		gateway, tls bool
		want         int // 0: the runtime's choice
		reason       string
	}{
		{"ring node", 0, "", false, false, 1, "one loop"},
		{"gateway", 0, "", true, false, 0, "gateway-eligible"},
		{"tls clients", 0, "", false, true, 0, "TLS clients"},
		{"environment", 0, "4", false, false, 0, "GOMAXPROCS in the environment"},
		{"flag wins over the environment", 3, "4", false, false, 3, "--procs"},
		{"flag on a gateway", 1, "", true, false, 1, "--procs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := chooseProcs(c.flag, c.env, c.gateway, c.tls)
			if err != nil {
				t.Fatal(err)
			}
			if got.n != c.want || !strings.Contains(got.reason, c.reason) {
				t.Errorf("chooseProcs(%d, %q, %v, %v) = %d (%s), want %d (%s)", c.flag, c.env, c.gateway, c.tls, got.n, got.reason, c.want, c.reason)
			}
		})
	}
	if _, err := chooseProcs(-1, "", false, false); err == nil || !strings.Contains(err.Error(), "--procs -1") {
		t.Errorf("chooseProcs(-1) = %v, want an error naming the flag", err)
	}
}

func TestProcsApply(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	before := runtime.GOMAXPROCS(0)
	if got := (procsChoice{reason: "runtime's"}).apply(); got != before {
		t.Errorf("a choice of 0 changed GOMAXPROCS from %d to %d", before, got)
	}
	if got := (procsChoice{n: 1}).apply(); got != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("apply of 1 left GOMAXPROCS at %d", runtime.GOMAXPROCS(0))
	}
}
