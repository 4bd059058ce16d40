// Package vstest starts an Atoll agent in this process, a ring of one
// node on an in-memory network, for tests and self-contained examples of
// package vs: every replica is then a client of that agent, and killing a
// replica is closing its client (its members leave with reason
// "disconnect").
package vstest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// Agent is an agent running in this process.
type Agent struct {
	A      *agent.Agent
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// Start starts an agent named node and runs it until Stop.
func Start(node string) (*Agent, error) {
	dir, err := os.MkdirTemp("", "atoll-vs-")
	if err != nil {
		return nil, fmt.Errorf("vstest: %w", err)
	}
	network, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:5405"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vstest: %w", err)
	}
	a, err := agent.New(agent.Config{
		Node: node, Cluster: "vs", Site: "lab", Nodes: []string{node},
		Network:      network,
		Security:     agent.Security{Key: seal.GenerateKey()},
		DataDir:      dir,
		AdminSocket:  "-",
		ClientSocket: "-",
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vstest: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Agent{A: a, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	return r, nil
}

// Dial connects a client named name to the agent.
func (a *Agent) Dial(ctx context.Context, name string) (*client.Client, error) {
	return client.DialAgent(ctx, a.A, client.WithName(name))
}

// Stop stops the agent and removes its data directory.
func (a *Agent) Stop() error {
	a.cancel()
	err := <-a.done
	os.RemoveAll(a.dir)
	return err
}
