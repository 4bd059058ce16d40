package agent_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// downsYAML is atoll bench isolation's site a (3 nodes, a-1 its gateway)
// with one node at each of b and c: abc-global spans the three, a-local
// lives in a.
const downsYAML = `version: 1
cluster: downs
classes:
  - {name: realtime, budget: 2ms}
  - {name: global, budget: 30s}
sites:
  - name: a
    quic: "127.0.0.1:7001"
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"]
    nodes: [{id: a-1}, {id: a-2}, {id: a-3}]
    gateways: [a-1]
  - name: b
    quic: "127.0.0.1:7002"
    unicast: ["10.2.0.1:5405"]
    nodes: [{id: b-1}]
    gateways: [b-1]
  - name: c
    quic: "127.0.0.1:7003"
    unicast: ["10.3.0.1:5405"]
    nodes: [{id: c-1}]
    gateways: [c-1]
links:
  - {between: [a, b], rtt: 2ms}
  - {between: [a, c], rtt: 4ms}
  - {between: [b, c], rtt: 4ms}
groups:
  - {name: a-local, class: realtime, sites: [a]}
  - {name: abc-global, class: global, sites: [a, b, c]}
`

// downsInc is the incarnation the recorded node (a-2) runs with, in the
// recording and in every replay: its state file's incarnation is set just
// below it, far above the clock's (seal.NextIncarnation), so that the
// replayed events name the replaying agent.
const downsInc = 1 << 52

// The recording's loads: abc-global messages of downsSize bytes sent from
// b and c, downsRounds rounds of each (a message each), then fillRounds,
// then downsRounds again.
const (
	downsRounds = 500
	fillRounds  = 4000
	downsSize   = 1024
)

// downsRecording is what node a-2's group loop took in a world of
// downsYAML: the ring events up to its client's join of abc-global
// (setup), then those of three loads of abc-global messages from b and c,
// which come down to site a as Downs: the first (first, msgs messages), one
// that fills the domain's log (bridge Config.LogEntries: fill, fillMsgs
// messages) and the last (last, msgs messages), which a-2 applies with
// its log full.
type downsRecording struct {
	file           *topology.File
	setup, first   []localring.Event
	fill, last     []localring.Event
	msgs, fillMsgs int
	err            error
}

var downsRec struct {
	once sync.Once
	r    downsRecording
}

func recordDowns(tb testing.TB) *downsRecording {
	downsRec.once.Do(func() { downsRec.r.err = downsRec.r.open(os.Getenv("ATOLL_DOWNS_RECORDING")) })
	if downsRec.r.err != nil {
		tb.Fatal(downsRec.r.err)
	}
	return &downsRec.r
}

func writeIncState(dir, node string, inc uint64) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "state.json"), fmt.Appendf(nil, `{"node":%q,"incarnation":%d}`, node, inc), 0o600)
}

func (r *downsRecording) record() error {
	dir, err := os.MkdirTemp("", "downs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeIncState(filepath.Join(dir, "a-2"), "a-2", downsInc-1); err != nil {
		return err
	}
	var mu sync.Mutex
	var evs []localring.Event
	w, err := sites.New(sites.Config{Topology: []byte(downsYAML), Dir: dir, NoTrace: true, OnAgent: func(id string, a *agent.Agent) {
		if id != "a-2" {
			return
		}
		agent.TapEvents(a, func(e *localring.Event) {
			c := *e
			c.Msg.Payload = slices.Clone(c.Msg.Payload)
			mu.Lock()
			evs = append(evs, c)
			mu.Unlock()
		})
	}})
	if err != nil {
		return err
	}
	defer w.Close()
	r.file = w.File()
	if err := w.StartAll(); err != nil {
		return err
	}
	if err := w.WaitDomains(60 * time.Second); err != nil {
		return err
	}
	if inc := w.Node("a-2").Agent().Self().Inc; inc != downsInc {
		return fmt.Errorf("a-2 runs incarnation %d; want %d", inc, downsInc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := w.Nodes()
	if err := w.JoinView(ctx, "abc-global", ids, 30*time.Second); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	senders := []string{"b-1", "c-1"}
	var cut []int
	for i, rounds := range []int{downsRounds, fillRounds, downsRounds} {
		mu.Lock()
		cut = append(cut, len(evs))
		mu.Unlock()
		phase := fmt.Sprintf("downs%d", i)
		if err := w.Run(sites.Load{Phase: phase, Senders: senders, Groups: []string{"abc-global"}, Every: 2 * time.Millisecond, Count: rounds, Size: downsSize}); err != nil {
			return err
		}
		if c := w.Count(phase, senders, 30*time.Second); !c.OK() {
			return fmt.Errorf("the recording's load %s: %v", phase, c)
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	r.setup, r.first, r.fill, r.last = evs[:cut[0]], evs[cut[0]:cut[1]], evs[cut[1]:cut[2]], evs[cut[2]:]
	r.msgs, r.fillMsgs = len(senders)*downsRounds, len(senders)*fillRounds
	w.StopAll() // a node slow to stop (on a loaded host) changes nothing recorded
	return nil
}

// downsFile is the recording as a file (ATOLL_DOWNS_RECORDING): the same
// load replayed into two builds.
type downsFile struct {
	Topology                 []byte
	Setup, First, Fill, Last []localring.Event
	Msgs, FillMsgs           int
}

// open reads the recording from path, or records it and writes it there
// when there is no such file (path "": records it).
func (r *downsRecording) open(path string) error {
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			var f downsFile
			if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&f); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			file, err := topology.Parse("downs.yaml", f.Topology)
			if err != nil {
				return err
			}
			r.file, r.setup, r.first, r.fill, r.last, r.msgs, r.fillMsgs = file, f.Setup, f.First, f.Fill, f.Last, f.Msgs, f.FillMsgs
			return nil
		}
	}
	if err := r.record(); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(downsFile{Topology: []byte(downsYAML), Setup: r.setup, First: r.first, Fill: r.fill, Last: r.last, Msgs: r.msgs, FillMsgs: r.fillMsgs}); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// replayAgent is a fresh a-2, not running, with a client named as the
// recording's (so the replayed views and messages go to it), and the
// count of the messages the client read.
type replayAgent struct {
	a    *agent.Agent
	c    *client.Client
	mu   sync.Mutex
	got  int
	cond *sync.Cond
	done chan struct{}
}

func newReplayAgent(tb testing.TB, r *downsRecording, trace bool) *replayAgent {
	tb.Helper()
	cfg, err := agent.FromTopology(r.file, "a-2", agent.PresetLAN)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	nw, err := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.1.0.2:5405"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Network, cfg.Security = nw, agent.Security{Key: seal.GenerateKey()}
	cfg.DataDir, cfg.Logger = filepath.Join(dir, "a-2"), slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.AdminSocket, cfg.ClientSocket = "-", "-"
	if trace {
		cfg.TracePath = filepath.Join(dir, "a-2.trace")
	}
	cfg.Federation = &agent.Federation{File: r.file, Plan: r.file.Plan()}
	if err := writeIncState(cfg.DataDir, "a-2", downsInc-1); err != nil {
		tb.Fatal(err)
	}
	a, err := agent.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if a.Self().Inc != downsInc {
		tb.Fatalf("replaying agent's incarnation %d; want %d", a.Self().Inc, downsInc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialAgent(ctx, a, client.WithName("app"), client.WithEventBuffer(1<<16))
	if err != nil {
		tb.Fatal(err)
	}
	ra := &replayAgent{a: a, c: c, done: make(chan struct{})}
	ra.cond = sync.NewCond(&ra.mu)
	go func() {
		defer close(ra.done)
		for e := range c.Events() {
			if e.Kind == client.EventMessage {
				ra.mu.Lock()
				ra.got++
				ra.cond.Broadcast()
				ra.mu.Unlock()
			}
		}
		ra.mu.Lock()
		ra.got = -1 << 30
		ra.cond.Broadcast()
		ra.mu.Unlock()
	}()
	return ra
}

// replayBatch is the events the replay hands the group loop at a time:
// the bursts of Downs a site's active gateway brings down (atoll bench
// isolation: 11-50 at a time).
const replayBatch = 16

// replay hands evs to the agent's group loop in batches of replayBatch
// events. With paced, after each batch it waits until the client's
// connection has taken every frame queued for it, as a client that keeps
// up does between two bursts (at the rate of the recording, the
// session's queue is empty when the next burst comes).
func (ra *replayAgent) replay(evs []localring.Event, paced bool) {
	for len(evs) > 0 {
		n := min(replayBatch, len(evs))
		agent.ReplayEvents(ra.a, evs[:n])
		evs = evs[n:]
		for paced && agent.SessionQueued(ra.a, "app") > 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// wait waits until the client read n messages, or 10 s.
func (ra *replayAgent) wait(n int) int {
	t := time.AfterFunc(10*time.Second, func() {
		ra.mu.Lock()
		ra.got = -1 << 30
		ra.cond.Broadcast()
		ra.mu.Unlock()
	})
	defer t.Stop()
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for ra.got >= 0 && ra.got < n {
		ra.cond.Wait()
	}
	return ra.got
}

func (ra *replayAgent) close() {
	ra.c.Close()
	ra.a.Close()
	<-ra.done
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDowns: site a's work per abc-global message that comes down to
// it, at a member node (a-2) whose client is a member of abc-global: a
// recording of the ring events a-2's group loop took while b and c sent
// abc-global messages (bridge Downs on a's local ring) is replayed into a
// fresh a-2 that does not run (no ring, no driver), through the group
// loop's passes as the driver hands them (site part, domain part: bridge,
// View, the domain's group layer, trace lines; client frames to the
// session, which its writer writes to the client, which reads them). Each
// op replays the whole load: ns/msg and cpu-ns/msg are per message
// delivered to the client (wall clock of the replay until the client has
// read the last, and the process's CPU meanwhile: the group loop's, the
// session writer's, the client reader's and the collector's), allocs/msg
// the allocations per message. With and without a trace.
func BenchmarkDowns(b *testing.B) {
	if sites.RaceEnabled {
		b.Skip("records a federation world's events in real time")
	}
	r := recordDowns(b)
	for _, full := range []bool{false, true} {
		for _, trace := range []bool{false, true} {
			b.Run(fmt.Sprintf("log=%s/trace=%v", map[bool]string{false: "filling", true: "full"}[full], trace), func(b *testing.B) {
				benchDowns(b, r, full, trace)
			})
		}
	}
}

// benchDowns replays the recording's first load (full: its last, after
// the others, untimed) into a fresh a-2 per op.
func benchDowns(b *testing.B, r *downsRecording, full, trace bool) {
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ra := newReplayAgent(b, r, trace)
		ra.replay(r.setup, false)
		base, load := ra.wait(0), r.first
		if full {
			ra.replay(r.first, false)
			ra.replay(r.fill, false)
			if got := ra.wait(base + r.msgs + r.fillMsgs); got != base+r.msgs+r.fillMsgs {
				b.Fatalf("the replay's client read %d messages of the first loads; want %d", got-base, r.msgs+r.fillMsgs)
			}
			base, load = base+r.msgs+r.fillMsgs, r.last
		}
		b.StartTimer()
		c0 := cpuTime()
		ra.replay(load, true)
		got := ra.wait(base + r.msgs)
		cpu += cpuTime() - c0
		b.StopTimer()
		if got != base+r.msgs {
			b.Fatalf("the replay's client read %d messages of the load; want %d", got-base, r.msgs)
		}
		ra.close()
		b.StartTimer()
	}
	n := float64(b.N * r.msgs)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/msg")
}
