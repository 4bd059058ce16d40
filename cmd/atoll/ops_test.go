package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
)

// TestMain lets a test run the atoll binary as a separate process: the
// test binary itself, with ATOLL_TEST_MAIN=1, runs the command line of
// its arguments (signals and exit statuses need a process of their own).
func TestMain(m *testing.M) {
	if os.Getenv("ATOLL_TEST_MAIN") == "1" {
		os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeUDPPort returns a UDP port of 127.0.0.1 that nothing uses now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// oneNodeTopology writes a topology file of one site with one node, n1,
// unicast on 127.0.0.1 at a free port, without packet security.
func oneNodeTopology(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "one.yaml")
	writeFile(t, path, fmt.Sprintf("version: 1\ncluster: c\nsecurity: {mode: none}\nsites:\n  - name: s\n    bind: 127.0.0.1\n    port: %d\n    unicast: [127.0.0.1]\n    nodes: [{id: n1}]\n", freeUDPPort(t)))
	return path
}

// agentProcess runs `atoll agent` as a process of its own.
type agentProcess struct {
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	dataDir string
	done    chan error
}

func startAgentProcess(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	dir := t.TempDir()
	p := &agentProcess{stderr: &lockedBuffer{}, dataDir: filepath.Join(dir, "data"), done: make(chan error, 1)}
	args = append([]string{"agent", "--config", oneNodeTopology(t, dir), "--node", "n1", "--insecure", "--data-dir", p.dataDir}, args...)
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), "ATOLL_TEST_MAIN=1")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	// Wait until it is operational in its ring of one.
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := agent.NewClient(filepath.Join(p.dataDir, agent.AdminSocketName)).Status(context.Background())
		if err == nil && st.Health == agent.Healthy {
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("the agent exited: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent is not healthy after 15s: %v\n%s", err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentSIGHUP: SIGHUP does not kill the agent (its default action
// would, without a graceful leave); it logs that reload is not
// implemented. SIGTERM then stops it with status 0. The agent logs its
// listeners at start.
func TestAgentSIGHUP(t *testing.T) {
	p := startAgentProcess(t)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "SIGHUP received: reloading the configuration is not implemented yet") {
		select {
		case err := <-p.done:
			t.Fatalf("SIGHUP ended the agent: %v\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for SIGHUP:\n%s", p.stderr)
		}
	}
	if code, out, errs := run("status", "--data-dir", p.dataDir); code != 0 {
		t.Fatalf("status after SIGHUP: exit %d\n%s%s", code, out, errs)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent did not stop on SIGTERM:\n%s", p.stderr)
	}
	logs := p.stderr.String()
	for _, want := range []string{
		`msg=listening node=n1 ring=127.0.0.1:`,
		`admin=unix://` + filepath.Join(p.dataDir, agent.AdminSocketName),
		`clients=[unix://` + filepath.Join(p.dataDir, agent.ClientSocketName) + `]`,
		"agent stopped",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// TestUnreachableHint: a client command that cannot reach the agent says
// why (exit status 3), permission denied as such.
func TestUnreachableHint(t *testing.T) {
	f := &clientFlags{dataDir: "/d"}
	dial := func(errno syscall.Errno) error {
		return fmt.Errorf("client: cannot reach the agent at unix:///d/client.sock: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)})
	}
	if got := f.unreachableHint(dial(syscall.EACCES)); !strings.Contains(got, "permission denied: the client socket is for the agent's user and group") {
		t.Errorf("EACCES: %q", got)
	}
	if got := f.unreachableHint(dial(syscall.ENOENT)); !strings.Contains(got, "is the agent running with --data-dir /d?") {
		t.Errorf("ENOENT: %q", got)
	}
}
