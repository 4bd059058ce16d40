package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// cluster runs agents in this process over one transport.FakeNetwork (or
// real UDP over loopback).
type cluster struct {
	t      *testing.T
	dir    string
	key    seal.Key
	net    *transport.FakeNetwork
	ids    []string
	agents map[string]*running
	logs   *syncbuf.Buffer
	failed map[evs.Proc]bool
}

type running struct {
	a      *Agent
	cancel context.CancelFunc
	done   chan error
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{
		t:      t,
		dir:    t.TempDir(),
		key:    seal.GenerateKey(),
		net:    &transport.FakeNetwork{},
		agents: map[string]*running{},
		logs:   &syncbuf.Buffer{},
		failed: map[evs.Proc]bool{},
	}
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

// newRing starts agents n1 to nN with the test defaults and waits for
// their ring.
func newRing(t *testing.T, n int) *cluster {
	c := newCluster(t, n)
	for _, id := range c.ids {
		c.start(id, nil)
	}
	c.waitRing(c.ids, 5*time.Second)
	return c
}

func (c *cluster) addr(id string) netip.AddrPort {
	i := slices.Index(c.ids, id)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 5405)
}

func (c *cluster) config(id string) Config {
	return Config{
		Node: id, Cluster: "test", Site: "lab", Nodes: c.ids,
		Ring:         localring.DefaultLAN(""),
		Security:     Security{Key: c.key},
		DataDir:      filepath.Join(c.dir, id),
		TracePath:    filepath.Join(c.dir, id+".trace"),
		Logger:       slogTo(c.logs),
		DrainTimeout: 500 * time.Millisecond,
	}
}

// start starts node id with cfg (or the default config when nil).
func (c *cluster) start(id string, edit func(*Config)) *Agent {
	c.t.Helper()
	return c.startPrepared(id, edit, nil)
}

// startPrepared starts node id as start does, calling prepare (when not
// nil) between New and Run.
func (c *cluster) startPrepared(id string, edit func(*Config), prepare func(*Agent)) *Agent {
	c.t.Helper()
	f, err := c.net.Listen(c.addr(id))
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := c.config(id)
	cfg.Network = f
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		c.t.Fatalf("New(%s): %v", id, err)
	}
	if prepare != nil {
		prepare(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	c.agents[id] = r
	return a
}

// stop stops node id gracefully.
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
	case <-time.After(5 * time.Second):
		c.t.Fatalf("agent %s did not stop within 5s", id)
	}
}

func (c *cluster) stopAll() {
	for _, id := range slices.Sorted(maps.Keys(c.agents)) {
		c.stop(id)
	}
}

// waitRing waits until every running agent is operational in one ring
// whose members are exactly want.
func (c *cluster) waitRing(want []string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		ring := ""
		var last Status
		for _, id := range want {
			st := c.agents[id].a.Status()
			last = st
			var members []string
			for _, m := range st.Members {
				if m.InRing {
					members = append(members, m.ID)
				}
			}
			if st.State != "operational" || !slices.Equal(members, want) || ring != "" && st.Ring != ring {
				ok = false
				break
			}
			ring = st.Ring
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no ring of %v within %v; last status:\n%s", want, timeout, last.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits until no running agent has messages to send and the
// delivery counters have not moved for a while, so that a quiescent check
// does not race with messages in flight.
func (c *cluster) waitIdle(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []uint64
	for stable := 0; stable < 3; {
		if time.Now().After(deadline) {
			c.t.Fatalf("the agents did not settle within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
		var cur []uint64
		busy := false
		for _, id := range slices.Sorted(maps.Keys(c.agents)) {
			st := c.agents[id].a.Status()
			busy = busy || st.Counters.Pending+st.Counters.Queued > 0 || st.State != "operational"
			cur = append(cur, st.Counters.MessagesDelivered)
		}
		if !busy && slices.Equal(cur, last) {
			stable++
		} else {
			stable = 0
		}
		last = cur
	}
}

// check reads every trace and runs the EVS checker.
func (c *cluster) check(quiescent bool) []evs.Event {
	c.t.Helper()
	c.waitTraced(5 * time.Second)
	var all []evs.Event
	for _, id := range c.ids {
		es, err := evs.ReadFile(filepath.Join(c.dir, id+".trace"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		all = append(all, es...)
	}
	if vs := evs.Check(all, evs.Options{Failed: c.failed, Quiescent: quiescent}); len(vs) > 0 {
		var b strings.Builder
		evs.Report(&b, vs)
		c.t.Errorf("EVS violations:\n%s", b.String())
	}
	return all
}

// waitTraced waits until every running agent's group loop has written
// the trace of every event its driver handed it. A subscriber sees the
// ring's events on the driver's loop, before the group loop traces them,
// so a check right after the subscribers saw a delivery could read a
// trace that does not have it yet.
func (c *cluster) waitTraced(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, id := range slices.Sorted(maps.Keys(c.agents)) {
		gr := &c.agents[id].a.gr
		for {
			gr.mu.Lock()
			traced, handed, lag := gr.traced, gr.handed, gr.lag
			gr.mu.Unlock()
			if traced >= handed && lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s: the group loop traced %d of the %d events the driver handed it within %v", id, traced, handed, timeout)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestRingFormsAndDelivers(t *testing.T) {
	before := runtime.NumGoroutine()
	c := newCluster(t, 3)
	var subs []*Subscription
	for _, id := range c.ids {
		a := c.start(id, nil)
		subs = append(subs, a.Subscribe(4096))
	}
	c.waitRing(c.ids, 5*time.Second)
	for _, id := range c.ids {
		if st := c.agents[id].a.Status(); st.Health != Healthy || len(st.Missing) != 0 {
			t.Errorf("%s: health %v missing %v, want healthy", id, st.Health, st.Missing)
		}
	}

	const perNode = 50
	for i := range perNode {
		for _, id := range c.ids {
			svc := localring.Agreed
			if i%5 == 0 {
				svc = localring.Safe
			}
			if err := c.agents[id].a.Submit(svc, []byte(fmt.Sprintf("%s-%d", id, i))); err != nil {
				t.Fatalf("Submit: %v", err)
			}
		}
	}
	// Every node delivers all 150 messages in one order.
	var orders [][]string
	for i, s := range subs {
		var got []string
		timeout := time.After(5 * time.Second)
		for len(got) < perNode*len(c.ids) {
			select {
			case e, ok := <-s.C:
				if !ok {
					t.Fatalf("%s: subscription closed: %v", c.ids[i], s.Err())
				}
				// Only the test's messages: the group layer's own state
				// exchanges belong to the rings each node was in (n1's
				// ring with n2 alone, before n3 joined).
				if e.Kind == localring.EventDeliver && !groups.IsGroupPayload(e.Msg.Payload) {
					got = append(got, string(e.Msg.Payload))
				}
			case <-timeout:
				t.Fatalf("%s delivered %d of %d messages", c.ids[i], len(got), perNode*len(c.ids))
			}
		}
		orders = append(orders, got)
	}
	for i := 1; i < len(orders); i++ {
		if !slices.Equal(orders[0], orders[i]) {
			t.Errorf("%s and %s delivered in different orders", c.ids[0], c.ids[i])
		}
	}
	c.check(true)
	c.stopAll()
	for i, s := range subs {
		// Events may be left; the channel must end closed.
		timeout := time.After(5 * time.Second)
	drain:
		for {
			select {
			case _, ok := <-s.C:
				if !ok {
					break drain
				}
			case <-timeout:
				t.Fatalf("%s's subscription is still open 5 s after its agent stopped", c.ids[i])
			}
		}
		if !errors.Is(s.Err(), ErrStopped) {
			t.Errorf("subscription after stop: %v, want ErrStopped", s.Err())
		}
	}
	c.check(false)
	waitGoroutines(t, before)
}

// runEnded returns Run's error from done once Run's context was
// cancelled, or fails the test if Run did not return within 10 s: an
// agent that does not stop fails the test saying so, instead of hanging
// go test until its timeout.
func runEnded(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's Run did not return within 10 s of its context's end")
		return nil
	}
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitGoroutines fails when goroutines started by the test outlive it.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
