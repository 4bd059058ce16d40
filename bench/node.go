package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// RunNode runs one benchmark node until the run described by spec is over
// or ctx ends, writing progress events and finally its NodeResult to out as
// JSON lines. Warnings (kernel-capped socket buffers, mode none) go to
// logw.
func RunNode(ctx context.Context, spec NodeSpec, out, logw io.Writer) error {
	spec.setDefaults()
	p, err := spec.parse()
	if err != nil {
		return err
	}
	clock := newMonoClock()

	tcfg := transport.Config{Bind: p.addrs[p.self], MTU: spec.MTU}
	if p.group.IsValid() {
		tcfg.Group = p.group
	} else {
		tcfg.Peers = p.addrs
	}
	tr, warnings, err := transport.Listen(tcfg)
	if err != nil {
		return fmt.Errorf("bench: node %s: %w", spec.ID, err)
	}
	defer tr.Close()
	for _, w := range warnings {
		fmt.Fprintln(logw, w.String())
	}

	scfg := seal.Config{
		Mode:        p.mode,
		Cluster:     "atoll-bench",
		Sender:      seal.SenderID(spec.ID),
		Incarnation: seal.NextIncarnation(0, time.Now()),
	}
	if p.mode != seal.ModeNone {
		if scfg.Key, err = seal.LoadKeyFile(spec.KeyFile); err != nil {
			return err
		}
	}
	sealer, err := seal.New(scfg)
	if err != nil {
		return err
	}

	rcfg := localring.DefaultLAN(localring.NodeID(spec.ID))
	if spec.TokenTimeout != 0 {
		rcfg = localring.Config{ID: rcfg.ID, TokenTimeout: spec.TokenTimeout}
	}
	rcfg.Incarnation = scfg.Incarnation
	rcfg.MaxPacketBytes = tr.MaxPacket() - sealer.Overhead()
	node, err := localring.New(rcfg)
	if err != nil {
		return err
	}

	d := &driver{
		spec:   spec,
		p:      p,
		clock:  clock,
		node:   node,
		tr:     tr,
		sealer: sealer,
		out:    bufio.NewWriter(out),
		res:    NodeResult{Type: "result", Node: spec.ID},
	}
	return d.run(ctx)
}

// driver is the loop of one node: the agent's loop without groups and
// clients.
type driver struct {
	spec   NodeSpec
	p      parsed
	clock  monoClock
	node   *localring.Node
	tr     transport.Transport
	sealer *seal.Sealer
	out    *bufio.Writer
	res    NodeResult

	sealBuf []byte
	slab    []byte // payloads are cut from it

	ready                                     bool
	members                                   int
	start, windowStart, windowEnd, stop, form time.Time
	sent                                      uint64
	cpuStart                                  time.Duration
	cpuStartAt                                time.Time
	cpuDone                                   bool
	latencies                                 []int64
	lastConf                                  string
}

// rxBatch is one recvmmsg worth of datagrams, passed from the reader
// goroutine to the loop and back.
type rxBatch struct {
	ms []transport.Message
	n  int
}

func (d *driver) run(ctx context.Context) error {
	free := make(chan *rxBatch, 8)
	in := make(chan *rxBatch, 8)
	for range cap(free) {
		b := &rxBatch{ms: make([]transport.Message, transport.DefaultBatchSize)}
		for i := range b.ms {
			b.ms[i].Buf = make([]byte, d.tr.MaxPacket())
		}
		free <- b
	}
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		defer close(in)
		for b := range free {
			n, err := d.tr.ReadBatch(b.ms)
			if err != nil {
				if !errors.Is(err, transport.ErrClosed) {
					readErr = err
				}
				return
			}
			b.n = n
			in <- b
		}
	})
	defer func() {
		d.tr.Close()
		close(free)
		for range in {
		}
		wg.Wait()
	}()

	now := time.Now()
	d.form = now.Add(d.spec.FormTimeout)
	d.node.Start(now)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.load(now)
		if dl := d.node.NextDeadline(); !dl.IsZero() && !dl.After(now) {
			d.node.Tick(now)
		}
		d.flush()
		if done, err := d.phase(now); done || err != nil {
			if err == nil {
				err = d.finish()
			}
			return err
		}

		wake := d.wake(now)
		timer.Reset(wake.Sub(now))
		select {
		case b, ok := <-in:
			if !ok {
				return fmt.Errorf("bench: node %s: receive: %v", d.spec.ID, readErr)
			}
			now = time.Now()
			d.step(now, b, free)
			// Take whatever else already arrived, without waiting.
			for more := true; more; {
				select {
				case b, ok := <-in:
					if !ok {
						return fmt.Errorf("bench: node %s: receive: %v", d.spec.ID, readErr)
					}
					d.step(now, b, free)
				default:
					more = false
				}
			}
		case <-timer.C:
			now = time.Now()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// step opens and feeds one batch of datagrams to the core and returns the
// batch to the reader.
func (d *driver) step(now time.Time, b *rxBatch, free chan<- *rxBatch) {
	for i := range b.ms[:b.n] {
		m := &b.ms[i]
		if m.Truncated {
			continue
		}
		payload, _, err := d.sealer.OpenInPlace(m.Payload())
		if err != nil {
			continue // counted by the sealer
		}
		_ = d.node.Step(now, payload) // malformed packets are counted by the core
	}
	free <- b
}

// flush sends the packets the core produced and handles its events.
func (d *driver) flush() {
	if !d.node.HasReady() {
		return
	}
	rd := d.node.Ready()
	for _, pkt := range rd.Packets {
		d.sealBuf = d.sealer.Seal(d.sealBuf[:0], pkt.Data)
		if pkt.To == "" {
			_ = d.tr.Multicast(d.sealBuf)
		} else if to, ok := d.p.byID[pkt.To]; ok {
			_ = d.tr.Unicast(to, d.sealBuf)
		}
	}
	if len(rd.Packets) > 0 {
		_ = d.tr.Flush() // a refused packet is recovered by the ring's retransmission
	}
	if len(rd.Events) == 0 {
		return
	}
	delivered := time.Now()
	for _, e := range rd.Events {
		switch e.Kind {
		case localring.EventDeliver:
			d.deliver(delivered, e.Msg.Payload)
		case localring.EventInstall:
			if e.Conf.Kind == localring.Regular {
				d.install(delivered, e.Conf)
			}
		case localring.EventTokenLost:
			d.event(NodeEvent{Type: "token-lost", MonoNs: d.clock.ns(delivered), Reason: e.Reason})
		}
	}
}

func (d *driver) deliver(now time.Time, payload []byte) {
	if d.windowStart.IsZero() || now.Before(d.windowStart) || !now.Before(d.windowEnd) {
		return
	}
	h, err := ParsePayload(payload)
	if err != nil {
		return
	}
	d.res.Delivered++
	d.res.Bytes += uint64(len(payload))
	d.latencies = append(d.latencies, d.clock.ns(now)-h.SentNs)
}

func (d *driver) install(now time.Time, c *localring.Configuration) {
	d.members = len(c.Members)
	d.event(NodeEvent{Type: "install", MonoNs: d.clock.ns(now), Members: len(c.Members), Conf: c.ID})
	if d.ready {
		d.res.ConfChanges++
		return
	}
	if len(c.Members) == len(d.spec.Nodes) {
		d.ready = true
		d.start = now.Add(d.spec.Settle)
		d.windowStart = d.start.Add(d.spec.Warmup)
		d.windowEnd = d.windowStart.Add(d.spec.Duration)
		d.stop = d.windowEnd.Add(d.spec.Drain)
		d.event(NodeEvent{Type: "ready", MonoNs: d.clock.ns(now), Members: len(c.Members), Conf: c.ID})
	}
}

// load submits the messages that are due.
func (d *driver) load(now time.Time) {
	if !d.spec.Send || !d.ready || now.Before(d.start) || !now.Before(d.windowEnd) {
		return
	}
	if d.spec.Rate == 0 {
		for d.node.Pending() < d.spec.MaxOutstanding {
			if !d.submit(now) {
				return
			}
		}
		return
	}
	due := uint64(now.Sub(d.start).Seconds()*d.spec.Rate) + 1
	for d.sent < due {
		d.sent++ // an offered message counts even when flow control refuses it
		if !d.submit(now) {
			d.res.Backpressured++
		}
	}
}

// submit offers one message to the core and reports whether it took it.
func (d *driver) submit(now time.Time) bool {
	if len(d.slab) < d.spec.Size {
		d.slab = make([]byte, max(64<<10, d.spec.Size))
	}
	b := d.slab[:d.spec.Size:d.spec.Size]
	d.slab = d.slab[d.spec.Size:]
	d.res.Sent++
	Payload{Sender: uint32(d.p.self), Seq: d.res.Sent, SentNs: d.clock.ns(now)}.AppendTo(b)
	if _, err := d.node.Submit(now, d.p.service, b); err != nil {
		d.res.Sent--
		return false
	}
	if d.spec.Rate == 0 {
		d.sent++
	}
	return true
}

// phase takes the CPU readings at the window's ends and reports whether
// the run is over.
func (d *driver) phase(now time.Time) (done bool, err error) {
	if !d.ready {
		if now.After(d.form) {
			return true, fmt.Errorf("bench: node %s: the ring did not hold all %d nodes within %v (it holds %d); check that every node runs and that multicast reaches them",
				d.spec.ID, len(d.spec.Nodes), d.spec.FormTimeout, max(d.members, 1))
		}
		return false, nil
	}
	if d.cpuStartAt.IsZero() && !now.Before(d.windowStart) {
		d.cpuStartAt = now
		if d.cpuStart, err = ProcCPU(0); err != nil {
			return true, err
		}
	}
	if !d.cpuDone && !now.Before(d.windowEnd) {
		d.cpuDone = true
		cpu, err := ProcCPU(0)
		if err != nil {
			return true, err
		}
		d.res.CPUS = (cpu - d.cpuStart).Seconds()
		d.res.CPUWindowS = now.Sub(d.cpuStartAt).Seconds()
	}
	return !now.Before(d.stop), nil
}

// wake returns when the loop must run again without a packet.
func (d *driver) wake(now time.Time) time.Time {
	w := d.form
	if d.ready {
		w = d.stop
		for _, t := range []time.Time{d.start, d.windowStart, d.windowEnd} {
			if now.Before(t) && t.Before(w) {
				w = t
			}
		}
		if d.spec.Send && d.spec.Rate > 0 && !now.Before(d.start) && now.Before(d.windowEnd) {
			next := d.start.Add(time.Duration(float64(d.sent) / d.spec.Rate * float64(time.Second)))
			if next.Before(w) {
				w = next
			}
		}
	}
	if dl := d.node.NextDeadline(); !dl.IsZero() && dl.Before(w) {
		w = dl
	}
	return w
}

func (d *driver) finish() error {
	st := d.node.Stats()
	d.res.Retransmits = st.Retransmits
	d.res.RetransmitRequests = st.RetransmitRequests
	d.res.TokenRetransmits = st.TokenRetransmits
	d.res.TokenLosses = st.TokenLosses
	d.res.SealRejected = d.sealer.Stats().Rejected()
	d.res.WindowS = d.spec.Duration.Seconds()
	d.res.MaxRSSKiB, _ = ProcMaxRSS(0)
	q := Quantiles(d.latencies, 0.5, 0.99, 0.999)
	d.res.P50Us, d.res.P99Us, d.res.P999Us = us(q[0]), us(q[1]), us(q[2])
	if d.spec.SamplesFile != "" {
		if err := WriteSamples(d.spec.SamplesFile, d.latencies); err != nil {
			return err
		}
		d.res.Samples = d.spec.SamplesFile
	}
	return d.write(d.res)
}

func (d *driver) event(e NodeEvent) {
	e.Node = d.spec.ID
	_ = d.write(e)
}

func (d *driver) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d.out.Write(append(b, '\n'))
	return d.out.Flush()
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

