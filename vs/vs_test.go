package vs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/waittest"
	"github.com/atoll-gcs/atoll/vs"
	"github.com/atoll-gcs/atoll/vs/vstest"
)

func startAgent(t *testing.T) *vstest.Agent {
	t.Helper()
	a, err := vstest.Start("n1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Error(err)
		}
	})
	return a
}

func dial(t *testing.T, a *vstest.Agent, name string) *client.Client {
	t.Helper()
	c, err := a.Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestLeaderChangesWhenLeaderLeaves(t *testing.T) {
	a := startAgent(t)
	ctx := context.Background()
	names := []string{"a", "b", "c"}
	var leaders []*vs.Leader
	var clients []*client.Client
	for _, n := range names {
		c := dial(t, a, n)
		l := vs.NewLeader("g", c.Name(), nil)
		go func() {
			for e := range c.Events() {
				if e.Kind == client.EventView {
					l.Observe(e.View)
				}
			}
		}()
		if err := c.Join(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		// Join one at a time so that the join order is a, b, c.
		eventually(t, n+" in the group", func() bool { cur, _ := l.Current(); return cur != "" })
		leaders = append(leaders, l)
		clients = append(clients, c)
	}
	for i, l := range leaders {
		cur, self := l.Current()
		if cur != "n1:a" || self != (i == 0) {
			t.Fatalf("%s: leader %q self %v, want n1:a", names[i], cur, self)
		}
	}
	if err := clients[0].Leave(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		eventually(t, names[i]+" sees b lead", func() bool {
			cur, self := leaders[i].Current()
			return cur == "n1:b" && self == (i == 1)
		})
	}
	clients[1].Close() // a crash of the leader: a disconnect
	eventually(t, "c leads", func() bool { _, self := leaders[2].Current(); return self })
}

// counter is a Machine: a sum of signed increments, and the number of
// operations applied (which is part of the state, so replicas that agree
// on it agree on the history's length too).
type counter struct {
	mu         sync.Mutex
	value, ops int64
}

func (c *counter) Apply(op []byte) {
	d, _ := binary.Varint(op)
	c.mu.Lock()
	c.value += d
	c.ops++
	c.mu.Unlock()
}

func (c *counter) Snapshot() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.AppendVarint(binary.AppendVarint(nil, c.value), c.ops)
}

func (c *counter) Restore(s []byte) error {
	v, n := binary.Varint(s)
	ops, m := binary.Varint(s[max(n, 0):])
	if n <= 0 || m <= 0 {
		return errors.New("counter: bad snapshot")
	}
	c.mu.Lock()
	c.value, c.ops = v, ops
	c.mu.Unlock()
	return nil
}

func (c *counter) get() (value, ops int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value, c.ops
}

type replica struct {
	c    *client.Client
	m    *counter
	rsm  *vs.RSM
	done chan error
}

func startReplica(t *testing.T, a *vstest.Agent, name string) *replica {
	t.Helper()
	r := &replica{c: dial(t, a, name), m: &counter{}, done: make(chan error, 1)}
	r.rsm = vs.NewRSM(r.c, "counter", r.m, nil)
	go func() { r.done <- r.rsm.Run(context.Background()) }()
	return r
}

func inc(d int64) []byte { return binary.AppendVarint(nil, d) }

// TestRSMStateTransferAndKill: replicas apply the same operations; one is
// killed in the middle; a joiner arrives while operations flow; in the
// end every live replica holds the same value and the same count, and
// the value is the sum of everything the survivors submitted plus what
// the killed one got delivered.
func TestRSMStateTransferAndKill(t *testing.T) {
	a := startAgent(t)
	ctx := context.Background()
	rs := []*replica{startReplica(t, a, "r1"), startReplica(t, a, "r2"), startReplica(t, a, "r3")}
	for i := range 50 {
		for j, r := range rs {
			if err := r.rsm.Submit(ctx, inc(int64(j+1))); err != nil {
				t.Fatal(err)
			}
		}
		if i == 20 {
			rs[2].c.Close() // killed
			rs = rs[:2]
			rs = append(rs, startReplica(t, a, "joiner"))
		}
	}
	for _, r := range rs {
		if err := r.c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "replicas agree", func() bool {
		v0, n0 := rs[0].m.get()
		for _, r := range rs[1:] {
			if v, n := r.m.get(); v != v0 || n != n0 {
				return false
			}
		}
		// r1 and r2 submitted 50 each; every op of theirs is applied.
		return n0 >= 100 && rs[2].rsm.Synced()
	})
	v, n := rs[0].m.get()
	t.Logf("value %d after %d operations", v, n)
	for _, r := range rs {
		if rv, rn := r.m.get(); rv != v || rn != n {
			t.Errorf("%s: value %d ops %d, want %d %d", r.c.Name(), rv, rn, v, n)
		}
	}
}

// TestTransferJoinerEqualsOthers checks Transfer directly: members append
// message payloads to a log; joiners arrive one at a time while messages
// flow; every member's log ends the same.
func TestTransferJoinerEqualsOthers(t *testing.T) {
	a := startAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type member struct {
		c  *client.Client
		st *logState
	}
	var ms []member
	var wg sync.WaitGroup
	add := func(name string) {
		c := dial(t, a, name)
		st := &logState{}
		tr := vs.NewTransfer(c, "log", c.Name(), st)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range c.Events() {
				if err := tr.Handle(ctx, e); err != nil {
					t.Error(err)
					return
				}
				st.mu.Lock()
				st.synced = tr.Synced()
				st.mu.Unlock()
			}
		}()
		if err := c.Join(ctx, "log"); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{c, st})
	}
	add("m0")
	for i := range 4 {
		for j := range 10 {
			if err := ms[0].c.Multicast(ctx, client.Agreed, 1, []string{"log"}, fmt.Appendf(nil, "%d.%d;", i, j)); err != nil {
				t.Fatal(err)
			}
		}
		add(fmt.Sprintf("m%d", i+1))
	}
	// Multicast only queues, and the agent orders the messages of
	// different clients as it reads them: m0's may still wait in its
	// client's writer or the agent's reader of its session while the last
	// joiner's go out (with m0's goroutines held off the CPU for 9 ms
	// under -race on two loaded cores, end.0 came before 1.0). The end
	// messages follow m0's only once the ring has sent m0's.
	if err := ms[0].c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for j := range 10 {
		if err := ms[len(ms)-1].c.Multicast(ctx, client.Agreed, 1, []string{"log"}, fmt.Appendf(nil, "end.%d;", j)); err != nil {
			t.Fatal(err)
		}
	}
	want := ""
	for i := range 4 {
		for j := range 10 {
			want += fmt.Sprintf("%d.%d;", i, j)
		}
	}
	for j := range 10 {
		want += fmt.Sprintf("end.%d;", j)
	}
	for _, m := range ms {
		deadline := time.Now().Add(10 * time.Second)
		for got := m.st.get(); got != want; got = m.st.get() {
			if time.Now().After(deadline) {
				t.Fatalf("%s's log after 10s (empty until synced):\n%s\nwant:\n%s", m.c.Name(), got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, m := range ms {
		m.c.Close()
	}
	waittest.Group(t, &wg, 10*time.Second, "the members' Transfer loops to return once their clients closed")
}

type logState struct {
	mu     sync.Mutex
	log    []byte
	synced bool
}

func (s *logState) Snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.log...)
}
func (s *logState) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append([]byte(nil), b...)
	return nil
}
func (s *logState) Apply(m *client.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, m.Payload...)
}
func (s *logState) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.synced {
		return ""
	}
	return string(s.log)
}

func TestPubSub(t *testing.T) {
	a := startAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := vs.NewPubSub(dial(t, a, "sub"), 16)
	pub := vs.NewPubSub(dial(t, a, "pub"), 16)
	go sub.Run(ctx)
	go pub.Run(ctx)
	news, err := sub.Subscribe(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	// Subscribe returns once the agent accepted the join; publications
	// reach the subscriber from the view that lists it on, so publish
	// until one arrives.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-news:
			if string(m.Payload) != "hello" || m.Sender != "n1:pub" {
				t.Fatalf("got %q from %s", m.Payload, m.Sender)
			}
			return
		case <-tick.C:
			if err := pub.Publish(ctx, "news", []byte("hello")); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("no publication received")
		}
	}
}

// TestRSMAgentDies runs a replica on each of three agents; the third
// agent dies while every replica submits; the two survivors agree.
func TestRSMAgentDies(t *testing.T) {
	as, err := vstest.StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, a := range as[1:] {
			a.Stop()
		}
		as[0].Stop()
	}()
	ctx := context.Background()
	var rs []*replica
	for i, a := range as {
		rs = append(rs, startReplica(t, a, fmt.Sprint("r", i)))
	}
	eventually(t, "every replica synced", func() bool {
		return rs[0].rsm.Synced() && rs[1].rsm.Synced() && rs[2].rsm.Synced()
	})
	var wg sync.WaitGroup
	for j, r := range rs {
		wg.Go(func() {
			for range 100 {
				if r.rsm.Submit(ctx, inc(int64(j+1))) != nil {
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	dead := as[2]
	as = as[:2]
	if err := dead.Stop(); err != nil {
		t.Error(err)
	}
	waittest.Group(t, &wg, 30*time.Second, "the replicas' 100 Submits each (the dead agent's return an error)")
	rs = rs[:2]
	eventually(t, "survivors agree", func() bool {
		v0, n0 := rs[0].m.get()
		v1, n1 := rs[1].m.get()
		return v0 == v1 && n0 == n1 && n0 >= 200
	})
	v, n := rs[0].m.get()
	t.Logf("value %d after %d operations", v, n)
}
