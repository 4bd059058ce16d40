package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/localring/seal"
)

// LocalConfig describes a run of RunLocal. Zero values mean the defaults
// of NodeSpec.
type LocalConfig struct {
	Nodes    int     // ring nodes, one process each; default 3
	Senders  int     // how many of them send; default all
	Size     int     // message size in bytes
	Service  string  // service level
	Rate     float64 // total offered load in messages per second, split over the senders; 0: as fast as flow control allows
	Security string  // none, auth or encrypt (a fresh key is made)
	MTU      int     // path MTU the nodes pack to; default 1500, as on Ethernet

	Warmup, Duration time.Duration
	MaxOutstanding   int
	TokenTimeout     time.Duration
}

// RunLocal runs a ring of cfg.Nodes node processes on this host, each
// started as argv (e.g. the atoll binary with "bench", "node"), connected
// over loopback with the UDP unicast transport, and summarizes the run.
// It needs no privileges. Each node process's standard error goes to logw.
func RunLocal(ctx context.Context, cfg LocalConfig, argv []string, logw io.Writer) (Summary, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Senders == 0 {
		cfg.Senders = cfg.Nodes
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Nodes < 1 || cfg.Senders < 0 || cfg.Senders > cfg.Nodes {
		return Summary{}, fmt.Errorf("bench: %d senders among %d nodes: want 1 or more nodes and at most one sender per node", cfg.Senders, cfg.Nodes)
	}
	dir, err := os.MkdirTemp("", "atoll-bench-")
	if err != nil {
		return Summary{}, err
	}
	defer os.RemoveAll(dir)

	nodes := make([]NodeAddr, cfg.Nodes)
	for i := range nodes {
		port, err := freeUDPPort()
		if err != nil {
			return Summary{}, err
		}
		nodes[i] = NodeAddr{ID: fmt.Sprintf("n%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	}
	keyFile := ""
	if cfg.Security != "none" {
		keyFile = filepath.Join(dir, "cluster.key")
		if err := seal.WriteKeyFile(keyFile, seal.GenerateKey(), false); err != nil {
			return Summary{}, err
		}
	}
	specs := make([]NodeSpec, cfg.Nodes)
	for i := range specs {
		specs[i] = NodeSpec{
			ID: nodes[i].ID, Nodes: nodes, MTU: cfg.MTU,
			Security: cfg.Security, KeyFile: keyFile,
			Service: cfg.Service, Size: cfg.Size,
			Send:           i < cfg.Senders,
			MaxOutstanding: cfg.MaxOutstanding,
			Warmup:         cfg.Warmup, Duration: cfg.Duration,
			TokenTimeout: cfg.TokenTimeout,
			SamplesFile:  filepath.Join(dir, nodes[i].ID+".lat"),
		}
		if cfg.Rate > 0 && cfg.Senders > 0 {
			specs[i].Rate = cfg.Rate / float64(cfg.Senders)
		}
	}
	rs, err := RunProcs(ctx, specs, func(i int) []string { return argv }, logw)
	if err != nil {
		return Summary{}, err
	}
	return Summarize(rs)
}

// RunProcs starts one node process per spec, argv(i) being the command of
// node i, which reads its spec as JSON on standard input, and returns
// their results. If one fails, it stops the others.
func RunProcs(ctx context.Context, specs []NodeSpec, argv func(i int) []string, logw io.Writer) ([]NodeResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	procs := make([]*Proc, len(specs))
	for i, s := range specs {
		in, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		if procs[i], err = StartProc(ctx, s.ID, argv(i), in); err != nil {
			return nil, err
		}
	}
	rs := make([]NodeResult, len(specs))
	errs := make([]error, len(specs))
	done := make(chan int, len(specs))
	for i, p := range procs {
		go func() {
			rs[i], errs[i] = p.Wait()
			done <- i
		}()
	}
	for range procs {
		i := <-done
		if errs[i] != nil {
			cancel() // one node failed: the others cannot finish the run
		}
	}
	for i, p := range procs {
		if s := strings.TrimSpace(p.Stderr()); s != "" && logw != nil {
			for _, line := range strings.Split(s, "\n") {
				fmt.Fprintf(logw, "[%s] %s\n", specs[i].ID, line)
			}
		}
	}
	return rs, errors.Join(errs...)
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: find a free UDP port on loopback: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
