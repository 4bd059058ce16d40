package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/agenttest"
)

// cluster runs agents in this process over one in-memory network (the
// shared harness internal/agenttest), each with its client socket, its
// trace file and its data dir, and fails the test on their errors.
type cluster struct {
	*agenttest.Cluster
	t      testing.TB
	dir    string
	ids    []string
	agents map[string]*running // the agents started and not stopped
}

type running struct{ a *agent.Agent }

// syncbuf.Buffer is a log sink safe for concurrent writers.

func newCluster(t testing.TB, n int) *cluster {
	ac := agenttest.New(t.TempDir(), n)
	c := &cluster{Cluster: ac, t: t, dir: ac.Dir, ids: ac.IDs, agents: map[string]*running{}}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() || os.Getenv("AGENT_LOGS") != "" {
			t.Logf("agent logs:\n%s", c.Logs)
		}
	})
	return c
}

// start starts node id, with edit applied to its configuration.
func (c *cluster) start(id string, edit func(*agent.Config)) *agent.Agent {
	c.t.Helper()
	a, err := c.Start(id, edit)
	if err != nil {
		c.t.Fatal(err)
	}
	c.agents[id] = &running{a: a}
	return a
}

func (c *cluster) startAll(edit func(*agent.Config)) {
	c.t.Helper()
	for _, id := range c.ids {
		c.start(id, edit)
	}
	c.waitRing(c.ids)
}

func (c *cluster) stop(id string) {
	c.t.Helper()
	delete(c.agents, id)
	if err := c.Stop(id, 10*time.Second); err != nil {
		c.t.Error(err)
	}
}

func (c *cluster) stopAll() {
	c.t.Helper()
	clear(c.agents)
	if err := c.StopAll(10 * time.Second); err != nil {
		c.t.Error(err)
	}
}

// waitRing waits until the agents want are operational in one ring of
// exactly them.
func (c *cluster) waitRing(want []string) {
	c.t.Helper()
	if err := c.WaitRing(want, 10*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// dial connects a client to agent id over its Unix socket.
func (c *cluster) dial(id, name string, opts ...client.Option) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.ClientSocket(id), modeOpts(append(opts, client.WithName(name)))...)
	if err != nil {
		c.t.Fatalf("Dial(%s as %s): %v", id, name, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// local connects a client to agent id in process.
func (c *cluster) local(id, name string, opts ...client.Option) *client.Client {
	c.t.Helper()
	cl, err := client.DialAgent(context.Background(), c.agents[id].a, modeOpts(append(opts, client.WithName(name)))...)
	if err != nil {
		c.t.Fatalf("DialAgent(%s as %s): %v", id, name, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// check runs the EVS checker on every agent's trace.
func (c *cluster) check(quiescent bool) []evs.Event {
	c.t.Helper()
	all, err := c.Traces()
	if err != nil {
		c.t.Fatal(err)
	}
	if vs := evs.Check(all, evs.Options{Quiescent: quiescent}); len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		c.t.Errorf("EVS violations:\n%s", b.String())
	}
	return all
}

// recorder keeps a client's events.
type recorder struct {
	t      *testing.T
	c      *client.Client
	mu     sync.Mutex
	events []client.Event
	more   chan struct{} // closed and replaced at every event
	ended  chan struct{}
}

func record(t *testing.T, c *client.Client) *recorder {
	r := &recorder{t: t, c: c, more: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(r.ended)
		for {
			e, err := c.Receive(context.Background())
			if err != nil {
				return
			}
			r.mu.Lock()
			r.events = append(r.events, e)
			close(r.more)
			r.more = make(chan struct{})
			r.mu.Unlock()
		}
	}()
	return r
}

// wait waits until pred holds for the events so far.
func (r *recorder) wait(what string, pred func([]client.Event) bool) {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ok, more := pred(r.events), r.more
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-more:
		case <-r.ended:
			r.mu.Lock()
			ok := pred(r.events)
			r.mu.Unlock()
			if !ok {
				r.t.Fatalf("%s: the session ended (%v) before %s", r.c.Name(), r.c.Err(), what)
			}
			return
		case <-deadline:
			r.t.Fatalf("%s: no %s within 20s", r.c.Name(), what)
		}
	}
}

func (r *recorder) snapshot() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitView waits for a regular view of group with exactly members.
func (r *recorder) waitView(group string, members ...string) client.View {
	r.t.Helper()
	var v client.View
	r.wait(fmt.Sprintf("view of %s with %v", group, members), func(es []client.Event) bool {
		for _, e := range slices.Backward(es) {
			if e.Kind == client.EventView && e.View.Group == group && !e.View.Transitional {
				v = *e.View
				return slices.Equal(v.Members, members)
			}
		}
		return false
	})
	return v
}

// views returns the regular and transitional views of group so far.
func (r *recorder) views(group string) []client.View {
	var out []client.View
	for _, e := range r.snapshot() {
		if e.Kind == client.EventView && e.View.Group == group {
			out = append(out, *e.View)
		}
	}
	return out
}

// messages returns the payloads received so far.
func (r *recorder) messages() []string {
	var out []string
	for _, e := range r.snapshot() {
		if e.Kind == client.EventMessage {
			out = append(out, string(e.Message.Payload))
		}
	}
	return out
}

func (r *recorder) waitMessages(n int) []string {
	r.t.Helper()
	r.wait(fmt.Sprintf("%d messages", n), func(es []client.Event) bool {
		k := 0
		for _, e := range es {
			if e.Kind == client.EventMessage {
				k++
			}
		}
		return k >= n
	})
	return r.messages()
}

// errors returns the EventError errors so far.
func (r *recorder) errors() []*client.Error {
	var out []*client.Error
	for _, e := range r.snapshot() {
		if e.Kind == client.EventError {
			var ce *client.Error
			if errors.As(e.Err, &ce) {
				out = append(out, ce)
			}
		}
	}
	return out
}

// receiveMode makes the tests' clients (cluster.dial, cluster.local,
// fakeAgent.session) receive with WithReceive: TestWithReceive runs tests
// again so.
var receiveMode bool

func modeOpts(opts []client.Option) []client.Option {
	if receiveMode {
		return append(opts, client.WithReceive())
	}
	return opts
}

// drain receives c's events until its session ends and returns how many
// it received.
func drain(c *client.Client) int {
	n := 0
	for {
		if _, err := c.Receive(context.Background()); err != nil {
			return n
		}
		n++
	}
}
