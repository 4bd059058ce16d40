package main

import (
	"bytes"
	"context"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, 3); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := `n1:c1 joined; it sees n1:c1 lead
n1:c2 joined; it sees n1:c1 lead
n1:c3 joined; it sees n1:c1 lead
killed the leader n1:c1
n1:c2: I lead now
2 survivors agree: n1:c2 leads
killed the leader n1:c2
n1:c3: I lead now
1 survivors agree: n1:c3 leads
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
