package securefile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/atoll-gcs/atoll/internal/securefile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	mode := func() fs.FileMode {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if err := securefile.Write(path, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("mode %v, want 0600", m)
	}
	if err := securefile.Write(path, []byte("two"), false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write without overwrite: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("a refused write changed the file to %q", b)
	}
	os.Chmod(path, 0o644)
	if err := securefile.Write(path, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Fatalf("overwrite left %q", b)
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("mode %v after overwrite, want 0600", m)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
