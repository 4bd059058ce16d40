package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// StateStore keeps what a ring node must remember across restarts: the
// highest ring sequence number it has seen. Pass the saved value as
// localring.Config.RingSeq when the node restarts.
type StateStore interface {
	// SaveRingSeq makes seq durable before it returns (write and fsync, or
	// whatever the store's medium needs). The driver calls it from its
	// loop, when the node's ring sequence number grew past the value saved
	// last, with that number plus Config.RingSeqReserve, and before any
	// packet or event of that Ready leaves the driver. An error stops the
	// driver (see Driver.Run).
	SaveRingSeq(seq uint64) error
}

// Hooks let the code around a driver (the agent's group layer, clients
// and load generator; the federation ring's gateway) act inside the loop.
// Every hook runs on the loop goroutine, so it may use the Node freely
// (Driver.Node) and must not block. Each may be nil.
type Hooks struct {
	// Events receives the events of each Ready, in order, after the ring
	// sequence number was saved and before the Ready's packets are sent.
	// evs is valid only during the call.
	Events func(now time.Time, evs []localring.Event)

	// Output runs at the end of every output step, after the packets were
	// flushed, with the same events (none when the node produced none):
	// publish status, hand events on, submit what the events caused.
	Output func(now time.Time, evs []localring.Event)

	// Pass runs once per pass, after the received packets went into the
	// node and before its due timers run, with the pass's clock reading:
	// the place to Submit.
	Pass func(now time.Time)

	// Deadline returns when the loop must run a pass even without input
	// (a load generator's next message), or the zero time. It is called
	// once per pass.
	Deadline func() time.Time

	// Leaving runs once when Run's context is cancelled, before the
	// drain: refuse new work from here on.
	Leaving func(now time.Time)

	// Drained reports, during the drain, whether the caller has nothing
	// left to submit. The node's own queue and this node's messages sent
	// but not yet delivered back are the driver's to check.
	Drained func() bool
}

// Config is what New needs.
type Config struct {
	// Node is the ring node to drive; Run starts it. Required.
	Node *localring.Node
	// Transport carries the node's packets; Run closes it when it returns.
	// Required.
	Transport Transport
	// Store saves the ring sequence number (see StateStore). Required.
	Store StateStore
	// Logger receives the driver's lines; give it the attributes that
	// name the node and its ring (the driver adds none). Default
	// slog.Default().
	Logger *slog.Logger
	// DrainTimeout is how long Run, once its context is cancelled, waits
	// for the queued messages to be sent and this node's own messages to
	// be delivered before the node leaves the ring. 0 leaves at once.
	DrainTimeout time.Duration
	// RingSeqReserve is how far beyond the node's ring sequence number a
	// save reaches, so that the ring changes after it need no save until
	// the node's number passes the saved one: one synchronous save per
	// RingSeqReserve/4 ring changes instead of one per change (each new
	// ring adds 4), and none on most passes of a commit token, whose
	// rotation the token timeout bounds. After a restart the node's ring
	// sequence numbers jump by up to the reserve; they only need to grow.
	// Default 1024.
	RingSeqReserve uint64
	// RecvBatches is how many receive batches circulate between the
	// receive goroutine and the loop: the receiver fills one while the
	// loop works on others, and stops reading (the socket buffer absorbs
	// the burst) when the loop is behind. A pass takes every batch that
	// is waiting. Default 4.
	RecvBatches int
	// RecvBatchPackets is the number of packets of one Transport.Recv.
	// Default 64.
	RecvBatchPackets int
	// MaxBacklogBytes bounds the node's sending when Transport is a
	// BacklogReporter: at each pass the node may put out at most
	// (MaxBacklogBytes − Backlog()) / MaxPacketBytes new packets per token
	// visit (localring.Node.SetSendLimit), none while the backlog is over
	// it. So on a connection that carries less than the ring's window
	// (QUIC's congestion control on a lossy path), the node sends what
	// the connection drains, its messages wait in its own queue (where
	// the application's back-pressure sees them), and the transport's
	// queues never overflow. Its cost is latency: a full backlog is
	// MaxBacklogBytes at the connection's rate. Default
	// DefaultMaxBacklogBytes; negative disables the bound. Ignored for a
	// transport that is not a BacklogReporter.
	MaxBacklogBytes int
	// Hooks are the caller's work inside the loop.
	Hooks Hooks
}

// DefaultMaxBacklogBytes is Config.MaxBacklogBytes by default: 512 KiB,
// 32 packets of 16 KiB (the federation ring's) per visit when the queue is
// empty, about 4 s of queue at the 1 Mbit/s QUIC carries at 1 % loss and
// 200 ms RTT, 80 ms at 50 Mbit/s. See federation/transport's package doc
// for the measurements.
const DefaultMaxBacklogBytes = 512 << 10

// Validate reports a missing required field.
func (c *Config) Validate() error {
	switch {
	case c.Node == nil:
		return errors.New("driver: Config.Node is required")
	case c.Transport == nil:
		return errors.New("driver: Config.Transport is required")
	case c.Store == nil:
		return errors.New("driver: Config.Store is required: the ring sequence number must be saved before it is sent")
	case c.DrainTimeout < 0 || c.RecvBatches < 0 || c.RecvBatchPackets < 0:
		return errors.New("driver: DrainTimeout, RecvBatches and RecvBatchPackets must not be negative")
	}
	return nil
}

// Stats counts what a driver did; all counters only grow.
type Stats struct {
	// RecvErrors are failed Transport.Recv calls (other than after Close).
	RecvErrors uint64
	// SendErrors are packets Send, SendAll or Flush reported as not sent.
	SendErrors uint64
	// RingSeqSaves are calls of StateStore.SaveRingSeq that succeeded.
	RingSeqSaves uint64
}

// ErrStateNotSaved is wrapped by Run's error when the ring sequence
// number could not be saved.
var ErrStateNotSaved = errors.New("driver: ring sequence number not saved")

// Driver runs one localring.Node: see the package doc. Create it with New
// and call Run once; Wake, Do, Done, Stats and Saved are safe from any
// goroutine, Node and InFlight only from the hooks and Do's functions.
type Driver struct {
	cfg   Config
	node  *localring.Node
	tr    Transport
	log   *slog.Logger
	hooks Hooks
	self  localring.NodeID

	rx   chan *rxBatch
	free chan *rxBatch
	wake chan struct{} // capacity 1: "look at the queues"
	done chan struct{} // closed when the loop ends

	// Owned by the loop.
	step     func(now time.Time, pkt []byte) error // the node's Step; tests record the order
	batches  []*rxBatch                            // the batches of the current pass
	tokens   []Packet                              // their tokens, stepped after everything else
	timer    deadlineTimer
	saved    uint64   // the ring seq the store holds
	inFlight int      // own messages sent but not yet delivered back
	loopback [][]byte // packets the node addressed to itself, for the next pass

	doMu sync.Mutex
	do   []func(now time.Time) // Do's functions for the next pass
	runs []func(now time.Time) // the loop's copy, reused

	savedSeq atomic.Uint64 // saved, for Saved
	ran      atomic.Bool
	sendLog  seal.Limiter[string]
	backlog  BacklogReporter // nil: the transport does not queue, or the bound is off
	pktBytes int             // the node's MaxPacketBytes
	n        struct{ recvErrors, sendErrors, saves atomic.Uint64 }
}

// rxBatch is one Transport.Recv worth of packets.
type rxBatch struct {
	ps []Packet
	n  int
}

// closedTimeChan is a closed channel, for a select that must not wait.
var closedTimeChan = func() chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// New prepares a driver; nothing runs before Run. The ring sequence
// number the node starts with (localring.Config.RingSeq) counts as saved.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RingSeqReserve == 0 {
		cfg.RingSeqReserve = 1024
	}
	if cfg.RecvBatches == 0 {
		cfg.RecvBatches = 4
	}
	if cfg.RecvBatchPackets == 0 {
		cfg.RecvBatchPackets = 64
	}
	d := &Driver{
		cfg:     cfg,
		node:    cfg.Node,
		tr:      cfg.Transport,
		log:     cfg.Logger,
		hooks:   cfg.Hooks,
		self:    cfg.Node.ID().ID,
		rx:      make(chan *rxBatch, cfg.RecvBatches),
		free:    make(chan *rxBatch, cfg.RecvBatches),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		saved:   cfg.Node.RingSeq(),
		sendLog: seal.Limiter[string]{Interval: 10 * time.Second},
	}
	d.step = d.node.Step
	d.savedSeq.Store(d.saved)
	if br, ok := cfg.Transport.(BacklogReporter); ok && cfg.MaxBacklogBytes >= 0 {
		if d.cfg.MaxBacklogBytes == 0 {
			d.cfg.MaxBacklogBytes = DefaultMaxBacklogBytes
		}
		d.backlog = br
		d.pktBytes = cfg.Node.Settings().MaxPacketBytes
	}
	maxPacket := d.tr.MaxPacket()
	for range cfg.RecvBatches {
		b := &rxBatch{ps: make([]Packet, cfg.RecvBatchPackets)}
		buf := make([]byte, cfg.RecvBatchPackets*maxPacket)
		for i := range b.ps {
			b.ps[i].Buf = buf[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
		}
		d.free <- b
	}
	return d, nil
}

// Node returns the driven node, for the hooks (which run on the loop).
func (d *Driver) Node() *localring.Node { return d.node }

// Wake makes the loop run a pass soon (it calls Hooks.Pass): call it when
// there is something to submit. Safe from any goroutine; never blocks.
func (d *Driver) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Do runs f on the loop at its next pass, with the pass's clock reading,
// before Hooks.Pass: the way for other goroutines to act on the node
// (Submit, Fence) without hooks of their own. Functions run in the order
// of the calls; those pending when Run returns never run.
func (d *Driver) Do(f func(now time.Time)) {
	d.doMu.Lock()
	d.do = append(d.do, f)
	d.doMu.Unlock()
	d.Wake()
}

// Done is closed when Run has returned (or will, having stopped its loop).
func (d *Driver) Done() <-chan struct{} { return d.done }

// Saved returns the ring sequence number the store holds.
func (d *Driver) Saved() uint64 { return d.savedSeq.Load() }

// InFlight returns how many of this node's messages were sent in the
// current configuration and not delivered back yet; for the hooks.
func (d *Driver) InFlight() int { return d.inFlight }

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	return Stats{RecvErrors: d.n.recvErrors.Load(), SendErrors: d.n.sendErrors.Load(), RingSeqSaves: d.n.saves.Load()}
}

// Run starts the node and drives it until ctx is cancelled; then it stops
// taking new work (Hooks.Leaving), drains for at most DrainTimeout, makes
// the node leave the ring so that the others re-form at once, closes the
// transport and returns nil. It returns an error wrapping
// ErrStateNotSaved, without sending the packets that would have revealed
// the new ring sequence number, when the store fails, and one wrapping
// localring.ErrSuperseded, without sending anything more, when a newer
// incarnation of the node's id fenced it (EventSuperseded). It closes the
// transport in every case. Call it once.
func (d *Driver) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return errors.New("driver: Run called twice")
	}
	var wg sync.WaitGroup
	wg.Go(d.receive)
	defer func() {
		close(d.done)
		d.tr.Close() // ends the receive goroutine
		wg.Wait()
	}()

	d.timer = newDeadlineTimer()
	defer d.timer.stop()
	now := time.Now()
	d.node.Start(now)
	ctxDone := ctx.Done()
	var leaveBy time.Time // zero until the leave starts
	for {
		if err := d.output(now); err != nil {
			return err
		}
		if !leaveBy.IsZero() {
			drained := d.drained()
			if drained || !now.Before(leaveBy) {
				if !drained {
					d.log.Warn("left the ring before every accepted message was delivered", "pending", d.node.Pending(), "in_flight", d.inFlight, "drain_timeout", d.cfg.DrainTimeout)
				}
				d.node.Leave(now)
				return d.output(now)
			}
		}

		next := d.node.NextDeadline()
		extra := leaveBy
		if d.hooks.Deadline != nil {
			if t := d.hooks.Deadline(); !t.IsZero() && (extra.IsZero() || t.Before(extra)) {
				extra = t
			}
		}
		if !extra.IsZero() && (next.IsZero() || extra.Before(next)) {
			next = extra
		}
		movedOut := d.timer.arm(now, next)

		tick := d.timer.C()
		if len(d.loopback) > 0 || d.node.HasReady() {
			tick = closedTimeChan // do not wait: the node has input or output
		} else if movedOut && len(d.rx) == 0 {
			d.timer.settle() // about to wait: no wake-up at the old deadline
		}
		select {
		case b := <-d.rx:
			d.batches = append(d.batches, b)
		case <-d.wake:
		case <-tick:
			if tick != closedTimeChan {
				d.timer.fired()
			}
		case <-ctxDone:
			ctxDone = nil
			t := time.Now()
			leaveBy = t.Add(d.cfg.DrainTimeout)
			if d.hooks.Leaving != nil {
				d.hooks.Leaving(t)
			}
		}
		now = time.Now() // the one clock reading of this pass
		// Every batch received by now goes in, whatever woke the pass, so
		// that neither a token nor a timer is acted on while packets that
		// arrived before it wait (a late message would be asked for again,
		// a token that came back would be sent again).
	collect:
		for len(d.batches) < d.cfg.RecvBatches {
			select {
			case b := <-d.rx:
				d.batches = append(d.batches, b)
			default:
				break collect
			}
		}
		if d.backlog != nil {
			d.node.SetSendLimit(d.sendLimit())
		}

		for _, p := range d.loopback { // Step adds none: only output does
			if err := d.node.Step(now, p); err != nil {
				d.log.Error("the ring core refused its own packet", "err", err)
			}
		}
		clear(d.loopback)
		d.loopback = d.loopback[:0]
		d.stepReceived(now)
		d.doMu.Lock()
		d.runs, d.do = d.do, d.runs[:0]
		d.doMu.Unlock()
		for i, f := range d.runs {
			f(now)
			d.runs[i] = nil
		}
		if d.hooks.Pass != nil {
			d.hooks.Pass(now)
		}
		if t := d.node.NextDeadline(); !t.IsZero() && !t.After(now) {
			d.node.Tick(now)
		}
	}
}

// stepReceived steps the packets of the pass's batches into the node in
// the order they arrived, except the tokens, which go in last: Totem's
// rule (Corosync drains its multicast socket before it handles a token)
// that a node acts on the token only after the messages that arrived
// before it, so that it neither asks for messages it holds already nor
// lowers the token's aru for them. Then it hands the batches back to the
// receive goroutine.
func (d *Driver) stepReceived(now time.Time) {
	for _, b := range d.batches {
		for i := range b.ps[:b.n] {
			p := &b.ps[i]
			if localring.IsToken(p.Data()) {
				d.tokens = append(d.tokens, *p)
				continue
			}
			d.stepOne(now, p)
		}
	}
	for i := range d.tokens {
		d.stepOne(now, &d.tokens[i])
	}
	clear(d.tokens)
	d.tokens = d.tokens[:0]
	for i, b := range d.batches {
		b.n = 0
		d.free <- b
		d.batches[i] = nil
	}
	d.batches = d.batches[:0]
}

func (d *Driver) stepOne(now time.Time, p *Packet) {
	if err := d.step(now, p.Data()); err != nil {
		if errors.Is(err, localring.ErrIDTooLong) {
			if ok, more := d.sendLog.Allow("long-id:"+string(p.From), now); ok {
				d.log.Warn("refused a membership packet naming a node id above this ring's bound", "from", p.From, "err", err, "suppressed", more)
			}
			return
		}
		d.log.Debug("malformed ring packet dropped", "from", p.From, "err", err)
	}
}

// sendLimit is how many new packets per token visit the transport's
// backlog leaves room for (Config.MaxBacklogBytes).
func (d *Driver) sendLimit() int {
	room := d.cfg.MaxBacklogBytes - d.backlog.Backlog()
	return max(0, room/d.pktBytes)
}

// drained reports whether everything accepted has been sent and this
// node's messages delivered back.
func (d *Driver) drained() bool {
	return d.node.Pending() == 0 && d.inFlight <= 0 && (d.hooks.Drained == nil || d.hooks.Drained())
}

// output writes what the node produced, in the order the package doc
// states: the ring sequence number, the events, the packets, one Flush.
func (d *Driver) output(now time.Time) error {
	if !d.node.HasReady() {
		if d.hooks.Output != nil {
			d.hooks.Output(now, nil)
		}
		return nil
	}
	if seq := d.node.RingSeq(); seq > d.saved {
		save := seq + d.cfg.RingSeqReserve
		if save < seq {
			save = math.MaxUint64
		}
		if err := d.cfg.Store.SaveRingSeq(save); err != nil {
			err = fmt.Errorf("%w: node %s stopped before sending anything that reveals ring sequence number %d, because it could not be saved (%w); a restart without it could reuse a ring id. Fix the state storage (disk full? read-only? permissions?), then restart the node",
				ErrStateNotSaved, d.self, seq, err)
			d.log.Error("cannot save the ring sequence number; the node stops", "ring_seq", seq, "saved", d.saved, "err", err)
			return err
		}
		d.saved = save
		d.savedSeq.Store(save)
		d.n.saves.Add(1)
	}
	rd := d.node.Ready()
	me := d.node.ID()
	superseded := ""
	for i := range rd.Events {
		e := &rd.Events[i]
		switch e.Kind {
		case localring.EventSend:
			d.inFlight++
		case localring.EventDeliver:
			if e.Msg.ID.Sender == me.ID && e.Msg.ID.Inc == me.Inc {
				d.inFlight--
			}
		case localring.EventInstall:
			if e.Conf.Kind == localring.Regular {
				d.inFlight = 0 // messages of earlier configurations are settled
			}
		case localring.EventSuperseded:
			superseded = e.Reason
		}
	}
	if len(rd.Events) > 0 && d.hooks.Events != nil {
		d.hooks.Events(now, rd.Events)
	}
	if superseded != "" {
		// A fenced incarnation falls silent at once: not even the packets
		// it produced before it learnt of its successor leave.
		if d.hooks.Output != nil {
			d.hooks.Output(now, rd.Events)
		}
		d.log.Error("a newer incarnation of this node runs; this one stops without sending", "reason", superseded)
		return fmt.Errorf("driver: node %s stopped: %s; if no other process runs with this node id, restart it (a new incarnation): %w", d.self, superseded, localring.ErrSuperseded)
	}
	// In the node's order: a visit's packets, then its token. Sent ahead
	// of them, the token went round half again as often at 1,000 msgs/s
	// from one sender (1,444-1,507 rotations a second against 988-990),
	// most likely because the successors passed it on before they held
	// the visit's messages and the representative, finding an aru below
	// the seq, could not hold it (docs/BENCHMARKS.md, history, "The group
	// loop before the sends").
	for _, p := range rd.Packets {
		var err error
		switch p.To {
		case d.self:
			d.loopback = append(d.loopback, p.Data)
			continue
		case "":
			err = d.tr.SendAll(p.Data)
		default:
			err = d.tr.Send(p.To, p.Data)
		}
		if err != nil {
			d.sendFailed(now, err)
		}
	}
	if len(rd.Packets) > 0 {
		if err := d.tr.Flush(); err != nil {
			d.sendFailed(now, err)
		}
	}
	if d.hooks.Output != nil {
		d.hooks.Output(now, rd.Events)
	}
	return nil
}

func (d *Driver) sendFailed(now time.Time, err error) {
	d.n.sendErrors.Add(1)
	if errors.Is(err, ErrClosed) {
		return
	}
	key := err.Error()
	var se *SendError
	if errors.As(err, &se) {
		key = string(se.To)
	}
	if ok, more := d.sendLog.Allow(key, now); ok {
		d.log.Warn("cannot send ring packets; check the node's network interface, firewall and peers", "err", err, "suppressed", more)
	}
}

// receive is the receive goroutine: it fills free batches with
// Transport.Recv and hands them to the loop.
func (d *Driver) receive() {
	for {
		var b *rxBatch
		select {
		case b = <-d.free:
		case <-d.done:
			return
		}
		n, err := d.tr.Recv(b.ps)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			d.n.recvErrors.Add(1)
			if ok, more := d.sendLog.Allow("receive", time.Now()); ok {
				d.log.Warn("cannot receive ring packets", "err", err, "suppressed", more)
			}
			d.free <- b
			select {
			case <-time.After(10 * time.Millisecond):
			case <-d.done:
				return
			}
			continue
		}
		if n == 0 {
			d.free <- b
			continue
		}
		b.n = n
		select {
		case d.rx <- b:
		case <-d.done:
			return
		}
	}
}
