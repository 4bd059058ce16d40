package evs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFile: ReadFile reads a trace file as Read does, names the file
// in a parse error, and reports a missing file as fs.ErrNotExist.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "a.trace")
	line := `{"ev":"install","p":"a/1","conf":{"id":"r:1:a","kind":"regular","members":["a"]}}`
	if err := os.WriteFile(good, []byte(line+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := ReadFile(good)
	if err != nil || len(es) != 1 || es[0].Ev != EvInstall || es[0].Conf == nil || es[0].Conf.ID != "r:1:a" {
		t.Fatalf("ReadFile = %+v, %v; want the install of r:1:a", es, err)
	}
	bad := filepath.Join(dir, "b.trace")
	if err := os.WriteFile(bad, []byte(line+"\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("ReadFile of a bad line: %v, want an error at %s:2", err, bad)
	}
	if _, err := ReadFile(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
	}
}
