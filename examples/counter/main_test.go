package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for seed := range uint64(3) {
		var out bytes.Buffer
		err := run(context.Background(), &out, config{Replicas: 4, Kill: 2, Ops: 60, Seed: seed})
		t.Logf("seed %d:\n%s", seed, out.String())
		if err != nil {
			t.Fatal(err)
		}
		s := out.String()
		if strings.Count(s, ": killed") != 2 || !strings.Contains(s, "survivors agree") ||
			strings.Count(s, "operations") != 3 {
			t.Fatalf("unexpected output")
		}
	}
}
