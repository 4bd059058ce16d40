package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// RunNode runs one benchmark node, an agent (package agent) driven through
// its in-process API, until the run described by spec is over or ctx
// ends. It writes progress events and finally its NodeResult to out as
// JSON lines; the agent's warnings (capped socket buffers, lost members)
// go to logw.
func RunNode(ctx context.Context, spec NodeSpec, out, logw io.Writer) error {
	spec.setDefaults()
	p, err := spec.parse()
	if err != nil {
		return err
	}
	dataDir, err := os.MkdirTemp("", "atoll-bench-"+spec.ID+"-")
	if err != nil {
		return fmt.Errorf("bench: node %s: data dir: %w", spec.ID, err)
	}
	defer os.RemoveAll(dataDir)

	ids := make([]string, len(spec.Nodes))
	for i, n := range spec.Nodes {
		ids[i] = n.ID
	}
	cfg := agent.Config{
		Node:        spec.ID,
		Cluster:     "atoll-bench",
		Site:        "bench",
		Nodes:       ids,
		Transport:   transport.Config{Bind: p.addrs[p.self], MTU: spec.MTU},
		Ring:        ringConfig(spec.TokenTimeout),
		Security:    agent.Security{Mode: p.mode, KeyFile: spec.KeyFile, Insecure: p.mode == seal.ModeNone},
		DataDir:     dataDir,
		AdminSocket: "-",
		Logger:      slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		SubmitQueue: max(agent.DefaultSubmitQueue, 2*spec.MaxOutstanding),
	}
	if p.group.IsValid() {
		cfg.Transport.Group = p.group
	} else {
		cfg.Transport.Peers = p.addrs
	}
	a, err := agent.New(cfg)
	if err != nil {
		return fmt.Errorf("bench: node %s: %w", spec.ID, err)
	}
	n := &node{
		spec:  spec,
		p:     p,
		a:     a,
		rec:   NewRecorder(spec.ID, out),
		acked: make(chan struct{}, 1),
	}
	sub := a.Subscribe(1 << 16)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()

	err = n.consume(ctx, sub)
	stop()
	n.wg.Wait()
	if rerr := <-ran; err == nil && rerr != nil {
		err = fmt.Errorf("bench: node %s: %w", spec.ID, rerr)
	}
	return err
}

// node measures one agent: the consumer reads its events in the calling
// goroutine, a generator goroutine submits the load.
type node struct {
	spec NodeSpec
	p    parsed
	a    *agent.Agent
	rec  *Recorder // the phases and the measurement; the consumer's
	wg   sync.WaitGroup

	submitted, taken, backpressured atomic.Uint64 // by the generator; taken: sent on the ring
	acked                           chan struct{} // the ring took messages of this node
}

// consume handles the agent's events until the run is over.
func (n *node) consume(ctx context.Context, sub *agent.Subscription) error {
	self := localring.NodeID(n.spec.ID)
	timer := time.NewTimer(n.spec.FormTimeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				return fmt.Errorf("bench: node %s: the agent stopped its subscription: %v", n.spec.ID, sub.Err())
			}
			switch e.Kind {
			case localring.EventDeliver:
				n.rec.Deliver(time.Now(), e.Msg.Payload)
			case localring.EventSend:
				// Only the generator's messages: the agent sends its own
				// (group state exchanges) on the same ring.
				if _, err := ParsePayload(e.Msg.Payload); err == nil && e.Msg.ID.Sender == self {
					n.taken.Add(1)
					select {
					case n.acked <- struct{}{}:
					default:
					}
				}
			case localring.EventInstall:
				if e.Conf.Kind == localring.Regular {
					n.install(ctx, e.Conf, timer)
				}
			case localring.EventTokenLost:
				n.rec.Event(NodeEvent{Type: "token-lost", MonoNs: n.rec.Clock.Ns(time.Now()), Reason: e.Reason})
			}
		case <-timer.C:
			if !n.rec.Ready() {
				return fmt.Errorf("bench: node %s: the ring did not hold all %d nodes within %v (status: %s); check that every node runs and that multicast reaches them",
					n.spec.ID, len(n.spec.Nodes), n.spec.FormTimeout, n.a.Status().Reason)
			}
			now := time.Now()
			next, done, err := n.rec.Advance(now)
			if err != nil {
				return err
			}
			if done {
				return n.finish()
			}
			timer.Reset(next.Sub(now))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (n *node) install(ctx context.Context, c *localring.Configuration, timer *time.Timer) {
	now := time.Now()
	n.rec.Event(NodeEvent{Type: "install", MonoNs: n.rec.Clock.Ns(now), Members: len(c.Members), Conf: c.ID})
	if n.rec.Ready() {
		if now.Before(n.rec.WindowEnd) { // not the others leaving at the end
			n.rec.Res.ConfChanges++
		}
		return
	}
	if len(c.Members) != len(n.spec.Nodes) {
		return
	}
	next := n.rec.Begin(now, n.spec.Settle, n.spec.Warmup, n.spec.Duration, n.spec.Drain)
	timer.Reset(next.Sub(now))
	n.rec.Event(NodeEvent{Type: "ready", MonoNs: n.rec.Clock.Ns(now), Members: len(c.Members), Conf: c.ID})
	if n.spec.Send {
		n.wg.Go(func() { n.generate(ctx) })
	}
}

// generate submits the load from start to the end of the window: at
// spec.Rate, or keeping spec.MaxOutstanding messages that the ring has not
// sent yet.
func (n *node) generate(ctx context.Context) {
	start, windowEnd := n.rec.Start, n.rec.WindowEnd // set before this goroutine started
	if !Sleep(ctx, time.Until(start)) {
		return
	}
	var slab []byte
	submit := func(now time.Time) bool {
		if len(slab) < n.spec.Size {
			slab = make([]byte, max(64<<10, n.spec.Size))
		}
		b := slab[:n.spec.Size:n.spec.Size]
		slab = slab[n.spec.Size:]
		seq := n.submitted.Load() + 1
		Payload{Sender: uint32(n.p.self), Seq: seq, SentNs: n.rec.Clock.Ns(now)}.AppendTo(b)
		if err := n.a.Submit(n.p.service, b); err != nil {
			if errors.Is(err, agent.ErrBackpressure) {
				n.backpressured.Add(1)
			}
			return false
		}
		n.submitted.Store(seq)
		return true
	}
	if n.spec.Rate == 0 {
		for {
			now := time.Now()
			if !now.Before(windowEnd) {
				return
			}
			for n.submitted.Load()-n.taken.Load() < uint64(n.spec.MaxOutstanding) && submit(now) {
			}
			select {
			case <-n.acked:
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
	interval := time.Duration(float64(time.Second) / n.spec.Rate)
	next := start
	for {
		now := time.Now()
		if !now.Before(windowEnd) {
			return
		}
		for !next.After(now) {
			submit(now) // a refused message counts as offered and refused
			next = next.Add(interval)
		}
		if !Sleep(ctx, next.Sub(now)) {
			return
		}
	}
}

func (n *node) finish() error {
	st := n.a.Status().Counters
	r := &n.rec.Res
	r.Backpressured = n.backpressured.Load()
	r.Retransmits = st.Retransmits
	r.RetransmitRequests = st.RetransmitRequests
	r.TokenRetransmits = st.TokenRetransmits
	r.TokenLosses = st.TokenLosses
	r.SealRejected = st.Rejected()
	return n.rec.Finish(n.submitted.Load(), n.spec.SamplesFile)
}

// ringConfig is the ring of a benchmark node: the LAN preset, with the
// token timeout of the spec (0: the preset's) and the idle token hold
// `atoll agent` uses, so that the idle ring costs what an agent's does.
func ringConfig(tokenTimeout time.Duration) localring.Config {
	lan := localring.DefaultLAN("")
	if tokenTimeout == 0 {
		tokenTimeout = lan.TokenTimeout
	}
	hold := min(lan.TokenHold, tokenTimeout*10/42/2) // localring's default TokenHold
	return localring.Config{TokenTimeout: tokenTimeout, IdleTokenHold: agent.IdleTokenHold(tokenTimeout, hold),
		IdleTokenHoldMax: agent.IdleTokenHoldMax(tokenTimeout, hold)}
}
