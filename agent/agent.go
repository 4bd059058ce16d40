package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/sealed"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/qos"
)

// Errors of Submit and Subscription.Err.
var (
	// ErrStopped: the agent is leaving or has stopped; it accepts no more
	// messages.
	ErrStopped = errors.New("agent: stopped; it accepts no more messages")
	// ErrBackpressure: the submit queue is full; wait for deliveries
	// before submitting more.
	ErrBackpressure = errors.New("agent: send queue full; wait for deliveries before submitting more")
	// ErrSlowSubscriber: the subscriber's buffer was full when an event
	// arrived, so it was dropped rather than slowing the ring down.
	ErrSlowSubscriber = errors.New("agent: subscriber evicted: its buffer was full; read faster or subscribe with a larger buffer")
)

// Agent drives one ring node. Create it with New, then call Run once; the
// other methods are safe for concurrent use from any goroutine.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	self   localring.Member
	domain string

	node         *localring.Node  // owned by the driver's loop
	ringSettings localring.Config // node's effective settings, fixed at New
	g            *groups.Node     // owned by the group loop
	gl           groupLoop        // owned by the group loop
	gr           groupRunner      // shared by the driver's loop and the group loop
	visitShare   atomic.Int64     // node.VisitShare after the driver's last step, for the send queue's bound (setSendQueueLimits)
	visitMsgs    atomic.Int64     // node.VisitMessages after the driver's last step, likewise
	ls           loopState        // owned by the driver's loop
	d            *driver.Driver   // runs the driver's loop
	cs           *clientServer
	sealer       *seal.Sealer
	tr           transport.Transport
	st           *sealed.Transport // tr behind the sealer, as the driver sees it
	udp          *transport.UDP    // tr, when it is a UDP transport (for its counters)
	lock         *os.File
	trace        *tracer // nil without --trace
	adminL       net.Listener
	metricsL     net.Listener // Config.MetricsListen
	metricsSrv   *http.Server
	admin        *adminServer
	httpL        net.Listener   // Config.API.HTTPListen
	apiTokens    tokens         // its bearer tokens
	operatorsGID string         // Config.API.OperatorsGroup's id
	evlog        eventLog       // recent membership events
	fed          *fedManager    // nil unless the node is a gateway with certificates
	doms         []*domainLayer // the federation domains of the node's site; owned by the group loop
	classes      *qos.Table     // the topology file's latency classes ranked into send classes; nil without federation domains
	hov          handovers      // this node's handover requests waiting for the ring; owned by the group loop

	started time.Time
	done    chan struct{} // closed when the loop ends

	ready     chan struct{} // closed at the first regular configuration
	readyOnce sync.Once
	lastPass  atomic.Int64 // the driver loop's last pass, Unix nanoseconds

	// Submit and SetLoad → loop
	mu      sync.Mutex
	queue   []submission
	newLoad *Load
	leaving bool
	calls   []func() // onLoop, for the group loop

	subMu sync.Mutex
	subs  []*Subscription

	statMu sync.Mutex
	snap   snapshot

	ran     atomic.Bool
	closeMu sync.Once

	metrics *prometheus.Registry
	lat     *latency // owned by the group loop; its histograms are in metrics

	n struct {
		submitted, backpressure, evicted atomic.Uint64
		// ringRefused counts the agent's own messages the ring refused
		// for good and submitGroups dropped.
		ringRefused atomic.Uint64
		// traceHolds counts the times the driver held the node's new
		// messages back for the trace (traceSends), traceHeld their
		// time in nanoseconds.
		traceHolds atomic.Uint64
		traceHeld  atomic.Int64
	}
}

type submission struct {
	svc     localring.Service
	payload []byte
}

// New prepares an agent from cfg: it takes the data dir's lock, persists a
// new incarnation, loads the key, opens the transport, the trace file and
// the admin socket. Nothing is sent before Run. On error everything opened
// is closed again, cfg.Network included.
func New(cfg Config) (a *Agent, err error) {
	cfg.setDefaults()
	err = cfg.Validate()
	if err == nil {
		err = cfg.Load.normalize()
	}
	if err != nil {
		if cfg.Network != nil {
			cfg.Network.Close()
		}
		return nil, err
	}
	a = &Agent{
		cfg:    cfg,
		log:    cfg.Logger.With("node", cfg.Node, "site", cfg.Site),
		domain: cfg.domain(),
		tr:     cfg.Network,
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
	}
	a.gr.init()
	defer func() {
		if err != nil {
			a.release()
			a = nil
		}
	}()

	a.lock, err = lockDataDir(cfg.DataDir)
	if err != nil {
		return a, err
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o050 != 0o050 && filepath.Dir(cfg.ClientSocket) == filepath.Clean(cfg.DataDir) {
		a.log.Info(fmt.Sprintf("data dir %s has mode %04o: only the agent's user reaches the client socket; `chmod %o %s` lets the agent's group connect", cfg.DataDir, unixMode(fi.Mode()), DataDirMode, cfg.DataDir))
	}
	st, err := readState(cfg.DataDir)
	if err != nil {
		return a, err
	}
	if st.Node != "" && st.Node != cfg.Node {
		return a, fmt.Errorf("agent: data dir %s belongs to node %q, not %q; give each node its own --data-dir", cfg.DataDir, st.Node, cfg.Node)
	}
	inc := seal.NextIncarnation(st.Incarnation, time.Now())
	if err := writeState(cfg.DataDir, state{Node: cfg.Node, Incarnation: inc, RingSeq: st.RingSeq}); err != nil {
		return a, err // the incarnation must be durable before the first Seal
	}
	a.self = localring.Member{ID: localring.NodeID(cfg.Node), Inc: inc}
	if !seal.ExactIncarnation(inc) {
		a.log.Warn(fmt.Sprintf("incarnation %d of node %s is above 2^53 (an earlier version counted nanoseconds): trace and status readers with 53-bit numbers (jq, JavaScript) misread it; to move to microsecond incarnations, stop every agent of the cluster, set \"incarnation\" to 0 in each data dir's %s, and start them again", inc, cfg.Node, stateFileName))
	}

	sec := cfg.Security
	if sec.Mode != seal.ModeNone && sec.Key.IsZero() {
		if sec.Key, err = seal.LoadKeyFile(sec.KeyFile); err != nil {
			return a, fmt.Errorf("agent: %w", err)
		}
	}
	a.sealer, err = seal.New(seal.Config{
		Mode: sec.Mode, Suite: sec.Suite, Key: sec.Key, Epoch: sec.Epoch,
		Cluster:     cfg.Cluster,
		ConfigHash:  cfg.configHash(),
		Sender:      seal.SenderID(cfg.Node),
		Incarnation: inc,
	})
	if err != nil {
		return a, fmt.Errorf("agent: %w", err)
	}
	if w := a.sealer.Warning(); w != "" {
		a.log.Warn(w)
	}

	if a.tr == nil {
		tc := cfg.Transport
		if tc.Logger == nil {
			tc.Logger = a.log
		}
		u, warnings, err := transport.Listen(tc)
		if err != nil {
			return a, fmt.Errorf("agent: node %s: %w", cfg.Node, err)
		}
		a.tr, a.udp = u, u
		for _, w := range warnings {
			a.log.Warn(w.String())
		}
	} else if u, ok := a.tr.(*transport.UDP); ok {
		a.udp = u
	}

	members := make([]localring.NodeID, len(cfg.Nodes))
	for i, id := range cfg.Nodes {
		members[i] = localring.NodeID(id)
	}
	a.st, err = sealed.New(sealed.Config{Transport: a.tr, Sealer: a.sealer, Self: a.self.ID, Members: members, Site: cfg.Site, Logger: a.log,
		MismatchCause: a.configMismatchCause})
	if err != nil {
		return a, fmt.Errorf("agent: node %s: %w", cfg.Node, err)
	}

	rc := cfg.Ring
	if a.classes, err = cfg.sendClasses(); err != nil {
		return a, fmt.Errorf("agent: node %s: %w", cfg.Node, err)
	}
	if a.classes != nil && rc.ClassVisitPackets == nil {
		rc.ClassVisitPackets = a.classes.VisitPackets()
	}
	rc.ID = a.self.ID
	rc.Incarnation = inc
	rc.RingSeq = st.RingSeq
	rc.MaxIDBytes = cfg.ringIDBound()
	if maxPacket := a.st.MaxPacket(); rc.MaxPacketBytes == 0 || rc.MaxPacketBytes > maxPacket {
		rc.MaxPacketBytes = maxPacket
	}
	a.node, err = localring.New(rc)
	if err != nil {
		return a, fmt.Errorf("agent: %w", err)
	}
	a.ringSettings = a.node.Settings()
	src, eff := cfg.RingSource, a.ringSettings
	if src == "" {
		src = "defaults (lan preset where unset)"
	}
	a.log.Info("ring timings", "from", src,
		"token", eff.TokenTimeout, "retransmit", eff.TokenRetransmit, "hold", eff.TokenHold, "join", eff.JoinTimeout,
		"consensus", eff.ConsensusTimeout, "merge", eff.MergeTimeout, "window", eff.WindowPackets, "per_visit", eff.MaxPacketsPerVisit,
		"max_packet", eff.MaxPacketBytes, "max_id", eff.MaxIDBytes)
	if err := a.newDriver(); err != nil {
		return a, err
	}
	if err := a.newGroups(); err != nil {
		return a, err
	}
	if err := a.newDomains(); err != nil {
		return a, err
	}
	a.visitShare.Store(int64(a.node.VisitShare()))
	a.setSendQueueLimits()

	if cfg.TracePath != "" {
		if a.trace, err = openTrace(cfg.TracePath, cfg.Node, inc, a.domain); err != nil {
			return a, err
		}
	}
	if err := a.listenAPI(); err != nil {
		return a, err
	}
	if cfg.MetricsListen != "" {
		if a.metricsL, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return a, fmt.Errorf("agent: metrics listener: %w; choose another --metrics-listen", err)
		}
	}
	if a.cs, err = newClientServer(a); err != nil {
		return a, err
	}
	if cfg.Federation != nil {
		if a.fed, err = newFedManager(a, *cfg.Federation); err != nil {
			return a, err
		}
	}
	a.snap.state = "starting"
	a.lat = newLatency(cfg.Node, cfg.GroupClasses)
	a.metrics = newRegistry(a)
	return a, nil
}

// Metrics returns the agent's own Prometheus registry (see the admin
// API's /metrics): the agent's metrics, the Go runtime's and the
// process's. A program that embeds the agent may serve it, or gather it
// into its own registry.
func (a *Agent) Metrics() *prometheus.Registry { return a.metrics }

// Close releases what New opened, for an agent whose Run was never
// called. It does nothing once Run has been called: Run releases
// everything when it returns.
func (a *Agent) Close() error {
	if a.ran.CompareAndSwap(false, true) {
		a.release()
	}
	return nil
}

// release closes whatever New opened. Safe to call on a partly built
// agent, once.
func (a *Agent) release() {
	a.closeMu.Do(func() {
		if a.cs != nil {
			a.cs.shutdown(cp.CodeShuttingDown, "agent "+a.cfg.Node+" stopped")
			a.cs.wait()
		}
		if a.adminL != nil {
			a.adminL.Close()
			os.Remove(a.cfg.AdminSocket)
		}
		if a.httpL != nil {
			a.httpL.Close()
		}
		if a.metricsL != nil {
			a.metricsL.Close()
		}
		if a.tr != nil {
			a.tr.Close()
		}
		if a.trace != nil {
			if err := a.trace.close(); err != nil {
				a.log.Error("trace file incomplete", "path", a.cfg.TracePath, "err", err)
			}
		}
		if a.lock != nil {
			a.lock.Close() // releases the flock
		}
	})
}

// Self returns the node's identity: its id and this run's incarnation.
func (a *Agent) Self() localring.Member { return a.self }

// Submit hands a message to the ring for multicast to every member at
// service level svc. It returns at once: the message is sent when the
// node next holds the token, and delivered back to the sender like to
// everyone else (subscribe to see it). The agent keeps payload; do not
// modify it afterwards. Submit fails with ErrBackpressure when
// Config.SubmitQueue messages are waiting, and with ErrStopped once the
// agent is leaving.
func (a *Agent) Submit(svc localring.Service, payload []byte) error {
	if !svc.Valid() {
		return fmt.Errorf("%w %d: want 1 (Unreliable) to 6 (Safe)", localring.ErrBadService, svc)
	}
	limit := localring.MaxMessageBytes
	if max := a.cfg.Ring.MaxMessageBytes; max > 0 && max < limit {
		limit = max
	}
	if len(payload) > limit {
		return fmt.Errorf("%w: %d bytes, more than the ring's %d (Ring.MaxMessageBytes)", localring.ErrTooLarge, len(payload), limit)
	}
	a.mu.Lock()
	switch {
	case a.leaving:
		a.mu.Unlock()
		return ErrStopped
	case len(a.queue) >= a.cfg.SubmitQueue:
		a.mu.Unlock()
		a.n.backpressure.Add(1)
		return ErrBackpressure
	}
	a.queue = append(a.queue, submission{svc, payload})
	a.mu.Unlock()
	a.n.submitted.Add(1)
	a.poke()
	return nil
}

// SetLoad changes the built-in load generator (see Load); a zero Rate
// stops it.
func (a *Agent) SetLoad(l Load) error {
	if err := l.normalize(); err != nil {
		return err
	}
	a.mu.Lock()
	a.newLoad = &l
	a.mu.Unlock()
	a.poke()
	return nil
}

// poke wakes the driver's loop up.
func (a *Agent) poke() { a.d.Wake() }

// Subscription receives the node's events: installs of regular and
// transitional configurations, its own sends, deliveries, and protocol
// notices, in the order the node produced them. Events carry pointers
// into the ring's data: read them, do not modify them.
//
// Delivery never waits for a subscriber: when C's buffer is full the
// subscription is evicted (C is closed and Err returns
// ErrSlowSubscriber), so that one slow reader cannot stall the ring.
type Subscription struct {
	// C delivers the events; it is closed when the subscription ends.
	C <-chan localring.Event

	c   chan localring.Event
	a   *Agent
	err error // why C was closed; guarded by a.subMu
}

// Subscribe returns a subscription with room for buffer events (at least
// 1; default 1024 when 0).
func (a *Agent) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 1024
	}
	c := make(chan localring.Event, buffer)
	s := &Subscription{C: c, c: c, a: a}
	a.subMu.Lock()
	defer a.subMu.Unlock()
	select {
	case <-a.done:
		s.err = ErrStopped
		close(c)
	default:
		a.subs = append(a.subs, s)
	}
	return s
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.a.subMu.Lock()
	defer s.a.subMu.Unlock()
	s.a.dropSub(s, nil)
}

// Err says why C was closed: nil after Close, ErrSlowSubscriber after
// an eviction, ErrStopped when the agent stopped.
func (s *Subscription) Err() error {
	s.a.subMu.Lock()
	defer s.a.subMu.Unlock()
	return s.err
}

// dropSub removes s and closes its channel; a.subMu is held.
func (a *Agent) dropSub(s *Subscription, err error) {
	if i := slices.Index(a.subs, s); i >= 0 {
		a.subs = slices.Delete(a.subs, i, i+1)
		s.err = err
		close(s.c)
	}
}

// publish hands events to the subscribers, evicting the slow ones.
func (a *Agent) publish(evs []localring.Event) {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	for i := 0; i < len(a.subs); i++ {
		s := a.subs[i]
		for _, e := range evs {
			select {
			case s.c <- e:
				continue
			default:
			}
			a.n.evicted.Add(1)
			a.log.Warn("subscriber evicted: its buffer is full", "buffer", cap(s.c))
			a.dropSub(s, ErrSlowSubscriber)
			i--
			break
		}
	}
}

// Run drives the node until ctx is cancelled, then leaves gracefully (see
// Config.DrainTimeout) and releases everything: the transport, the admin
// socket, the trace file and the data dir's lock. It returns nil after a
// graceful leave. Call it once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.ran.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice, or after Close")
	}
	var wg sync.WaitGroup
	a.statMu.Lock()
	a.started = time.Now()
	a.statMu.Unlock()
	a.ls.load.set(a.cfg.Load, time.Now())
	a.log.Info("agent starting", "incarnation", a.self.Inc,
		"transport", a.transportString(), "security", a.securityString(), "configured", a.cfg.Nodes)
	a.cs.start()
	a.admin = newAdminServer(a)
	if a.adminL != nil {
		a.admin.start(&wg, a.adminL, a.admin.unixServer(a.operatorsGID))
	}
	if a.httpL != nil {
		a.admin.start(&wg, a.httpL, a.admin.httpServer(a.apiTokens))
	}
	if a.metricsL != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler(a, a.metrics))
		a.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			if err := a.metricsSrv.Serve(a.metricsL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics listener stopped", "err", err)
			}
		})
	}
	a.logListeners()
	stopGroups := make(chan struct{})
	go a.runGroups(stopGroups)
	err := a.d.Run(ctx) // closes the transport when it returns
	close(stopGroups)
	<-a.gr.done // after its last pass: the events the driver handed last
	a.fed.close()

	a.mu.Lock()
	a.leaving = true
	a.mu.Unlock()
	close(a.done)
	a.admin.shutdown()
	if a.metricsSrv != nil {
		a.metricsSrv.Close()
	}
	a.cs.shutdown(cp.CodeShuttingDown, "agent "+a.cfg.Node+" stopped")
	a.cs.wait()
	wg.Wait()
	a.subMu.Lock()
	for len(a.subs) > 0 {
		a.dropSub(a.subs[0], ErrStopped)
	}
	a.subMu.Unlock()
	if seq := a.node.RingSeq(); seq > a.d.Saved() { // seen, never sent
		if werr := writeState(a.cfg.DataDir, state{Node: a.cfg.Node, Incarnation: a.self.Inc, RingSeq: seq}); werr != nil {
			a.log.Error("could not save the ring sequence number; the next start learns it from the ring", "err", werr)
		}
	}
	a.release()
	a.statMu.Lock()
	a.snap.state = "stopped"
	a.statMu.Unlock()
	a.log.Info("agent stopped", "incarnation", a.self.Inc)
	return err
}

// logListeners writes the line that says where the agent listens: the
// ring's UDP address, the admin socket and the client listeners.
func (a *Agent) logListeners() {
	admin := "none"
	if a.adminL != nil {
		admin = "unix://" + a.cfg.AdminSocket
	}
	attrs := []any{"ring", a.tr.LocalAddr().String(), "admin", admin, "clients", a.cs.addrs}
	if a.metricsL != nil {
		attrs = append(attrs, "metrics", "http://"+a.metricsL.Addr().String()+"/metrics")
	}
	if a.httpL != nil {
		attrs = append(attrs, "api", a.apiURL())
	}
	a.log.Info("listening", attrs...)
	if a.httpL != nil && a.cfg.API.TLS == nil && !isLoopback(a.httpL.Addr().String()) {
		a.log.Warn("the introspection API listens on a non-loopback address over plain HTTP: its bearer tokens and answers cross the network in the clear; give it a certificate (--http-cert, --http-key), or keep it on loopback and reach it through an SSH tunnel", "api", a.httpL.Addr().String())
	}
	if tc := a.cfg.ClientTLS; a.cfg.ClientListen != "" && (tc == nil || tc.ClientAuth != tls.RequireAndVerifyClientCert) {
		a.log.Warn("ANONYMOUS CLIENTS: the TCP client listener requires no client certificate: anyone who reaches "+a.cfg.ClientListen+" can connect, join any group and send to any group whose ACL does not forbid it; require client certificates (--client-ca) or firewall the port",
			"listen", a.cfg.ClientListen)
	}
}
