package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// TestSlowGroupLayerKeepsRing: n1's group layer takes 2 s (ten token
// timeouts of the LAN preset) over the configuration change when n3
// leaves, as the state exchange and views of about 100,000 groups do on a
// loaded machine; meanwhile the ring of n1 and n2 keeps its token: it
// re-forms once, for n3's leave, and loses no token at either node. When
// the group layer ran on the driver's loop, n1 passed no token for that
// time and the ring re-formed (BenchmarkGroupsConfChange in
// internal/agenttest: 415 rings in 209 s at 30,000 groups). The traces
// still satisfy EVS: the group layer saw every event in order.
func TestSlowGroupLayerKeepsRing(t *testing.T) {
	const slow = 2 * time.Second
	c := newCluster(t, 3)
	var armed atomic.Bool
	slowDone := make(chan struct{})
	c.startPrepared("n1", nil, func(a *Agent) {
		a.gl.stepped = func(e *localring.Event) {
			if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular && armed.CompareAndSwap(true, false) {
				time.Sleep(slow)
				close(slowDone)
			}
		}
	})
	c.start("n2", nil)
	c.start("n3", nil)
	c.waitRing([]string{"n1", "n2", "n3"}, 10*time.Second)
	both := []string{"n1", "n2"}
	before := map[string]Counters{}
	for _, id := range both {
		before[id] = c.agents[id].a.Status().Counters
	}
	armed.Store(true)
	c.stop("n3")
	select {
	case <-slowDone:
	case <-time.After(10 * time.Second):
		t.Fatal("n1's group layer never saw the ring without n3")
	}
	time.Sleep(3 * c.agents["n1"].a.ringSettings.TokenTimeout) // a stall at the end would show by now
	c.waitRing(both, 5*time.Second)
	for _, id := range both {
		st := c.agents[id].a.Status()
		b, n := before[id], st.Counters
		if n.TokenLosses != b.TokenLosses || n.RingsInstalled != b.RingsInstalled+1 {
			t.Errorf("%s: %d token losses and %d rings installed while n1's group layer worked for %v; want none and 1 (n3's leave)",
				id, n.TokenLosses-b.TokenLosses, n.RingsInstalled-b.RingsInstalled, slow)
		}
	}
	c.stopAll()
	c.check(false)
}

// TestTraceAheadOfNetwork: the group loop writes the trace after the ring
// produced the events, but the send line of a message is in the file
// before the message leaves (traceSends), so a trace cut by kill -9 never
// lacks the send of a message others delivered. n1's group loop is slowed
// down (30 ms per delivery, for 10 deliveries) while n1 sends; whenever n2
// delivers one of n1's messages, n1's trace file already holds its send
// line.
func TestTraceAheadOfNetwork(t *testing.T) {
	c := newCluster(t, 2)
	var slowFor atomic.Int32
	c.startPrepared("n1", nil, func(a *Agent) {
		a.gl.stepped = func(e *localring.Event) {
			if e.Kind == localring.EventDeliver && slowFor.Add(-1) >= 0 {
				time.Sleep(30 * time.Millisecond)
			}
		}
	})
	n2 := c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 10*time.Second)
	sub := n2.Subscribe(1 << 12)
	slowFor.Store(10)
	const n = 30
	n1 := c.agents["n1"].a
	for i := range n {
		if err := n1.Submit(localring.Agreed, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	trace := filepath.Join(c.dir, "n1.trace")
	got := 0
	deadline := time.After(20 * time.Second)
	for got < n {
		select {
		case e := <-sub.C:
			if e.Kind != localring.EventDeliver || e.Msg.ID.Sender != "n1" || groups.IsGroupPayload(e.Msg.Payload) {
				continue
			}
			got++
			b, err := os.ReadFile(trace)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(`"ev":"send"`)) || !bytes.Contains(b, []byte(`"msg":"`+e.Msg.ID.String()+`"`)) {
				t.Fatalf("n2 delivered %s, and n1's trace has no line of it yet", e.Msg.ID)
			}
		case <-deadline:
			t.Fatalf("n2 delivered %d of n1's %d messages", got, n)
		}
	}
	c.stopAll()
	c.check(false)
}

// TestProbeGroupLoopStuck: a group loop stuck in one pass for longer than
// its bound makes Probe fail with a reason that names the group loop;
// once the group loop moves again Probe is content. Before, Probe looked
// at the driver's loop only: without a trace the driver keeps running
// passes, so a watchdog never saw a stuck group layer, and with one (as
// here) the driver waits for the group loop to trace its sends, and the
// watchdog blamed the ring's loop.
func TestProbeGroupLoopStuck(t *testing.T) {
	for _, trace := range []bool{true, false} {
		t.Run(fmt.Sprintf("trace=%v", trace), func(t *testing.T) { probeGroupLoopStuck(t, trace) })
	}
}

func probeGroupLoopStuck(t *testing.T, trace bool) {
	const bound = 300 * time.Millisecond
	c := newCluster(t, 1)
	edit := func(cfg *Config) {
		if !trace {
			cfg.TracePath = ""
		}
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	a := c.startPrepared("n1", edit, func(a *Agent) {
		a.gr.stallMax = bound
		a.gl.stepped = func(e *localring.Event) {
			if e.Kind == localring.EventDeliver && string(e.Msg.Payload) == "block" {
				close(blocked)
				<-release
			}
		}
	})
	c.waitRing([]string{"n1"}, 10*time.Second)
	if _, err := a.Probe(); err != nil {
		t.Fatalf("Probe of an agent at work: %v", err)
	}
	if err := a.Submit(localring.Agreed, []byte("block")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the group loop never got the message")
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	start := time.Now()
	p0, err := a.Probe()
	if err != nil && time.Since(start) < bound {
		t.Fatalf("Probe failed before the bound: %v", err)
	}
	for err == nil {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("Probe still content 10 s after the group loop got stuck (bound %v)", bound)
		}
		time.Sleep(20 * time.Millisecond)
		_, err = a.Probe()
	}
	if msg := err.Error(); !strings.Contains(msg, "group loop has been in one pass for") || !strings.Contains(msg, "no progress") {
		t.Errorf("Probe's error does not tell the operator what is stuck: %v", err)
	}
	if p, _ := a.Probe(); !trace && !p.After(p0) {
		t.Errorf("without a trace the driver's loop ran no pass while the group loop was stuck: %v, before %v", p, p0)
	}
	close(release)
	released = true
	deadline := time.Now().Add(10 * time.Second)
	for _, err = a.Probe(); err != nil; _, err = a.Probe() {
		if time.Now().After(deadline) {
			t.Fatalf("Probe still failing 10 s after the group loop moved again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.stopAll()
	if trace {
		c.check(false)
	}
}
