package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CorosyncOptions configures the Corosync cluster of a run.
type CorosyncOptions struct {
	// Crypto turns on knet's packet protection: crypto_cipher aes256 and
	// crypto_hash sha256 with a shared authkey. Off: none and none.
	Crypto bool
	// Token is totem's token timeout; 0 keeps Corosync's default (3000 ms,
	// plus token_coefficient 650 ms per node beyond two). When set,
	// token_coefficient is 0 so that the timeout is exactly Token, as
	// Atoll's is.
	Token time.Duration
	// Normal runs corosync at normal priority (system.sched_rr: no)
	// instead of SCHED_RR.
	Normal bool
}

func (o CorosyncOptions) String() string {
	s := "knet, crypto none"
	if o.Crypto {
		s = "knet, aes256/sha256"
	}
	if o.Token == 0 {
		return s + ", token default (3000ms + 650ms/node beyond 2)"
	}
	return fmt.Sprintf("%s, token %v", s, o.Token)
}

// Corosync is one corosync daemon per testbed namespace.
type Corosync struct {
	tb    *Testbed
	dir   string
	cmds  []*exec.Cmd
	Pids  []int
	exits []chan error
}

// StartCorosync writes a corosync.conf per node under dir and starts one
// `corosync -f` in each namespace. Each daemon gets its own state dir and,
// through a private mount namespace, its own /run (corosync's lock file is
// /run/corosync.pid, which would otherwise be shared). Its IPC uses
// abstract Unix sockets, which belong to the network namespace, so a load
// client started in the same namespace talks to that namespace's daemon.
func StartCorosync(tb *Testbed, dir string, o CorosyncOptions) (*Corosync, error) {
	if _, err := exec.LookPath("corosync"); err != nil {
		return nil, fmt.Errorf("corosync: not installed: %w (apt-get install corosync libcpg-dev, or run tests/bench/compare.sh)", err)
	}
	c := &Corosync{tb: tb, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "authkey")
	if o.Crypto {
		key := make([]byte, 256) // what corosync-keygen writes
		rand.Read(key)
		if err := os.WriteFile(keyFile, key, 0o400); err != nil {
			return nil, err
		}
	}
	for i := range tb.NS {
		nd := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
		for _, sub := range []string{"run", "state"} {
			if err := os.MkdirAll(filepath.Join(nd, sub), 0o700); err != nil {
				return nil, err
			}
		}
		conf := filepath.Join(nd, "corosync.conf")
		if err := os.WriteFile(conf, []byte(c.config(i, nd, keyFile, o)), 0o644); err != nil {
			return nil, err
		}
		script := fmt.Sprintf("mount --bind %s /run && exec corosync -f -c %s", filepath.Join(nd, "run"), conf)
		argv := tb.Cmd(i, "unshare", "--mount", "sh", "-c", script)
		cmd, exit, err := startLogged(argv, filepath.Join(nd, "stderr.log"))
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("corosync: start node %d: %w", i+1, err)
		}
		c.cmds = append(c.cmds, cmd)
		c.Pids = append(c.Pids, cmd.Process.Pid)
		c.exits = append(c.exits, exit)
	}
	// The pid is corosync's once the exec chain (ip netns exec, unshare,
	// sh) has run: wait for it, and fail early if a daemon died.
	if err := waitExec(c.Pids, c.exits, "corosync", "corosync", c.Log); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Corosync) config(i int, nodeDir, keyFile string, o CorosyncOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by tests/bench for node %d\ntotem {\n\tversion: 2\n\tcluster_name: atoll-bench\n\ttransport: knet\n", i+1)
	if o.Crypto {
		fmt.Fprintf(&b, "\tcrypto_cipher: aes256\n\tcrypto_hash: sha256\n\tkeyfile: %s\n", keyFile)
	} else {
		b.WriteString("\tcrypto_cipher: none\n\tcrypto_hash: none\n")
	}
	if o.Token > 0 {
		fmt.Fprintf(&b, "\ttoken: %d\n\ttoken_coefficient: 0\n", o.Token.Milliseconds())
	}
	b.WriteString("}\nnodelist {\n")
	for k, a := range c.tb.Addrs {
		fmt.Fprintf(&b, "\tnode {\n\t\tring0_addr: %s\n\t\tnodeid: %d\n\t\tname: n%d\n\t}\n", a, k+1, k+1)
	}
	fmt.Fprintf(&b, "}\nlogging {\n\tto_logfile: yes\n\tlogfile: %s\n\tto_syslog: no\n\tto_stderr: no\n\ttimestamp: hires\n}\n", filepath.Join(nodeDir, "corosync.log"))
	fmt.Fprintf(&b, "system {\n\tstate_dir: %s\n", filepath.Join(nodeDir, "state"))
	if o.Normal {
		b.WriteString("\tsched_rr: no\n\tpriority: 0\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Log returns the end of node i's corosync log, for error messages.
func (c *Corosync) Log(i int) string {
	nd := filepath.Join(c.dir, fmt.Sprintf("n%d", i+1))
	var out []string
	for _, f := range []string{"stderr.log", "corosync.log"} {
		b, _ := os.ReadFile(filepath.Join(nd, f))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		if len(b) > 0 {
			out = append(out, f+":\n"+strings.Join(lines, "\n"))
		}
	}
	return strings.Join(out, "\n")
}

// Kill kills node i's daemon with SIGKILL.
func (c *Corosync) Kill(i int) error { return c.cmds[i].Process.Signal(syscall.SIGKILL) }

// Stop stops every daemon: SIGTERM, then SIGKILL after 5 s.
func (c *Corosync) Stop() {
	stopCmds(c.cmds, c.exits)
	c.cmds, c.exits = nil, nil
}

// CPGLoad describes one run of the load client on every node.
type CPGLoad struct {
	Sched                           func(argv ...string) []string // wraps the command in a scheduling policy
	Bin                             string                        // the cpgload binary
	Send                            bool                          // every node sends
	OneSender                       bool                          // with Send: only node 1 sends
	RatePerNode                     float64                       // msgs/s per sender; 0: as fast as flow control allows
	Size                            int
	Settle, Warmup, Duration, Drain time.Duration
	SamplesDir                      string
	// Group is the CPG group; give every run its own, so that the clients
	// of the previous run, still leaving, are never counted as members.
	Group string
}

// argv returns node i's command line.
func (l CPGLoad) argv(c *Corosync, i int) []string {
	args := []string{l.Bin, "--group", l.Group, "--node", fmt.Sprintf("n%d", i+1), "--nodes", fmt.Sprint(len(c.Pids)), "--index", fmt.Sprint(i),
		"--size", fmt.Sprint(l.Size), "--rate", fmt.Sprint(l.RatePerNode),
		"--settle-ms", fmt.Sprint(l.Settle.Milliseconds()), "--warmup-ms", fmt.Sprint(l.Warmup.Milliseconds()),
		"--duration-ms", fmt.Sprint(l.Duration.Milliseconds()), "--drain-ms", fmt.Sprint(l.Drain.Milliseconds()),
		"--daemon-pid", fmt.Sprint(c.Pids[i])}
	if l.Send && (!l.OneSender || i == 0) {
		args = append(args, "--send")
	}
	if l.SamplesDir != "" {
		args = append(args, "--samples", filepath.Join(l.SamplesDir, fmt.Sprintf("cpg-n%d.lat", i+1)))
	}
	if l.Sched != nil {
		args = l.Sched(args...)
	}
	return c.tb.Cmd(i, args...)
}

// BuildCPGLoad compiles cpgload.c into dir and returns the binary's path.
func BuildCPGLoad(ctx context.Context, src, dir string) (string, error) {
	bin := filepath.Join(dir, "cpgload")
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-Wall", "-o", bin, src, "-lcpg").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the Corosync load client: gcc %s: %v: %s (apt-get install gcc libcpg-dev, or run tests/bench/compare.sh)", src, err, out)
	}
	return bin, nil
}
