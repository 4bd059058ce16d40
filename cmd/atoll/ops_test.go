package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
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
	stderr  *syncbuf.Buffer
	dataDir string
	done    chan error
}

// stop sends the agent SIGTERM and returns how it exited; it fails the
// test if the agent has not exited within 10 s.
func (p *agentProcess) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent did not stop within 10 s of SIGTERM:\n%s", p.stderr)
		return nil
	}
}

func startAgentProcess(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	dir := t.TempDir()
	p := &agentProcess{stderr: &syncbuf.Buffer{}, dataDir: filepath.Join(dir, "data"), done: make(chan error, 1)}
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
	code, out, errs := run("status", "--data-dir", p.dataDir)
	if code != 0 {
		t.Fatalf("status after SIGHUP: exit %d\n%s%s", code, out, errs)
	}
	// The effective configuration, as an operator needs it.
	for _, want := range []string{
		"\nversion    dev",
		"\nconfig     " + filepath.Join(filepath.Dir(p.dataDir), "one.yaml") + "\n",
		"\ndata dir   " + p.dataDir + "\n",
		"\nlistening  ring udp://127.0.0.1:",
		"admin unix://" + filepath.Join(p.dataDir, agent.AdminSocketName) + ", clients unix://" + filepath.Join(p.dataDir, agent.ClientSocketName) + "\n",
		"\nring conf  preset plan, hash ",
		// The planner's timers for a one-node site (atoll plan), on the
		// cloud preset's flow control for a unicast site.
		": token timeout 202ms, retransmit 48ms, hold 24ms; join 50ms, consensus 243ms, merge 200ms; window 100 packets, 50 per visit; packets up to ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if err := p.stop(t); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, p.stderr)
	}
	logs := p.stderr.String()
	for _, want := range []string{
		`msg=listening node=n1 site=s ring=127.0.0.1:`,
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

// TestVersion: `atoll version` and `atoll --version` print the same line;
// a binary built by `go install ...@vX` reports vX from its build info.
func TestVersion(t *testing.T) {
	c1, v1, _ := run("version")
	c2, v2, _ := run("--version")
	if c1 != 0 || c2 != 0 || v1 != v2 || !strings.HasPrefix(v1, "atoll ") {
		t.Errorf("version: exit %d %q; --version: exit %d %q", c1, v1, c2, v2)
	}
	installed := &debug.BuildInfo{Main: debug.Module{Path: "github.com/atoll-gcs/atoll", Version: "v1.4.2"}}
	checkout := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"dev", installed, "v1.4.2"},
		{"v2.0.0", installed, "v2.0.0"},
		{"dev", checkout, "dev-0123456789ab-dirty"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		if got := versionOf(tc.linked, tc.bi, true); got != tc.want {
			t.Errorf("versionOf(%q, %+v) = %q, want %q", tc.linked, tc.bi.Main, got, tc.want)
		}
	}
}

// TestSendStdinSize: a message on standard input larger than any agent
// accepts is refused with its real size, not the size of what was read.
func TestSendStdinSize(t *testing.T) {
	_, err := readMessage(bytes.NewReader(make([]byte, 3<<20+5)))
	if err == nil || !strings.Contains(err.Error(), "is 3145733 bytes; the largest message is 1048576 bytes") {
		t.Errorf("3 MiB: %v", err)
	}
	b, err := readMessage(strings.NewReader("hello"))
	if err != nil || string(b) != "hello" {
		t.Errorf("small: %q %v", b, err)
	}
	b, err = readMessage(bytes.NewReader(make([]byte, 1<<20)))
	if err != nil || len(b) != 1<<20 {
		t.Errorf("exactly the largest: %d %v", len(b), err)
	}
}

// TestOutputHelp: -o says what it prints: groups one JSON array (as it
// does, see TestJoinSendRecv), join and recv one object per line.
func TestOutputHelp(t *testing.T) {
	for cmd, want := range map[string]string{"groups": "one JSON array", "join": "one JSON object per line", "recv": "one JSON object per line"} {
		if _, out, _ := run(cmd, "--help"); !strings.Contains(out, want) {
			t.Errorf("%s --help lacks %q:\n%s", cmd, want, out)
		}
	}
}

// TestEVSDoc: what README and `atoll check` cite ships in the repository:
// docs/EVS.md with the trace format and the numbered properties.
func TestEVSDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/EVS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## The trace", `{"ev":"install","node":"fra-1"`, "6. Agreed (total order)", "`atoll check`"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("docs/EVS.md lacks %q", want)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("(docs/EVS.md)")) || bytes.Contains(readme, []byte("shared/EVS.md")) {
		t.Errorf("README does not point to docs/EVS.md")
	}
	if _, out, _ := run("check", "--help"); !strings.Contains(out, "docs/EVS.md") {
		t.Errorf("check --help does not cite docs/EVS.md:\n%s", out)
	}
}

// TestEscape: payloads reach the terminal without control characters and
// on one line each, and can be read back.
func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"hello, wörld ✓":        "hello, wörld ✓",
		"two\nlines\r\tx":       `two\nlines\r\tx`,
		"\x1b[2J\x1b]0;pwned\a": `\x1b[2J\x1b]0;pwned\x07`,
		`back\slash`:            `back\\slash`,
		"\xff\xfe":              `\xff\xfe`,
		"rtl \u202eevil":        `rtl \u202eevil`,
		"c1 \u009b":             `c1 \u009b`,
		"\x7f":                  `\x7f`,
		"tag \U000E0041":        `tag \U000e0041`,
	} {
		got := escape([]byte(in))
		if got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
		// What a Go string literal's escapes read back is the payload.
		if back, err := strconv.Unquote(`"` + strings.ReplaceAll(got, `"`, `\"`) + `"`); err != nil || back != in {
			t.Errorf("escape(%q) = %q reads back as %q (%v)", in, got, back, err)
		}
	}
}

// TestRecvEscapes: recv prints a payload with an escape sequence and a
// newline as one escaped line; --raw writes it as it is.
func TestRecvEscapes(t *testing.T) {
	dirs := startAgents(t, 1, 1)
	evil := "a\x1b[31mred\nb"
	for i, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, `a\x1b[31mred\nb` + "\n"},
		{[]string{"--raw"}, evil},
	} {
		group := fmt.Sprintf("tty%d", i)
		recv := background(t, append([]string{"recv", group, "--name", group, "--count", "1", "--data-dir", dirs[0]}, tc.flags...)...)
		waitMembers(t, dirs[0], group, "n1:"+group)
		if code, out, errs := run("send", group, evil, "--data-dir", dirs[0]); code != 0 {
			t.Fatalf("send: exit %d %s%s", code, out, errs)
		}
		if code, out, errs := recv(); code != 0 || out != tc.want {
			t.Errorf("recv %v: exit %d, output %q, want %q %s", tc.flags, code, out, tc.want, errs)
		}
	}
	if code, _, errs := run("recv", "tty", "--raw", "-o", "json", "--data-dir", dirs[0]); code == 0 || !strings.Contains(errs, "exclude each other") {
		t.Errorf("--raw -o json: exit %d %s", code, errs)
	}
}

// writeTLSFiles writes a CA, a server certificate for 127.0.0.1 and a
// client certificate with common name cn into dir; it returns their paths.
func writeTLSFiles(t *testing.T, dir, cn string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	now := time.Now()
	c, err := pki.MakeCA("c", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pair := func(node string, hosts []string) (string, string) {
		cert, key, err := c.Issue(pki.Identity{Cluster: "c", Site: "s", Node: node}, hosts, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := pki.KeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(node+".crt", pki.CertPEM(cert)), write(node+".key", kp)
	}
	ca = write("ca.crt", pki.CertPEM(c.Cert))
	serverCert, serverKey = pair("server", []string{"127.0.0.1"})
	clientCert, clientKey = pair(cn, nil)
	return
}

// freeTCPPort returns a TCP port of 127.0.0.1 that nothing uses now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTCPClients: the agent refuses a TCP client listener without client
// certificates unless --insecure-clients confirms it, and then warns; the
// CLI reaches an agent over TCP with mutual TLS (--connect tcp+tls://).
func TestTCPClients(t *testing.T) {
	dir := t.TempDir()
	ca, scert, skey, ccert, ckey := writeTLSFiles(t, dir, "alice")

	// Without --client-ca: refused, with the fix.
	f := clientListenFlags{listen: "127.0.0.1:1", cert: scert, key: skey}
	var cfg agent.Config
	if err := f.apply(&cfg); err == nil || !strings.Contains(err.Error(), "without --client-ca would let anyone") || !strings.Contains(err.Error(), "--insecure-clients") {
		t.Errorf("--client-listen without --client-ca: %v", err)
	}
	f.anonymous = true
	if err := f.apply(&cfg); err != nil || cfg.ClientListen == "" {
		t.Errorf("--insecure-clients: %v", err)
	}

	// Confirmed anonymous clients: the agent warns at start.
	anon := startAgentProcess(t, "--client-listen", fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), "--client-cert", scert, "--client-key", skey, "--insecure-clients")
	if logs := anon.stderr.String(); !strings.Contains(logs, "level=WARN msg=\"ANONYMOUS CLIENTS: the TCP client listener requires no client certificate") {
		t.Errorf("no warning about anonymous clients:\n%s", logs)
	}
	if st, err := agent.NewClient(filepath.Join(anon.dataDir, agent.AdminSocketName)).Status(context.Background()); err != nil || st.Config.ClientAuth != "anonymous TLS" {
		t.Errorf("status of the anonymous listener: %v %+v", err, st)
	}

	// Mutual TLS: the CLI connects with its certificate, and only with it.
	addr := fmt.Sprintf("tcp+tls://127.0.0.1:%d", freeTCPPort(t))
	mtls := startAgentProcess(t, "--client-listen", strings.TrimPrefix(addr, "tcp+tls://"), "--client-cert", scert, "--client-key", skey, "--client-ca", ca)
	if strings.Contains(mtls.stderr.String(), "ANONYMOUS") {
		t.Errorf("warning with --client-ca:\n%s", mtls.stderr)
	}
	if code, out, errs := run("groups", "--connect", addr, "--tls-ca", ca, "--tls-cert", ccert, "--tls-key", ckey); code != 0 || !strings.Contains(out, "GROUP") {
		t.Errorf("groups over TCP with mutual TLS: exit %d %s%s", code, out, errs)
	}
	if code, _, errs := run("groups", "--connect", addr, "--tls-ca", ca); code != 3 {
		t.Errorf("groups over TCP without a client certificate: exit %d, want 3 %s", code, errs)
	}
	if code, _, errs := run("groups", "--tls-ca", ca, "--data-dir", mtls.dataDir); code != 64 || !strings.Contains(errs, "need --connect tcp+tls://") {
		t.Errorf("--tls-ca without --connect: exit %d %s", code, errs)
	}
}

// TestGroupNameRuleCLI: the client commands refuse what the topology file
// refuses, and say the rule in characters that are bytes.
func TestGroupNameRuleCLI(t *testing.T) {
	dirs := startAgents(t, 1, 1)
	for _, g := range []string{"../../etc", "*", "ordérs"} {
		if code, _, errs := run("send", g, "x", "--data-dir", dirs[0]); code != 1 || !strings.Contains(errs, "1 to 128 ASCII letters, digits") {
			t.Errorf("send %q: exit %d %s", g, code, errs)
		}
	}
	if code, out, errs := run("validate", writeTopology(t, "orders/../x")); code != 1 || !strings.Contains(out+errs, "1 to 128 ASCII letters, digits") {
		t.Errorf("validate: exit %d %s%s", code, out, errs)
	}
}

// writeTopology writes a valid one-site topology file with a group named
// group.
func writeTopology(t *testing.T, group string) string {
	path := filepath.Join(t.TempDir(), "g.yaml")
	writeFile(t, path, fmt.Sprintf("version: 1\ncluster: c\nclasses: [{name: local, budget: 10ms}]\nsites:\n  - name: s\n    bind: 127.0.0.1\n    unicast: [127.0.0.1]\n    nodes: [{id: n1}]\ngroups:\n  - {name: %q, class: local, sites: [s]}\n", group))
	return path
}

// TestMetricsListen: --metrics-listen serves the metrics over HTTP (and
// nothing else there); status and the log show the listener.
func TestMetricsListen(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	p := startAgentProcess(t, "--metrics-listen", addr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "\natoll_health 0\n") || !strings.Contains(string(body), "\ngo_goroutines ") {
		t.Errorf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if resp, err := http.Get("http://" + addr + "/status"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /status on the metrics listener: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	code, out, _ := run("status", "--data-dir", p.dataDir)
	if code != 0 || !strings.Contains(out, ", metrics http://"+addr+"/metrics") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if !strings.Contains(p.stderr.String(), "metrics=http://"+addr+"/metrics") {
		t.Errorf("the listening line lacks the metrics listener:\n%s", p.stderr)
	}
}

// TestStatusPermissionDenied: run as a user outside the agent's group,
// status reports permission denied as such, with exit status 3, and so do
// the client commands; the agent's group may use the client socket but not
// the admin socket (mode 0600). Needs root, to run the binary as others.
func TestStatusPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run commands as another user")
	}
	p := startAgentProcess(t)
	// A copy of the test binary that other users may run.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "atoll.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	as := func(uid, gid uint32, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ATOLL_TEST_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	// The data dir's parents must let others and the agent's group
	// through to it (t.TempDir makes them 0700).
	for d := filepath.Dir(p.dataDir); d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				t.Fatal(err)
			}
		}
	}
	const nobody, other = 65534, 65534
	code, out := as(nobody, other, "status", "--data-dir", p.dataDir)
	if code != 3 || !strings.Contains(out, "permission denied on admin socket") {
		t.Errorf("status as another user: exit %d\n%s", code, out)
	}
	code, out = as(nobody, other, "groups", "--data-dir", p.dataDir)
	if code != 3 || !strings.Contains(out, "permission denied: the client socket is for the agent's user and group") {
		t.Errorf("groups as another user: exit %d\n%s", code, out)
	}
	// The agent's group (root's, 0) reaches the client socket: data dir
	// 0750, socket 0660.
	code, out = as(nobody, 0, "groups", "--data-dir", p.dataDir)
	if code != 0 || !strings.Contains(out, "GROUP") {
		t.Errorf("groups as a member of the agent's group: exit %d\n%s", code, out)
	}
}
