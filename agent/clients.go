package agent

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/epconn"
	"github.com/atoll-gcs/atoll/internal/rawread"
	"github.com/atoll-gcs/atoll/internal/slab"
	"github.com/atoll-gcs/atoll/internal/stagetrace"
	"github.com/atoll-gcs/atoll/internal/trywrite"
)

// Client sessions: the agent's side of the client protocol
// (docs/PROTOCOL.md).
//
// Each connection (Unix socket, TLS, or an in-process pipe from LocalConn)
// is a session with two goroutines. The reader does the hello exchange,
// then decodes request frames and puts them in the server's inbox, all
// those of one read at once, which the group loop empties at each pass. The loop admits requests into the group
// layer only while the messages waiting for the ring stay under
// Config.SendQueueVisits token visits' worth (takeClientRequests); the
// others wait in the inbox, and their replies with them. A client of
// protocol version 2 keeps at most its window (Config.ClientWindowMsgs and
// ClientWindowBytes, sent in the Welcome) of messages unanswered, so it
// waits for the ring there; for any client, a session has at most its
// window plus controlCredit requests in the inbox, beyond which its reader
// stops reading and the client feels its socket fill. The loop answers
// requests and routes the group layer's events by appending encoded frames
// to the session's outbound queue, which never blocks it; at the end of
// its step the group loop writes the queue to the connection as far as the
// socket takes it without waiting (flushSessions), and the writer drains
// the rest. A queue that passes half its bound gets a warning frame; a
// queue over its bound for longer than Config.ClientSlowGrace, or over
// four times its bound, gets the session evicted. The hard bound is judged
// as a frame is queued, the grace also when no frame comes after it: a
// session over its bound is in the server's over set, whose graces the
// group loop's passes judge, the loop's timer set for the next one to end
// (evictStalled), so that a client that stops reading and then gets
// nothing more is evicted too. On eviction its queue is dropped, a goodbye
// frame with the reason is written if the connection takes it within
// clientWriteGrace, and the connection is closed. The loop then
// disconnects the client's memberships (groups.Node.Disconnect), so that
// the others see it leave with reason disconnect.

const (
	// controlCredit is how many requests beyond its window of messages a
	// session may have waiting for the group loop (joins, flushes, pings).
	controlCredit = 16
	// maxClientWindowMsgs bounds Config.ClientWindowMsgs.
	maxClientWindowMsgs = 1 << 16
	// hardQueueFactor: a session's queue over this many times its bound
	// gets it evicted at once, whatever the grace.
	hardQueueFactor = 4
	// readingWindow: a backlogged session whose connection took bytes
	// within this time is reading, and holds back the local senders
	// (holdBack); one that took nothing for longer may have stopped
	// reading, and must not stall them.
	readingWindow = 100 * time.Millisecond
	// writeChunk bounds the pieces a connection without a descriptor of
	// its own (in process, TLS) is written in (writeOut). A piece shows
	// progress (lastWrite) once the client took all of it, so pieces are
	// sized to what the client takes in pieceTime (nextPiece): one that
	// takes a 1 KB message every 20 ms took a piece of 64 KiB in 1.3 s,
	// counted as reading in only 100 ms of them, held no sender back, and
	// was evicted when its queue grew (TestSlowSteadyReaderHolds).
	writeChunk = 64 << 10
	// minPiece is the smallest piece, and the first of a session's.
	minPiece = 2 << 10
	// pieceTime is how long a piece should take the client at most.
	pieceTime = readingWindow / 4
	// helloTimeout bounds the TLS handshake and the hello exchange.
	helloTimeout = 10 * time.Second
	// clientWriteGrace bounds the writes of a session that is ending: the
	// frames still queued (at shutdown) and the goodbye.
	clientWriteGrace = 2 * time.Second
	// reservedClient is the client name the agent itself uses in the
	// group layer (for the topology file's ACLs); sessions may not take
	// it.
	reservedClient = "atoll"
)

// clientServer serves the client protocol: its listeners, its sessions and
// the inbox of requests for the group loop.
type clientServer struct {
	a        *Agent
	log      *slog.Logger
	unixPath string
	addrs    []string // Dial addresses of the listeners
	ls       []net.Listener
	wg       sync.WaitGroup // accept loops and session goroutines

	mu       sync.Mutex
	byName   map[string]*session // registered sessions (after a successful hello)
	all      map[*session]bool   // every open session
	inbox    []clientReq
	closing  bool   // no new sessions
	nextName uint64 // for names the agent picks
	scratch  []byte // the group loop's buffer for encoding frames (encode)
	ids      msgIDs // the group loop's writer of deliveries' message ids

	// The group loop's lookups of byName (loopSession), kept while byName
	// does not change: gen counts its changes.
	gen        atomic.Uint64
	loopGen    uint64
	loopByName map[string]*session

	// Sessions whose queue grew during the group loop's pass: their writers are
	// signalled once, at its end (flushSessions), not at every frame.
	dirtyMu  sync.Mutex
	dirty    []*session
	dirtyBuf []*session // the group loop's: dirty's other buffer

	// Sessions whose queue is over the backlog threshold (the send
	// queue's bounds with a lone sender's visits: newClientServer), which
	// hold back the local senders while they read.
	blMu              sync.Mutex
	backlogged        map[*session]bool
	blFrames, blBytes int
	// reading is readingWindow; a test lengthens it (before Run) so that
	// a hold never ends by the clock and only the wake-ups of what makes
	// room can free the requests it holds.
	reading time.Duration
	n       struct {
		accepted, evicted, protocolErrors, warnings, held atomic.Uint64
	}

	// Sessions whose queue went over its bound (session.overSince set);
	// one that drained under it or ended leaves at the group loop's next
	// pass (evictStalled). Lock order: session.mu, then overMu.
	overMu  sync.Mutex
	over    map[*session]bool
	overBuf []*session // the group loop's
}

// clientReq is one request of a session for the group loop, or (closed) the
// notice that the session ended.
type clientReq struct {
	s      *session
	f      cp.Frame
	read   time.Time // when the reader decoded f
	closed bool
	// A multicast's f.Payload is buf[room:], the room before it free for
	// its header (groups.MulticastIn); buf is nil for other requests.
	buf  []byte
	room int
}

// session is one client connection.
type session struct {
	cs         *clientServer
	conn       net.Conn
	via        string   // "unix", "tls" or "local"
	peer       string   // who is connected, for log lines
	principals []string // for the topology file's ACLs
	name       string   // the client name, once registered
	version    uint16   // the session's protocol version
	member     string   // "node:client"

	credit chan struct{} // one token per request the session may have in the inbox
	done   chan struct{} // closed when the session ends
	wake   chan struct{} // capacity 1: the writer has work

	mu        sync.Mutex
	out       []byte        // encoded frames for the writer, back to back
	outFrames int           // how many frames out holds
	outHead   int           // out starts with the last outHead bytes of a frame the connection took the start of (writeNow)
	spare     []byte        // the writer's last batch, written: out's next buffer
	writing   bool          // the writer holds a batch: only it writes
	tw        trywrite.Conn // writes from the group loop that never wait (writeNow)
	dirty     bool          // out grew since the writer was last signalled (flushSessions)
	qFrames   int           // frames queued and not yet taken by the connection: out and what is left of the writer's batch
	qBytes    int
	overSince time.Time    // when the queue went over its bound; zero while under
	backlog   bool         // in cs.backlogged
	lastWrite atomic.Int64 // when the writer last wrote (Unix ns)
	piece     int          // the writer's: the bytes of its next piece (writeOut without trywrite)
	warned    bool
	ending    bool
	bye       []byte // the goodbye frame, written after out
	heldMsgs  int    // answers in out that wait for the next frame (sendHeld)
	heldBytes int    // the payload bytes of their messages

	// Owned by the group loop.
	gone    bool                       // its end was handled: later requests are ignored
	joined  []*groups.Node             // the group layers in which it joined a group: its end needs a disconnect there
	seqs    map[*groups.Node]*layerSeq // its messages in each group layer
	flushes []flushWait
}

// layerSeq is what a group layer did with a session's messages: the Seq of
// the last one it accepted, and of the last one its ring sent.
type layerSeq struct{ accepted, sent uint64 }

// flushWait is a flush waiting for the ring to send, in each group layer,
// the session's messages up to want.
type flushWait struct {
	req  uint32
	seq  uint64 // the answer's Seq: the last message the session had handed over
	want map[*groups.Node]uint64
}

// newClientServer opens the client listeners of cfg.
func newClientServer(a *Agent) (*clientServer, error) {
	cs := &clientServer{a: a, log: a.log, byName: map[string]*session{}, all: map[*session]bool{},
		backlogged: map[*session]bool{}, over: map[*session]bool{}, reading: readingWindow}
	// A reader's backlog counts from the send queue's largest bound, a
	// lone sender's, fixed: the bound itself follows the visits this node
	// gets (setSendQueueLimits), and the writers read these without the
	// group loop.
	cs.blFrames, cs.blBytes = a.sendQueueLimits(a.ringSettings.MaxPacketsPerVisit, 0)
	cfg := &a.cfg
	if cfg.ClientSocket != "-" {
		l, err := listenClientSocket(cfg.ClientSocket)
		if err != nil {
			return nil, err
		}
		cs.unixPath = cfg.ClientSocket
		cs.ls = append(cs.ls, l)
		cs.addrs = append(cs.addrs, "unix://"+cfg.ClientSocket)
	}
	if cfg.ClientListen != "" {
		l, err := net.Listen("tcp", cfg.ClientListen)
		if err != nil {
			cs.closeListeners()
			return nil, fmt.Errorf("agent: client listener: %w", err)
		}
		tc := cfg.ClientTLS.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
		cs.ls = append(cs.ls, tls.NewListener(l, tc))
		cs.addrs = append(cs.addrs, "tcp+tls://"+l.Addr().String())
	}
	return cs, nil
}

// listenClientSocket opens the client socket with mode 0660, replacing a
// stale socket file (the caller holds the data dir's lock).
func listenClientSocket(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("agent: client socket path %s exists and is not a socket; remove it or choose another --client-socket", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: client socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("agent: client socket: %w", err)
	}
	return l, nil
}

// start runs the accept loops.
func (cs *clientServer) start() {
	for _, l := range cs.ls {
		cs.wg.Go(func() { cs.accept(l) })
	}
}

func (cs *clientServer) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			cs.log.Warn("cannot accept client connections", "listener", l.Addr(), "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		via := "unix"
		if _, ok := c.(*tls.Conn); ok {
			via = "tls"
		}
		// A Unix socket is polled for input only: the client's reads
		// of what the session writes do not wake the agent (epconn).
		c = epconn.Wrap(c)
		cs.serve(c, via, nil)
	}
}

// serve starts a session on c; principals are known for local sessions,
// and learnt from the connection otherwise.
func (cs *clientServer) serve(c net.Conn, via string, principals []string) bool {
	credit := cs.a.cfg.ClientWindowMsgs + controlCredit
	s := &session{cs: cs, conn: c, via: via, principals: principals,
		credit: make(chan struct{}, credit), done: make(chan struct{}), wake: make(chan struct{}, 1), tw: trywrite.New(c)}
	for range credit {
		s.credit <- struct{}{}
	}
	cs.mu.Lock()
	if cs.closing {
		cs.mu.Unlock()
		c.Close()
		return false
	}
	cs.all[s] = true
	cs.mu.Unlock()
	cs.n.accepted.Add(1)
	cs.wg.Go(s.read)
	return true
}

func (cs *clientServer) closeListeners() {
	for _, l := range cs.ls {
		l.Close()
	}
	if cs.unixPath != "" {
		os.Remove(cs.unixPath)
		cs.unixPath = ""
	}
}

// shutdown stops accepting clients and ends every session with a goodbye
// (code, text), after the frames already queued for it.
func (cs *clientServer) shutdown(code cp.Code, text string) {
	cs.mu.Lock()
	if cs.closing {
		cs.mu.Unlock()
		return
	}
	cs.closing = true
	ss := make([]*session, 0, len(cs.all))
	for s := range cs.all {
		ss = append(ss, s)
	}
	cs.closeListeners()
	cs.mu.Unlock()
	for _, s := range ss {
		s.end(code, text, false)
	}
}

// wait waits for every session goroutine to end.
func (cs *clientServer) wait() { cs.wg.Wait() }

// push hands requests to the group loop.
func (cs *clientServer) push(rs ...clientReq) {
	cs.mu.Lock()
	cs.inbox = append(cs.inbox, rs...)
	cs.mu.Unlock()
	cs.a.wakeGroups()
}

// pushBatch hands a session reader's batch of requests to the group loop
// and returns the buffer for its next batch, empty: an empty inbox takes
// the batch's array as it is and gives the reader its own, so that a
// request (a clientReq of about 500 bytes) is not copied once more.
func (cs *clientServer) pushBatch(batch []clientReq) []clientReq {
	cs.mu.Lock()
	if len(cs.inbox) == 0 {
		cs.inbox, batch = batch, cs.inbox[:0]
	} else {
		cs.inbox = append(cs.inbox, batch...)
		clear(batch)
		batch = batch[:0]
	}
	cs.mu.Unlock()
	cs.a.wakeGroups()
	return batch
}

// requestsWait reports whether client requests wait in the inbox for the
// group loop (any goroutine).
func (cs *clientServer) requestsWait() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.inbox) > 0
}

// take returns the inbox's requests after buf's and empties it; with
// buf empty, the inbox's array as it is, the inbox taking buf's.
func (cs *clientServer) take(buf []clientReq) []clientReq {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(buf) == 0 {
		buf, cs.inbox = cs.inbox, buf
		return buf
	}
	buf = append(buf, cs.inbox...)
	clear(cs.inbox)
	cs.inbox = cs.inbox[:0]
	return buf
}

// session returns the registered session of a client name.
func (cs *clientServer) session(name string) *session {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byName[name]
}

// count returns the number of open sessions.
func (cs *clientServer) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.all)
}

// register gives the session its client name: the one it asked for, or one
// the agent picks.
func (cs *clientServer) register(s *session, name string) (cp.Code, string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case cs.closing:
		return cp.CodeShuttingDown, fmt.Sprintf("agent %s is shutting down", cs.a.cfg.Node)
	case len(cs.byName) >= cs.a.cfg.MaxClients:
		return cp.CodeBackpressure, fmt.Sprintf("agent %s serves %d clients already, its limit; retry later or raise the agent's client limit", cs.a.cfg.Node, len(cs.byName))
	case name == "":
		for {
			cs.nextName++
			name = "c" + strconv.FormatUint(cs.nextName, 10)
			if cs.byName[name] == nil {
				break
			}
		}
	case !groups.ValidClientName(name):
		return cp.CodeBadName, fmt.Sprintf("client name %q is not valid: use 1 to %d bytes of printable UTF-8 without spaces or ':'", name, groups.MaxClientName)
	case name == reservedClient:
		return cp.CodeBadName, fmt.Sprintf("client name %q is reserved for the agent; choose another", name)
	case cs.byName[name] != nil:
		return cp.CodeNameInUse, fmt.Sprintf("client name %q is in use by another session of agent %s (or its disconnect is still being processed); choose another name or retry", name, cs.a.cfg.Node)
	}
	s.name = name
	s.member = groups.MemberName(cs.a.self.ID, name)
	cs.byName[name] = s
	cs.gen.Add(1)
	return 0, ""
}

// unregister frees the session's name; the group loop calls it once the
// session's end has been handled.
func (cs *clientServer) unregister(s *session) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if s.name != "" && cs.byName[s.name] == s {
		delete(cs.byName, s.name)
		cs.gen.Add(1)
	}
}

// loopSession is session for the group loop, which routes every delivery
// to its sessions by name: it keeps the sessions it found until byName
// changes, instead of taking cs.mu, which the session readers take to
// hand over their requests, at every delivery. The group loop
// unregisters the sessions that end after their hello, so one it keeps
// has not ended for it; a reader whose welcome failed unregisters its
// own, which no event names yet.
func (cs *clientServer) loopSession(name string) *session {
	if g := cs.gen.Load(); g != cs.loopGen || cs.loopByName == nil {
		if cs.loopByName == nil {
			cs.loopByName = make(map[string]*session)
		}
		clear(cs.loopByName)
		cs.loopGen = g
	}
	if s := cs.loopByName[name]; s != nil {
		return s
	}
	s := cs.session(name)
	if s != nil {
		cs.loopByName[name] = s
	}
	return s
}

// ---- a session's goroutines ----

// read is the session's reader goroutine: the hello exchange, then the
// requests, until the connection fails or the session ends.
func (s *session) read() {
	cs := s.cs
	defer func() {
		cs.mu.Lock()
		delete(cs.all, s)
		cs.mu.Unlock()
	}()
	r := cp.NewReader(rawread.New(s.conn))
	if !s.hello(r) {
		s.conn.Close()
		return
	}
	cs.wg.Go(s.write)
	r.SetMax(cp.MaxFrame)
	r.SetShareLists(true) // the group loop only reads the requests' groups
	var batch []clientReq
	pays := payloadSlab() // the batch's payloads, copied out of the reader's buffer
	var read time.Time    // when the frames in the reader's buffer were read
	var f cp.Frame        // the frame read, copied into the batch
	for {
		fresh := !r.Buffered() // NextInto reads from the connection
		if len(batch) > 0 && (fresh || len(batch) >= maxReadBatch) {
			batch = cs.pushBatch(batch)
		}
		if err := r.NextInto(&f); err != nil {
			switch {
			case errors.Is(err, cp.ErrMalformed):
				cs.n.protocolErrors.Add(1)
				cs.log.Warn("client sent a malformed frame; disconnected", s.attrs("err", err)...)
				s.end(cp.CodeProtocol, fmt.Sprintf("%v; closing the session", err), true)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				s.end(0, "", false)
			default:
				cs.log.Debug("client connection failed", s.attrs("err", err)...)
				s.end(0, "", false)
			}
			return
		}
		if !f.Type.IsRequest() || f.Req == 0 {
			cs.n.protocolErrors.Add(1)
			why := fmt.Sprintf("a %s frame is not a request a client may send after the hello", f.Type)
			if f.Type.IsRequest() {
				why = fmt.Sprintf("a %s request with request id 0; request ids are 1 to 2^32-1", f.Type)
			}
			cs.log.Warn("client broke the protocol; disconnected", s.attrs("err", why)...)
			s.end(cp.CodeProtocol, why+"; closing the session", true)
			return
		}
		if fresh || read.IsZero() {
			read = time.Now() // one clock reading for the frames of one read
		}
		if stagetrace.On && f.Payload != nil {
			stagetrace.Mark("1 agent.read", f.Payload)
		}
		var buf []byte // a multicast's payload with the room for its header
		room := 0
		if f.Payload != nil { // the reader reuses its buffer
			if f.Type == cp.TypeMulticast {
				room = groups.MulticastRoom(s.name, f.Groups)
			}
			buf = pays.CopyAfter(room, f.Payload)
			f.Payload = buf[room:]
			if room == 0 {
				buf = nil
			}
		}
		select {
		case <-s.credit:
		default:
			if len(batch) > 0 { // the group loop must take these to give credit back
				batch = cs.pushBatch(batch)
			}
			select {
			case <-s.credit:
			case <-s.done:
				return
			}
		}
		batch = append(batch, clientReq{s: s, f: f, read: read, buf: buf, room: room})
	}
}

// maxReadBatch bounds the requests a session's reader hands to the group loop at
// once.
const maxReadBatch = 256

// payloadSlab returns the slab a session's reader copies the requests'
// payloads into, each after room bytes (Slab.CopyAfter, which returns the
// room and the copy: buf): one allocation per 64 KiB chunk for the many
// small payloads of a batch of requests instead of one each; a payload
// and room of more than a quarter chunk get an allocation of their own.
// A multicast's room takes its header in the group layer
// (groups.MulticastIn), which then hands buf to the ring as it is,
// instead of a copy of the payload with the header before it.
func payloadSlab() slab.Slab { return slab.New(64<<10, 16<<10) }

// hello runs the hello exchange: the client's Hello, the agent's Welcome
// or Goodbye. It reports whether the session goes on.
func (s *session) hello(r *cp.Reader) bool {
	cs := s.cs
	a := cs.a
	s.conn.SetDeadline(time.Now().Add(helloTimeout))
	if err := s.identify(); err != nil {
		cs.log.Warn("client refused: cannot identify it", "via", s.via, "peer", s.conn.RemoteAddr().String(), "err", err)
		return false
	}
	f, err := r.Next()
	if err != nil {
		if errors.Is(err, cp.ErrMalformed) {
			cs.n.protocolErrors.Add(1)
			cs.log.Warn("client sent a malformed hello; disconnected", s.attrs("err", err)...)
			s.goodbye(cp.CodeProtocol, fmt.Sprintf("%v; the first frame must be a hello", err))
		}
		return false
	}
	if f.Type != cp.TypeHello {
		cs.n.protocolErrors.Add(1)
		s.goodbye(cp.CodeProtocol, fmt.Sprintf("the first frame must be a hello, not %s", f.Type))
		return false
	}
	if f.MinVersion > cp.MaxVersion || f.MaxVersion < cp.MinVersion || f.MinVersion > f.MaxVersion {
		s.goodbye(cp.CodeVersion, fmt.Sprintf("agent %s speaks protocol versions %d to %d, the client %d to %d; upgrade the older side", a.cfg.Node, cp.MinVersion, cp.MaxVersion, f.MinVersion, f.MaxVersion))
		return false
	}
	if code, text := cs.register(s, f.Name); code != 0 {
		s.goodbye(code, text)
		return false
	}
	w := cp.Frame{Type: cp.TypeWelcome, Version: min(f.MaxVersion, cp.MaxVersion), Name: s.member, Node: a.cfg.Node,
		MaxMessage: uint32(a.maxMessage()), MaxFrame: cp.MaxFrame, QueueFrames: uint32(a.cfg.ClientQueueFrames),
		WindowMsgs: uint32(a.cfg.ClientWindowMsgs), WindowBytes: uint32(a.cfg.ClientWindowBytes)}
	if _, err := s.conn.Write(cp.Append(nil, &w)); err != nil {
		cs.unregister(s)
		return false
	}
	s.version = w.Version
	s.conn.SetDeadline(time.Time{})
	cs.log.Debug("client connected", s.attrs()...)
	return true
}

// identify learns the client's principals from its connection.
func (s *session) identify() error {
	switch c := s.conn.(type) {
	case *net.UnixConn, *epconn.Conn:
		ps, peer, err := unixPrincipals(c.(syscall.Conn))
		if err != nil {
			return err
		}
		s.principals, s.peer = ps, peer
	case *tls.Conn:
		ctx, cancel := context.WithTimeout(context.Background(), helloTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		s.peer = c.RemoteAddr().String()
		st := c.ConnectionState()
		if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
			cn := st.PeerCertificates[0].Subject.CommonName
			s.principals = []string{"cn:" + cn}
			s.peer += " cn " + cn
		}
	default:
		if s.peer == "" {
			s.peer = s.via
		}
	}
	return nil
}

// goodbye writes a goodbye frame during the hello, before the writer
// runs.
func (s *session) goodbye(code cp.Code, text string) {
	s.conn.SetWriteDeadline(time.Now().Add(clientWriteGrace))
	s.conn.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeGoodbye, Code: code, Text: text}))
}

// write is the session's writer goroutine: it writes the queued frames,
// and at the end the goodbye, then closes the connection.
func (s *session) write() {
	defer s.conn.Close()
	for {
		s.mu.Lock()
		batch, frames, head, ending, bye := s.out, s.outFrames, s.outHead, s.ending, s.bye
		s.out, s.outFrames, s.outHead, s.spare = s.spare[:0], 0, 0, nil
		s.writing = true
		s.mu.Unlock()
		if err := s.writeOut(batch, head); err != nil {
			s.end(0, "", true)
			return
		}
		if ending {
			if bye != nil {
				s.conn.Write(bye)
			}
			return
		}
		s.mu.Lock()
		s.writing = false
		if cap(batch) <= maxSpareBytes {
			s.spare = batch
		}
		s.mu.Unlock()
		if frames == 0 {
			<-s.wake
		}
	}
}

// wrote accounts for frames (bytes) the connection took (s.mu held).
func (s *session) wrote(frames, bytes int) {
	cfg := &s.cs.a.cfg
	s.qFrames -= frames
	s.qBytes -= bytes
	if s.qFrames <= cfg.ClientQueueFrames && s.qBytes <= cfg.ClientQueueBytes {
		s.overSince = time.Time{}
	}
	if s.backlog && s.qFrames <= s.cs.blFrames && s.qBytes <= s.cs.blBytes {
		s.backlog = false
		s.cs.setBacklog(s, false)
		s.cs.a.wakeGroups() // the group loop may take the held requests
	}
	if 2*s.qFrames < cfg.ClientQueueFrames && 2*s.qBytes < cfg.ClientQueueBytes {
		s.warned = false // warn again when the queue fills up again
	}
}

// maxSpareBytes bounds the buffer a session keeps for its next batch.
const maxSpareBytes = 1 << 20

// writeOut writes a batch of frames (which starts with the last head
// bytes of a frame the connection took the start of) and accounts for
// them as the connection takes them (wrote), not once it took the whole
// batch: only what the client has not taken counts as queued, so a client
// that reads steadily through a long batch is not judged over its bound
// for what it read already. A connection with a descriptor of its own
// reports each write(2) (trywrite's WriteAll); the others (in process,
// TLS) are written in pieces of whole frames, at most an eighth of the
// bound each (and writeChunk bytes), whose writes return as the client
// reads, sized to what the client takes in pieceTime (nextPiece). Each
// piece written also shows progress (lastWrite, for holdBack).
func (s *session) writeOut(b []byte, head int) error {
	ft := newFrameTaker(b, head)
	took := func(n int) {
		s.lastWrite.Store(time.Now().UnixNano())
		s.mu.Lock()
		s.wrote(ft.take(n), n)
		s.mu.Unlock()
	}
	if s.tw.Supported() {
		return s.tw.WriteAll(b, took)
	}
	cfg := &s.cs.a.cfg
	maxFrames, maxBytes := max(1, cfg.ClientQueueFrames/8), max(1, min(writeChunk, cfg.ClientQueueBytes/8))
	if s.piece == 0 {
		s.piece = minPiece
	}
	for ft.taken < len(b) {
		n := ft.piece(maxFrames, min(s.piece, maxBytes))
		start := time.Now()
		if _, err := s.conn.Write(b[ft.taken : ft.taken+n]); err != nil {
			return err
		}
		took(n)
		s.piece = nextPiece(s.piece, n, time.Since(start))
	}
	return nil
}

// nextPiece returns the size of the piece after one of n bytes (of at
// most piece) that the client took in d: what it takes in pieceTime when
// it took longer, twice as much when it took a full piece in a quarter of
// that (up to writeChunk), else the same.
func nextPiece(piece, n int, d time.Duration) int {
	switch {
	case d > pieceTime:
		return max(minPiece, int(int64(n)*int64(pieceTime)/int64(d)))
	case d < pieceTime/4 && 2*n >= piece:
		return min(writeChunk, 2*piece)
	}
	return piece
}

// frameTaker follows a batch of frames as the connection takes it: which
// frames it took to their last byte.
type frameTaker struct {
	b     []byte
	start int // where the frame being taken starts (-1: before b)
	end   int // and where it ends
	taken int // the bytes of b taken
}

// newFrameTaker follows b, which starts with the last head bytes of a
// frame whose start was taken before.
func newFrameTaker(b []byte, head int) *frameTaker {
	ft := &frameTaker{b: b, start: -1, end: head}
	if head == 0 {
		ft.start, ft.end = 0, frameEnd(b, 0)
	}
	return ft
}

// frameEnd returns where the frame that starts at off in b ends.
func frameEnd(b []byte, off int) int {
	if len(b)-off < cp.LengthSize {
		return len(b)
	}
	return off + cp.LengthSize + int(binary.BigEndian.Uint32(b[off:]))
}

// take counts n more bytes taken and returns how many frames they
// completed.
func (ft *frameTaker) take(n int) (frames int) {
	ft.taken += n
	for ft.end <= ft.taken && ft.start < len(ft.b) {
		frames++
		ft.start, ft.end = ft.end, frameEnd(ft.b, ft.end)
	}
	return frames
}

// rest returns how many bytes are left of the frame being taken if the
// connection took its start (0 if it starts with what is left).
func (ft *frameTaker) rest() int {
	if ft.start < ft.taken {
		return ft.end - ft.taken
	}
	return 0
}

// piece returns how many bytes to write next: the rest of the frame being
// taken and the whole frames after it, at most maxFrames frames and
// maxBytes bytes (or maxBytes of the frame being taken, if it is longer).
func (ft *frameTaker) piece(maxFrames, maxBytes int) int {
	end := min(ft.end, len(ft.b))
	if end-ft.taken > maxBytes {
		return maxBytes
	}
	for frames := 1; end < len(ft.b) && frames < maxFrames; frames++ {
		next := min(frameEnd(ft.b, end), len(ft.b))
		if next-ft.taken > maxBytes {
			break
		}
		end = next
	}
	return end - ft.taken
}

// send queues an encoded frame for the client (group loop). It never
// blocks: a client whose queue stays over its bound for longer than
// Config.ClientSlowGrace, or passes four times its bound, is evicted
// instead (the grace is also judged without new frames: evictStalled). It reports whether
// the frame was queued.
func (s *session) send(b []byte) bool { return s.queue(b, nil, false, 0) }

// sendHeld queues the OK of an accepted message of size payload bytes that
// comes back to this session (protocol version 3): it waits in the queue
// for the session's next frame, which its writing carries along, unless
// the answers waiting reach a quarter of the client's window (messages or
// bytes), so that the client keeps three quarters of its window to send
// with. At low rate the OK and the message's delivery reach the client in
// one write instead of two.
func (s *session) sendHeld(f *cp.Frame, size int) bool { return s.queue(nil, f, true, size) }

// queue queues the encoded frame b, or f encoded in place at the end of
// the session's queue (no copy through a scratch buffer: a delivery's
// payload is copied once, into the queue).
func (s *session) queue(b []byte, f *cp.Frame, hold bool, size int) bool {
	cfg := &s.cs.a.cfg
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return false
	}
	start := len(s.out)
	if f != nil {
		s.out = cp.Append(s.out, f)
		b = s.out[start:]
	}
	frames, bytes := s.qFrames+1, s.qBytes+len(b)
	if frames > cfg.ClientQueueFrames || bytes > cfg.ClientQueueBytes {
		now := time.Now()
		if s.overSince.IsZero() {
			s.overSince = now
			s.cs.overMu.Lock()
			s.cs.over[s] = true // the group loop's pass judges it from now on (evictStalled)
			s.cs.overMu.Unlock()
		}
		over := now.Sub(s.overSince)
		hard := frames > hardQueueFactor*cfg.ClientQueueFrames || bytes > hardQueueFactor*cfg.ClientQueueBytes
		if hard || over >= cfg.ClientSlowGrace {
			s.out = s.out[:start]
			s.mu.Unlock()
			s.evict(frames-1, bytes-len(b), over, hard)
			return false
		}
	}
	if f == nil {
		s.out = append(s.out, b...)
	}
	s.outFrames++
	s.qFrames, s.qBytes = frames, bytes
	if !s.backlog && (frames > s.cs.blFrames || bytes > s.cs.blBytes) {
		s.backlog = true
		s.cs.setBacklog(s, true)
	}
	if !s.warned && (2*s.qFrames >= cfg.ClientQueueFrames || 2*s.qBytes >= cfg.ClientQueueBytes) {
		s.warned = true
		s.cs.n.warnings.Add(1)
		w := cp.Append(nil, &cp.Frame{Type: cp.TypeWarning, Code: cp.CodeSlowConsumer, Queued: uint32(s.qFrames), Limit: uint32(cfg.ClientQueueFrames),
			Text: fmt.Sprintf("%d frames (%d bytes) wait for this client to read them; over %d frames or %d bytes for %v (or over %d times that at once) it is disconnected",
				s.qFrames, s.qBytes, cfg.ClientQueueFrames, cfg.ClientQueueBytes, cfg.ClientSlowGrace, hardQueueFactor)})
		s.out = append(s.out, w...)
		s.outFrames++
		s.qFrames++
		s.qBytes += len(w)
	}
	if hold && !s.dirty && 4*(s.heldMsgs+1) < cfg.ClientWindowMsgs && 4*(s.heldBytes+size) < cfg.ClientWindowBytes {
		s.heldMsgs++
		s.heldBytes += size
		s.mu.Unlock()
		return true
	}
	s.heldMsgs, s.heldBytes = 0, 0 // the next flush writes them
	mark := !s.dirty
	s.dirty = true
	s.mu.Unlock()
	if mark {
		s.cs.dirtyMu.Lock()
		s.cs.dirty = append(s.cs.dirty, s)
		s.cs.dirtyMu.Unlock()
	}
	return true
}

// encode encodes f into the group loop's scratch buffer, which is valid until
// the next call (group loop): send copies it.
func (cs *clientServer) encode(f *cp.Frame) []byte {
	cs.scratch = cp.Append(cs.scratch[:0], f)
	return cs.scratch
}

// sendFrame queues f for the client, as send, encoded in place.
func (s *session) sendFrame(f *cp.Frame) bool { return s.queue(nil, f, false, 0) }

// flushSessions writes the frames queued for the sessions since the last
// call (writeNow), and wakes the writers of those whose connection did not
// take them all: the group loop calls it at the end of each of its steps, so
// that a client gets what a step queued in one write, and a writer wakes
// at most once per step, not once per frame.
func (cs *clientServer) flushSessions() {
	cs.dirtyMu.Lock()
	ss := cs.dirty
	cs.dirty = cs.dirtyBuf[:0]
	cs.dirtyBuf = ss
	cs.dirtyMu.Unlock()
	for i, s := range ss {
		ss[i] = nil
		s.mu.Lock()
		s.dirty = false
		done, err := s.writeNow()
		s.mu.Unlock()
		switch {
		case err != nil:
			s.end(0, "", true)
		case !done:
			s.signal()
		}
	}
}

// writeNow writes the queued frames from the group loop, as much as the
// connection takes without waiting, when the writer is not writing (its
// write would hold the connection); it reports whether nothing is left
// for the writer (s.mu held). Most of the time the socket buffer has room
// and the writer need not wake at all.
func (s *session) writeNow() (done bool, err error) {
	if s.writing || s.ending || !s.tw.Supported() || len(s.out) == 0 {
		return len(s.out) == 0 && !s.ending, nil
	}
	n, err := s.tw.Write(s.out)
	if stagetrace.On {
		stagetrace.Mark("6c agent.written", s.out)
	}
	if err != nil {
		return false, err
	}
	if n > 0 {
		s.lastWrite.Store(time.Now().UnixNano())
	}
	if n == len(s.out) {
		s.wrote(s.outFrames, n)
		s.out, s.outFrames, s.outHead = s.out[:0], 0, 0
		return true, nil
	}
	// The writer writes the rest: what the connection took counts no
	// more, the frame it took the start of does until its end goes.
	ft := newFrameTaker(s.out, s.outHead)
	frames := ft.take(n)
	s.wrote(frames, n)
	s.outFrames -= frames
	s.outHead = ft.rest()
	s.out = append(s.out[:0], s.out[n:]...)
	return false, nil
}

// evict ends a session whose queue stayed over its bound for the grace
// (over is how long), or passed hardQueueFactor times it (hard).
func (s *session) evict(frames, bytes int, over time.Duration, hard bool) {
	cfg := &s.cs.a.cfg
	s.cs.n.evicted.Add(1)
	why := fmt.Sprintf("over the bound of %d frames or %d bytes for %v, the grace is %v", cfg.ClientQueueFrames, cfg.ClientQueueBytes, over.Round(time.Millisecond), cfg.ClientSlowGrace)
	if hard {
		why = fmt.Sprintf("%d times the bound of %d frames or %d bytes", hardQueueFactor, cfg.ClientQueueFrames, cfg.ClientQueueBytes)
	}
	s.cs.log.Warn("client evicted: it does not read its events fast enough; it must read faster, or the agent needs a larger client queue or grace",
		s.attrs("queued_frames", frames, "queued_bytes", bytes, "limit_frames", cfg.ClientQueueFrames, "limit_bytes", cfg.ClientQueueBytes,
			"over_for", over.Round(time.Millisecond), "grace", cfg.ClientSlowGrace)...)
	s.end(cp.CodeSlowConsumer, fmt.Sprintf("evicted by agent %s: %d frames (%d bytes) were waiting for this client to read them, %s; read events faster", cfg.Node, frames, bytes, why), true)
}

// evictStalled evicts the sessions whose queue has stayed over its bound
// for Config.ClientSlowGrace at now, whether or not a frame was queued for
// them since (queue judges those that get frames); it forgets those that
// drained under their bound or ended, and returns when the next grace
// ends (zero if none runs), for the group loop's timer (group loop, each
// pass).
func (cs *clientServer) evictStalled(now time.Time) (next time.Time) {
	cs.overMu.Lock()
	if len(cs.over) == 0 {
		cs.overMu.Unlock()
		return time.Time{}
	}
	ss := cs.overBuf[:0]
	for s := range cs.over {
		ss = append(ss, s)
	}
	cs.overMu.Unlock()
	cfg := &cs.a.cfg
	for i, s := range ss {
		ss[i] = nil
		s.mu.Lock()
		frames, bytes := s.qFrames, s.qBytes
		if frames <= cfg.ClientQueueFrames && bytes <= cfg.ClientQueueBytes {
			s.overSince = time.Time{} // under again: the writer took it under (wrote), or it ended
		}
		since := s.overSince
		if since.IsZero() || s.ending {
			since = time.Time{}
			cs.overMu.Lock()
			delete(cs.over, s)
			cs.overMu.Unlock()
		}
		s.mu.Unlock()
		switch {
		case since.IsZero():
		case now.Sub(since) >= cfg.ClientSlowGrace:
			s.evict(frames, bytes, now.Sub(since), false)
		default:
			if end := since.Add(cfg.ClientSlowGrace); next.IsZero() || end.Before(next) {
				next = end
			}
		}
	}
	cs.overBuf = ss[:0]
	return next
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// end ends the session once: with a goodbye (code, text) unless code is 0,
// dropping the queued frames when drop is set. The writer writes what is
// left within clientWriteGrace and closes the connection; the group loop is told
// so that it disconnects the client's memberships and frees its name.
func (s *session) end(code cp.Code, text string, drop bool) {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return
	}
	s.ending = true
	if drop {
		s.out, s.outFrames, s.outHead = nil, 0, 0
	}
	if s.backlog {
		s.backlog = false
		s.cs.setBacklog(s, false)
	}
	if code != 0 {
		s.bye = cp.Append(nil, &cp.Frame{Type: cp.TypeGoodbye, Code: code, Text: text})
	}
	s.mu.Unlock()
	close(s.done)
	s.conn.SetWriteDeadline(time.Now().Add(clientWriteGrace))
	if code == 0 {
		// The client is gone or broke the connection: stop reading too.
		s.conn.SetReadDeadline(time.Now())
	}
	s.signal()
	if s.name != "" {
		s.cs.push(clientReq{s: s, closed: true})
	}
}

func (cs *clientServer) setBacklog(s *session, on bool) {
	cs.blMu.Lock()
	defer cs.blMu.Unlock()
	if on {
		cs.backlogged[s] = true
	} else {
		delete(cs.backlogged, s)
	}
}

// holdBack reports whether a session that reads has more than the
// backlog threshold waiting for it: the group loop then takes no more client
// requests, so that local senders go at the rate their local readers take
// the messages, and what waits for a reader stays bounded. A session that
// took nothing for readingWindow does not hold anyone back: it may have
// stopped reading (its grace then runs). While it holds, until is when
// the hold ends by the clock if none of the sessions that hold takes more
// (the group loop looks again then); a backlog that ends before wakes the
// group loop (session.wrote).
func (cs *clientServer) holdBack(now time.Time) (held bool, until time.Time) {
	cs.blMu.Lock()
	defer cs.blMu.Unlock()
	var last int64 // the latest write of a session that holds
	for s := range cs.backlogged {
		if w := s.lastWrite.Load(); now.UnixNano()-w < int64(cs.reading) {
			last = max(last, w)
		}
	}
	if last == 0 {
		return false, time.Time{}
	}
	return true, time.Unix(0, last).Add(cs.reading)
}

// attrs returns the session's log attributes followed by more.
func (s *session) attrs(more ...any) []any {
	out := []any{"client", s.name, "via", s.via}
	if s.peer != "" {
		out = append(out, "peer", s.peer)
	}
	return append(out, more...)
}

// ClientAddrs returns the addresses at which clients reach the agent, as
// client.Dial takes them: "unix:///path/client.sock" and, with
// Config.ClientListen, "tcp+tls://host:port" (the port chosen when the
// configuration asked for port 0).
func (a *Agent) ClientAddrs() []string { return slices.Clone(a.cs.addrs) }

// LocalConn returns a connection to the agent's client service from
// inside the process, for embedded clients (package client's DialAgent):
// the client protocol over an in-memory pipe, without a socket. Such a
// client's ACL principal is "node:<this node's id>". It fails with
// ErrStopped once the agent is stopping.
func (a *Agent) LocalConn() (net.Conn, error) {
	c1, c2 := net.Pipe()
	if !a.cs.serve(c2, "local", []string{"node:" + a.cfg.Node}) {
		c1.Close()
		return nil, ErrStopped
	}
	return c1, nil
}
