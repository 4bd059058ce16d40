package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// TestSlowGroupLayerKeepsRing: n1's group layer takes 2 s (two token
// timeouts here) over the configuration change when n3 leaves, as the
// state exchange and views of about 100,000 groups do on a loaded
// machine; meanwhile the ring of n1 and n2 keeps its token: it re-forms
// once, for n3's leave, and loses no token at either node. When the group
// layer ran on the driver's loop, n1 passed no token for that time and
// the ring re-formed (BenchmarkGroupsConfChange in internal/agenttest:
// 415 rings in 209 s at 30,000 groups). The traces still satisfy EVS: the
// group layer saw every event in order.
//
// The ring's token timeout is a second, not the LAN preset's 200 ms: the
// test counts token losses over about 3 s, and on a loaded machine under
// the race detector the whole test process went without CPU for 360 ms
// (a probe goroutine woke that late) and a token was lost in 10 of 100
// runs, none of them the group layer's doing. A second is still half of
// the group layer's 2 s, so a ring that waited for it would lose its token.
// A failure says how long n1's driver loop went without a pass and how
// long the process got no CPU meanwhile: a driver that waited for the
// group layer stops while the process runs.
func TestSlowGroupLayerKeepsRing(t *testing.T) {
	const slow = 2 * time.Second
	c := newCluster(t, 3)
	var armed atomic.Bool
	slowDone := make(chan struct{})
	tolerant := func(cfg *Config) {
		cfg.Ring = cfg.Ring.WithTimings(localring.Timings{Token: time.Second, Consensus: 1200 * time.Millisecond})
	}
	c.startPrepared("n1", tolerant, func(a *Agent) {
		a.gl.stepped = func(e *localring.Event) {
			if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular && armed.CompareAndSwap(true, false) {
				time.Sleep(slow)
				close(slowDone)
			}
		}
	})
	c.start("n2", tolerant)
	c.start("n3", tolerant)
	c.waitRing([]string{"n1", "n2", "n3"}, 10*time.Second)
	both := []string{"n1", "n2"}
	before := map[string]Counters{}
	for _, id := range both {
		before[id] = c.agents[id].a.Status().Counters
	}
	n1 := c.agents["n1"].a
	base := time.Now()
	probe := schedprobe.Start(base, 10*time.Millisecond, nil)
	var noPass atomic.Int64 // the longest time n1's driver loop went without a pass
	watched := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
			gap := time.Now().UnixNano() - n1.lastPass.Load()
			if gap > noPass.Load() {
				noPass.Store(gap)
			}
		}
	}()
	armed.Store(true)
	c.stop("n3")
	select {
	case <-slowDone:
	case <-time.After(10 * time.Second):
		t.Fatal("n1's group layer never saw the ring without n3")
	}
	time.Sleep(3 * n1.ringSettings.TokenTimeout) // a stall at the end would show by now
	close(stopWatch)
	<-watched
	probe.Stop()
	c.waitRing(both, 5*time.Second)
	for _, id := range both {
		st := c.agents[id].a.Status()
		b, n := before[id], st.Counters
		if n.TokenLosses != b.TokenLosses || n.RingsInstalled != b.RingsInstalled+1 {
			stalled, stalls, longest := probe.Within(0, time.Since(base))
			t.Errorf("%s: %d token losses and %d rings installed while n1's group layer worked for %v; want none and 1 (n3's leave); n1's driver loop went up to %v without a pass; the test process did not run for %v in %d stalls of 10 ms or more, the longest %v",
				id, n.TokenLosses-b.TokenLosses, n.RingsInstalled-b.RingsInstalled, slow,
				time.Duration(noPass.Load()).Round(time.Millisecond), stalled.Round(time.Millisecond), stalls, longest.Round(time.Millisecond))
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

// gateYAML puts the test cluster's site (lab: n1 and n2) in a federation
// domain with a far site whose gateway never runs: n1 and n2 carry the
// domain's layers, and their group loops do every local ring event's
// domain part; nothing comes down.
const gateYAML = `version: 1
cluster: test
classes:
  - {name: global, budget: 30s}
sites:
  - {name: lab, unicast: ["10.0.0.1:5405", "10.0.0.2:5405"], quic: "127.0.0.1:7001", nodes: [{id: n1}, {id: n2}], gateways: [n1]}
  - {name: far, unicast: ["10.9.0.1:5405"], quic: "127.0.0.1:7002", nodes: [{id: f1}], gateways: [f1]}
links:
  - {between: [lab, far], rtt: 20ms}
groups:
  - {name: wide, class: global, sites: [lab, far]}
`

// TestSiteSendsPassDomainPart: with a trace, a node holds its new ring
// messages back only until the group loop has written the site's lines of
// the events before them (its trace gate), not until the federation
// domains' layers have taken those events too. n1's domain part is slowed
// down (25 ms for each of its first 40 deliveries, as a burst of the
// domain's messages coming down keeps a site's nodes busy) while n1 sends
// a message every 10 ms: n2 must deliver n1's messages while n1's domain
// part is still behind deliveries that came before their send at n1. With
// one gate for both parts n1 sent nothing until its group loop had done
// every event before, domain part included, so n2 delivered none of them
// earlier (0 of 30 with the gate counting the domain part). Every
// message's send line is still in n1's trace before n2 delivers it, and
// the traces satisfy EVS.
func TestSiteSendsPassDomainPart(t *testing.T) {
	f, err := topology.Parse("gate.yaml", []byte(gateYAML))
	if err != nil {
		t.Fatal(err)
	}
	fed := func(cfg *Config) { cfg.Federation = &Federation{File: f, Plan: f.Plan()} }
	c := newCluster(t, 2)
	var (
		slowFor  atomic.Int32
		domDone  atomic.Int64 // deliveries whose domain part n1 has done
		mu       sync.Mutex
		delivers int64                // deliveries n1's site part has done
		after    = map[string]int64{} // n1's message: the deliveries before its send at n1
	)
	n1 := c.startPrepared("n1", fed, func(a *Agent) {
		a.gl.stepped = func(e *localring.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case localring.EventDeliver:
				delivers++
			case localring.EventSend:
				after[e.Msg.ID.String()] = delivers
			}
		}
		a.gl.domainStepped = func(e *localring.Event) {
			if e.Kind != localring.EventDeliver {
				return
			}
			if slowFor.Add(-1) >= 0 {
				time.Sleep(25 * time.Millisecond)
			}
			domDone.Add(1)
		}
	})
	if len(n1.doms) != 1 {
		t.Fatalf("n1 runs %d federation domains, want 1", len(n1.doms))
	}
	n2 := c.start("n2", fed)
	c.waitRing([]string{"n1", "n2"}, 10*time.Second)
	sub := n2.Subscribe(1 << 12)
	slowFor.Store(40)
	const n = 30
	trace := filepath.Join(c.dir, "n1.trace")
	// n2's deliveries of n1's messages are judged as they come, while n1
	// still sends.
	type judged struct {
		overtook bool
		err      error
	}
	results := make(chan judged, n)
	go func() {
		got := 0
		deadline := time.After(20 * time.Second)
		for got < n {
			select {
			case e := <-sub.C:
				if e.Kind != localring.EventDeliver || e.Msg.ID.Sender != "n1" || groups.IsGroupPayload(e.Msg.Payload) {
					continue
				}
				done := domDone.Load()
				got++
				mu.Lock()
				before, ok := after[e.Msg.ID.String()]
				mu.Unlock()
				var j judged
				j.overtook = ok && done < before
				if !ok {
					j.err = fmt.Errorf("n2 delivered %s before n1's site part saw its send", e.Msg.ID)
				} else if b, err := os.ReadFile(trace); err != nil {
					j.err = err
				} else if !bytes.Contains(b, []byte(`"msg":"`+e.Msg.ID.String()+`"`)) {
					j.err = fmt.Errorf("n2 delivered %s, and n1's trace has no line of it yet", e.Msg.ID)
				}
				results <- j
			case <-deadline:
				results <- judged{err: fmt.Errorf("n2 delivered %d of n1's %d messages within 20 s", got, n)}
				return
			}
		}
	}()
	for i := range n {
		if err := n1.Submit(localring.Agreed, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	overtook := 0
	for range n {
		j := <-results
		if j.err != nil {
			t.Fatal(j.err)
		}
		if j.overtook {
			overtook++
		}
	}
	st := n1.Status().Counters
	t.Logf("n2 delivered %d of n1's %d messages before n1's domain part had done the deliveries before their send; n1 held its sends %d times, %v in all", overtook, n, st.TraceHolds, st.TraceHeld)
	if overtook < n/3 {
		t.Errorf("n2 delivered %d of n1's %d messages before n1's domain part had done the deliveries that came before their send at n1; want at least %d: n1's sends waited for its domain part", overtook, n, n/3)
	}
	c.stopAll()
	c.check(false)
}

// TestClientRequestsPassDomainPart: a client request waits for one event
// of the federation domains' part at most, not for the rest of the group
// loop's slice of it (domainPart): a site group's message, a realtime
// class's, goes to the ring in its send class at once, whatever burst of
// a domain's messages came down before it. n1's domain part is slowed
// down (200 µs for each of 300 deliveries of n2's messages, 60 ms in all:
// a burst coming down) while a client of n1 pings it every 500 µs. After
// each domain event the test notes the request first in line in n1's
// inbox; the same request first in line after two domain events in a row
// was passed over. Before the slice ended on a waiting request, requests
// waited up to a slice (1 ms) of domain events: 16 of the 233 domain events
// after which a request waited passed one over (on a loaded host, where
// each slowed event takes longer than 200 µs and a slice holds fewer).
func TestClientRequestsPassDomainPart(t *testing.T) {
	f, err := topology.Parse("gate.yaml", []byte(gateYAML))
	if err != nil {
		t.Fatal(err)
	}
	fed := func(cfg *Config) { cfg.Federation = &Federation{File: f, Plan: f.Plan()} }
	c := newCluster(t, 2)
	type reqID struct {
		s   *session
		req uint32
	}
	var (
		slowFor            atomic.Int32
		last               reqID // first in line after the previous domain event (group loop only)
		events, passedOver atomic.Int32
		saw                atomic.Int32 // domain events after which a request waited
	)
	n1 := c.startPrepared("n1", fed, func(a *Agent) {
		a.gl.domainStepped = func(e *localring.Event) {
			if e.Kind != localring.EventDeliver || slowFor.Add(-1) < 0 {
				last = reqID{}
				return
			}
			time.Sleep(200 * time.Microsecond)
			events.Add(1)
			a.cs.mu.Lock()
			var first reqID
			if len(a.cs.inbox) > 0 {
				first = reqID{a.cs.inbox[0].s, a.cs.inbox[0].f.Req}
			}
			a.cs.mu.Unlock()
			if first.s != nil {
				saw.Add(1)
				if first == last {
					passedOver.Add(1)
				}
			}
			last = first
		}
	})
	n2 := c.start("n2", fed)
	c.waitRing([]string{"n1", "n2"}, 10*time.Second)
	cl := newRaw(t, dialUnix(t, clientSocket(c, "n1")), "pinger")
	cl.discard()
	const burst = 300
	slowFor.Store(burst)
	stop := make(chan struct{})
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		for req := uint32(1); ; req++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Microsecond):
			}
			if _, err := cl.conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypePing, Req: req})); err != nil {
				return
			}
		}
	}()
	for i := range burst {
		if err := n2.Submit(localring.Agreed, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for events.Load() < burst && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	select {
	case <-pinged:
	case <-time.After(10 * time.Second):
		t.Fatal("the pinging client still writes 10 s after it was told to stop: its socket takes nothing, n1 does not read its requests")
	}
	t.Logf("n1's domain part did %d slowed events; after %d of them a client request waited, %d passed one over", events.Load(), saw.Load(), passedOver.Load())
	if events.Load() < burst {
		t.Fatalf("n1's domain part did %d of the %d slowed events within 20 s", events.Load(), burst)
	}
	if saw.Load() < 20 {
		t.Fatalf("a client request waited after only %d domain events: the test did not exercise the slice", saw.Load())
	}
	if n := passedOver.Load(); n > 0 {
		t.Errorf("%d times the group loop did another domain event while the same client request waited: requests wait for the domain part's slice", n)
	}
	_ = n1
	c.stopAll()
}
