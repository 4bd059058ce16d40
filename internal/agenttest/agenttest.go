// Package agenttest runs Atoll agents in this process, on one in-memory
// network (transport.FakeNetwork), for tests and self-contained examples:
// package client's end-to-end tests and package vs/vstest start their
// rings with it. (Package agent's own tests keep their harness: they are
// inside package agent, which this package imports.)
package agenttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// Cluster is a set of agents of one cluster and site on one in-memory
// network, sharing a packet key. None runs until Start.
type Cluster struct {
	// Dir holds each agent's data directory (Dir/<id>, with its client
	// socket) and trace file (Dir/<id>.trace).
	Dir string
	// IDs are the agents' node ids.
	IDs []string
	// Logs receives every agent's log at debug level, unless a
	// configuration edit replaces the Logger.
	Logs *syncbuf.Buffer

	key    seal.Key
	net    *transport.FakeNetwork
	agents map[string]*running
}

type running struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

// New returns a cluster of n agents, n1 to nN, with their files under
// dir.
func New(dir string, n int) *Cluster {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return NewOf(dir, ids...)
}

// NewOf returns a cluster of agents with the node ids ids (at most 254),
// with their files under dir.
func NewOf(dir string, ids ...string) *Cluster {
	return &Cluster{Dir: dir, IDs: ids, Logs: &syncbuf.Buffer{}, key: seal.GenerateKey(), net: &transport.FakeNetwork{}, agents: map[string]*running{}}
}

// Config returns the configuration Start gives agent id before edits: the
// LAN ring preset, the cluster's key, a data dir and a trace file under
// Dir, no admin socket, a client socket in the data dir, and a drain
// timeout of 500 ms. Network is set by Start.
func (c *Cluster) Config(id string) agent.Config {
	return agent.Config{
		Node: id, Cluster: "test", Site: "lab", Nodes: c.IDs,
		Ring:         localring.DefaultLAN(""),
		Security:     agent.Security{Key: c.key},
		DataDir:      filepath.Join(c.Dir, id),
		TracePath:    filepath.Join(c.Dir, id+".trace"),
		AdminSocket:  "-",
		Logger:       slog.New(slog.NewTextHandler(c.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DrainTimeout: 500 * time.Millisecond,
	}
}

// Start starts agent id (a new incarnation if it ran before) with edit,
// if not nil, applied to its configuration, and runs it until Stop.
func (c *Cluster) Start(id string, edit func(*agent.Config)) (*agent.Agent, error) {
	i := slices.Index(c.IDs, id)
	if i < 0 {
		return nil, fmt.Errorf("agenttest: no node %q in %v", id, c.IDs)
	}
	if c.agents[id] != nil {
		return nil, fmt.Errorf("agenttest: %s is running", id)
	}
	nw, err := c.net.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 5405))
	if err != nil {
		return nil, fmt.Errorf("agenttest: %s: %w", id, err)
	}
	cfg := c.Config(id)
	cfg.Network = nw
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		nw.Close()
		return nil, fmt.Errorf("agenttest: agent.New(%s): %w", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	c.agents[id] = r
	return a, nil
}

// Agent returns the running agent id, nil if it does not run.
func (c *Cluster) Agent(id string) *agent.Agent {
	if r := c.agents[id]; r != nil {
		return r.a
	}
	return nil
}

// Stop stops agent id gracefully and returns what its Run returned, or an
// error if it did not stop within timeout. Stopping an agent that does not
// run does nothing.
func (c *Cluster) Stop(id string, timeout time.Duration) error {
	r := c.agents[id]
	if r == nil {
		return nil
	}
	delete(c.agents, id)
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			return fmt.Errorf("agenttest: Run(%s): %w", id, err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("agenttest: agent %s did not stop within %v", id, timeout)
	}
}

// StopAll stops every running agent, each within timeout, and returns
// their errors joined.
func (c *Cluster) StopAll(timeout time.Duration) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(c.agents)) {
		errs = append(errs, c.Stop(id, timeout))
	}
	return errors.Join(errs...)
}

// InOneRing reports whether the agents want are operational in one ring
// whose members are exactly want, and returns the status of the first
// that is not (or of the last).
func (c *Cluster) InOneRing(want []string) (bool, agent.Status) {
	ring := ""
	var st agent.Status
	for _, id := range want {
		a := c.Agent(id)
		if a == nil {
			return false, agent.Status{}
		}
		st = a.Status()
		var in []string
		for _, m := range st.Members {
			if m.InRing {
				in = append(in, m.ID)
			}
		}
		if st.State != "operational" || !slices.Equal(in, want) || ring != "" && st.Ring != ring {
			return false, st
		}
		ring = st.Ring
	}
	return true, st
}

// WaitRing waits until InOneRing(want) holds, at most timeout.
func (c *Cluster) WaitRing(want []string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		ok, st := c.InOneRing(want)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agenttest: no ring of %v within %v; last status:\n%s", want, timeout, st.String())
		}
	}
}

// ClientSocket returns the address of agent id's client socket.
func (c *Cluster) ClientSocket(id string) string {
	return "unix://" + filepath.Join(c.Dir, id, agent.ClientSocketName)
}

// Traces reads every agent's trace file (those that exist).
func (c *Cluster) Traces() ([]evs.Event, error) {
	var all []evs.Event
	for _, id := range c.IDs {
		es, err := evs.ReadFile(filepath.Join(c.Dir, id+".trace"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	return all, nil
}
