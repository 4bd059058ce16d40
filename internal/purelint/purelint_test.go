package purelint

import (
	"slices"
	"strings"
	"testing"
)

var rules = Rules{
	Imports: map[string]string{"sync": "no locks", "net": "no sockets"},
	Text:    map[string]string{"time.Now(": "no clock", "go func": "no goroutines"},
	Deps:    []string{"github.com/atoll-gcs/atoll/localring"},
	DepsWhy: "only localring",
}

func TestViolations(t *testing.T) {
	got, err := Violations(rules, "testdata/clean", "testdata/dirty")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"testdata/dirty/dirty.go imports sync: no locks",
		"testdata/dirty/dirty.go imports golang.org/x/sys/unix: only localring",
		"testdata/dirty/dirty.go uses go func: no goroutines",
		"testdata/dirty/dirty.go uses time.Now(: no clock",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEmptyDirIsAnError(t *testing.T) {
	if _, err := Violations(rules, "testdata"); err == nil || !strings.Contains(err.Error(), "no non-test Go files") {
		t.Errorf("a directory without Go files: err = %v, want an error", err)
	}
	if _, err := Violations(rules, "testdata/missing"); err == nil {
		t.Error("a missing directory passed")
	}
}
