package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring/seal"
)

func TestKeygenWritesKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.key")
	var out, errOut bytes.Buffer
	if code := Run([]string{"keygen", "-o", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	key, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("the written key file does not load: %v", err)
	}
	if want := fmt.Sprintf("key id %08x", key.ID()); !strings.Contains(out.String(), want) || !strings.Contains(out.String(), path) {
		t.Fatalf("stdout %q, want the path and %q", out.String(), want)
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.key")
	var out, errOut bytes.Buffer
	if code := Run([]string{"keygen", "-o", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	first, _ := os.ReadFile(path)

	out.Reset()
	errOut.Reset()
	if code := Run([]string{"keygen", "-o", path}, &out, &errOut); code != 1 {
		t.Fatalf("second keygen: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "--force") || !strings.Contains(errOut.String(), "already exists") {
		t.Fatalf("stderr %q, want a hint at --force", errOut.String())
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Fatal("refused keygen changed the key file")
	}

	errOut.Reset()
	if code := Run([]string{"keygen", "-o", path, "--force"}, &out, &errOut); code != 0 {
		t.Fatalf("keygen --force: exit %d, stderr %q", code, errOut.String())
	}
	if now, _ := os.ReadFile(path); bytes.Equal(now, first) {
		t.Fatal("keygen --force kept the old key")
	}
	if _, err := seal.LoadKeyFile(path); err != nil {
		t.Fatalf("replaced key file does not load: %v", err)
	}
}

func TestKeygenStdout(t *testing.T) {
	var out1, out2, errOut bytes.Buffer
	if code := Run([]string{"keygen"}, &out1, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	Run([]string{"keygen"}, &out2, &errOut)
	k1, err := seal.ParseKey(out1.Bytes())
	if err != nil {
		t.Fatalf("stdout is not a key file: %v\n%s", err, out1.String())
	}
	if k2, _ := seal.ParseKey(out2.Bytes()); k1 == k2 {
		t.Fatal("two keygen runs made the same key")
	}
	if !strings.Contains(errOut.String(), "0600") {
		t.Fatalf("stderr %q, want a hint to store the key with mode 0600", errOut.String())
	}
}

func TestKeygenBadDirectory(t *testing.T) {
	var out, errOut bytes.Buffer
	path := filepath.Join(t.TempDir(), "missing", "atoll.key")
	if code := Run([]string{"keygen", "-o", path}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "atoll: seal:") {
		t.Fatalf("stderr %q", errOut.String())
	}
}
