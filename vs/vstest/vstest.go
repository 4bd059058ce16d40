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
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/localring"
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
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("n%d", i+1))
	}
	network, key := &transport.FakeNetwork{}, seal.GenerateKey()
	var as []*Agent
	fail := func(err error) ([]*Agent, error) {
		for _, a := range as {
			a.Stop()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("vstest: %w", err)
	}
	for i, id := range ids {
		nw, err := network.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 5405))
		if err != nil {
			return fail(err)
		}
		a, err := agent.New(agent.Config{
			Node: id, Cluster: "vs", Site: "lab", Nodes: ids,
			Network:      nw,
			Ring:         localring.DefaultLAN(""),
			Security:     agent.Security{Key: key},
			DataDir:      filepath.Join(dir, id),
			AdminSocket:  "-",
			ClientSocket: "-",
			Logger:       slog.New(slog.DiscardHandler),
			DrainTimeout: 200 * time.Millisecond,
		})
		if err != nil {
			return fail(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &Agent{A: a, cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- a.Run(ctx) }()
		as = append(as, r)
	}
	as[0].dir = dir // removed with the first agent's Stop
	for deadline := time.Now().Add(20 * time.Second); !inOneRing(as, ids); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no ring of %v within 20s", ids))
		}
	}
	return as, nil
}

func inOneRing(as []*Agent, ids []string) bool {
	ring := ""
	for _, a := range as {
		st := a.A.Status()
		var in []string
		for _, m := range st.Members {
			if m.InRing {
				in = append(in, m.ID)
			}
		}
		if st.State != "operational" || !slices.Equal(in, ids) || ring != "" && st.Ring != ring {
			return false
		}
		ring = st.Ring
	}
	return true
}
