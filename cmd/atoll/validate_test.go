package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("found %d examples", len(files))
	}
	code, out, errOut := runAtoll(t, append([]string{"validate"}, files...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "europe-asia.yaml: valid: 4 sites, 9 groups, 6 domains") {
		t.Errorf("stdout %q", out)
	}
}

func TestValidateBrokenFile(t *testing.T) {
	code, out, errOut := runAtoll(t, "validate", "../../topology/testdata/broken.yaml")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1", code, out)
	}
	// The mistakes are the golden list of package topology, with this
	// directory's path to the file.
	golden, err := os.ReadFile("../../topology/testdata/broken.golden")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(golden), "testdata/broken.yaml", "../../topology/testdata/broken.yaml")
	if !strings.HasPrefix(errOut, want) {
		t.Errorf("stderr does not start with the golden mistakes:\n%s", errOut)
	}
	n := strings.Count(want, "\n")
	if tail := strings.TrimPrefix(errOut, want); tail != "../../topology/testdata/broken.yaml: "+strconv.Itoa(n)+" mistakes\natoll: 1 of 1 topology files are invalid\n" {
		t.Errorf("summary %q", tail)
	}
}

func TestValidateMixed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const site = "version: 1\ncluster: x\nsites: [{name: a, multicast: 239.192.0.1, nodes: [{id: a-1}]}]\n"
	if err := os.WriteFile(good, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(site+"extra: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runAtoll(t, "validate", good, bad, filepath.Join(dir, "missing.yaml"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "good.yaml: valid: 1 site, 0 groups, 1 domain") {
		t.Errorf("stdout %q", out)
	}
	for _, want := range []string{"bad.yaml:4:1: extra: unknown key \"extra\"", "missing.yaml: no such file or directory", "atoll: 2 of 3 topology files are invalid"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
