package main

import (
	"bytes"
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
