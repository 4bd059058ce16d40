package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/epconn"
	"github.com/atoll-gcs/atoll/internal/rawread"
	"github.com/atoll-gcs/atoll/internal/slab"
	"github.com/atoll-gcs/atoll/internal/stagetrace"
	"github.com/atoll-gcs/atoll/internal/trywrite"
)

// Defaults of the options, and of the window with an agent that does
// not announce one (protocol version 1).
const (
	DefaultEventBuffer     = 1024
	DefaultSendQueueFrames = 128
	DefaultSendQueueBytes  = 4 << 20
	DefaultWindowMsgs      = 64
	DefaultWindowBytes     = 256 << 10
	// closeTimeout bounds how long Close writes what is still queued.
	closeTimeout = 2 * time.Second
)

// Option configures Dial and DialAgent.
type Option func(*options)

type options struct {
	name        string
	tls         *tls.Config
	eventBuffer int
	sendFrames  int
	sendBytes   int
	receive     bool
	reuse       bool
}

// WithName asks for a client name (1 to 64 bytes of printable UTF-8
// without spaces or ':'); the member name is then "node:name". Without it the
// agent picks a name unique among its sessions. A name another session of
// the agent uses fails with CodeNameInUse.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithTLS sets the TLS configuration of a "tcp+tls://" address: the CA
// that signed the agent's certificate (RootCAs) and, for mutual TLS, the
// client's certificate, whose common name is the client's "cn:" principal
// in the groups' ACLs. Without it the system's roots verify the agent.
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithEventBuffer sets the capacity of the Events channel (default 1024).
// When it is full the client stops reading from the agent, and an agent
// whose queue for the client stays over its bound for the agent's grace
// disconnects it (CodeSlowConsumer). Events in the buffer are latency the
// agent does not see: a smaller buffer makes a slow reader hold its
// agent's senders back sooner (docs/PROTOCOL.md, "Back-pressure and flow
// control").
func WithEventBuffer(n int) Option { return func(o *options) { o.eventBuffer = n } }

// WithReceive makes the application receive its events with Receive, in
// its own goroutine, instead of from the Events channel: the client then
// starts no reader goroutine, and a goroutine that waits for something
// the agent sends reads the connection itself (Receive; Join, Flush and
// the other calls that wait for a reply; MulticastWait and SendWait
// waiting for room), one at a time, while the others wait for it. An
// event read by a call other than Receive waits for Receive in a queue of
// WithEventBuffer events, and the calls stop reading while it is full. So
// a frame the agent writes reaches the application without a hand-off
// between goroutines (the Events channel's costs a wake-up of a second
// thread per batch of events, and most of a receiving client's CPU).
// Events returns nil.
//
// The client reads only while a call waits: call Receive continuously, as
// one would read Events, or the agent disconnects the client as a slow
// consumer. Messages that MulticastWait batched (see Flow control in the
// package doc) go out when the call reading the connection has read what
// the agent wrote, or when it stops reading; while events another call
// read wait for Receive, when Receive has taken the last of them.
func WithReceive() Option { return func(o *options) { o.receive = true } }

// WithMessageReuse makes Receive (with WithReceive) return its messages
// in one Message that it reuses: the Message, its Payload and its Groups
// are valid until the next call of Receive, which overwrites them, as a
// callback's arguments are valid during the callback (libcpg's deliver
// callback, say). Copy what you keep. Groups are shared between messages:
// never modify them. That holds too for the messages another call read
// while it waited (MulticastWait waiting for room, Join): they wait in
// Messages the client reuses, and Receive returns them in its one Message.
// Without it each message is a Message of its own with a copy of its
// payload, allocated per message: at full load through a ring of three
// (docs/BENCHMARKS.md, apiab) the allocations and the collections they
// drive cost each clientload about a fifth of its CPU per message.
// Without WithReceive it changes nothing.
func WithMessageReuse() Option { return func(o *options) { o.reuse = true } }

// WithSendQueue bounds the requests waiting in the client to be written
// to the agent (defaults 128 frames and 4 MiB): the messages beyond the
// agent's window, and what is behind them. Multicast and Send fail at once
// with CodeBackpressure when it is full; MulticastWait, SendWait and the
// requests that wait for a reply (Join, Flush, ...) wait for room. Keep it
// small: a message waits behind everything queued before it.
func WithSendQueue(frames, bytes int) Option {
	return func(o *options) { o.sendFrames, o.sendBytes = frames, bytes }
}

// Embedded is an agent running in this process: *agent.Agent implements
// it.
type Embedded interface {
	// LocalConn returns a connection to the agent's client service.
	LocalConn() (net.Conn, error)
}

// Client is a session with an agent. Its methods are safe for concurrent
// use.
type Client struct {
	conn       net.Conn
	r          *cp.Reader
	member     string
	node       string
	maxMessage int
	sendFrames int
	sendBytes  int

	events  chan Event
	done    chan struct{} // closed when the session ended
	closing chan struct{} // closed by Close
	wake    chan struct{}
	wg      sync.WaitGroup
	nextReq atomic.Uint32

	mu       sync.Mutex
	out      []outFrame // requests not yet written, in order
	outBytes int
	room     chan struct{} // closed (and replaced) when room appears in out, if someone waits
	roomWait bool          // someone waits on room
	roomCuts bool          // the reader waits for the agent for a caller that waits for room (awaitRecv): roomLocked cuts the wait short, by a read deadline in the past, since the writer, not the agent, made room
	roomCut  bool          // roomLocked did
	batch    []*[]byte     // takeLocked's result, reused
	window   window        // the agent's flow-control window
	inflight []inflight    // messages written and not yet answered, in order, from inHead on
	inHead   int           // the oldest unanswered one in inflight
	inBytes  int           // their payload bytes
	behind   int           // messages still to be batched up to the window's room: set to two windows when the window was full (batchLocked)
	calls    map[uint32]*call
	closed   bool
	opened   bool   // answers made room in the window for queued requests, or messages wait to go out together (batchLocked): the reader writes them
	writing  bool   // the writer goroutine holds a batch: only it writes
	rest     []byte // what a direct write (writeNow) left: the writer writes it first
	direct   []byte // writeNow's buffer
	tw       trywrite.Conn
	closeBy  time.Time // set by Close: when the writer gives up
	err      error     // why the session ended
	writeErr error     // why the writer stopped; err once the reader ends
	readBy   time.Time // the connection's read deadline (writeFailed's)

	// WithReceive: the calls that wait read the connection, one at a time.
	recv      bool
	reading   bool          // a call holds the reader (c.r, c.slab)
	turn      chan struct{} // closed (and replaced) when the reader is let go, events are queued or taken, or the session ends, if someone waits
	turnWait  atomic.Bool   // someone waits on turn; set and cleared with c.mu held (othersWait reads it without)
	queue     []Event       // events read by calls other than Receive, from qHead on
	qHead     int
	eventCap  int           // the queue's bound
	writeDone chan struct{} // closed when the writer goroutine returns

	slab    slab.Slab // the messages' payloads, copied out of the reader's buffer (the reader's; payloadSlab)
	endOnce sync.Once

	// WithReceive: the context whose end cuts the reader's wait for the
	// agent short, with its context.AfterFunc's stop and a channel its
	// function closes once it set the read deadline, kept from one wait
	// to the next while they use that context (watchLocked; c.mu).
	watched    context.Context
	unwatch    func() bool
	watchFired chan struct{}

	// WithMessageReuse: the message Receive returns, reused at each call
	// (Receive's caller's, while it holds the reader).
	reuse bool
	msg   Message
	pay   []byte
	// WithMessageReuse: the messages read by calls other than Receive
	// wait in the queue in Messages of qfree's, each with the payload
	// buffer it keeps (c.mu); Receive returns them in msg, its payload
	// buffer traded for pay's, and gives them back, so that a sender
	// waiting for room reads without allocating.
	qfree []*Message
	qkept int // the capacity of the payload buffers in qfree
	// scratch: the message readFrame decodes for awaitRecv with
	// WithMessageReuse, its payload in the reader's buffer (the reader's).
	scratch Message
	// frame: the frame readFrame and queueBuffered read into
	// (Reader.NextInto; the reader's).
	frame cp.Frame
}

// How handle makes a delivered message's Message and payload.
type decode int

const (
	decodeNew    decode = iota // a Message and a payload copy of its own
	decodeReuse                // in c.msg and c.pay (Receive with WithMessageReuse)
	decodeBorrow               // in c.scratch, the payload in the reader's buffer until the next frame (awaitRecv with WithMessageReuse)
)

// outFrame is an encoded request waiting for the writer; a message (msg)
// is written only when the window has room for its payload (size).
type outFrame struct {
	b    *[]byte // from framePool
	req  uint32
	msg  bool
	size int
}

// window is the agent's flow-control window (protocol version 2): the
// messages, and their payload bytes, written and not yet answered.
type window struct{ msgs, bytes int }

// inflight is a message written and not yet answered.
type inflight struct {
	req  uint32
	size int
}

// call is a request whose reply someone waits for.
type call struct {
	frames []cp.Frame
	done   chan struct{}
}

// Dial connects to the agent at addr and starts a session:
//
//	unix:///var/lib/atoll/client.sock   the agent's Unix socket (also a bare path)
//	tcp+tls://agent.example:7405        TCP with TLS (see WithTLS)
//
// The context bounds the connection and the hello exchange only.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := newOptions(opts)
	network, address, useTLS, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("client: cannot reach the agent at %s: %w", addr, err)
	}
	// A Unix socket is polled for input only: the agent's reads of what
	// the client writes do not wake it (epconn).
	conn = epconn.Wrap(conn)
	if useTLS {
		cfg := o.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(address)
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("client: TLS handshake with the agent at %s: %w", addr, err)
		}
		conn = tc
	}
	return start(ctx, conn, addr, o)
}

// DialAgent starts a session with an agent running in this process, over
// an in-memory pipe: the same protocol and API as Dial, without a socket.
// The client's ACL principal is "node:<the agent's node id>".
func DialAgent(ctx context.Context, a Embedded, opts ...Option) (*Client, error) {
	conn, err := a.LocalConn()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return start(ctx, conn, "in-process agent", newOptions(opts))
}

func newOptions(opts []Option) *options {
	o := &options{eventBuffer: DefaultEventBuffer, sendFrames: DefaultSendQueueFrames, sendBytes: DefaultSendQueueBytes}
	for _, opt := range opts {
		opt(o)
	}
	o.eventBuffer = max(o.eventBuffer, 1)
	o.sendFrames = max(o.sendFrames, 1)
	o.sendBytes = max(o.sendBytes, cp.MaxFrame+cp.LengthSize)
	return o
}

func parseAddr(addr string) (network, address string, useTLS bool, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		return "unix", strings.TrimPrefix(addr, "unix://"), false, nil
	case strings.HasPrefix(addr, "tcp+tls://"):
		hp := strings.TrimSuffix(strings.TrimPrefix(addr, "tcp+tls://"), "/")
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return "", "", false, fmt.Errorf("client: address %q: want tcp+tls://host:port", addr)
		}
		return "tcp", hp, true, nil
	case strings.HasPrefix(addr, "tcp://"):
		return "", "", false, fmt.Errorf("client: address %q: agents serve TCP clients with TLS only; use tcp+tls://", addr)
	case strings.HasPrefix(addr, "/"), strings.HasPrefix(addr, "./"), strings.HasPrefix(addr, "../"):
		return "unix", addr, false, nil
	}
	return "", "", false, fmt.Errorf("client: address %q: use unix:///path/to/client.sock or tcp+tls://host:port", addr)
}

// start runs the hello exchange on conn and starts the session's
// goroutines.
func start(ctx context.Context, conn net.Conn, addr string, o *options) (*Client, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*Client, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("client: hello with the agent at %s: %w", addr, ctx.Err())
		}
		return nil, err
	}
	hello := cp.Frame{Type: cp.TypeHello, MinVersion: cp.MinVersion, MaxVersion: cp.MaxVersion, Name: o.name}
	if _, err := conn.Write(cp.Append(nil, &hello)); err != nil {
		return fail(fmt.Errorf("client: hello with the agent at %s: %w", addr, err))
	}
	r := cp.NewReader(rawread.New(conn))
	f, err := r.Next()
	if err != nil {
		return fail(fmt.Errorf("client: hello with the agent at %s: %w", addr, err))
	}
	switch f.Type {
	case cp.TypeWelcome:
	case cp.TypeGoodbye:
		e := errorOf(&f)
		e.Op = "hello"
		return fail(e)
	default:
		return fail(&Error{Code: CodeProtocol, Op: "hello", Text: fmt.Sprintf("the agent at %s answered the hello with a %s frame", addr, f.Type)})
	}
	if !stop() && ctx.Err() != nil {
		return fail(ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	r.SetMax(int(max(f.MaxFrame, cp.MaxHelloFrame)))
	reuse := o.reuse && o.receive
	r.SetShareLists(reuse) // WithMessageReuse: Groups are not to be modified
	win := window{DefaultWindowMsgs, DefaultWindowBytes}
	if f.Version >= cp.Version2 && f.WindowMsgs > 0 {
		win = window{int(f.WindowMsgs), int(f.WindowBytes)}
	}
	c := &Client{
		conn: conn, r: r, member: f.Name, node: f.Node, maxMessage: int(f.MaxMessage),
		sendFrames: o.sendFrames, sendBytes: o.sendBytes,
		done: make(chan struct{}), closing: make(chan struct{}),
		wake: make(chan struct{}, 1), calls: map[uint32]*call{}, room: make(chan struct{}), window: win,
		tw: trywrite.New(conn), recv: o.receive, eventCap: o.eventBuffer, reuse: reuse,
		turn: make(chan struct{}), writeDone: make(chan struct{}), slab: payloadSlab(),
	}
	if !c.recv {
		c.events = make(chan Event, o.eventBuffer)
		c.wg.Go(c.read)
	}
	c.wg.Go(func() {
		defer close(c.writeDone)
		c.write()
	})
	return c, nil
}

// Name returns the client's member name, "node:client": how views list
// it and how Send addresses it.
func (c *Client) Name() string { return c.member }

// Node returns the id of the client's agent's node.
func (c *Client) Node() string { return c.node }

// MaxMessage returns the largest payload the agent accepts (the exact
// bound is a little lower: the message's headers count too).
func (c *Client) MaxMessage() int { return c.maxMessage }

// Events returns the channel of the session's events: views, messages,
// self-leaves, errors and warnings, in the order they happened. Read it
// continuously: when its buffer is full the client stops reading from
// the agent, replies wait behind the events, and an agent whose queue for
// the client stays over its bound for the agent's grace disconnects it.
// The channel is closed when the session ends; Err then says why. With
// WithReceive it is nil: use Receive.
func (c *Client) Events() <-chan Event { return c.events }

// Receive returns the session's next event, as Events would, waiting for
// it until ctx ends (ctx.Err()) or the session ends (Err(), once the
// events read before the end have been returned). With WithReceive the
// calling goroutine reads and decodes the agent's frames itself; without
// it Receive takes the next event from Events. Call it from one goroutine
// at a time to keep the events in order.
func (c *Client) Receive(ctx context.Context) (Event, error) {
	if !c.recv {
		select {
		case e, ok := <-c.events:
			if !ok {
				return Event{}, c.Err()
			}
			return e, nil
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
	for {
		c.mu.Lock()
		if c.qHead < len(c.queue) {
			e := c.queue[c.qHead]
			c.queue[c.qHead] = Event{}
			c.qHead++
			if c.qHead == len(c.queue) {
				c.queue, c.qHead = c.queue[:0], 0
			}
			if c.reuse && e.Kind == EventMessage {
				e.Message = c.unqueueLocked(e.Message)
			}
			if c.qHead == len(c.queue) && c.opened && !c.reading {
				// Messages batched while events waited for Receive
				// (batchLocked), and nobody reads: they go now.
				c.opened = false
				c.writeNowLocked()
			}
			c.turnLocked() // a call that stopped reading on a full queue may go on
			c.mu.Unlock()
			return e, nil
		}
		if c.ended() {
			c.mu.Unlock()
			return Event{}, c.Err()
		}
		if !c.reading {
			c.reading = true
			c.mu.Unlock()
			for {
				mode := decodeNew
				if c.reuse {
					mode = decodeReuse
				}
				e, ok, end, ctxErr := c.readFrame(ctx, mode, false)
				if ok && c.othersWait() {
					end = c.queueBuffered(nil)
				}
				if ok || end != nil || ctxErr != nil {
					c.letGo(end)
					switch {
					case ok:
						return e, nil
					case ctxErr != nil:
						return Event{}, ctxErr
					}
					break // the session ended: return what is queued, then Err
				}
			}
			continue
		}
		turn := c.turn
		c.turnWait.Store(true)
		c.mu.Unlock()
		select {
		case <-turn:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// awaitRecv waits, with WithReceive, until ready is closed, ctx ends
// (ctx.Err()) or the session ends (nil: the caller finds Err), reading
// the connection meanwhile when no other call reads it and the queue of
// events has room: a frame, waiting for the agent if none is buffered,
// then the frames already buffered (queueBuffered). The events it reads
// wait in the queue for Receive; once the client is closing they are
// dropped. With isRoom, ready is c.room, which the writer may close while
// the agent writes nothing: its closing cuts the wait for the agent short.
func (c *Client) awaitRecv(ctx context.Context, ready <-chan struct{}, isRoom bool) error {
	for {
		c.mu.Lock()
		select {
		case <-ready:
			c.mu.Unlock()
			return nil
		default:
		}
		if c.ended() {
			c.mu.Unlock()
			return nil
		}
		if !c.reading && (c.closed || len(c.queue)-c.qHead < c.eventCap) {
			c.reading = true
			c.roomCuts = isRoom // ready is open: its closing cuts the read short
			c.mu.Unlock()
			mode := decodeNew
			if c.reuse {
				mode = decodeBorrow
			}
			e, ok, end, ctxErr := c.readFrame(ctx, mode, isRoom)
			full := false
			if ok {
				c.mu.Lock()
				full = c.queueLocked(e, mode)
				c.mu.Unlock()
			}
			if end == nil && ctxErr == nil && !full {
				end = c.queueBuffered(ready)
			}
			c.letGo(end)
			if ctxErr != nil {
				return ctxErr
			}
			continue
		}
		turn := c.turn
		c.turnWait.Store(true)
		c.mu.Unlock()
		select {
		case <-ready:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-turn:
		}
	}
}

// queueLocked queues an event read by a call other than Receive, or by
// Receive after the one it returns, unless the client is closing, and
// reports whether the queue is full (c.mu held).
func (c *Client) queueLocked(e Event, mode decode) (full bool) {
	if c.closed {
		return false
	}
	if mode == decodeBorrow && e.Kind == EventMessage {
		e.Message = c.queueMessageLocked(e.Message)
	}
	c.queue = append(c.queue, e)
	return len(c.queue)-c.qHead >= c.eventCap
}

// othersWait reports whether a call waits for the reader to be let go
// (for its turn), for Receive, which holds it: without c.mu, which Receive
// took for every frame it read to ask this, and which a call that begins
// to wait right after it asked would take in turn anyway.
func (c *Client) othersWait() bool { return c.turnWait.Load() }

// queueBuffered reads the frames already buffered into the queue, for
// the call that holds the reader (WithReceive), while the queue has room
// (it has when called) and ready (if not nil) stays open, and returns why
// the session ended if it did. So a call holds the reader for a burst of
// the agent's frames (the answers and deliveries of a token visit), not
// one frame: the messages the answers let go leave in one write when it
// lets the reader go, and the calls that wait for their turn wake once.
// Reading one frame at a time, a sender waiting for room and a Receive
// took the reader in turn, each writing what one answer let go and
// waking the other: at full load through a ring of three, a sending
// clientload wrote 1.4 messages per write.
func (c *Client) queueBuffered(ready <-chan struct{}) error {
	mode := decodeNew
	if c.reuse {
		mode = decodeBorrow
	}
	for c.r.Buffered() {
		select {
		case <-ready:
			return nil
		default:
		}
		if err := c.r.NextInto(&c.frame); err != nil {
			return c.readErr(err)
		}
		e, ok, end := c.handle(&c.frame, mode)
		if end != nil {
			return end
		}
		if ok {
			c.mu.Lock()
			full := c.queueLocked(e, mode)
			c.mu.Unlock()
			if full {
				return nil
			}
		}
	}
	return nil
}

// letGo gives up the reader a call held (WithReceive): it writes the
// messages that the answers read let go or that wait to go out together
// (batchLocked only batches while a call reads), and wakes the calls that
// wait for their turn. A non-nil end ends the session with that error.
func (c *Client) letGo(end error) {
	c.mu.Lock()
	c.reading = false
	if c.opened {
		c.opened = false
		c.writeNowLocked()
	}
	c.turnLocked()
	c.mu.Unlock()
	if end != nil {
		c.fail(end)
		c.end()
	}
}

// turnLocked wakes the calls that wait for their turn to read or for
// events (c.mu held).
func (c *Client) turnLocked() {
	if !c.turnWait.Load() {
		return
	}
	c.turnWait.Store(false)
	close(c.turn)
	c.turn = make(chan struct{})
}

// ended reports whether the session ended.
func (c *Client) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// readFrame reads and handles one frame, for the call that holds the
// reader (WithReceive): it returns the frame's event if it is one (ok),
// why the session ended (end), or ctx.Err() if ctx ended while it waited
// for the agent (ctxErr; the stream is then intact). A message is
// decoded as mode says (handle).
func (c *Client) readFrame(ctx context.Context, mode decode, roomCuts bool) (e Event, ok bool, end, ctxErr error) {
	if roomCuts && c.r.Buffered() {
		c.mu.Lock()
		c.endRoomCutsLocked()
		c.mu.Unlock()
	}
	if !c.r.Buffered() {
		c.beforeWait()
		if err := c.waitFrame(ctx, roomCuts); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return Event{}, false, nil, ctxErr
			}
			if err == errRoomCut {
				return Event{}, false, nil, nil
			}
			return Event{}, false, c.readErr(err), nil
		}
	}
	if err := c.r.NextInto(&c.frame); err != nil {
		return Event{}, false, c.readErr(err), nil
	}
	e, ok, end = c.handle(&c.frame, mode)
	return e, ok, end, nil
}

// queueMessageLocked copies m, a message decodeBorrow made, into a Message
// of qfree's (or a new one), to wait in the queue (c.mu held). A Message
// keeps its payload buffer from one use to the next, while those of qfree
// hold at most maxQueueKept bytes.
func (c *Client) queueMessageLocked(m *Message) *Message {
	var q *Message
	if n := len(c.qfree); n > 0 {
		q, c.qfree[n-1] = c.qfree[n-1], nil
		c.qfree = c.qfree[:n-1]
		c.qkept -= cap(q.Payload)
	} else {
		q = new(Message)
	}
	buf := q.Payload[:0]
	*q = *m
	switch {
	case len(m.Payload) > maxReusedPayload:
		q.Payload = bytes.Clone(m.Payload)
	default:
		q.Payload = append(buf, m.Payload...)
	}
	return q
}

// unqueueLocked returns a queued message (queueMessageLocked) in c.msg,
// as Receive returns the messages it reads with WithMessageReuse, and
// gives its Message back to qfree (c.mu held; Receive's caller's). The
// payload is not copied: c.pay and the queued Message trade buffers, so
// the buffer that goes back to qfree is the one of the message Receive
// returned before, which this call of Receive ends.
func (c *Client) unqueueLocked(q *Message) *Message {
	c.msg = *q
	switch {
	case len(q.Payload) == 0:
		c.msg.Payload = nil
	case len(q.Payload) > maxReusedPayload:
		q.Payload = nil // it goes with the message
	default:
		c.pay, q.Payload = q.Payload, c.pay
		c.msg.Payload = c.pay[:len(c.pay):len(c.pay)]
	}
	buf := q.Payload[:0]
	if c.qkept+cap(buf) > maxQueueKept {
		buf = nil
	}
	*q = Message{Payload: buf}
	if len(c.qfree) < c.eventCap {
		c.qfree = append(c.qfree, q)
		c.qkept += cap(buf)
	}
	return &c.msg
}

// maxQueueKept bounds the payload buffers a client keeps for the messages
// that wait in its queue (WithMessageReuse): a thousand of 1 KiB.
const maxQueueKept = 1 << 20

// waitFrame waits until a frame is buffered, or ctx ends: a read deadline
// in the past then cuts the wait short, and the reader's Wait consumes
// nothing, so the stream stays whole for the next call. Unless a whole
// frame is then buffered, it stops watching ctx, so that the rest of the
// frame is read whatever ctx does. With roomCuts, room in the send queue
// cuts the wait short as well (errRoomCut; roomLocked).
func (c *Client) waitFrame(ctx context.Context, roomCuts bool) error {
	c.mu.Lock()
	c.watchLocked(ctx)
	c.mu.Unlock()
	err := ctx.Err()
	if err == nil {
		err = c.r.Wait()
	}
	if !roomCuts && (err != nil || c.r.Buffered()) {
		return err
	}
	c.mu.Lock()
	// Before the rest of a frame too long to be buffered whole is read.
	if c.endRoomCutsLocked() && err != nil && ctx.Err() == nil {
		err = errRoomCut
	}
	if err == nil && !c.r.Buffered() {
		c.watchLocked(context.Background())
	}
	c.mu.Unlock()
	return err
}

// endRoomCutsLocked ends a wait for room's hold of the reader's deadline
// (awaitRecv) and restores the deadline if roomLocked had cut the wait
// short, which it reports (c.mu held).
func (c *Client) endRoomCutsLocked() (cut bool) {
	c.roomCuts = false
	if !c.roomCut {
		return false
	}
	c.roomCut = false
	c.conn.SetReadDeadline(c.readBy)
	return true
}

// errRoomCut: waitFrame's wait ended because the writer made room.
var errRoomCut = errors.New("client: room in the send queue cut the wait for the agent short")

// watchLocked makes the end of ctx (one that never ends: of none) cut
// the reader's wait short, by a read deadline in the past (waitFrame).
// What does it, ctx's
// context.AfterFunc, stays registered from one wait to the next with the
// same ctx: a receiving clientload waits for the agent once per burst of
// frames with one context, and registering it anew at each wait, and
// stopping it after, was about 4 % of its CPU. So a registration for
// another context, or for ctx once it ended, is dropped first, and the
// read deadline restored if its function set it meanwhile (the reader's,
// c.mu held).
func (c *Client) watchLocked(ctx context.Context) {
	if c.watched != nil && (c.watched != ctx || ctx.Err() != nil) {
		if !c.unwatch() {
			<-c.watchFired // the function runs, or ran: it sets the deadline
			c.conn.SetReadDeadline(c.readBy)
		}
		c.watched, c.unwatch, c.watchFired = nil, nil, nil
	}
	if c.watched != nil || ctx.Done() == nil || ctx.Err() != nil {
		return
	}
	fired := make(chan struct{})
	c.watched, c.watchFired = ctx, fired
	c.unwatch = context.AfterFunc(ctx, func() {
		c.conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
}

// beforeWait writes, before the reader waits for the agent, what the
// answers read so far let go, once for all of them (without waiting).
func (c *Client) beforeWait() {
	c.mu.Lock()
	if c.opened {
		c.opened = false
		c.writeNowLocked()
	}
	c.mu.Unlock()
}

// end ends the session once: done closed, the connection closed, the
// Events channel closed.
func (c *Client) end() {
	c.endOnce.Do(func() {
		c.mu.Lock()
		close(c.done)
		if c.unwatch != nil { // no wait comes: free the registration
			c.unwatch()
			c.watched, c.unwatch, c.watchFired = nil, nil, nil
		}
		c.turnLocked()
		c.roomLocked()
		c.mu.Unlock()
		c.conn.Close()
		if c.events != nil {
			close(c.events)
		}
	})
}

// Err returns why the session ended: nil while it runs, ErrClosed after
// Close, the agent's goodbye as an *Error (CodeShuttingDown,
// CodeSlowConsumer with the agent's reason, CodeProtocol), or the
// connection's error. A goodbye wins over the errors of writing to a
// connection the agent closed after it.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Join asks to join group and waits for the agent to accept the request.
// The client is a member once an EventView lists it; a join that the
// ring's order refuses later arrives as an EventError. Joining a group
// again does nothing. If ctx ends first, the join may still take effect.
func (c *Client) Join(ctx context.Context, group string) error {
	if !groups.ValidGroupName(group) {
		return badGroup("join", group)
	}
	_, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypeJoin, Group: group})
	return err
}

// Leave asks to leave group and waits for the agent to accept the
// request; an EventLeft follows when the leave takes effect. Leaving a
// group the client did not join fails with CodeNotMember.
func (c *Client) Leave(ctx context.Context, group string) error {
	if !groups.ValidGroupName(group) {
		return badGroup("leave", group)
	}
	_, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypeLeave, Group: group})
	return err
}

// Multicast sends payload to every member of the groups at service level
// svc, with the application's message type. Each member of any of the
// groups receives it once, in the ring's order with everything else. The
// client need not be a member unless an ACL says so.
//
// Multicast queues the message and returns: it never waits for the
// network. It fails at once on a bad argument, or with CodeBackpressure
// when the send queue is full: the ring carries less than is offered
// (MulticastWait waits for room instead). An error the agent finds later
// (an ACL denial, say) arrives as an EventError with the group and the
// message's Seq. The payload is copied.
//
// The agent accepts a client's messages as fast as the ring sends them,
// and the client writes at most the agent's window of messages ahead of
// its acceptance; the rest wait in the send queue (WithSendQueue).
func (c *Client) Multicast(ctx context.Context, svc Service, msgType uint16, groupNames []string, payload []byte) error {
	return c.multicast(ctx, false, svc, msgType, groupNames, payload)
}

// MulticastWait is Multicast that waits for the send queue to empty, so
// that a sender goes at the rate the ring carries its messages and its
// message waits only behind the window (not behind a queue as well).
// While the agent is behind (half of the window or more unanswered, or any
// of it after the window was full) it returns once its message is queued
// within the window, and the client writes up to a quarter of the window
// of messages at once, or after the window was full up to its room (see
// batchLocked). It
// returns ctx.Err() if ctx ends first (the message is then not sent), and
// the session's error (Err) if it ends.
func (c *Client) MulticastWait(ctx context.Context, svc Service, msgType uint16, groupNames []string, payload []byte) error {
	return c.multicast(ctx, true, svc, msgType, groupNames, payload)
}

func (c *Client) multicast(ctx context.Context, wait bool, svc Service, msgType uint16, groupNames []string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.checkMessage("multicast", svc, payload); err != nil {
		return err
	}
	if len(groupNames) == 0 || len(groupNames) > groups.MaxGroupsPerMessage {
		return &Error{Code: CodeInvalid, Op: "multicast", Text: fmt.Sprintf("%d groups: name 1 to %d", len(groupNames), groups.MaxGroupsPerMessage)}
	}
	for _, g := range groupNames {
		if !groups.ValidGroupName(g) {
			return badGroup("multicast", g)
		}
	}
	_, err := c.enqueue(ctx, &cp.Frame{Type: cp.TypeMulticast, Svc: uint8(svc), MsgType: msgType, Groups: groupNames, Payload: payload}, false, wait)
	return err
}

// Send sends payload point-to-point to one member ("node:client", as
// views list it), ordered with this client's multicasts. To a member at
// another site it goes through the federation domain of the tightest
// class that holds both sites, and is ordered with this client's
// multicasts to that domain's groups (docs/TOPOLOGY.md); the agent
// refuses it (an EventError, CodeInvalid) when no domain holds both. Like
// Multicast it queues the message and returns, or fails with
// CodeBackpressure.
func (c *Client) Send(ctx context.Context, to string, svc Service, msgType uint16, payload []byte) error {
	return c.send(ctx, false, to, svc, msgType, payload)
}

// SendWait is Send that waits for room in the send queue, like
// MulticastWait.
func (c *Client) SendWait(ctx context.Context, to string, svc Service, msgType uint16, payload []byte) error {
	return c.send(ctx, true, to, svc, msgType, payload)
}

func (c *Client) send(ctx context.Context, wait bool, to string, svc Service, msgType uint16, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.checkMessage("send", svc, payload); err != nil {
		return err
	}
	if _, _, err := groups.SplitMember(to); err != nil {
		return &Error{Code: CodeBadName, Op: "send", Text: fmt.Sprintf("member %q: want node:client, as views list members", to)}
	}
	_, err := c.enqueue(ctx, &cp.Frame{Type: cp.TypeSend, Svc: uint8(svc), MsgType: msgType, To: to, Payload: payload}, false, wait)
	return err
}

func (c *Client) checkMessage(op string, svc Service, payload []byte) error {
	if !svc.Valid() {
		return &Error{Code: CodeInvalid, Op: op, Text: fmt.Sprintf("unknown service level %d", svc)}
	}
	if len(payload) > c.maxMessage {
		return &Error{Code: CodeTooLarge, Op: op, Text: fmt.Sprintf("%d bytes, the agent's limit is %d", len(payload), c.maxMessage)}
	}
	return nil
}

func badGroup(op, group string) error {
	return &Error{Code: CodeBadName, Op: op, Group: group,
		Text: fmt.Sprintf("group name %q is not valid: %s", group, groups.GroupNameRule)}
}

// Flush waits until the ring has sent every message this client
// multicast or sent before the call: from then on each is delivered to
// every member that stays connected, even if this client goes away. A
// federation domain's message that was ordered, if at all, in a
// configuration the agent left counts as done too: an EventError with
// CodeSentElsewhere tells of it first (see the package documentation). It
// waits for room in a full send queue too, bounded by ctx (ctx.Err()).
func (c *Client) Flush(ctx context.Context) error {
	_, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypeFlush})
	return err
}

// Ping waits for the agent to answer a ping.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypePing})
	return err
}

// Groups lists the groups with members, as the agent knows them.
func (c *Client) Groups(ctx context.Context) ([]GroupInfo, error) {
	fs, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypeListGroups})
	if err != nil {
		return nil, err
	}
	var out []GroupInfo
	for _, f := range fs {
		for _, e := range f.Entries {
			out = append(out, GroupInfo{Group: e.Group, Members: int(e.Members), ViewID: e.ViewID})
		}
	}
	return out, nil
}

// View returns a group's current view as the agent knows it (the
// transitional one during a ring change), without Joined, Left and
// Reason; found is false for a group without members.
func (c *Client) View(ctx context.Context, group string) (v View, found bool, err error) {
	if !groups.ValidGroupName(group) {
		return View{}, false, badGroup("view", group)
	}
	fs, err := c.roundTrip(ctx, &cp.Frame{Type: cp.TypeGetView, Group: group})
	if err != nil {
		return View{}, false, err
	}
	f := fs[len(fs)-1]
	if f.Flags8&cp.FlagFound == 0 {
		return View{}, false, nil
	}
	return *viewOf(&f.View), true, nil
}

// Close ends the session: the frames still queued are written (for at
// most a few seconds), then the connection is closed. The agent
// disconnects the client's memberships: the other members see it leave
// with ReasonDisconnect. The Events channel is closed. Call Flush first
// to be sure that the messages were sent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	c.closeBy = time.Now().Add(closeTimeout)
	c.mu.Unlock()
	close(c.closing)
	c.conn.SetWriteDeadline(c.closeBy)
	c.signal()
	if c.recv {
		// The writer may wait for answers that free the window: read
		// them until it is done, dropping the events.
		ctx, cancel := context.WithDeadline(context.Background(), c.closeBy)
		go func() {
			select {
			case <-c.writeDone:
				cancel()
			case <-ctx.Done():
			}
		}()
		c.awaitRecv(ctx, c.writeDone, false)
		cancel()
		c.end()
	}
	c.wg.Wait()
	return nil
}

// closedChan is a closed channel.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// roundTrip sends a request and waits for its reply (all its frames, the
// last one an OK, an Error or a terminal reply).
func (c *Client) roundTrip(ctx context.Context, f *cp.Frame) ([]cp.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cl, err := c.enqueue(ctx, f, true, true)
	if err != nil {
		return nil, err
	}
	var fs []cp.Frame
	var cancelled <-chan struct{} = ctx.Done()
	if c.recv {
		if c.awaitRecv(ctx, cl.done, false) != nil {
			cancelled = closedChan
		}
	}
	select {
	case <-cl.done:
		fs = cl.frames
	case <-cancelled:
		c.mu.Lock()
		delete(c.calls, f.Req)
		c.mu.Unlock()
		return nil, ctx.Err()
	case <-c.done:
		select {
		case <-cl.done:
			fs = cl.frames
		default:
			return nil, c.Err()
		}
	}
	last := &fs[len(fs)-1]
	if last.Type == cp.TypeError {
		return nil, errorOf(last)
	}
	return fs, nil
}

// enqueue encodes a request with a new request id and queues it for the
// writer; with reply, it registers the call whose reply the caller awaits.
// When the send queue is full it fails with CodeBackpressure, or with
// wait, waits for room until ctx or the session ends. A message that
// waits (MulticastWait, SendWait) waits until the queue is empty, or
// only for room in the window while messages go out in batches
// (batchLocked): a sender that waits for the ring does not also wait
// behind a queue.
func (c *Client) enqueue(ctx context.Context, f *cp.Frame, reply, wait bool) (*call, error) {
	f.Req = c.nextReq.Add(1)
	if f.Req == 0 {
		f.Req = c.nextReq.Add(1)
	}
	buf := getFrameBuf()
	*buf = cp.Append((*buf)[:0], f)
	of := outFrame{b: buf, req: f.Req}
	if f.Type == cp.TypeMulticast || f.Type == cp.TypeSend {
		of.msg, of.size = true, len(f.Payload)
	}
	size := len(*of.b)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return nil, ErrClosed
		case c.err != nil:
			return nil, c.err
		case c.writeErr != nil:
			return nil, c.writeErr
		}
		if len(c.out) == 0 || !(wait && of.msg) && len(c.out) < c.sendFrames && c.outBytes+size <= c.sendBytes ||
			wait && of.msg && len(c.out) < c.batchLocked() && len(c.inflight)-c.inHead+len(c.out) < c.window.msgs {
			break
		}
		if of.msg && len(c.inflight)-c.inHead+len(c.out) >= c.window.msgs {
			c.behind = 2 * c.window.msgs // the window is full
		}
		if !wait {
			return nil, &Error{Code: CodeBackpressure, Op: opName(f.Type), Group: f.Group,
				Text: fmt.Sprintf("the send queue holds %d requests (%d bytes), its limit: the ring carries less than is offered; use MulticastWait or SendWait to wait for room, or retry later", len(c.out), c.outBytes)}
		}
		room := c.room
		c.roomWait = true
		c.mu.Unlock()
		if c.recv {
			if err := c.awaitRecv(ctx, room, true); err != nil {
				c.mu.Lock()
				return nil, err
			}
			c.mu.Lock()
			continue
		}
		select {
		case <-room:
		case <-ctx.Done():
			c.mu.Lock()
			return nil, ctx.Err()
		case <-c.done:
		}
		c.mu.Lock()
	}
	var cl *call
	if reply {
		cl = &call{done: make(chan struct{})}
		c.calls[f.Req] = cl
	}
	c.out = append(c.out, of)
	c.outBytes += size
	if of.msg && c.behind > 0 {
		c.behind--
	}
	if of.msg && len(c.out) < c.batchLocked() && c.inBytes+c.outBytes < c.window.bytes {
		c.opened = true // the reader writes it, with those that join it
		return cl, nil
	}
	c.writeNowLocked()
	return cl, nil
}

// batchLocked returns how many messages go out together in one write
// while the agent is behind: half of the window or more unanswered, or,
// within two windows' worth of messages after the window was full
// (c.behind), any of it. A message then gains nothing by going out alone,
// and a write (and a wake-up of the agent's session reader and of its
// group loop) per message costs the sender and its agent more CPU than the
// ring does. A new message waits in the send queue until the batch is
// full, or until the reader has read what the agent sent (replies,
// deliveries) and is about to wait for more: the unanswered messages
// guarantee that the agent writes again. It returns 1 (every message goes
// out at once) below half the window while the window has not been full
// lately, so a sender that the ring keeps up with gets no added latency
// (from an eighth on, a sender at half the ring's maximum had its messages
// wait for the agent's next write, which comes right after the token's
// visit: p50 +0.37 ms), and with a window under 8 messages.
// A batch is a quarter of the window, and after the window was full all
// the room the window has: the agent answers a sender at the ring's rate
// a window at a time, when its ring delivers the messages of a token
// visit, and the next messages wait for the next visit whenever they
// reach the agent, so they go in one write, not one each until an eighth
// of the window was unanswered and a quarter of it at a time after that.
// On an AMD EPYC host (2026-12-07), where a system call is dear, a lone
// sender at full load made 14,000 to 49,000 write(2)s a second for 75,000
// to 85,000 messages, half of its CPU, and 2,500 to 3,200 this way.
// A batch is never more than the window has room for (in messages here;
// enqueue checks the bytes): the messages beyond it wait for the agent's
// answers, and a batch that waited for them would wait as long even when
// the reader, already waiting for the agent, cannot write it.
// MulticastWait and SendWait batch only messages the window has room for,
// so a message still waits behind at most a window and one message.
// With WithReceive it batches only while a call reads the connection,
// which writes the batch when it has read what the agent wrote or lets
// the reader go, or while events wait in the queue for Receive, which
// the application calls continuously (WithReceive), and which writes the
// batch when it takes the last of them (c.mu held): a sender that waits
// for room reads a burst of deliveries into the queue for Receive, and
// its next messages then go out together while Receive takes them, not
// one write each.
func (c *Client) batchLocked() int {
	unanswered := len(c.inflight) - c.inHead
	room := c.window.msgs - unanswered
	if c.window.msgs < 8 || unanswered == 0 || c.recv && !c.reading && c.qHead == len(c.queue) {
		return 1
	}
	if c.behind > 0 {
		return max(room, 1)
	}
	if 2*unanswered < c.window.msgs {
		return 1
	}
	return max(min(c.window.msgs/4, room), 1)
}

// writeNowLocked writes what the window lets go from the calling
// goroutine, as much as the socket takes without waiting (package
// trywrite), when the writer goroutine is not writing; it wakes the writer
// for the rest. So a message usually goes out without a hand-off to the
// writer, and no call ever waits for the network (c.mu held).
func (c *Client) writeNowLocked() {
	if c.writing || len(c.rest) > 0 || c.writeErr != nil || !c.tw.Supported() {
		c.signal()
		return
	}
	batch := c.takeLocked()
	if len(batch) == 0 {
		return
	}
	b := c.direct[:0]
	for _, f := range batch {
		b = append(b, *f...)
		putFrameBuf(f)
	}
	clear(batch)
	n, err := c.tw.Write(b)
	if stagetrace.On {
		stagetrace.Mark("0 client.written", b)
	}
	if err != nil {
		// The writer finds the error again and ends the session.
		c.rest = append(c.rest, b...)
		c.signal()
		return
	}
	if n < len(b) {
		c.rest = append(c.rest, b[n:]...)
		c.signal()
	}
	if cap(b) <= 1<<20 {
		c.direct = b
	}
}

// roomLocked wakes the callers waiting for room in the send queue (c.mu
// held).
func (c *Client) roomLocked() {
	if !c.roomWait {
		return
	}
	c.roomWait = false
	close(c.room)
	c.room = make(chan struct{})
	if c.roomCuts {
		c.roomCuts, c.roomCut = false, true
		c.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// framePool holds the buffers of encoded requests, which enqueue fills
// and the writers give back once written: a request costs no allocation.
var framePool sync.Pool

// maxPooledFrame bounds the buffers framePool keeps.
const maxPooledFrame = 64 << 10

func getFrameBuf() *[]byte {
	if p, ok := framePool.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 2048)
	return &b
}

func putFrameBuf(p *[]byte) {
	if cap(*p) > maxPooledFrame {
		return
	}
	*p = (*p)[:0]
	framePool.Put(p)
}

// takeLocked returns the queued requests the writer may write now, in
// order: up to the first message for which the window has no room
// (c.mu held).
func (c *Client) takeLocked() []*[]byte {
	batch := c.batch[:0]
	i := 0
	for ; i < len(c.out); i++ {
		of := &c.out[i]
		if of.msg {
			if n := len(c.inflight) - c.inHead; n >= c.window.msgs || n > 0 && c.inBytes+of.size > c.window.bytes {
				c.behind = 2 * c.window.msgs // the window is full
				break
			}
			c.inflight = append(c.inflight, inflight{req: of.req, size: of.size})
			c.inBytes += of.size
		}
		batch = append(batch, of.b)
		c.outBytes -= len(*of.b)
	}
	if i > 0 {
		n := copy(c.out, c.out[i:])
		clear(c.out[n:])
		c.out = c.out[:n]
		c.roomLocked()
	}
	c.batch = batch
	return batch
}

// reply handles a reply with a request id, under one lock (at full load
// a sender reads one OK per message): an OK or error frees the window of
// the message it answers (answeredLocked), and the reply goes to the call
// that waits for it (dispatchLocked). It reports false when nobody waits
// for it.
func (c *Client) reply(f *cp.Frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Type == cp.TypeOK || f.Type == cp.TypeError {
		c.answeredLocked(f.Req)
	}
	return c.dispatchLocked(f)
}

// answeredLocked frees the window of the message a reply answers: replies
// come in the order of the requests, so it is the oldest one unanswered
// (c.mu held).
func (c *Client) answeredLocked(req uint32) {
	if c.inHead == len(c.inflight) || c.inflight[c.inHead].req != req {
		return
	}
	c.inBytes -= c.inflight[c.inHead].size
	c.inHead++
	if c.inHead == len(c.inflight) { // reuse the array from its start
		c.inflight, c.inHead = c.inflight[:0], 0
	}
	c.opened = c.opened || len(c.out) > 0
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write is the writer goroutine: it writes queued requests, messages
// within the window, until the session ends, and closes the connection.
func (c *Client) write() {
	bw := bufio.NewWriterSize(c.conn, 64<<10)
	defer c.conn.Close()
	for {
		c.mu.Lock()
		rest := c.rest
		c.rest = nil
		batch, closed, left := c.takeLocked(), c.closed, len(c.out)
		c.writing = true
		c.mu.Unlock()
		var err error
		if len(rest) > 0 {
			_, err = bw.Write(rest)
		}
		for _, b := range batch {
			if err == nil {
				_, err = bw.Write(*b)
			}
			putFrameBuf(b)
		}
		clear(batch)
		if err != nil {
			c.writeFailed(err)
			<-c.done
			return
		}
		err = bw.Flush()
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			<-c.done
			return
		}
		if closed && left == 0 {
			return
		}
		if len(batch) > 0 || len(rest) > 0 {
			continue
		}
		var timeout <-chan time.Time
		if closed { // messages wait for the window: for closeTimeout at most
			t := time.NewTimer(time.Until(c.closeBy))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c.wake:
		case <-c.done:
			return
		case <-timeout:
			return
		}
	}
}

// writeFailed records why the writer stopped. The reader decides the
// session's error: a goodbye the agent wrote before it closed the
// connection says more than the broken pipe. The reader is given
// closeTimeout to find it; the writer waits for it to end before it
// closes the connection.
func (c *Client) writeFailed(err error) {
	c.mu.Lock()
	if c.writeErr == nil {
		c.writeErr = fmt.Errorf("client: writing to agent %s: %w", c.node, err)
	}
	c.roomLocked()
	c.readBy = time.Now().Add(closeTimeout)
	c.conn.SetReadDeadline(c.readBy)
	c.mu.Unlock()
}

// fail records why the session ended, if nothing did before.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// read is the reader goroutine (without WithReceive): it dispatches
// replies to their callers and events to the Events channel, until the
// session ends.
func (c *Client) read() {
	defer c.end()
	for {
		if !c.r.Buffered() {
			c.beforeWait()
		}
		f, err := c.r.Next()
		if err != nil {
			c.fail(c.readErr(err))
			return
		}
		e, ok, end := c.handle(&f, decodeNew)
		if end != nil {
			c.fail(end)
			return
		}
		if ok {
			c.emit(e)
		}
	}
}

// readErr says what a failed read means for the session: the writer's
// error if it failed first, since the agent's closing of the connection
// then follows from it.
func (c *Client) readErr(err error) error {
	switch {
	case errors.Is(err, cp.ErrMalformed):
		err = &Error{Code: CodeProtocol, Text: fmt.Sprintf("agent %s sent %v", c.node, err)}
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("client: agent %s closed the connection", c.node)
	default:
		err = fmt.Errorf("client: connection to agent %s: %w", c.node, err)
	}
	c.mu.Lock()
	if c.writeErr != nil {
		err = c.writeErr
	}
	c.mu.Unlock()
	return err
}

// handle handles a frame from the agent: a reply goes to its caller and
// frees the window, an event is returned (ok), a goodbye or a frame only
// clients send ends the session (end). A message is returned as mode
// says: in a Message and a payload copy of its own (decodeNew), in c.msg
// with its payload copied into c.pay (decodeReuse), or in c.scratch with
// its payload in the reader's buffer (decodeBorrow).
func (c *Client) handle(f *cp.Frame, mode decode) (e Event, ok bool, end error) {
	switch f.Type {
	case cp.TypeOK, cp.TypeError, cp.TypeGroupList, cp.TypeViewReply, cp.TypePong:
		if f.Req != 0 && c.reply(f) {
			return Event{}, false, nil
		}
		if f.Type == cp.TypeError {
			return Event{Kind: EventError, Group: f.Group, Err: errorOf(f)}, true, nil
		}
	case cp.TypeView:
		return Event{Kind: EventView, View: viewOf(&f.View)}, true, nil
	case cp.TypeMessage:
		if stagetrace.On {
			stagetrace.Mark("7 client.read", f.Payload)
		}
		var p []byte
		var m *Message
		switch mode {
		case decodeNew:
			if len(f.Payload) > 0 {
				p = c.slab.Copy(f.Payload)
			}
			m = new(Message)
		case decodeReuse:
			switch {
			case len(f.Payload) > 0 && len(f.Payload) <= maxReusedPayload:
				c.pay = append(c.pay[:0], f.Payload...)
				p = c.pay[:len(c.pay):len(c.pay)]
			case len(f.Payload) > 0:
				p = bytes.Clone(f.Payload)
			}
			m = &c.msg
		case decodeBorrow:
			p, m = f.Payload, &c.scratch
		}
		*m = Message{Sender: f.Sender, Groups: f.Groups, To: f.To, Svc: Service(f.Svc), Type: f.MsgType,
			Seq: f.Seq, Order: f.Order, ID: f.MsgID, Payload: p}
		return Event{Kind: EventMessage, Message: m}, true, nil
	case cp.TypeLeft:
		return Event{Kind: EventLeft, Group: f.Group}, true, nil
	case cp.TypeWarning:
		return Event{Kind: EventWarning, Err: &Error{Code: Code(f.Code), Text: f.Text}}, true, nil
	case cp.TypeGoodbye:
		return Event{}, false, errorOf(f)
	default:
		return Event{}, false, &Error{Code: CodeProtocol, Text: fmt.Sprintf("agent %s sent a %s frame, which only clients send", c.node, f.Type)}
	}
	return Event{}, false, nil
}

// payloadSlab returns the slab the reader copies the messages' payloads
// into (an empty payload is nil, not copied): one allocation per 32 KiB
// chunk for the many small payloads of a burst of messages instead of one
// each. Each copy has its own capacity, so an application that appends to
// a payload does not touch the next one. A large payload (over an eighth
// of a chunk) gets an allocation of its own, so that a message kept does
// not hold a chunk much larger than itself.
func payloadSlab() slab.Slab { return slab.New(32<<10, 4<<10) }

// maxReusedPayload bounds the buffer WithMessageReuse keeps for the
// payloads: a larger payload gets a copy of its own.
const maxReusedPayload = 64 << 10

// dispatchLocked hands a reply frame to its caller; it reports false when
// nobody waits for it (c.mu held).
func (c *Client) dispatchLocked(f *cp.Frame) bool {
	if len(c.calls) == 0 {
		return false // the messages' answers: nobody waits for them
	}
	cl := c.calls[f.Req]
	if cl == nil {
		return false
	}
	cl.frames = append(cl.frames, *f)
	if f.Type != cp.TypeGroupList || f.Flags8&cp.FlagLast != 0 {
		delete(c.calls, f.Req)
		close(cl.done)
	}
	return true
}

// emit delivers an event, waiting for room unless the client is closing.
func (c *Client) emit(e Event) {
	select {
	case c.events <- e:
	case <-c.closing:
	}
}

func viewOf(v *cp.View) *View {
	return &View{Group: v.Group, ID: v.ID, Members: v.Members, Joined: v.Joined, Left: v.Left,
		Reason: Reason(v.Reason), Transitional: v.Flags&cp.FlagTransitional != 0}
}
