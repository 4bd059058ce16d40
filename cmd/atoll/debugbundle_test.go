package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// readBundle returns the files of a tar.gz bundle.
func readBundle(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = string(b)
	}
}

// TestDebugBundle: the bundle of a running gateway-eligible agent holds
// its version, status, members, metrics, doctor report, topology file and
// log, and no key material: neither the cluster key (in any encoding)
// nor a private key, not even when the log holds them.
func TestDebugBundle(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "atoll.key")
	k := seal.GenerateKey()
	if err := seal.WriteKeyFile(keyPath, k, false); err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, fmt.Sprintf("version: 1\ncluster: c\nsecurity: {key_file: %s}\nsites:\n  - name: s\n    bind: 127.0.0.1\n    port: %d\n    unicast: [127.0.0.1]\n    quic: 127.0.0.1:7400\n    nodes: [{id: n1}]\n    gateways: [n1]\n", keyPath, freeUDPPort(t)))
	certs := filepath.Join(dir, "certs")
	if code, o, e := run("certs", topo, "-d", certs); code != 0 {
		t.Fatalf("certs: %d %s%s", code, o, e)
	}
	nodeKey, err := os.ReadFile(filepath.Join(certs, pki.KeyFile("n1")))
	if err != nil {
		t.Fatal(err)
	}
	keyFile, _ := os.ReadFile(keyPath)
	data := filepath.Join(dir, "data")
	startTopologyAgent(t, topo, "n1", data)
	// A log that an operator's mistake filled with secrets.
	logPath := filepath.Join(dir, "agent.log")
	writeFile(t, logPath, "level=INFO msg=\"ring installed\" node=n1\n"+string(nodeKey)+string(keyFile)+"level=INFO msg=after\n")

	out := filepath.Join(dir, "bundle.tar.gz")
	code, stdout, errs := run("debug", "bundle", "--data-dir", data, "--log-file", logPath, "--unit", "", "-o", out)
	if code != 0 || strings.TrimSpace(stdout) != out {
		t.Fatalf("exit %d: %s%s", code, stdout, errs)
	}
	files := readBundle(t, out)
	// doctor.txt's agent line names the ring's state: operational, or
	// gather when the ring of one is forming again, as it was once in about
	// 70 race runs at load 10-16 (a loaded machine starves the test past
	// the ring's 202 ms token timeout).
	for name, want := range map[string]string{
		"version.txt":   "atoll ",
		"status.json":   `"node": "n1"`,
		"members.json":  `"id": "n1"`,
		"events.json":   `"kind": "ring_formed"`,
		"metrics.txt":   "atoll_client_queue_wait_seconds_count 0",
		"ring.json":     `"members"`,
		"groups.json":   "[",
		"clients.json":  "[",
		"doctor.txt":    "ok    agent        node n1's agent is ",
		"topology.yaml": "gateways: [n1]",
		"agent.log":     "msg=after",
	} {
		if !strings.Contains(files[name], want) {
			t.Errorf("%s lacks %q:\n%s", name, want, files[name])
		}
	}
	secrets := []string{hex.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(k[:]), string(k[:]), "PRIVATE KEY", strings.TrimSpace(string(nodeKey))}
	for name, body := range files {
		for _, s := range secrets {
			if strings.Contains(body, s) || strings.Contains(strings.ToLower(body), strings.ToLower(s)) {
				t.Errorf("%s holds key material %.20q", name, s)
			}
		}
	}
	if !strings.Contains(files["agent.log"], "[key removed by atoll debug bundle]") {
		t.Errorf("agent.log does not say what was removed:\n%s", files["agent.log"])
	}

	// No agent: the bundle is still written, and says what is missing.
	out2 := filepath.Join(dir, "none.tar.gz")
	if code, o, e := run("debug", "bundle", "--admin-socket", filepath.Join(dir, "none.sock"), "--unit", "", "-o", out2); code != 0 {
		t.Fatalf("no agent: exit %d %s%s", code, o, e)
	}
	if errs := readBundle(t, out2)["errors.txt"]; !strings.Contains(errs, "admin API /status: agent: no agent answers on") || !strings.Contains(errs, "give --config and --node") {
		t.Errorf("errors.txt without an agent:\n%s", errs)
	}
}

// TestDebugBundleJournal: when the unit is active under systemd, the
// bundle takes the unit's journal (since --since), redacted, instead of
// the log file.
func TestDebugBundleJournal(t *testing.T) {
	bin := t.TempDir()
	args := filepath.Join(bin, "journalctl.args")
	writeFile(t, filepath.Join(bin, "systemctl"), "#!/bin/sh\n[ \"$*\" = \"is-active --quiet atoll-test\" ]\n")
	writeFile(t, filepath.Join(bin, "journalctl"), "#!/bin/sh\necho \"$*\" > "+args+"\necho 'atoll[1]: ring installed'\nprintf -- '-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE\\n-----END EC PRIVATE KEY-----\\n'\n")
	for _, f := range []string{"systemctl", "journalctl"} {
		if err := os.Chmod(filepath.Join(bin, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	out := filepath.Join(dir, "b.tar.gz")
	if code, o, e := run("debug", "bundle", "--admin-socket", filepath.Join(dir, "none.sock"), "--unit", "atoll-test", "--since", "30m", "--log-file", filepath.Join(dir, "unused.log"), "-o", out); code != 0 {
		t.Fatalf("exit %d %s%s", code, o, e)
	}
	log := readBundle(t, out)["agent.log"]
	if !strings.Contains(log, "atoll[1]: ring installed") || strings.Contains(log, "MHcCAQEE") || !strings.Contains(log, "[key removed by atoll debug bundle]") {
		t.Errorf("agent.log from the journal:\n%s", log)
	}
	if a, _ := os.ReadFile(args); strings.TrimSpace(string(a)) != "--unit atoll-test --no-pager --output short-iso --since -1800s" {
		t.Errorf("journalctl %s", a)
	}
}
