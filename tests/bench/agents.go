package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// AgentOptions configures the `atoll agent` processes of the client-API
// phases.
type AgentOptions struct {
	Bin     string                        // the atoll binary
	Crypto  bool                          // security mode encrypt (else none)
	Unicast bool                          // the UDP unicast transport instead of multicast
	Sched   func(argv ...string) []string // wraps the command in a scheduling policy
}

// Agents is one `atoll agent` per testbed namespace, started from one
// topology file as an operator would run them.
type Agents struct {
	tb    *Testbed
	dir   string
	cmds  []*exec.Cmd
	Pids  []int
	exits []chan error
}

// StartAgents writes a topology file (and a key, encrypted) under dir and
// starts one `atoll agent` in each namespace, each with its data dir
// DIR/nK, whose client socket (agent.ClientSocketName) the load clients
// dial.
func StartAgents(tb *Testbed, dir string, o AgentOptions) (*Agents, error) {
	ag := &Agents{tb: tb, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	security := "{mode: none}"
	if o.Crypto {
		keyFile := filepath.Join(dir, "atoll.key")
		if err := seal.WriteKeyFile(keyFile, seal.GenerateKey(), true); err != nil {
			return nil, err
		}
		security = fmt.Sprintf("{mode: encrypt, key_file: %q}", keyFile)
	}
	var nodes, peers []string
	for i, a := range tb.Addrs {
		nodes = append(nodes, fmt.Sprintf("{id: n%d, bind: %q}", i+1, a))
		peers = append(peers, fmt.Sprintf("%q", netip.AddrPortFrom(a, 5405)))
	}
	ring := "multicast: 239.192.77.1"
	if o.Unicast {
		ring = "unicast: [" + strings.Join(peers, ", ") + "]"
	}
	topo := filepath.Join(dir, "topology.yaml")
	yaml := fmt.Sprintf("# written by tests/bench\nversion: 1\ncluster: atoll-bench\nsecurity: %s\nsites:\n  - name: bench\n    port: 5405\n    %s\n    nodes: [%s]\n",
		security, ring, strings.Join(nodes, ", "))
	if err := os.WriteFile(topo, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	for i := range tb.NS {
		data := ag.DataDir(i)
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		args := []string{o.Bin, "agent", "--config", topo, "--node", fmt.Sprintf("n%d", i+1), "--data-dir", data, "--log-level", "warn",
			// The in-process row's timings (LAN preset, token 200 ms), so
			// both rows run the same ring whatever the planner derives.
			"--ring-preset", "lan"}
		if !o.Crypto {
			args = append(args, "--insecure")
		}
		if o.Sched != nil {
			args = o.Sched(args...)
		}
		argv := tb.Cmd(i, args...)
		cmd, exit, err := startLogged(argv, filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
		if err != nil {
			ag.Stop()
			return nil, fmt.Errorf("atoll agent: start node %d: %w", i+1, err)
		}
		ag.cmds = append(ag.cmds, cmd)
		ag.Pids = append(ag.Pids, cmd.Process.Pid)
		ag.exits = append(ag.exits, exit)
	}
	// The pid is the agent's once ip netns exec (and chrt) have exec'd it.
	if err := waitExec(ag.Pids, ag.exits, filepath.Base(o.Bin), "atoll agent", ag.Log); err != nil {
		ag.Stop()
		return nil, err
	}
	return ag, nil
}

// DataDir is node i's data dir.
func (ag *Agents) DataDir(i int) string { return filepath.Join(ag.dir, fmt.Sprintf("n%d", i+1)) }

// Socket is node i's client socket.
func (ag *Agents) Socket(i int) string {
	return "unix://" + filepath.Join(ag.DataDir(i), agent.ClientSocketName)
}

// Log returns the end of node i's log, for error messages.
func (ag *Agents) Log(i int) string {
	b, _ := os.ReadFile(filepath.Join(ag.dir, fmt.Sprintf("n%d.log", i+1)))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops every agent: SIGTERM, then SIGKILL after 5 s.
func (ag *Agents) Stop() {
	stopCmds(ag.cmds, ag.exits)
	ag.cmds, ag.exits = nil, nil
}

// ClientLoad describes one run of tests/bench/clientload on every node.
type ClientLoad struct {
	Sched                           func(argv ...string) []string // wraps the command in a scheduling policy
	Bin                             string                        // the clientload binary
	OneSender                       bool                          // only node 1 sends; else every node
	RatePerNode                     float64                       // msgs/s per sender; 0: as fast as MulticastWait returns
	Size                            int
	Settle, Warmup, Duration, Drain time.Duration
	SamplesDir                      string
	// Group is the group; each run its own, as CPGLoad's.
	Group string
}

func (l ClientLoad) argv(ag *Agents, i int) []string {
	args := []string{l.Bin, "-agent", ag.Socket(i), "-group", l.Group, "-node", fmt.Sprintf("n%d", i+1),
		"-nodes", fmt.Sprint(len(ag.Pids)), "-index", fmt.Sprint(i), "-size", fmt.Sprint(l.Size), "-rate", fmt.Sprint(l.RatePerNode),
		"-settle", l.Settle.String(), "-warmup", l.Warmup.String(), "-duration", l.Duration.String(), "-drain", l.Drain.String(),
		"-agent-pid", fmt.Sprint(ag.Pids[i])}
	if !l.OneSender || i == 0 {
		args = append(args, "-send")
	}
	if l.SamplesDir != "" {
		args = append(args, "-samples", filepath.Join(l.SamplesDir, fmt.Sprintf("api-n%d.lat", i+1)))
	}
	if l.Sched != nil {
		args = l.Sched(args...)
	}
	return ag.tb.Cmd(i, args...)
}

// waitExec waits until each pid runs the program comm (after the exec
// chain ip netns exec, chrt, ...), for at most 10 s, and fails early with
// the end of its log if one exited.
func waitExec(pids []int, exits []chan error, comm, what string, log func(i int) string) error {
	deadline := time.Now().Add(10 * time.Second)
	for i, pid := range pids {
		for {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(b)) == comm {
				break
			}
			select {
			case err := <-exits[i]:
				exits[i] <- err
				return fmt.Errorf("%s: node %d exited at start (%v): %s", what, i+1, err, log(i))
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: node %d did not start within 10s: %s", what, i+1, log(i))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// stopCmds stops processes: SIGTERM, then SIGKILL after 5 s.
func stopCmds(cmds []*exec.Cmd, exits []chan error) {
	for _, cmd := range cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, exit := range exits {
		select {
		case <-exit:
		case <-time.After(5 * time.Second):
			_ = cmds[i].Process.Kill()
			<-exit
		}
	}
}

// startLogged starts argv with its output in logPath; exit receives the
// result of Wait.
func startLogged(argv []string, logPath string) (*exec.Cmd, chan error, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	return cmd, exit, nil
}

// runClients starts one load client per node (name and argv of node i),
// waits for every one, and returns their results and their stderr; an
// error names the node and holds the end of its daemon's log.
func runClients(ctx context.Context, n int, name string, argv func(i int) []string, daemonLog func(i int) string) ([]atollbench.NodeResult, []string, error) {
	procs := make([]*atollbench.Proc, n)
	for i := range procs {
		p, err := atollbench.StartProc(ctx, fmt.Sprintf("%s n%d", name, i+1), argv(i), nil)
		if err != nil {
			stopProcs(procs)
			return nil, nil, err
		}
		procs[i] = p
	}
	var rs []atollbench.NodeResult
	var stderrs []string
	var errs []error
	for i, p := range procs {
		res, err := p.Wait()
		if err != nil {
			err = fmt.Errorf("%w\ndaemon log of n%d:\n%s", err, i+1, daemonLog(i))
		}
		rs, stderrs, errs = append(rs, res), append(stderrs, strings.TrimSpace(p.Stderr())), append(errs, err)
	}
	return rs, stderrs, errors.Join(errs...)
}
