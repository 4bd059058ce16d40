package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const examplesDir = "../../deploy/examples"

func runAtoll(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPlanTableMatchesGolden(t *testing.T) {
	for _, name := range []string{"single-site", "europe-asia", "hub-and-spoke"} {
		code, out, errOut := runAtoll(t, "plan", filepath.Join(examplesDir, name+".yaml"))
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", name, code, errOut)
		}
		want, err := os.ReadFile(filepath.Join("../../topology/testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s: atoll plan differs from topology/testdata/%s.golden:\n%s", name, name, out)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	code, out, errOut := runAtoll(t, "plan", filepath.Join(examplesDir, "europe-asia.yaml"), "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var plan struct {
		Cluster string
		Domains []struct{ Name string }
		Groups  []struct{ Group, Domain string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if plan.Cluster != "europe-asia" || len(plan.Domains) != 6 {
		t.Errorf("cluster %q, %d domains", plan.Cluster, len(plan.Domains))
	}
	for _, g := range plan.Groups {
		if g.Group == "orders" && g.Domain != "fed/regional:ams+fra+par" {
			t.Errorf("orders placed in %q", g.Domain)
		}
	}
}

func TestPlanDOT(t *testing.T) {
	code, out, errOut := runAtoll(t, "plan", filepath.Join(examplesDir, "hub-and-spoke.yaml"), "-o", "dot")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "digraph atoll {") || !strings.HasSuffix(out, "}\n") {
		t.Fatalf("not a DOT digraph:\n%s", out)
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot is not on PATH (apt-get install graphviz); not rendering to SVG")
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(out)
	svg, err := cmd.Output()
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("dot -Tsvg: %v", err)
	}
}

func TestPlanRefusesBrokenFile(t *testing.T) {
	code, out, errOut := runAtoll(t, "plan", "../../topology/testdata/broken.yaml")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and no plan", code, out)
	}
	for _, want := range []string{"broken.yaml:5:10: cluster: cluster name \"Prod_EU\" is not a DNS label", "atoll: no plan for ../../topology/testdata/broken.yaml: fix its mistakes first"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestPlanWithRejections(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(examplesDir, "europe-asia.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rejected.yaml")
	bad := strings.Replace(string(src), "{name: matching, class: realtime, sites: [fra]}", "{name: matching, class: realtime, sites: [fra, sin]}", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runAtoll(t, "plan", path, "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out, `"kind": "latency"`) || !strings.Contains(errOut, `group "matching" (class realtime) spans fra, sin: predicted`) || !strings.Contains(errOut, "has 1 rejection") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	code, out, _ = runAtoll(t, "plan", path)
	if code != 1 || !strings.Contains(out, "REJECTIONS") || !strings.Contains(out, "fix: move the group to class global (budget 800ms)") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

func TestPlanUsage(t *testing.T) {
	if code, _, errOut := runAtoll(t, "plan", filepath.Join(examplesDir, "europe-asia.yaml"), "-o", "yaml"); code != 1 || !strings.Contains(errOut, `unknown plan format "yaml"; use table, json or dot`) {
		t.Errorf("-o yaml: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runAtoll(t, "plan"); code != 1 || !strings.Contains(errOut, "accepts 1 arg") {
		t.Errorf("no file: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runAtoll(t, "plan", "no-such-file.yaml"); code != 1 || !strings.Contains(errOut, "no-such-file.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}
