package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

const systemdDir = "../../deploy/systemd"

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSystemdUnit: systemd-analyze verify accepts the unit without a
// single remark (run against /bin/true as the binary and the example
// environment file; TestSystemdBoot starts it under systemd);
// it is Type=notify with a watchdog; every variable ExecStart uses is set
// by the example environment file.
func TestSystemdUnit(t *testing.T) {
	unit := read(t, filepath.Join(systemdDir, "atoll-agent.service"))
	for _, want := range []string{"\nType=notify\n", "\nWatchdogSec=", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nCapabilityBoundingSet=\n", "\nStateDirectoryMode=0750\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	env := read(t, filepath.Join(systemdDir, "agent.env"))
	for _, m := range regexp.MustCompile(`\$\{?(ATOLL_[A-Z_]+)`).FindAllStringSubmatch(unit, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).MatchString(env) {
			t.Errorf("the unit uses $%s, which agent.env does not set", m[1])
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the unit is not verified")
	}
	envPath, err := filepath.Abs(filepath.Join(systemdDir, "agent.env"))
	if err != nil {
		t.Fatal(err)
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/atoll", "/bin/true")
	unit = strings.ReplaceAll(unit, "EnvironmentFile=/etc/atoll/agent.env", "EnvironmentFile="+envPath)
	path := filepath.Join(t.TempDir(), "atoll-agent.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSysctlDropIn: the drop-in raises the socket buffer limits to at
// least the buffers the ring's UDP transport asks for, so that it does not
// warn about a capped buffer.
func TestSysctlDropIn(t *testing.T) {
	conf := read(t, filepath.Join(systemdDir, "90-atoll.conf"))
	for key, need := range map[string]int{"net.core.rmem_max": transport.DefaultRecvBufferBytes, "net.core.wmem_max": transport.DefaultSendBufferBytes} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*(\d+)\s*$`).FindStringSubmatch(conf)
		if m == nil {
			t.Errorf("90-atoll.conf does not set %s", key)
			continue
		}
		if v, _ := strconv.Atoi(m[1]); v < need {
			t.Errorf("90-atoll.conf: %s = %d, below the %d bytes the transport asks for", key, v, need)
		}
	}
}

// TestAgentExample: the example topology file is valid, and the example
// environment's node is one of its nodes.
func TestAgentExample(t *testing.T) {
	f, err := topology.Load(filepath.Join(systemdDir, "atoll.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := read(t, filepath.Join(systemdDir, "agent.env"))
	node := regexp.MustCompile(`(?m)^ATOLL_NODE=(\S+)`).FindStringSubmatch(env)
	if node == nil {
		t.Fatal("agent.env sets no ATOLL_NODE")
	}
	for _, s := range f.Sites {
		for _, n := range s.Nodes {
			if n.ID == node[1] {
				return
			}
		}
	}
	t.Errorf("agent.env's ATOLL_NODE=%s is not a node of atoll.yaml", node[1])
}
