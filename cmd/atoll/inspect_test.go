package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// TestInspectAndAdmin: each resource of inspect as a table and as JSON,
// the admin commands and their exit statuses, and the API over HTTP with
// a token.
func TestInspectAndAdmin(t *testing.T) {
	dir := t.TempDir()
	readTok, adminTok := filepath.Join(dir, "read.token"), filepath.Join(dir, "admin.token")
	os.WriteFile(readTok, []byte("read-token-0123456789\n"), 0o600)
	os.WriteFile(adminTok, []byte("admin-token-0123456789\n"), 0o600)
	p := startAgentProcess(t, "--http-listen", "127.0.0.1:0", "--http-read-token", readTok, "--http-admin-token", adminTok)
	d := []string{"--data-dir", p.dataDir}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "ring"}, "ring r:"},
		{[]string{"inspect", "ring"}, "flow control window"},
		{[]string{"inspect", "groups"}, "0 groups with members, seen from n1"},
		{[]string{"inspect", "clients"}, "0 clients of agent n1"},
		{[]string{"inspect", "federation"}, "no federation domain"},
		{[]string{"inspect", "plan"}, "site/s  site"},
		{[]string{"inspect", "events"}, "ring_formed"},
		{[]string{"inspect", "ring", "-o", "json"}, `"flow_control": {`},
		{[]string{"status"}, "listening  ring udp://127.0.0.1:"},
		{[]string{"status"}, ", api http://127.0.0.1:"},
		{[]string{"admin", "log-level", "debug"}, "log level debug"},
		{[]string{"admin", "log-level"}, "log level debug"},
	} {
		code, out, errs := run(append(tc.args, d...)...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, %q%q; want %q", tc.args, code, out, errs, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin", "evict", "nobody"}, 1, `404 Not Found: not found: agent n1 has no client named "nobody"`},
		{[]string{"admin", "handover", "fed/x"}, 1, `404 Not Found: not found: "fed/x" is not a federation domain of site`},
		{[]string{"admin", "log-level", "loud"}, 1, "use debug, info, warn or error"},
		{[]string{"inspect", "ring", "-o", "yaml"}, exitUsage, "use table or json"},
		{[]string{"inspect", "ring", "--api-url", "http://127.0.0.1:1"}, exitUsage, "needs --api-token-file"},
		{[]string{"inspect", "ring", "--api-token-file", readTok}, exitUsage, "need --api-url"},
		{[]string{"inspect", "ring", "--admin-socket", filepath.Join(dir, "none.sock")}, exitUnreachable, "no agent answers"},
	} {
		args := tc.args
		if !strings.Contains(strings.Join(args, " "), "--admin-socket") {
			args = append(args, d...)
		}
		code, out, errs := run(args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q%q; want exit %d with %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}

	// Over HTTP: the read token reads, and may not change anything.
	st, err := agent.NewClient(filepath.Join(p.dataDir, agent.AdminSocketName)).Status(context.Background())
	if err != nil || st.Config.API == "" {
		t.Fatalf("status names no API listener: %+v %v", st.Config, err)
	}
	httpArgs := []string{"--api-url", st.Config.API, "--api-token-file", readTok}
	if code, out, errs := run(append([]string{"inspect", "ring"}, httpArgs...)...); code != 0 || !strings.Contains(out, "ring "+st.Ring) {
		t.Errorf("inspect ring over HTTP: exit %d %q%q", code, out, errs)
	}
	if code, _, errs := run(append([]string{"admin", "log-level", "info"}, httpArgs...)...); code != 1 || !strings.Contains(errs, "403 Forbidden") || !strings.Contains(errs, "needs the admin role") {
		t.Errorf("log-level with the read token: exit %d %q", code, errs)
	}
	httpArgs[3] = adminTok
	if code, out, errs := run(append([]string{"admin", "log-level", "info"}, httpArgs...)...); code != 0 || !strings.Contains(out, "log level info") {
		t.Errorf("log-level with the admin token: exit %d %q%q", code, out, errs)
	}
}

// TestWatch: --watch prints again every interval until interrupted, then
// exits 0; in JSON one object per line; inspect events --watch prints
// each event once.
func TestWatch(t *testing.T) {
	dirs := startAgents(t, 1, 2) // degraded: status alone would exit 1
	for _, args := range [][]string{
		{"status", "--watch", "--interval", "100ms", "-o", "json"},
		{"inspect", "events", "--watch", "--interval", "100ms", "-o", "json"},
		{"members", "--watch", "--interval", "100ms"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errs syncbuf.Buffer
		done := make(chan int)
		go func() { done <- RunContext(ctx, append(args, "--data-dir", dirs[0]), &out, &errs) }()
		// Three refreshes, however slow the machine.
		deadline := time.Now().Add(15 * time.Second)
		ready := func(o string) bool { return strings.Count(o, "\n") >= 3 }
		switch args[0] {
		case "members":
			ready = func(o string) bool { return strings.Count(o, "Every 100ms: ") >= 3 }
		case "inspect":
			// The events so far, then polls that must not repeat them.
			ready = func(o string) bool { return strings.Contains(o, `"ring_formed"`) }
		}
		for !ready(out.String()) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if args[0] == "inspect" {
			time.Sleep(500 * time.Millisecond)
		}
		cancel()
		if code := waittest.Recv(t, done, 10*time.Second, "atoll "+strings.Join(args, " ")+" to return after its context ended"); code != 0 {
			t.Errorf("%v: exit %d after the interrupt: %s", args, code, errs.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		switch args[0] {
		case "status":
			if len(lines) < 3 {
				t.Errorf("%v: %d lines in 15s at 100ms", args, len(lines))
			}
			for _, l := range lines {
				var st agent.Status
				if err := json.Unmarshal([]byte(l), &st); err != nil || st.Node != "n1" {
					t.Errorf("%v: a line is not a Status: %v %q", args, err, l)
				}
			}
		case "inspect":
			seen := map[uint64]bool{}
			for _, l := range lines {
				var e agent.MembershipEvent
				if err := json.Unmarshal([]byte(l), &e); err != nil || seen[e.Seq] {
					t.Errorf("%v: a line is not a new event: %v %q", args, err, l)
				}
				seen[e.Seq] = true
			}
			if !seen[1] {
				t.Errorf("%v: the first event is missing:\n%s", args, out.String())
			}
		case "members":
			if n := strings.Count(out.String(), "Every 100ms: "); n < 3 {
				t.Errorf("%v: %d refreshes in 15s at 100ms:\n%s", args, n, out.String())
			}
		}
	}
}

// TestAPIOverHTTPS: with --http-cert the API serves HTTPS, which the CLI
// verifies with --api-ca; plain HTTP gets nothing from it.
func TestAPIOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key, _, _ := writeTLSFiles(t, dir, "unused")
	tok := filepath.Join(dir, "read.token")
	os.WriteFile(tok, []byte("read-token-0123456789\n"), 0o600)
	p := startAgentProcess(t, "--http-listen", "127.0.0.1:0", "--http-read-token", tok, "--http-cert", cert, "--http-key", key)
	st, err := agent.NewClient(filepath.Join(p.dataDir, agent.AdminSocketName)).Status(context.Background())
	if err != nil || !strings.HasPrefix(st.Config.API, "https://127.0.0.1:") {
		t.Fatalf("status: API %q, want https://127.0.0.1:PORT (%v)", st.Config.API, err)
	}
	if code, out, errs := run("inspect", "ring", "--api-url", st.Config.API, "--api-token-file", tok, "--api-ca", ca); code != 0 || !strings.Contains(out, "ring "+st.Ring) {
		t.Errorf("inspect ring over HTTPS: exit %d %q%q", code, out, errs)
	}
	if code, _, errs := run("inspect", "ring", "--api-url", st.Config.API, "--api-token-file", tok); code != exitUnreachable || !strings.Contains(errs, "certificate") {
		t.Errorf("HTTPS without the CA: exit %d %q, want %d and a certificate error", code, errs, exitUnreachable)
	}
	plain := "http://" + strings.TrimPrefix(st.Config.API, "https://")
	if code, _, _ := run("inspect", "ring", "--api-url", plain, "--api-token-file", tok); code == 0 {
		t.Errorf("plain HTTP to the HTTPS listener succeeded")
	}
	if code, _, errs := run("agent", "--config", oneNodeTopology(t, dir), "--node", "n1", "--insecure", "--data-dir", filepath.Join(dir, "d2"), "--http-cert", cert, "--http-key", key); code != 1 || !strings.Contains(errs, "need --http-listen") {
		t.Errorf("--http-cert without --http-listen: exit %d %q", code, errs)
	}
}
