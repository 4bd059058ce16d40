package wanem

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRelayProcessHelper is not a test: it is the relay process of
// relayProcess, which starts this test binary with the relay's target and
// forward link in WANEM_HELPER (TARGET CONTROL-PATH SPEC...). It prints
// the relay's address and runs until its standard input closes.
func TestRelayProcessHelper(t *testing.T) {
	f := strings.Fields(os.Getenv("WANEM_HELPER"))
	if len(f) < 2 {
		t.Skip("only run by relayProcess")
	}
	p, err := ParseParams(Params{}, strings.Join(f[2:], " "))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	r, err := New(Config{Target: f[0], Forward: p, Seed: 42})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("unix", f[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	go r.Control().Serve(ln)
	fmt.Println(r.Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// relayProcess is a relay in a child process (this test binary), as
// between network namespaces: its stalls are not the probe's.
type relayProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
	ctl   string
}

func startRelayProcess(tb testing.TB, target string, p Params) *relayProcess {
	tb.Helper()
	dir, err := os.MkdirTemp("", "wanem")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	rp := &relayProcess{ctl: filepath.Join(dir, "ctl.sock")}
	rp.cmd = exec.Command(os.Args[0], "-test.run=^TestRelayProcessHelper$")
	rp.cmd.Env = append(os.Environ(), "WANEM_HELPER="+target+" "+rp.ctl+" "+p.String())
	rp.cmd.Stderr = os.Stderr
	if rp.stdin, err = rp.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := rp.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := rp.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error:") {
		rp.Close()
		tb.Fatalf("relay process: %q %v", line, err)
	}
	rp.addr = strings.TrimSpace(line)
	return rp
}

func (rp *relayProcess) Addr() string { return rp.addr }

func (rp *relayProcess) forwardStats(tb testing.TB) Stats {
	out, err := ControlRequest(rp.ctl, "stats")
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]Stats
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		tb.Fatal(err)
	}
	return m["forward"]
}

func (rp *relayProcess) Close() error {
	rp.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- rp.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		rp.cmd.Process.Kill()
		return <-done
	}
}

// TestRelayProcess: the probe through a relay in another process (how
// `atoll relay` runs between namespaces) delivers everything, none early.
func TestRelayProcess(t *testing.T) {
	p := Params{Delay: 5 * time.Millisecond}
	res := runProbeVia(t, func(target string) probeRelay { return startRelayProcess(t, target, p) }, p, 500, 5000, 200)
	s := res.summarize()
	if st := res.stats; s.unique != int(st.Delivered) || st.Packets < 250 {
		t.Fatalf("the sink got %d; the relay process's link %v", s.unique, st)
	}
	if s.delays[0] < p.Delay {
		t.Fatalf("a datagram arrived after %v through a %v link", s.delays[0], p.Delay)
	}
}
