package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// TestAgentSystemdNotify runs `atoll agent` as systemd runs it under
// deploy/systemd/atoll-agent.service (Type=notify, WatchdogSec=), with a
// fake $NOTIFY_SOCKET: READY=1 comes when the agent's status already
// shows its ring, WATCHDOG=1 keeps coming (also after a SIGHUP), and
// SIGTERM sends STOPPING=1 and exits 0. systemd itself is not run here;
// tests/deploy TestSystemdBoot runs the unit under a real systemd.
func TestAgentSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	dataDir := filepath.Join(dir, "data")
	cmd := exec.Command(os.Args[0], "agent", "--config", oneNodeTopology(t, dir), "--node", "n1", "--insecure", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "ATOLL_TEST_MAIN=1", "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=400000")
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		sd.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := sd.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no notification within 20 s:\n%s", stderr)
			}
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	admin := agent.NewClient(filepath.Join(dataDir, agent.AdminSocketName))
	for {
		m := next()
		if m == "WATCHDOG=1" {
			continue
		}
		if !strings.HasPrefix(m, "READY=1\nSTATUS=ring ") {
			t.Fatalf("first notification %q, want READY=1 with the ring", m)
		}
		st, err := admin.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Ring == "" || !strings.Contains(m, st.Ring) {
			t.Fatalf("READY=1 (%q) while status shows ring %q, state %s", m, st.Ring, st.State)
		}
		break
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if m := next(); m != "WATCHDOG=1" {
			t.Fatalf("after READY=1 and SIGHUP: %q, want WATCHDOG=1", m)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for m := next(); m != "STOPPING=1"; m = next() {
		if m != "WATCHDOG=1" {
			t.Fatalf("after SIGTERM: %q, want STOPPING=1", m)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent did not stop on SIGTERM:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "systemd watchdog enabled") {
		t.Errorf("no log line for the watchdog:\n%s", stderr)
	}
}
