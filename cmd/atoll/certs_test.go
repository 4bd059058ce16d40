package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	topo := "../../deploy/examples/europe-asia.yaml"
	var out, errOut bytes.Buffer
	if code := Run([]string{"certs", topo, "-d", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if n := strings.Count(out.String(), "wrote "); n != 9 || !strings.Contains(out.String(), "sin/sin-2, expires ") {
		t.Fatalf("stdout %q: want 9 pairs with expiries", out.String())
	}
	key := filepath.Join(dir, "fra-1.key")
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", key, st, err)
	}
	first, _ := os.ReadFile(key)

	out.Reset()
	errOut.Reset()
	if code := Run([]string{"certs", topo, "-d", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--force") {
		t.Fatalf("second run: exit %d, stderr %q", code, errOut.String())
	}
	if now, _ := os.ReadFile(key); !bytes.Equal(now, first) {
		t.Fatal("a refused run changed a key")
	}
	out.Reset()
	if code := Run([]string{"certs", topo, "-d", dir, "--node", "fra-1", "--force", "--validity", "240h"}, &out, &errOut); code != 0 {
		t.Fatalf("renew: exit %d, stderr %q", code, errOut.String())
	}
	if now, _ := os.ReadFile(key); bytes.Equal(now, first) {
		t.Fatal("--force did not replace fra-1's key")
	}
	out.Reset()
	if code := Run([]string{"certs", "check", "-d", dir}, &out, &errOut); code != 1 {
		t.Fatalf("check: exit %d, want 1 for fra-1's 10-day certificate", code)
	}
	if n := strings.Count(out.String(), "\n"); n != 9 || !strings.Contains(out.String(), "WARNING: certificate of fra/fra-1 expires") {
		t.Fatalf("check printed %q", out.String())
	}
}
