package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/agenttest"
)

// startAgents runs agents n1..nN of a site that configures the first
// `configured` of them (cluster c), over a fake network
// (internal/agenttest), each with its admin socket in its data dir; it
// returns their data dirs.
func startAgents(t *testing.T, running, configured int) []string {
	t.Helper()
	c := agenttest.New(t.TempDir(), configured)
	t.Cleanup(func() { c.StopAll(5 * time.Second) })
	var dirs []string
	for _, id := range c.IDs[:running] {
		if _, err := c.Start(id, func(cfg *agent.Config) {
			cfg.Cluster, cfg.AdminSocket, cfg.TracePath, cfg.Logger = "c", "", "", slog.New(slog.DiscardHandler)
		}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, c.Config(id).DataDir)
	}
	if err := c.WaitRing(c.IDs[:running], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestStatusHealthy(t *testing.T) {
	dirs := startAgents(t, 2, 2)
	var out, errb bytes.Buffer
	if code := Run([]string{"status", "--data-dir", dirs[0]}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"health     healthy", "state      operational", "members    2 of 2 configured: n1 n2", "security   encrypt aes-256-gcm"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Run([]string{"members", "--data-dir", dirs[1], "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("members: exit %d\n%s", code, errb.String())
	}
	var m agent.MembersReply
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || len(m.Members) != 2 || m.Node != "n2" || !m.Members[0].InRing {
		t.Errorf("members -o json: %v\n%s", err, out.String())
	}
	out.Reset()
	if code := Run([]string{"members", "--admin-socket", filepath.Join(dirs[0], "admin.sock")}, &out, &errb); code != 0 || !strings.Contains(out.String(), "NODE  IN RING") {
		t.Errorf("members: exit %d\n%s", code, out.String())
	}
}

func TestStatusDegraded(t *testing.T) {
	dirs := startAgents(t, 2, 3)
	var out, errb bytes.Buffer
	if code := Run([]string{"status", "--data-dir", dirs[0], "--output", "json"}, &out, &errb); code != 1 {
		t.Fatalf("status with a node missing: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	var st agent.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Health != agent.Degraded || strings.Join(st.Missing, ",") != "n3" {
		t.Errorf("status -o json: %v %+v", err, st)
	}
}

func TestStatusUnreachable(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"status", "--data-dir", t.TempDir()}, &out, &errb); code != 3 {
		t.Fatalf("status without an agent: exit %d, want 3", code)
	}
	if !strings.Contains(errb.String(), "no agent answers on admin socket") || !strings.Contains(errb.String(), "there is no such socket") {
		t.Errorf("stderr: %s", errb.String())
	}
	// Usage errors have a status of their own, never a health's.
	for _, args := range [][]string{
		{"status", "-o", "yaml"},
		{"status", "--no-such-flag"},
		{"status", "extra-argument"},
		{"members", "-o", "yaml"},
		{"members", "--no-such-flag"},
	} {
		if code, _, errs := run(append(args, "--data-dir", t.TempDir())...); code != 64 || errs == "" {
			t.Errorf("%v: exit %d, want 64 (usage) with a message", args, code)
		}
	}
}

func TestAgentCommandErrors(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, "version: 1\ncluster: c\nsites:\n  - name: s\n    bind: 127.0.0.1\n    unicast: [127.0.0.1]\n    nodes: [{id: n1}]\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--config", topo, "--node", "n9", "--data-dir", dir}, `node "n9" is not in topology file`},
		{[]string{"agent", "--config", topo, "--node", "n1", "--data-dir", dir}, "atoll keygen"},
		{[]string{"agent", "--config", filepath.Join(dir, "none.yaml"), "--node", "n1"}, "no such file"},
		{[]string{"agent", "--config", topo, "--node", "n1", "--log-format", "xml"}, "--log-format"},
	} {
		var out, errb bytes.Buffer
		if code := Run(tc.args, &out, &errb); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStatusDomainLine: a federation domain's line names the node's role,
// the connected sites, and how many messages the site had no use for and
// how its ring carries them (federation.unneeded).
func TestStatusDomainLine(t *testing.T) {
	for _, tc := range []struct{ as, want string }{
		{"stubs", "; 7 of 40 messages unneeded here, brought down as stubs without their data (federation.unneeded: stubs)\n"},
		{"full", "; 7 of 40 messages unneeded here, brought down in full (federation.unneeded: full)\n"},
		{"", "; 7 of 40 messages unneeded here\n"},
	} {
		st := &agent.Status{Node: "a-1", Site: "a", Domains: []agent.DomainStatus{{
			Domain: "abc", Sites: []string{"a", "b", "c"}, Role: "member", Active: "a-2",
			Connected: []string{"a", "b"}, Configuration: "d:3", Members: 5, Position: "1.17",
			Messages: 40, Unneeded: 7, UnneededAs: tc.as}}}
		var b bytes.Buffer
		writeStatus(&b, st, time.Now())
		line := ""
		for l := range strings.Lines(b.String()) {
			if strings.HasPrefix(l, "domain ") {
				line = l
			}
		}
		if !strings.HasPrefix(line, "domain     abc: member (active gateway a-2); sites a b connected of a b c; configuration d:3, 5 nodes; position 1.17, 0 waiting to come down") ||
			!strings.HasSuffix(line, tc.want) {
			t.Errorf("unneeded as %q: domain line %q, want it to end in %q", tc.as, line, tc.want)
		}
	}
}
