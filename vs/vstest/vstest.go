// Package vstest starts Atoll agents in this process, on an in-memory
// network, for tests and self-contained examples of package vs. Start
// runs a ring of one node: every replica is then a client of that agent,
// and killing a replica is closing its client (its members leave with
// reason "disconnect"). StartCluster runs a ring of several agents:
// stopping one removes its clients from the views of the others.
package vstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/agenttest"
	"github.com/atoll-gcs/atoll/localring"
)

// Agent is an agent running in this process.
type Agent struct {
	A   *agent.Agent
	c   *agenttest.Cluster
	id  string
	dir string // removed by Stop
}

// stopTimeout bounds how long Stop waits for an agent to finish.
const stopTimeout = time.Minute

// Start starts an agent named node and runs it until Stop.
func Start(node string) (*Agent, error) {
	dir, err := os.MkdirTemp("", "atoll-vs-")
	if err != nil {
		return nil, fmt.Errorf("vstest: %w", err)
	}
	c := agenttest.NewOf(dir, node)
	a, err := c.Start(node, func(cfg *agent.Config) {
		cfg.Cluster = "vs"
		cfg.Ring = localring.Config{} // the agent's default
		cfg.DataDir = dir
		cfg.TracePath = ""
		cfg.ClientSocket = "-"
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.DrainTimeout = 0
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vstest: %w", err)
	}
	return &Agent{A: a, c: c, id: node, dir: dir}, nil
}

// Dial connects a client named name to the agent.
func (a *Agent) Dial(ctx context.Context, name string) (*client.Client, error) {
	return client.DialAgent(ctx, a.A, client.WithName(name))
}

// Stop stops the agent and removes its data directory.
func (a *Agent) Stop() error {
	err := a.c.Stop(a.id, stopTimeout)
	if a.dir != "" {
		os.RemoveAll(a.dir)
	}
	return err
}

// StartCluster starts n agents, "n1" to "n<n>", on one in-memory network
// and waits until they form one ring (at most 20s).
func StartCluster(n int) ([]*Agent, error) {
	dir, err := os.MkdirTemp("", "atoll-vs-")
	if err != nil {
		return nil, fmt.Errorf("vstest: %w", err)
	}
	c := agenttest.New(dir, n)
	fail := func(err error) ([]*Agent, error) {
		c.StopAll(stopTimeout)
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vstest: %w", err)
	}
	var as []*Agent
	for _, id := range c.IDs {
		a, err := c.Start(id, func(cfg *agent.Config) {
			cfg.Cluster = "vs"
			cfg.TracePath = ""
			cfg.ClientSocket = "-"
			cfg.Logger = slog.New(slog.DiscardHandler)
			cfg.DrainTimeout = 200 * time.Millisecond
		})
		if err != nil {
			return fail(err)
		}
		as = append(as, &Agent{A: a, c: c, id: id})
	}
	as[0].dir = dir // removed with the first agent's Stop
	if err := c.WaitRing(c.IDs, 20*time.Second); err != nil {
		return fail(err)
	}
	return as, nil
}
