package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run([]string{"demo"}, &out, &errOut); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{"installs regular", "installs transitional", "the same order", "no violation of extended virtual synchrony"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "DIFFERENT ORDER") {
		t.Errorf("demo shows diverging orders:\n%s", out.String())
	}
	if code := Run([]string{"demo", "--nodes", "12"}, &out, &errOut); code == 0 {
		t.Errorf("demo --nodes 12 succeeded")
	}
}

// TestDemoSites runs `atoll demo --sites` and checks that it exits 0 with
// nothing lost and the EVS check passed.
func TestDemoSites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs six agents and a federation ring over the WAN emulator for about 25 s")
	}
	if raceEnabled {
		// As TestCrossSiteGroup in agent: the race detector's slowdown
		// makes the federation ring miss tokens in real time, and the
		// domain re-forms again and again.
		t.Skip("judges a real-time federation ring: runs without the race detector only")
	}
	// 100 ms to site c rather than the default 200: the failover then
	// overlaps the old gateway's closing flush more often, which is where
	// a closing transport that dialed again took its successor's
	// connection (160 lost in 3 of 4 runs before the fix).
	var out, errOut bytes.Buffer
	if code := Run([]string{"demo", "--sites", "--far-rtt", "100ms"}, &out, &errOut); code != 0 {
		t.Fatalf("demo --sites exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{
		"a-2 is site a's active gateway",
		"steady:", "failover:", "merged:",
		"0 lost, 0 duplicated",
		"no violation of extended virtual synchrony",
		"What you saw",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo --sites output lacks %q:\n%s", want, out.String())
		}
	}
	if regexp.MustCompile(`[1-9]\d* (lost|duplicated)`).MatchString(out.String()) {
		t.Errorf("demo --sites lost or duplicated messages:\n%s", out.String())
	}
	if code := Run([]string{"demo", "--sites", "--far-rtt", "5s"}, &out, &errOut); code == 0 {
		t.Errorf("demo --sites --far-rtt 5s succeeded")
	}
}
