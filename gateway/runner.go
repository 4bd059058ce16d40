package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/internal/securefile"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/topology"
)

// ErrBackpressure is Submit's answer when Config.SubmitQueue messages
// wait for the ring.
var ErrBackpressure = errors.New("gateway: federation send queue full; wait for deliveries before submitting more")

// ErrStopped is Submit's answer once the runner is leaving or has stopped.
var ErrStopped = errors.New("gateway: the federation ring member has stopped; it accepts no more messages")

// Config is one gateway's member of one federation domain's ring.
type Config struct {
	// File and Plan are the topology file and its plan (File.Plan()).
	// Required.
	File *topology.File
	Plan *topology.Plan
	// Domain is the federation domain's name ("fed/CLASS:SITES"). Required.
	Domain string
	// Node is this gateway's node id. Required.
	Node string
	// Local is the id of the local ring configuration in which this node
	// became its site's active gateway: it gives the incarnation
	// (federation.Incarnation). Required (its Seq is never 0).
	Local localring.RingID
	// Epoch is the number of handovers its site agreed in Local before
	// this node became active (federation.Role): 0 when Local's install
	// made it active.
	Epoch int

	// KnownRingSeq is the highest federation ring sequence number of this
	// domain the site knows of (the previous gateway's, as its local ring
	// heard it; 0 when none). A new incarnation numbers its rings above
	// it and above what this node saved, so that rings represented by two
	// gateways of one site never share an id.
	KnownRingSeq uint64

	// Certificate and Roots are the gateway's certificate and the cluster
	// CA (LoadCertificates reads them from `atoll certs`' directory).
	// Required.
	Certificate tls.Certificate
	Roots       *x509.CertPool
	// Listen is the UDP address of the QUIC transport. Default: ":PORT"
	// with the port of the node's QUIC endpoint in the topology file.
	Listen string
	// Conn, when set, is the UDP socket to use instead of Listen (tests).
	Conn net.PacketConn
	// Dial, when set, overrides the endpoint this gateway dials to reach a
	// site (site name → "host:port"): a WAN emulator in between (tests,
	// benchmarks). Default: the endpoints of the topology file.
	Dial map[string]string
	// Transport overrides settings of the QUIC transport (mode, timeouts,
	// queue sizes; see transport.Config). Its Certificate, Roots, Peers,
	// ConfigHash, Listen, Conn and Logger are set by the runner.
	Transport transport.Config

	// DataDir holds the ring sequence number of the domain's ring (file
	// StateFile(Domain)); it must exist. Required.
	DataDir string
	// Trace, when set, receives the ring's EVS trace (JSON lines,
	// docs/EVS.md), written before the packets of the same pass leave.
	Trace io.Writer
	// Logger receives the operator's lines. Default slog.Default().
	Logger *slog.Logger
	// DrainTimeout bounds the drain of a graceful stop. Default 0: leave
	// at once.
	DrainTimeout time.Duration
	// SubmitQueue bounds the messages Submit queues before the ring takes
	// them. Default 4096.
	SubmitQueue int

	// Events, Pass and Deadline are the caller's hooks in the ring's loop
	// (see driver.Hooks): Events sees every event of the node after the
	// runner handled it; Pass may submit to the node directly (a load
	// generator). Optional.
	Events   func(now time.Time, evs []localring.Event)
	Pass     func(now time.Time, n *localring.Node)
	Deadline func() time.Time
}

// StateFile returns the name of the file in the data dir that keeps the
// ring sequence number of federation domain domain's ring.
func StateFile(domain string) string {
	b := []byte(domain)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return "federation-" + string(b) + ".json"
}

// IncarnationShift is how far RingSeqOf shifts an incarnation: each
// incarnation gets 2^16 ring sequence numbers of its own before it could
// reach the next one's floor, 16,384 membership changes (four numbers
// each), hours of a ring re-forming at its consensus timeout.
const IncarnationShift = 16

// RingSeqOf returns the lowest ring sequence number a federation member of
// incarnation inc starts from, whatever it saved: inc << IncarnationShift
// (saturating). A ring's id is its sequence number and its
// representative's member id, the site, without the incarnation; a
// standby that takes over has not seen the rings its predecessor formed
// (it never saved them), and both would otherwise start at the same
// numbers — the first ring of each, of the site alone, would share its
// id. Incarnations only grow from one gateway of a site to the next
// (federation.Incarnation), so the floors do, 2^16 apart at least.
func RingSeqOf(inc uint64) uint64 {
	if inc >= 1<<(64-IncarnationShift-1) {
		return 1 << 62 // far above any number a ring reaches by counting
	}
	return inc << IncarnationShift
}

// CertFiles returns the files `atoll certs` wrote into dir for node: the
// cluster CA certificate, the node's certificate and its key.
func CertFiles(dir, node string) (ca, cert, key string) {
	return filepath.Join(dir, "ca.crt"), filepath.Join(dir, pki.CertFile(node)), filepath.Join(dir, pki.KeyFile(node))
}

// LoadCertificates reads node's certificate and key and the cluster CA
// from dir, as `atoll certs` writes them.
func LoadCertificates(dir, node string) (tls.Certificate, *x509.CertPool, error) {
	ca, cert, key := CertFiles(dir, node)
	roots, err := pki.LoadRoots(ca)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gateway: cluster CA: %w (make it with `atoll certs`)", err)
	}
	c, err := pki.LoadCertificate(cert, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gateway: certificate of node %s: %w (make it with `atoll certs --node %s`)", node, err, node)
	}
	return c, roots, nil
}

// Stats describe a runner for status.
type Stats struct {
	Domain      string `json:"domain"`
	Site        string `json:"site"`
	Node        string `json:"node"`
	Incarnation uint64 `json:"incarnation"`
	// State is starting, operational (a configuration installed and not
	// gathering), gathering, superseded or stopped.
	State string `json:"state"`
	// SupersededBy is the incarnation of the site's member that fenced
	// this one (State superseded); 0 otherwise.
	SupersededBy uint64 `json:"superseded_by,omitempty"`
	// Ring is the regular configuration installed last, Members its sites.
	Ring string `json:"ring,omitempty"`
	// RingSeq is the highest ring sequence number saved in the data dir.
	RingSeq uint64   `json:"ring_seq"`
	Members []string `json:"members,omitempty"`
	// Missing are the domain's sites not in Ring.
	Missing []string `json:"missing,omitempty"`
	// Installs counts regular configurations; SitesLost and SitesJoined
	// the sites that left and joined across them.
	Installs    uint64 `json:"installs"`
	SitesLost   uint64 `json:"sites_lost"`
	SitesJoined uint64 `json:"sites_joined"`
	// Submitted counts the messages the ring took; Delivered its
	// deliveries at this member; Backpressure Submit's refusals.
	Submitted    uint64 `json:"submitted"`
	Delivered    uint64 `json:"delivered"`
	Backpressure uint64 `json:"backpressure"`
	// Connected are the peer sites with a connection, each with the
	// gateway node speaking for it.
	Connected map[string]string `json:"connected,omitempty"`
	// Refused counts refused gateway connections by cause.
	Refused map[string]uint64 `json:"refused,omitempty"`
	// Counters are the federation ring member's protocol counters (token
	// losses, retransmissions, window cuts, the token's rotation), as of
	// the runner's last driver pass.
	Counters  RingCounters    `json:"counters"`
	Transport transport.Stats `json:"-"`
	Driver    driver.Stats    `json:"-"`

	// Backlog is the message bytes waiting in the transport's queue
	// toward the slowest peer; BacklogBound the bound beyond which the
	// ring node sends no new packets (the driver's MaxBacklogBytes:
	// two rotations of the domain's slowest declared link,
	// federation.BacklogBytes, or the transport's own bound).
	Backlog      int `json:"backlog_bytes"`
	BacklogBound int `json:"backlog_bound_bytes"`
}

// ringPacketMode is the transport mode the topology file's
// federation.ring_packets names (validated by topology.Parse).
func ringPacketMode(f *topology.File) transport.Mode {
	if f.Federation == nil {
		return transport.ModeDefault
	}
	switch f.Federation.RingPackets {
	case "streams":
		return transport.ModeStreams
	case "datagrams":
		return transport.ModeDatagrams
	case "udp":
		return transport.ModeUDP
	}
	return transport.ModeDefault
}

// ringMode resolves the transport mode of domain d's ring: the gateway's
// configuration's (set), else the topology file's
// federation.ring_packets, else transport.DomainMode (udp where the file
// declares a link's bandwidth); why says which, for the start-up log.
func ringMode(set transport.Mode, f *topology.File, d *topology.Domain) (transport.Mode, string) {
	if set != transport.ModeDefault {
		return set, "set in the gateway's configuration"
	}
	if m := ringPacketMode(f); m != transport.ModeDefault {
		return m, "federation.ring_packets: " + f.Federation.RingPackets
	}
	m, declared := transport.DomainMode(f, d)
	if m == transport.ModeUDP {
		return m, "default: links " + strings.Join(declared, ", ") + " of the ring declare a bandwidth"
	}
	return m, "default: no link of the ring declares a bandwidth"
}

// logPaths logs, once at start, how the ring packets travel to each peer
// site and why: outside QUIC paced at the link's declared bandwidth
// (ModeUDP), or on QUIC streams or datagrams under QUIC's congestion
// control.
func (r *Runner) logPaths(tc transport.Config, why string) {
	for _, p := range tc.Peers {
		bw := p.Bandwidth
		if bw == 0 {
			bw = tc.Bandwidth
		}
		switch {
		case tc.Mode == transport.ModeUDP && bw > 0:
			r.log.Info("federation ring path: udp, sealed datagrams outside QUIC paced at the link's declared bandwidth", "site", p.Site, "mode", tc.Mode.String(), "bandwidth", topology.Bandwidth(bw).String(), "why", why)
		case tc.Mode == transport.ModeUDP:
			r.log.Warn("federation ring path: streams, under QUIC's congestion control: the link to this site declares no bandwidth to pace at; declare links[].bandwidth between the two sites to send its ring packets outside QUIC", "site", p.Site, "mode", tc.Mode.String(), "why", why)
		default:
			r.log.Info("federation ring path: "+tc.Mode.String()+", under QUIC's congestion control", "site", p.Site, "mode", tc.Mode.String(), "why", why)
		}
	}
}

// RingCounters are the federation ring member's protocol counters that an
// operator watches: what a slow or lossy WAN path costs the ring.
type RingCounters struct {
	TokenLosses        uint64 `json:"token_losses"`
	TokenRetransmits   uint64 `json:"token_retransmits"`
	Retransmits        uint64 `json:"retransmits"`
	RetransmitRequests uint64 `json:"retransmit_requests"`
	Gathers            uint64 `json:"gathers"`
	Evictions          uint64 `json:"evictions"`
	// WindowCuts counts the times the member halved its flow-control
	// window because rotations slowed (localring.Config.AdaptWindow).
	WindowCuts uint64 `json:"window_cuts"`
	// Nacks are the sequence numbers the member asked their senders for
	// directly, TokenNacks the times it told its predecessor the token
	// did not come, and EarlyTokenRetransmits the token retransmissions
	// (counted in TokenRetransmits too) it sent because a pass took longer
	// than its passes' timing says, before the retransmit interval
	// (localring.Config.NackDelay; zero in the stream mode).
	Nacks                 uint64 `json:"nacks"`
	TokenNacks            uint64 `json:"token_nacks"`
	EarlyTokenRetransmits uint64 `json:"early_token_retransmits"`
	// Rotation is the distribution of the token's rotation time.
	Rotation localring.Histogram `json:"-"`
}

func ringCounters(s *localring.Stats) RingCounters {
	return RingCounters{
		TokenLosses: s.TokenLosses, TokenRetransmits: s.TokenRetransmits,
		Retransmits: s.Retransmits, RetransmitRequests: s.RetransmitRequests,
		Gathers: s.Gathers, Evictions: s.Evictions, WindowCuts: s.WindowCuts,
		Nacks: s.Nacks, TokenNacks: s.TokenNacks, EarlyTokenRetransmits: s.EarlyTokenRetransmits,
		Rotation: s.Rotation,
	}
}

// Runner is one federation ring member. Create it with New, call Run once.
type Runner struct {
	cfg   Config
	fc    federation.Config
	ring  localring.Config // fc.Ring as the node runs it (RingConfig)
	log   *slog.Logger
	tr    *transport.Transport
	node  *localring.Node
	d     *driver.Driver
	drv   atomic.Pointer[driver.Driver] // d, once made: for the transport's OnConnect
	trace *evs.Writer
	proc  tracemap.Proc
	// backlog is the driver's MaxBacklogBytes (Stats.BacklogBound).
	backlog int

	mu      sync.Mutex // guards queue, leaving, st
	queue   []queued
	leaving bool
	st      Stats
	gather  string            // reason of the last gather, for "site lost"; loop only
	incs    map[string]uint64 // members of the last regular configuration; loop only
	// seen is, per peer site, the highest incarnation of it the node had
	// heard of at the last check (redialStale); loop only.
	seen map[string]uint64
	// reform is an ask to form the ring again (Reform) not carried out
	// yet: it waits for the member's next token visit; loop only.
	reform  *ReformAsk
	traceOK bool
}

// New prepares the runner: the federation configuration, the saved ring
// sequence number, the QUIC transport (listening) and the driver. Nothing
// is sent before Run.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.File == nil || cfg.Plan == nil:
		return nil, errors.New("gateway: Config.File and Config.Plan are required")
	case cfg.DataDir == "":
		return nil, errors.New("gateway: Config.DataDir is required: the federation ring's sequence number must be saved")
	case cfg.Roots == nil || len(cfg.Certificate.Certificate) == 0:
		return nil, errors.New("gateway: the gateway certificate and the cluster CA are required (`atoll certs`, LoadCertificates)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SubmitQueue == 0 {
		cfg.SubmitQueue = 4096
	}
	fc, err := federation.NewConfig(cfg.File, cfg.Plan, cfg.Domain, cfg.Node, cfg.Local, cfg.Epoch, cfg.KnownRingSeq)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	d, _ := cfg.Plan.Domain(cfg.Domain)
	r := &Runner{cfg: cfg, fc: fc,
		log:  cfg.Logger.With("domain", fc.Domain, "ring_member", fc.Site, "incarnation", fc.Ring.Incarnation),
		proc: tracemap.Proc{Node: fc.Site, Inc: fc.Ring.Incarnation, Domain: fc.Domain}}
	r.st = Stats{Domain: fc.Domain, Site: fc.Site, Node: cfg.Node, Incarnation: fc.Ring.Incarnation, State: "starting", Missing: slices.Clone(fc.Sites)}
	if cfg.Trace != nil {
		r.trace, r.traceOK = evs.NewWriter(cfg.Trace), true
	}

	seq, err := readSeq(cfg.DataDir, fc.Domain)
	if err != nil {
		return nil, err
	}
	tc := cfg.Transport
	tc.Certificate, tc.Roots, tc.Logger = cfg.Certificate, cfg.Roots, cfg.Logger.With("domain", fc.Domain)
	tc.Peers = transport.Peers(cfg.File, cfg.Plan, d, fc.Site)
	for i, p := range tc.Peers {
		if ep, ok := cfg.Dial[p.Site]; ok {
			tc.Peers[i].Endpoints = []string{ep}
		}
	}
	tc.ConfigHash = cfg.Plan.ConfigHash(d)
	var why string
	tc.Mode, why = ringMode(tc.Mode, cfg.File, d)
	r.logPaths(tc, why)
	tc.Conn, tc.Listen = cfg.Conn, cfg.Listen
	// A runner starts when its node becomes the site's active gateway,
	// often taking over from one that died: the sites that dial this one
	// may hold connections to it until the idle timeout, and in a domain
	// of two sites no third one tells them of this incarnation
	// (redialStale). At a first start the announcement races the peer's
	// own dial, and the two settle on one connection.
	tc.Announce = true
	// A member that starts (a standby taking over above all) sends its
	// first joins before its connections are up, and they go nowhere: a
	// gathering node sends its join again as soon as a peer is reachable
	// rather than a join timeout later (localring.Node.Reachable). Nothing
	// waits for it: the peer's packets on the new connection may be
	// stepped first, and if the peer's join completes the consensus here,
	// this node, the representative, multicasts its join again just before
	// its commit token (it first heard the peer after its last join), and
	// a peer that gets the token first keeps it until the join arrives
	// (localring's checkConsensus and onCommit; 22d96e9 and a8c5825 for
	// the race). The driver is made after the transport; a
	// connection set up before it needs nothing, the node's start sends a
	// join.
	tc.OnConnect = func(site string) {
		if d := r.drv.Load(); d != nil {
			d.Do(func(now time.Time) { r.node.Reachable(now, localring.NodeID(site)) })
		}
	}
	if tc.Conn == nil && tc.Listen == "" {
		ep, err := cfg.Plan.GatewayEndpoint(cfg.File, fc.Domain, cfg.Node)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		_, port, _ := net.SplitHostPort(ep)
		tc.Listen = ":" + port
	}
	if r.tr, err = transport.New(tc); err != nil {
		return nil, fmt.Errorf("gateway: domain %s: %w", fc.Domain, err)
	}
	if self := r.tr.Self(); self.Site != fc.Site || self.Node != cfg.Node {
		r.tr.Close()
		return nil, fmt.Errorf("gateway: the certificate is of %s/%s, not of node %s of site %s: load %s's certificate", self.Site, self.Node, cfg.Node, fc.Site, cfg.Node)
	}
	rc := fc.Ring
	rc.RingSeq = max(seq, cfg.KnownRingSeq, rc.RingSeq, RingSeqOf(rc.Incarnation))
	// Datagrams and ModeUDP carry smaller packets than the preset's: the
	// window keeps its bytes and counts them.
	federation.FitPacket(&rc, r.tr.MaxPacket())
	if tc.Mode == transport.ModeStreams {
		// QUIC repairs a stream's losses itself: a packet missing there
		// waits behind one QUIC is repairing (or behind its congestion
		// window) while the token, a datagram, overtakes it, and a nack
		// would only send it again (localring.Config.NackDelay).
		rc.NackDelay = 0
	}
	r.ring = rc
	if r.node, err = localring.New(rc); err != nil {
		r.tr.Close()
		return nil, fmt.Errorf("gateway: domain %s: %w", fc.Domain, err)
	}
	r.backlog = backlogBound(r.tr.BacklogBound(rc.WindowPackets*rc.MaxPacketBytes), federation.BacklogBytes(cfg.File, d))
	r.d, err = driver.New(driver.Config{
		Node: r.node, Transport: r.tr, Store: seqStore{dir: cfg.DataDir, domain: fc.Domain},
		Logger: r.log, DrainTimeout: cfg.DrainTimeout,
		MaxBacklogBytes: r.backlog,
		Hooks: driver.Hooks{
			Events: r.events,
			Pass:   r.pass,
			Deadline: func() time.Time {
				if cfg.Deadline != nil {
					return cfg.Deadline()
				}
				return time.Time{}
			},
			Leaving: func(time.Time) {
				r.mu.Lock()
				r.leaving = true
				r.mu.Unlock()
			},
			Drained: func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return len(r.queue) == 0
			},
		},
	})
	if err != nil {
		r.tr.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	r.drv.Store(r.d)
	return r, nil
}

// Config returns the federation configuration the runner runs with.
func (r *Runner) Config() federation.Config { return r.fc }

// RingConfig returns the ring configuration the node runs with: the
// federation configuration's, its ring sequence number raised to what
// was saved, and its packets no larger than the transport carries (the
// window keeping its bytes, federation.FitPacket).
func (r *Runner) RingConfig() localring.Config { return r.ring }

// Addr returns the UDP address the QUIC transport listens on.
func (r *Runner) Addr() net.Addr { return r.tr.Addr() }

// Node returns the ring node: use it only inside the hooks (Pass, Events).
func (r *Runner) Node() *localring.Node { return r.node }

// Wake makes the loop run a pass soon (after a change the Deadline hook
// reports).
func (r *Runner) Wake() { r.d.Wake() }

// Run drives the member until ctx is cancelled (then it drains and
// leaves, and returns nil) or it is superseded by a newer gateway of its
// site (an error wrapping localring.ErrSuperseded), or the ring sequence
// number cannot be saved (driver.ErrStateNotSaved). It closes the
// transport when it returns.
func (r *Runner) Run(ctx context.Context) error {
	r.log.Info("federation ring member starting", "node", r.cfg.Node, "sites", r.fc.Sites, "listen", r.tr.Addr().String(), "alpn", r.tr.ALPN(),
		"token_timeout", r.fc.Ring.TokenTimeout, "consensus_timeout", r.fc.Ring.ConsensusTimeout, "window", r.fc.Ring.WindowPackets)
	err := r.d.Run(ctx)
	r.mu.Lock()
	r.leaving = true
	if r.st.State != "superseded" {
		r.st.State = "stopped"
	}
	r.mu.Unlock()
	if err != nil && !errors.Is(err, localring.ErrSuperseded) {
		r.log.Error("federation ring member stopped", "err", err)
	} else {
		r.log.Info("federation ring member stopped", "superseded", err != nil)
	}
	return err
}

// queued is a message Submit queued for the node.
type queued struct {
	class   int
	svc     localring.Service
	payload []byte
}

// Submit queues a message for the federation ring at service level svc;
// the runner keeps payload. It fails with ErrBackpressure when
// Config.SubmitQueue messages wait and with ErrStopped once leaving. It
// is SubmitClass with class 0.
func (r *Runner) Submit(svc localring.Service, payload []byte) error {
	return r.SubmitClass(0, svc, payload)
}

// SubmitClass is Submit in a send class of the member
// (localring.Node.SubmitClass; a gateway's bridge gives each of its
// messages one: bridge.FedClass).
func (r *Runner) SubmitClass(class int, svc localring.Service, payload []byte) error {
	if class < 0 || class >= localring.MaxSendClasses {
		return fmt.Errorf("%w %d: 0 to %d", localring.ErrBadClass, class, localring.MaxSendClasses-1)
	}
	if !svc.Valid() {
		return fmt.Errorf("%w %d", localring.ErrBadService, svc)
	}
	if len(payload) > federation.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", localring.ErrTooLarge, len(payload))
	}
	r.mu.Lock()
	switch {
	case r.leaving:
		r.mu.Unlock()
		return ErrStopped
	case len(r.queue) >= r.cfg.SubmitQueue:
		r.st.Backpressure++
		r.mu.Unlock()
		return ErrBackpressure
	}
	r.queue = append(r.queue, queued{class, svc, payload})
	r.mu.Unlock()
	r.d.Wake()
	return nil
}

// Fence tells the member that incarnation inc of site's member runs: a
// lower one is refused from now on, and a higher one of its own site
// stops this member at once (it is superseded). Safe from any goroutine.
func (r *Runner) Fence(site string, inc uint64) {
	r.d.Do(func(now time.Time) { r.node.Fence(now, localring.NodeID(site), inc) })
}

// Reform asks the member to form its ring again (localring.Node.Reform)
// at its next token visit in the ring it is in (ReformAsk): with every
// site reachable that gives the same sites a new federation
// configuration (gateway/domconf installs the domain's node-level
// configuration changes there). Safe from any goroutine.
func (r *Runner) Reform() {
	r.d.Do(func(now time.Time) { r.reform = NewReformAsk(r.node) })
}

// ReformAsk is an ask for a federation ring member to form its ring
// again (localring.Node.Reform), carried out at the member's first token
// visit after the ask, in the ring it was in, and dropped when the
// member left that ring or started a membership round first (the new
// ring's configuration covers the ask, as domconf's Ready.Covered says).
//
// The wait is a token rotation at most. A gateway asks when its site
// applies the stream up to its own announcement (domconf Ready.Reform),
// and that needs the ring's entry of the domain's configuration there,
// which a continuing entry holds back behind the Safe messages before it
// until a mark (bridge, "Failover without a configuration change"): the
// Ack that makes the mark is Safe, and the other members deliver it at
// their own next token visits, up to a rotation later. Formed again at
// once, the ring stopped a member that had not delivered it yet (the
// join came before the token), and that site's domain stayed without its
// configuration, and without a delivery, for the whole membership round
// of the ring formed again: hiersim's gateway crash, seeds 444, 490, 568,
// 660, 779, 782 and 994 of 1-1000, 0.6-0.75 s more (TestTakeoverTimeline
// checks that no site applies the entry after the ring formed again).
// Every member that delivers the Ack at a visit saw, at that visit and
// at its previous one, a token whose aru every member's aru was at least
// by then (localring: Safe when the aru of the last two visits covers
// it), so by the asking member's next visit every other member has had
// the token once since, with such an aru, and delivered it.
type ReformAsk struct {
	ring   localring.RingID
	visits uint64 // the member's token visits (Stats.Rotation.Count) at the ask
}

// NewReformAsk returns an ask for node's ring, nil when it is in none.
func NewReformAsk(node *localring.Node) *ReformAsk {
	c := node.Configuration()
	if c == nil {
		return nil
	}
	return &ReformAsk{ring: c.Ring, visits: node.Stats().Rotation.Count}
}

// Due reports whether the ask is to be carried out now (the member had a
// token visit since the ask, in the same ring, and is operational), and
// whether it is still pending (neither carried out nor dropped).
func (a *ReformAsk) Due(node *localring.Node) (due, pending bool) {
	if a == nil {
		return false, false
	}
	c := node.Configuration()
	switch {
	case c == nil || c.Ring != a.ring:
		return false, false // the member left the ring: its configuration covers the ask
	case node.State() != "operational":
		return false, false // a membership round is under way: its ring comes after everything delivered (localring.Node.Reform)
	case node.Stats().Rotation.Count > a.visits:
		return true, false
	}
	return false, true
}

// SupersededBy returns the incarnation of the site's member that fenced
// this one, 0 when none did (Stats.SupersededBy). Safe from any goroutine.
func (r *Runner) SupersededBy() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.SupersededBy
}

// Done is closed when Run has returned.
func (r *Runner) Done() <-chan struct{} { return r.d.Done() }

// Stats returns the runner's state and counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	st := r.st
	st.Members, st.Missing = slices.Clone(st.Members), slices.Clone(st.Missing)
	r.mu.Unlock()
	st.Transport, st.Driver, st.RingSeq = r.tr.Stats(), r.d.Stats(), r.d.Saved()
	st.Backlog, st.BacklogBound = r.tr.Backlog(), r.backlog
	st.Connected = map[string]string{}
	for _, s := range r.fc.Sites {
		if n, ok := r.tr.Connected(s); ok {
			st.Connected[s] = n
		}
	}
	st.Refused = map[string]uint64{}
	for c, n := range st.Transport.Refused {
		if n > 0 {
			st.Refused[transport.Cause(c).String()] = n
		}
	}
	return st
}

// pass moves queued messages into the node, then runs the caller's Pass.
func (r *Runner) pass(now time.Time) {
	r.mu.Lock()
	taken := 0
	for _, q := range r.queue {
		if _, err := r.node.SubmitClass(now, q.class, q.svc, q.payload); err != nil {
			break
		}
		taken++
	}
	if taken > 0 {
		n := copy(r.queue, r.queue[taken:])
		clear(r.queue[n:])
		r.queue = r.queue[:n]
	}
	ns := r.node.Stats()
	r.st.Counters = ringCounters(&ns)
	r.mu.Unlock()
	if due, pending := r.reform.Due(r.node); due {
		r.log.Info("federation ring forms again, as asked, at the member's first token visit since the ask")
		r.node.Reform(now)
		r.reform = nil
	} else if !pending {
		r.reform = nil
	}
	if r.cfg.Pass != nil {
		r.cfg.Pass(now, r.node)
	}
}

// events writes the trace and the operator's lines, and counts.
func (r *Runner) events(now time.Time, es []localring.Event) {
	for i := range es {
		e := &es[i]
		if r.traceOK {
			if l, ok := r.proc.Ring(e); ok {
				if err := r.trace.Write(l); err != nil {
					r.traceOK = false
					r.log.Error("cannot write the federation ring's trace; tracing stopped", "err", err)
				}
			}
		}
		switch e.Kind {
		case localring.EventInstall:
			if e.Conf.Kind == localring.Regular {
				r.install(e.Conf)
			}
		case localring.EventSend:
			r.mu.Lock()
			r.st.Submitted++
			r.mu.Unlock()
		case localring.EventDeliver:
			r.mu.Lock()
			r.st.Delivered++
			r.mu.Unlock()
		case localring.EventGather:
			r.gather = e.Reason
			r.setState("gathering")
			r.log.Info("federation ring membership change started", "reason", e.Reason)
		case localring.EventTokenLost:
			r.log.Warn("federation token lost: the ring re-forms without the sites that stopped answering", "reason", e.Reason)
		case localring.EventEvict:
			r.log.Warn("site taken out of the federation ring for failing to receive or to be received", "site", e.Evicted.String(), "reason", e.Reason)
		case localring.EventReadmit:
			r.log.Info("site let back in to the federation ring: the link it was taken out for carries again", "site", e.Evicted.String(), "reason", e.Reason)
		case localring.EventSuperseded:
			by := r.node.Incarnation(localring.NodeID(r.fc.Site))
			r.mu.Lock()
			r.st.State, r.st.SupersededBy = "superseded", by
			r.mu.Unlock()
			r.log.Warn("superseded: a newer gateway of this site speaks for it in the federation ring; this one stops", "reason", e.Reason, "superseded_by", by)
		}
	}
	r.redialStale()
	if r.cfg.Events != nil {
		r.cfg.Events(now, es)
	}
}

// redialStale has the transport dial again a peer site whose newer
// incarnation the node has heard of (through a third site: its joins
// name it), if the connection this side dialed leads to another of the
// site's gateways: the one the incarnation's rank names took over
// (federation.Incarnation), and since the site whose name sorts first
// dials, it cannot reach this side by itself. The old connection would
// stay up, to a gateway that was killed, until the idle timeout, and the
// site's new gateway could not join the ring with this one until then
// (internal/sites TestFailoverKeepsConfiguration: 15 s, and the site went
// on alone in the domain). The first incarnation seen of a site is taken
// as it is: only a newer one says that the gateway changed.
func (r *Runner) redialStale() {
	if r.seen == nil {
		r.seen = map[string]uint64{}
	}
	for _, s := range r.fc.Sites {
		if s == r.fc.Site {
			continue
		}
		inc := r.node.Incarnation(localring.NodeID(s))
		prev, ok := r.seen[s]
		if inc == 0 || inc <= prev {
			continue
		}
		r.seen[s] = inc
		if ok {
			r.tr.Redial(s, federation.IncarnationRank(inc), fmt.Sprintf("the ring heard of incarnation %d of site %s (previously %d)", inc, s, prev))
		}
	}
}

func (r *Runner) setState(s string) {
	r.mu.Lock()
	r.st.State = s
	r.mu.Unlock()
}

// install logs a regular configuration: the ring with its sites, and
// every site lost, joined or whose gateway changed.
func (r *Runner) install(c *localring.Configuration) {
	r.mu.Lock()
	prev := r.incs
	r.incs = map[string]uint64{}
	for _, m := range c.Members {
		r.incs[string(m.ID)] = m.Inc
	}
	members := c.MemberIDs()
	var missing []string
	for _, s := range r.fc.Sites {
		if !slices.Contains(members, s) {
			missing = append(missing, s)
		}
	}
	r.st.Ring, r.st.Members, r.st.Missing, r.st.State = c.ID, members, missing, "operational"
	r.st.Installs++
	r.mu.Unlock()

	attrs := []any{"ring", c.ID, "sites", members}
	if len(missing) > 0 {
		r.log.Warn("federation ring formed without every site", append(attrs, "missing", missing)...)
	} else {
		r.log.Info("federation ring formed", attrs...)
	}
	if prev == nil {
		return
	}
	var lost, joined uint64
	for _, m := range c.Members {
		s := string(m.ID)
		inc, was := prev[s]
		switch {
		case !was:
			joined++
			r.log.Info("site joined the federation ring", "site", s, "ring", c.ID, "incarnation", m.Inc)
		case inc != m.Inc:
			r.log.Info("site's gateway changed (a standby took over, or the gateway restarted)", "site", s, "ring", c.ID, "incarnation", m.Inc, "previous_incarnation", inc)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(prev)) {
		if _, still := r.incs[s]; !still {
			lost++
			reason := r.gather
			if reason == "" {
				reason = "stopped answering"
			}
			r.log.Warn("site lost from the federation ring", "site", s, "ring", c.ID, "reason", reason)
		}
	}
	r.gather = ""
	r.mu.Lock()
	r.st.SitesLost += lost
	r.st.SitesJoined += joined
	r.mu.Unlock()
}

// seqStore saves the federation ring's sequence number in the data dir.
type seqStore struct{ dir, domain string }

type seqState struct {
	Domain  string `json:"domain"`
	RingSeq uint64 `json:"ring_seq"`
}

func (s seqStore) SaveRingSeq(seq uint64) error {
	b, _ := json.Marshal(seqState{Domain: s.domain, RingSeq: seq})
	if err := securefile.Write(filepath.Join(s.dir, StateFile(s.domain)), append(b, '\n'), true); err != nil {
		return fmt.Errorf("gateway: save the federation ring sequence number of %s: %w", s.domain, err)
	}
	return nil
}

// readSeq returns the saved ring sequence number of domain; 0 when none
// was saved.
func readSeq(dir, domain string) (uint64, error) {
	path := filepath.Join(dir, StateFile(domain))
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gateway: read %s: %w", path, err)
	}
	var st seqState
	if err := json.Unmarshal(b, &st); err != nil || st.Domain != domain {
		return 0, fmt.Errorf("gateway: %s is damaged or of another domain (%v); stop this gateway, delete the file and start it again (it learns the ring sequence number from the other sites)", path, err)
	}
	return st.RingSeq, nil
}

// backlogBound is the driver's MaxBacklogBytes: the transport's bound
// (paced peers, ModeUDP, drain a window per rotation), capped by what the
// domain's slowest declared link carries in two rotations
// (federation.BacklogBytes; 0: no link declares a bandwidth).
func backlogBound(transportBound, declared int) int {
	if declared > 0 {
		return min(transportBound, declared)
	}
	return transportBound
}
