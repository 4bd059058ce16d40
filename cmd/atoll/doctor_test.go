package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring/seal"
)

// TestDoctor: a misconfigured node (socket buffer limits at Debian's
// default, a key file others may read, a gateway without certificates, a
// bind template that matches nothing) gets a line per problem saying what
// to do, and exit 1; the same node fixed gets exit 0.
func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	procSys := filepath.Join(dir, "sys")
	if err := os.MkdirAll(filepath.Join(procSys, "net/core"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(procSys, "net/core/rmem_max"), "212992\n")
	writeFile(t, filepath.Join(procSys, "net/core/wmem_max"), "212992\n")
	key := filepath.Join(dir, "atoll.key")
	k := seal.GenerateKey()
	if err := seal.WriteKeyFile(key, k, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, "version: 1\ncluster: c\nsites:\n  - name: s\n    bind: 127.0.0.1\n    unicast: [127.0.0.1]\n    quic: 127.0.0.1:7400\n    nodes: [{id: n1}]\n    gateways: [n1]\n")
	code, out, errs := run("doctor", "--config", topo, "--node", "n1", "--key", key, "--cert-dir", filepath.Join(dir, "certs"), "--proc-sys", procSys)
	if code != 1 {
		t.Errorf("misconfigured: exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"ok    topology     " + topo + " is valid",
		"ok    bind         node n1 binds 127.0.0.1:5405 (unicast)",
		"ok    mtu          lo (127.0.0.1) has MTU ",
		"  clock        ",
		"warn  sysctl       net.core.rmem_max is 212992 bytes, below the 4194304 the ring's socket asks for",
		"install deploy/systemd/90-atoll.conf",
		"FAIL  key          seal: key file " + key + " has mode 0644",
		"FAIL  certificates stat " + filepath.Join(dir, "certs", "ca.crt") + ": no such file or directory; make the certificates with",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	t.Logf("atoll doctor on a misconfigured node:\n%s", out)

	// Fixed: key mode 0600, buffers raised, certificates made.
	os.Chmod(key, 0o600)
	writeFile(t, filepath.Join(procSys, "net/core/rmem_max"), "4194304\n")
	writeFile(t, filepath.Join(procSys, "net/core/wmem_max"), "4194304\n")
	if code, o, e := run("certs", topo, "-d", filepath.Join(dir, "certs")); code != 0 {
		t.Fatalf("certs: %d %s%s", code, o, e)
	}
	code, out, errs = run("doctor", "--config", topo, "--node", "n1", "--key", key, "--cert-dir", filepath.Join(dir, "certs"), "--proc-sys", procSys)
	// The clock is the host's: it may warn here.
	noClock := regexp.MustCompile(`(?m)^\S+\s+clock .*\n`).ReplaceAllString(out, "")
	if code != 0 || strings.Contains(noClock, "FAIL") || strings.Contains(noClock, "warn") {
		t.Errorf("fixed: exit %d, want 0 without warnings but the clock's\n%s%s", code, out, errs)
	}
	for _, want := range []string{fmt.Sprintf("ok    key          %s: key id %08x", key, k.ID()), "n1.crt valid until"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}

	// A bind template that matches nothing on this host.
	writeFile(t, topo, "version: 1\ncluster: c\nsecurity: {mode: none}\nsites:\n  - name: s\n    bind: '{{ GetPrivateInterfaces | include \"network\" \"198.18.77.0/24\" | attr \"address\" }}'\n    multicast: 239.192.77.1\n    nodes: [{id: n1}]\n")
	code, out, _ = run("doctor", "--config", topo, "--node", "n1", "--proc-sys", procSys)
	if code != 1 || !strings.Contains(out, "FAIL  node         agent: node n1: bind address: ") {
		t.Errorf("bind matching nothing: exit %d\n%s", code, out)
	}
	t.Logf("a bind template that matches nothing:\n%s", out)
}
