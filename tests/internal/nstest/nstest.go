// Package nstest holds what the network-namespace tests (tests/netns,
// tests/fednetns) share: the atoll binary they run, built once per test
// binary, the reason they skip where they cannot run, and processes
// started in a namespace with their output kept.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// Bin is the atoll binary Main built; SkipReason, when not empty, says why
// the tests cannot run here (they call t.Skip(SkipReason)).
var (
	Bin        string
	SkipReason string
)

// Main runs a namespace test package: it finds out whether the tests can
// run (root, and the programs in progs, each mapped to its Debian
// package), builds the atoll binary into Bin if so, and runs m. pkg is the
// package's directory, for the skip message. It returns the exit code.
func Main(m *testing.M, pkg string, progs map[string]string) int {
	switch {
	case os.Geteuid() != 0:
		SkipReason = fmt.Sprintf("the network-namespace tests create namespaces and need root; run `go test ./%s/` as root", pkg)
	default:
		for prog, deb := range progs {
			if _, err := exec.LookPath(prog); err != nil {
				SkipReason = fmt.Sprintf("the network-namespace tests need %s (Debian package %s): apt-get install %s", prog, deb, deb)
			}
		}
	}
	if SkipReason != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "atoll-nstest-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	Bin = filepath.Join(dir, "atoll")
	if out, err := exec.Command("go", "build", "-tags", BuildTags, "-o", Bin, "github.com/atoll-gcs/atoll/cmd/atoll").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: building the atoll binary: %v\n%s", pkg, err, out)
		return 1
	}
	return m.Run()
}

// Sh runs a command and fails the test if it fails.
func Sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Proc is a process started by Spawn.
type Proc struct {
	Cmd  *exec.Cmd
	Done chan struct{} // closed when the process has ended
	what string        // what the process is, for failure messages
	out  syncbuf.Buffer
}

// pipeGrace bounds how long a process's end waits for its output pipe to
// close: a child it left running with the pipe open must not keep Done
// open (exec.Cmd.WaitDelay).
const pipeGrace = 5 * time.Second

// Spawn starts args in namespace ns (`ip netns exec`, which execs the
// program in place: signals reach it directly), its output kept in the
// Proc. The test's cleanup stops it (SIGTERM, SIGKILL 5 s later) if it
// still runs.
func Spawn(t testing.TB, ns, what string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p := &Proc{Cmd: cmd, Done: make(chan struct{}), what: what}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.WaitDelay = pipeGrace
	cmd.SysProcAttr = ProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	go func() { cmd.Wait(); close(p.Done) }()
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	return p
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Kill kills the process with SIGKILL and waits for it: SIGKILL cannot
// be caught, and its output pipe does not keep it (pipeGrace).
func (p *Proc) Kill() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.Done
}

// Stop sends SIGTERM and waits for the process, killing it after grace.
// It reports whether the process ended by itself.
func (p *Proc) Stop(grace time.Duration) bool {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// WaitExit waits up to limit for the process to end, after the test
// asked it to (SIGTERM). If it does not, it fails the test: it sends the
// process SIGQUIT, so that a Go program (the agent, a test helper) writes
// every goroutine's stack to its output, kills it, and shows the end of
// that output, where the stacks say what it was waiting for.
func (p *Proc) WaitExit(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.Done:
		return
	case <-time.After(limit):
	}
	p.Cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.Done:
	case <-time.After(pipeGrace):
		p.Kill()
	}
	t.Fatalf("%s did not exit within %v; the end of its output, with its goroutines' stacks (SIGQUIT) if it wrote them, shows what it was waiting for:\n%s",
		p.what, limit, Tail(p.String(), 400))
}

// String returns the process's output so far.
func (p *Proc) String() string { return p.out.String() }

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TailFile returns the last n lines of the file at path, or the error
// reading it.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return Tail(string(b), n)
}
