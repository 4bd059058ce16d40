package topology

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; every
// mistake must carry the file name, a line and a column, a message and a
// fix; whatever decodes must plan and print; and a file that parses
// cleanly must survive encoding back to YAML and parsing again with the
// same plan (the quic-go habit: parse, re-encode, compare).
//
//	go test ./topology -run '^$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 3s
//
// (a short minimisation time keeps it fuzzing: minimising a multi-kilobyte
// topology for the default minute stalls the run).
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../deploy/examples/*.yaml", "testdata/*.yaml", "default.yaml"} {
		files, _ := filepath.Glob(path)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	for _, s := range []string{"", "{", "version: 1\ncluster: [", "a: &a [*a]", "sites: [{nodes: [{id: x}]}]", "\xff", "version: 1\n---\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse returned %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" || e.Fix == "" {
					t.Fatalf("incomplete error %#v", e)
				}
			}
		}
		if file == nil {
			return
		}
		p := file.Plan()
		for _, format := range []Format{FormatTable, FormatJSON, FormatDOT} {
			if err := p.Write(io.Discard, format); err != nil {
				t.Fatal(err)
			}
		}
		if err != nil {
			return
		}
		out, err := yaml.Marshal(file)
		if err != nil {
			t.Fatalf("yaml.Marshal: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v\n%s", err, out)
		}
		if a, b := p.JSON(), again.Plan().JSON(); !bytes.Equal(a, b) {
			t.Fatalf("re-encoded file plans differently:\n%s\n---\n%s", a, b)
		}
	})
}
