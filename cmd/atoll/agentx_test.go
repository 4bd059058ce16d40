package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentXFlag: a malformed --agentx stops the agent before it starts,
// saying how to write it; with no master agent listening, the agent runs
// healthy, logs once that the master is unreachable, and stops cleanly.
// (agent/snmp's tests serve ATOLL-MIB through net-snmp's snmpd.)
func TestAgentXFlag(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run("agent", "--config", oneNodeTopology(t, dir), "--node", "n1", "--insecure",
		"--data-dir", filepath.Join(dir, "data"), "--agentx", "localhost:705")
	if code != 1 || !strings.Contains(errs, "--agentx") || !strings.Contains(errs, "tcp:HOST:PORT") {
		t.Errorf("--agentx localhost:705: exit %d, stderr:\n%s\nwant exit 1 and how to write it", code, errs)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	p := startAgentProcess(t, "--agentx", "tcp:"+closed)
	line := "AgentX: the master agent is unreachable"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line says the master is unreachable:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a retry or two (1s, then 2s)
	if err := p.stop(t); err != nil {
		t.Fatalf("the agent did not stop cleanly: %v\n%s", err, p.stderr)
	}
	if n := strings.Count(p.stderr.String(), line); n != 1 {
		t.Errorf("%d lines say the master is unreachable, want 1:\n%s", n, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), fmt.Sprintf("master=tcp:%s", closed)) {
		t.Errorf("the line does not name the master:\n%s", p.stderr)
	}
}
