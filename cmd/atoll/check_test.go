package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCheckTrace(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	checkTraceA = `{"ev":"install","node":"a","inc":1,"domain":"site/fra","conf":{"id":"r:1:a","kind":"reg","members":["a","b"]}}
{"ev":"send","node":"a","inc":1,"domain":"site/fra","conf":"r:1:a","msg":"a/1/1","svc":"agreed","groups":["g"],"hash":"h1"}
{"ev":"deliver","node":"a","inc":1,"domain":"site/fra","conf":"r:1:a","msg":"a/1/1","svc":"agreed","groups":["g"],"hash":"h1","order":1}
`
	checkTraceB = `{"ev":"install","node":"b","inc":1,"domain":"site/fra","conf":{"id":"r:1:a","kind":"reg","members":["a","b"]}}
{"ev":"deliver","node":"b","inc":1,"domain":"site/fra","conf":"r:1:a","msg":"a/1/1","svc":"agreed","groups":["g"],"hash":"h1","order":1}
`
)

// checkTraceFed is a federation domain whose order field falls from one
// ring to the next: fine for ring positions, wrong for a domain order.
const checkTraceFed = `{"ev":"install","node":"a","inc":1,"domain":"fed/eu","conf":{"id":"r:1:a","kind":"reg","members":["a"]}}
{"ev":"send","node":"a","inc":1,"domain":"fed/eu","conf":"r:1:a","msg":"a/1/1","svc":"agreed","hash":"h1"}
{"ev":"deliver","node":"a","inc":1,"domain":"fed/eu","conf":"r:1:a","msg":"a/1/1","svc":"agreed","hash":"h1","order":7}
{"ev":"install","node":"a","inc":1,"domain":"fed/eu","conf":{"id":"t:5:a/1:a","kind":"trans","members":["a"]}}
{"ev":"install","node":"a","inc":1,"domain":"fed/eu","conf":{"id":"r:5:a","kind":"reg","members":["a"]}}
{"ev":"send","node":"a","inc":1,"domain":"fed/eu","conf":"r:5:a","msg":"a/1/2","svc":"agreed","hash":"h2"}
{"ev":"deliver","node":"a","inc":1,"domain":"fed/eu","conf":"r:5:a","msg":"a/1/2","svc":"agreed","hash":"h2","order":3}
`

func TestCheckCommand(t *testing.T) {
	fed := writeCheckTrace(t, "fed.jsonl", checkTraceFed)
	a, b := writeCheckTrace(t, "a.jsonl", checkTraceA), writeCheckTrace(t, "b.jsonl", checkTraceB)
	bad := writeCheckTrace(t, "bad.jsonl", strings.Replace(checkTraceB, `"hash":"h1"`, `"hash":"XX"`, 1))
	lagging := writeCheckTrace(t, "lagging.jsonl", strings.SplitAfter(checkTraceB, "\n")[0])
	garbage := writeCheckTrace(t, "garbage.jsonl", "{\"ev\":\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"clean", []string{"check", a, b}, 0,
			[]string{"checked 5 events from 2 processes in 1 domain: 0 violations\n"}, ""},
		{"clean and converged", []string{"check", "--quiescent", "--live", "a/1,b/1", a, b}, 0,
			[]string{"checked 5 events from 2 processes in 1 domain: 0 violations\n"}, ""},
		{"corrupted", []string{"check", a, bad}, 1,
			[]string{`1.1 no creation: site/fra conf r:1:a: b/1 delivered a/1/1 with hash "XX", but a/1 sent it with hash "h1"`,
				"checked 5 events from 2 processes in 1 domain: 1 violation\n"}, ""},
		{"not converged", []string{"check", "--live", "a/1,b/1,c/1", a, b}, 1,
			[]string{"2.5 liveness: (no domain): live process c/1 wrote no events", "1 violation"}, ""},
		{"b did not deliver, quiescent", []string{"check", "--quiescent", a, lagging}, 1,
			[]string{"4 failure atomicity: site/fra conf r:1:a: b/1 did not deliver a/1/1 in r:1:a but a/1 did"}, ""},
		{"b did not deliver but failed", []string{"check", "--quiescent", "--failed", "b/1", a, lagging}, 0,
			[]string{"0 violations"}, ""},
		{"ring positions in a fed domain", []string{"check", "--quiescent", fed}, 0,
			[]string{"0 violations"}, ""},
		{"domain order falls", []string{"check", "--quiescent", "--domain-order", fed}, 1,
			[]string{"6 order field: fed/eu conf r:5:a: a/1 delivered a/1/2 (order 3) after a/1/1 (order 7)", "1 violation"}, ""},
		{"missing file", []string{"check", a, filepath.Join(t.TempDir(), "nope.jsonl")}, 2, nil, "nope.jsonl"},
		{"unreadable", []string{"check", garbage}, 2, nil, "evs: " + garbage + ":1: not a trace event"},
		{"no files", []string{"check"}, 2, nil, "at least one trace file"},
		{"bad process", []string{"check", "--failed", "b", a}, 2, nil, "--failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := Run(tc.args, &out, &errOut); code != tc.code {
				t.Errorf("exit status %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut.String())
			}
		})
	}
}
