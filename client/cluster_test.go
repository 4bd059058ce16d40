package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// cluster runs agents in this process over one transport.FakeNetwork,
// each with its client socket, its trace file and its data dir.
type cluster struct {
	t      testing.TB
	dir    string
	key    seal.Key
	net    *transport.FakeNetwork
	ids    []string
	agents map[string]*running
	logs   *syncBuffer
}

type running struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newCluster(t testing.TB, n int) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), key: seal.GenerateKey(), net: &transport.FakeNetwork{},
		agents: map[string]*running{}, logs: &syncBuffer{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i))
	}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() || os.Getenv("AGENT_LOGS") != "" {
			t.Logf("agent logs:\n%s", c.logs)
		}
	})
	return c
}

// start starts node id, with edit applied to its configuration.
func (c *cluster) start(id string, edit func(*agent.Config)) *agent.Agent {
	c.t.Helper()
	i := slices.Index(c.ids, id)
	nw, err := c.net.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 5405))
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := agent.Config{
		Node: id, Cluster: "test", Site: "lab", Nodes: c.ids,
		Network:      nw,
		Ring:         localring.DefaultLAN(""),
		Security:     agent.Security{Key: c.key},
		DataDir:      filepath.Join(c.dir, id),
		TracePath:    filepath.Join(c.dir, id+".trace"),
		AdminSocket:  "-",
		Logger:       slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DrainTimeout: 500 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		c.t.Fatalf("agent.New(%s): %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	c.agents[id] = r
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
	r := c.agents[id]
	if r == nil {
		return
	}
	delete(c.agents, id)
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			c.t.Errorf("Run(%s): %v", id, err)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatalf("agent %s did not stop within 10s", id)
	}
}

func (c *cluster) stopAll() {
	for _, id := range slices.Sorted(maps.Keys(c.agents)) {
		c.stop(id)
	}
}

// waitRing waits until the agents want are operational in one ring of
// exactly them.
func (c *cluster) waitRing(want []string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, ring := true, ""
		for _, id := range want {
			st := c.agents[id].a.Status()
			var in []string
			for _, m := range st.Members {
				if m.InRing {
					in = append(in, m.ID)
				}
			}
			if st.State != "operational" || !slices.Equal(in, want) || ring != "" && st.Ring != ring {
				ok = false
				break
			}
			ring = st.Ring
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no ring of %v within 10s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dial connects a client to agent id over its Unix socket.
func (c *cluster) dial(id, name string, opts ...client.Option) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, "unix://"+filepath.Join(c.dir, id, agent.ClientSocketName), append(opts, client.WithName(name))...)
	if err != nil {
		c.t.Fatalf("Dial(%s as %s): %v", id, name, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// local connects a client to agent id in process.
func (c *cluster) local(id, name string, opts ...client.Option) *client.Client {
	c.t.Helper()
	cl, err := client.DialAgent(context.Background(), c.agents[id].a, append(opts, client.WithName(name))...)
	if err != nil {
		c.t.Fatalf("DialAgent(%s as %s): %v", id, name, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// check runs the EVS checker on every agent's trace.
func (c *cluster) check(quiescent bool) []evs.Event {
	c.t.Helper()
	var all []evs.Event
	for _, id := range c.ids {
		f, err := os.Open(filepath.Join(c.dir, id+".trace"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		es, err := evs.Read(f, f.Name())
		f.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		all = append(all, es...)
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
		for e := range c.Events() {
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
