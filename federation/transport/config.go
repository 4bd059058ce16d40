package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/topology"
)

// Mode says how ring packets travel inside a QUIC connection.
type Mode int

// Modes.
const (
	// ModeDefault is the measured better: see DefaultMode and
	// DomainMode, and the package documentation for the figures.
	ModeDefault Mode = iota
	// ModeDatagrams sends each ring packet as one unreliable QUIC DATAGRAM
	// frame (RFC 9221): a lost packet is lost, as on UDP, and the ring
	// retransmits it. MaxPacket is bounded by the path MTU.
	ModeDatagrams
	// ModeStreams sends ring packets length-prefixed on one unidirectional
	// stream per direction: QUIC retransmits losses, and a loss delays
	// every later packet of that direction until it is repaired.
	ModeStreams
	// ModeUDP sends the ring's message packets and regular tokens to a
	// peer whose path declares a bandwidth (Peer.Bandwidth,
	// Config.Bandwidth) outside QUIC: as UDP datagrams on the QUIC
	// socket, sealed with keys exported from the peer's authenticated
	// QUIC connection, paced at the declared bandwidth and not under
	// QUIC's congestion control (see the package doc, "Ring packets
	// outside QUIC"). Joins and commit tokens stay on the connection's
	// hello stream; a peer without a declared bandwidth is served as in
	// ModeStreams. MaxPacket is bounded by the path MTU.
	ModeUDP
)

// DefaultMode is what ModeDefault means to New, which knows only its own
// peers' paths. The gateway runner resolves ModeDefault first, per
// federation domain (DomainMode): ModeUDP when the topology declares the
// bandwidth of a link of the ring, this mode when it declares none.
const DefaultMode = ModeStreams

// DomainMode is the mode of the federation ring of domain d when neither
// the gateway's configuration nor the topology file's
// federation.ring_packets names one: ModeUDP when f declares the
// bandwidth (links[].bandwidth) of a link between two sites of d, else
// ModeStreams. In ModeUDP a peer whose link declares no bandwidth is
// served as in ModeStreams, so each path runs outside QUIC, paced, where
// its bandwidth is declared and on QUIC streams where it is not (see the
// package doc, "Streams or datagrams", for the figures). The choice is
// the domain's, not a gateway's: the mode is in the ALPN, so every
// gateway of the ring must make the same one, and does from the same
// file (two sites of a ring may have no declared link to each other
// where a third has). declared names the links that declare one, as
// "a-b", in the file's order.
func DomainMode(f *topology.File, d *topology.Domain) (mode Mode, declared []string) {
	for _, l := range f.DeclaredLinks(d.Sites) {
		declared = append(declared, l.Between[0]+"-"+l.Between[1])
	}
	if len(declared) > 0 {
		return ModeUDP, declared
	}
	return ModeStreams, nil
}

func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default (" + DefaultMode.String() + ")"
	case ModeDatagrams:
		return "datagrams"
	case ModeStreams:
		return "streams"
	case ModeUDP:
		return "udp"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// alpnTag is the mode's letter in the ALPN protocol name.
func (m Mode) alpnTag() string {
	switch m {
	case ModeStreams:
		return "s"
	case ModeUDP:
		return "u"
	}
	return "d"
}

// Defaults.
const (
	// DefaultDatagramPacket is MaxPacket in datagram mode, and its
	// maximum: a ring packet with its length fits in one DATAGRAM frame of
	// a QUIC packet of 1280 bytes, the IPv6 minimum MTU.
	DefaultDatagramPacket = datagramPayload - 2
	// DefaultUDPPacket is MaxPacket in ModeUDP, and its maximum: a ring
	// packet with its length fits in one sealed datagram of 1280 bytes
	// (sealedPayload), the size of QUIC's smallest packets on the same
	// path.
	DefaultUDPPacket = sealedPayload - 2
	// DefaultStreamPacket is MaxPacket in stream mode.
	DefaultStreamPacket = 16 << 10
	// DefaultQueueBytes sizes the default queues: 4 MiB each, so a
	// gateway's memory stays bounded whatever the packet size.
	DefaultQueueBytes = 4 << 20
	// ReceiveWindow is QUIC's flow-control window of a stream and of a
	// connection: 32 MiB, the bandwidth-delay product of 1 Gbit/s at
	// 270 ms, so flow control never limits a ring on a declared link
	// before its own window does. quic-go grows the window up to it only
	// as needed.
	ReceiveWindow = 32 << 20
	// DefaultStripes is Stripes' default: the connection and, on a path
	// of 100 ms RTT or more, up to seven stripes, which send only while
	// the path loses packets at random (see the package doc, "Stripes").
	DefaultStripes = 8
	// MaxStripes bounds Stripes, and the stripes a gateway accepts per
	// peer connection.
	MaxStripes = topology.MaxStripes
	// MaxStreamPacket is the largest MaxPacket of stream mode (the frame
	// length is 16 bits).
	MaxStreamPacket = 1<<16 - 1
)

// Config configures one gateway's transport of one federation ring.
// Zero fields take the defaults given.
type Config struct {
	// Certificate is this gateway's certificate and key, issued by the
	// cluster CA (`atoll certs`). Its identity (atoll://CLUSTER/SITE/NODE)
	// says which site this transport speaks for: the site name is this
	// member's ring member id. Required.
	Certificate tls.Certificate
	// Roots are the cluster CA certificates peers' certificates must
	// chain to (pki.LoadRoots of ca.crt). Required.
	Roots *x509.CertPool
	// Peers are the other sites of the ring, each with its
	// gateway-eligible nodes and their endpoints (Peers builds them from
	// the topology). Required: at least one.
	Peers []Peer
	// ConfigHash identifies the settings every gateway of the ring must
	// share (topology.Plan.ConfigHash of the domain). It is part of the
	// ALPN protocol name, so gateways with different configurations refuse
	// each other.
	ConfigHash uint64

	// Listen is the UDP address ("host:port") to listen and dial from, such
	// as ":7400". Ignored when Conn is set.
	Listen string
	// Conn, when set, is the UDP socket to use instead of listening on
	// Listen (tests, a relay in between). Close does not close it.
	Conn net.PacketConn

	// Mode is datagrams, streams or udp. Default: DefaultMode (the gateway
	// runner resolves the default first: DomainMode). Every gateway of a
	// ring must use the same mode (it is part of the ALPN).
	Mode Mode
	// MaxPacket is the largest ring packet in bytes. Default:
	// DefaultStreamPacket (streams, at most MaxStreamPacket) or
	// DefaultDatagramPacket (datagrams, also the maximum).
	MaxPacket int
	// QueuePackets bounds each peer's send queue and the receive queue, in
	// packets; a packet beyond it is dropped and counted (the ring
	// retransmits). Default: DefaultQueueBytes/MaxPacket (3,388 packets of
	// 1,238 bytes, 256 of 16 KiB), at least 64.
	QueuePackets int

	// Bandwidth is the bandwidth in bits per second of the path to a peer
	// that does not declare its own (Peer.Bandwidth). In ModeUDP the ring
	// packets sent outside QUIC to a peer are paced at its bandwidth; a
	// peer without one is served as in ModeStreams. Ignored in the other
	// modes. Default 0: none.
	Bandwidth int64

	// Stripes is at most how many QUIC connections to each peer carry the
	// ring's message packets in stream mode: the connection the control
	// packets use and Stripes-1 more to the same gateway (stripes), which
	// the side that dials opens. Each connection has its own loss-based
	// congestion window, which at 1 % random loss and 200 ms RTT carries
	// only about 1–2 Mbit/s whatever the link, so a long path with random
	// loss needs several (parallel TCP streams do the same). The ring
	// orders messages by their sequence number, so the stripes' reordering
	// costs nothing; tokens and membership stay on the one ordered control
	// stream. A stripe sends only while the connections lose packets, the
	// peer's message queue has a backlog and the main connection's RTT
	// shows no standing queue, one more per round trip (see the package
	// doc, "Stripes"): on a clean path and on a congested one the
	// connection carries the messages alone. Left at its default, stripes
	// are opened only to peers whose path has a minimum RTT of 100 ms or
	// more (on shorter paths one connection carries several times more,
	// and stripes cost a congested short path's ring its token); set, it
	// applies to every peer. 1 keeps one connection. Ignored in datagram
	// mode. Default: DefaultStripes (8); at most MaxStripes.
	Stripes int

	// IdleTimeout closes a connection that heard nothing for this long.
	// Default: 15 s.
	IdleTimeout time.Duration
	// KeepAlive is how often an idle connection sends a keep-alive; it
	// must be below IdleTimeout. Default: IdleTimeout/3.
	KeepAlive time.Duration
	// HandshakeTimeout bounds a connection attempt. Default: 5 s.
	HandshakeTimeout time.Duration
	// RedialMin and RedialMax bound the backoff between connection
	// attempts to a peer, which doubles from RedialMin to RedialMax (with
	// ±20 % jitter) and starts over after a success. Defaults: 100 ms and
	// 10 s.
	RedialMin, RedialMax time.Duration

	// Announce has the transport dial, once at its start, every peer
	// site that dials it (a site whose name sorts before its own; the
	// peer's Endpoints are needed for it). A gateway that takes over for
	// its site sets it: such a peer's connection may lead to the site's
	// previous gateway, killed without closing it, and would last until
	// the idle timeout. The peer takes the announced connection in place
	// of its own and dials again only once it ends, unless its own leads
	// to the same gateway (both started together; a gateway restarted on
	// its port ends its old connections by a stateless reset).
	Announce bool

	// OnConnect, when set, is called with the peer's site each time a
	// connection to it is set up (dialed or accepted, and the peer
	// admitted), from a goroutine of the transport, before the
	// connection's reader and writer start; it must not block (nothing
	// the peer sent on the connection is read until it returns). The
	// gateway runner has its node send its join (localring.Node.
	// Reachable): packets it sent before went nowhere.
	OnConnect func(site string)

	// Logger receives one line per connection, disconnection and refusal.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock certificates are checked against. Default:
	// time.Now.
	Now func() time.Time

	// sealAll (tests: SealAllPackets) sends every packet to a paced peer
	// in sealed datagrams in ModeUDP, joins and commit tokens and packets
	// that are no ring packet included, so the transport contract suite
	// runs over them.
	sealAll bool
}

// Peer is another site of the ring.
type Peer struct {
	// Site is the site name: the peer's ring member id.
	Site string
	// Gateways are the site's gateway-eligible node ids. A certificate of
	// any other node is refused.
	Gateways []string
	// Endpoints are the UDP addresses ("host:port") of the site's
	// gateways, tried in order. Needed only when this site dials the
	// peer (the site whose name sorts first dials), or announces itself
	// to it (Config.Announce).
	Endpoints []string
	// Bandwidth, when not 0, is the path's bandwidth in bits per second
	// in each direction (the topology's links[].bandwidth), in place of
	// Config.Bandwidth: ModeUDP paces the ring packets it sends outside
	// QUIC at it.
	Bandwidth int64
	// Stripes, when not 0, replaces Config.Stripes for this peer: the
	// topology file sets it per link (links[].stripes), so that only the
	// paths known to lose packets at random get stripes. At most
	// MaxStripes.
	Stripes int
}

// Peers returns the peers of selfSite in federation domain d of plan p of
// the topology f: every other site of d with its gateway-eligible nodes,
// the active one first, and their QUIC endpoints for d
// (topology.Plan.GatewayEndpoint: a site in several federation domains
// has one port per domain).
func Peers(f *topology.File, p *topology.Plan, d *topology.Domain, selfSite string) []Peer {
	var ps []Peer
	for _, g := range d.Gateways {
		if g.Site == selfSite {
			continue
		}
		pr := Peer{Site: g.Site, Stripes: linkStripes(p, selfSite, g.Site), Bandwidth: linkBandwidth(f, selfSite, g.Site)}
		for _, id := range append([]string{g.Active}, g.Standby...) {
			if id == "" {
				continue
			}
			pr.Gateways = append(pr.Gateways, id)
			if ep, err := p.GatewayEndpoint(f, d.Name, id); err == nil && !slices.Contains(pr.Endpoints, ep) {
				pr.Endpoints = append(pr.Endpoints, ep)
			}
		}
		ps = append(ps, pr)
	}
	return ps
}

// linkStripes returns the stripes the topology file declares on the link
// between sites a and b (links[].stripes), 0 when it declares none or the
// plan derives their RTT along a chain of links.
func linkStripes(p *topology.Plan, a, b string) int {
	for _, l := range p.Links {
		if len(l.Via) == 0 && (l.Between == [2]string{a, b} || l.Between == [2]string{b, a}) {
			return l.Stripes
		}
	}
	return 0
}

// linkBandwidth returns the bandwidth in bits per second that the
// topology file declares on the link between sites a and b, 0 when it
// declares none.
func linkBandwidth(f *topology.File, a, b string) int64 {
	for _, l := range f.Links {
		if len(l.Between) == 2 && (l.Between[0] == a && l.Between[1] == b || l.Between[0] == b && l.Between[1] == a) {
			return l.Bandwidth.BitsPerSecond()
		}
	}
	return 0
}

// Validate reports every mistake of c at once, as New would.
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is a validated Config with its defaults filled in.
type resolved struct {
	Config
	self pki.Identity
	// defaultStripes: Stripes was not set (DefaultStripes), so a peer
	// without Peer.Stripes gets stripes only on a long path
	// (stripeMinRTT).
	defaultStripes bool
}

func (c *Config) resolve() (*resolved, error) {
	r := &resolved{Config: *c}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("transport: "+format, a...)) }
	leaf := c.Certificate.Leaf
	if leaf == nil && len(c.Certificate.Certificate) > 0 {
		l, err := x509.ParseCertificate(c.Certificate.Certificate[0])
		if err != nil {
			bad("the gateway certificate does not parse: %v", err)
		}
		leaf = l
		r.Certificate.Leaf = l
	}
	if leaf == nil {
		bad("no gateway certificate: make one with `atoll certs` and load it (pki.LoadCertificate)")
	} else if id, err := pki.IdentityOf(leaf); err != nil {
		bad("this gateway's own certificate: %v", err)
	} else {
		r.self = id
	}
	if c.Roots == nil {
		bad("no cluster CA (Roots): load ca.crt with pki.LoadRoots")
	}
	if r.Mode == ModeDefault {
		r.Mode = DefaultMode
	}
	switch r.Mode {
	case ModeDatagrams:
		if r.MaxPacket == 0 {
			r.MaxPacket = DefaultDatagramPacket
		}
		if r.MaxPacket > DefaultDatagramPacket {
			bad("MaxPacket %d is more than a QUIC datagram carries on every path (%d); use streams for larger packets", r.MaxPacket, DefaultDatagramPacket)
		}
	case ModeUDP:
		if r.MaxPacket == 0 {
			r.MaxPacket = DefaultUDPPacket
		}
		if r.MaxPacket > DefaultUDPPacket {
			bad("MaxPacket %d is more than a sealed datagram carries on every path (%d); use streams for larger packets", r.MaxPacket, DefaultUDPPacket)
		}
	case ModeStreams:
		if r.MaxPacket == 0 {
			r.MaxPacket = DefaultStreamPacket
		}
		if r.MaxPacket > MaxStreamPacket {
			bad("MaxPacket %d is more than a stream frame carries (%d)", r.MaxPacket, MaxStreamPacket)
		}
	default:
		bad("unknown mode %v", r.Mode)
	}
	switch {
	case r.Stripes == 0:
		r.Stripes, r.defaultStripes = DefaultStripes, true
	case r.Stripes < 0 || r.Stripes > MaxStripes:
		bad("Stripes %d is not between 1 and %d", r.Stripes, MaxStripes)
	}
	if r.Bandwidth < 0 {
		bad("Bandwidth %d bit/s is negative", r.Bandwidth)
	}
	if r.MaxPacket < 64 {
		bad("MaxPacket %d is too small for a ring packet (at least 64)", r.MaxPacket)
	}
	if r.QueuePackets == 0 {
		r.QueuePackets = max(64, DefaultQueueBytes/r.MaxPacket)
	}
	if r.IdleTimeout == 0 {
		r.IdleTimeout = 15 * time.Second
	}
	if r.KeepAlive == 0 {
		r.KeepAlive = r.IdleTimeout / 3
	}
	if r.KeepAlive >= r.IdleTimeout {
		bad("KeepAlive %v must be below IdleTimeout %v, or idle connections close", r.KeepAlive, r.IdleTimeout)
	}
	if r.HandshakeTimeout == 0 {
		r.HandshakeTimeout = 5 * time.Second
	}
	if r.RedialMin == 0 {
		r.RedialMin = 100 * time.Millisecond
	}
	if r.RedialMax == 0 {
		r.RedialMax = 10 * time.Second
	}
	if r.RedialMax < r.RedialMin {
		bad("RedialMax %v is below RedialMin %v", r.RedialMax, r.RedialMin)
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if c.Conn == nil && c.Listen == "" {
		bad("no UDP address to listen on (Listen, such as \":7400\")")
	}
	if len(c.Peers) == 0 {
		bad("no peers: a federation ring needs at least two sites")
	}
	seen := map[string]bool{}
	for _, p := range c.Peers {
		switch {
		case p.Site == "":
			bad("a peer without a site name")
		case p.Site == r.self.Site:
			bad("peer %s is this gateway's own site", p.Site)
		case seen[p.Site]:
			bad("peer site %s is listed twice", p.Site)
		case len(p.Gateways) == 0:
			bad("peer site %s has no gateway-eligible node", p.Site)
		case p.Bandwidth < 0:
			bad("peer site %s: Bandwidth %d bit/s is negative", p.Site, p.Bandwidth)
		case p.Stripes < 0 || p.Stripes > MaxStripes:
			bad("peer site %s: Stripes %d is not between 1 and %d", p.Site, p.Stripes, MaxStripes)
		case r.self.Site != "" && r.self.Site < p.Site && len(p.Endpoints) == 0:
			bad("peer site %s has no QUIC endpoint, and site %s dials it (the site whose name sorts first dials): set sites[].quic in the topology", p.Site, r.self.Site)
		}
		seen[p.Site] = true
	}
	return r, errors.Join(errs...)
}

// ALPN returns the ALPN protocol name of a ring: the protocol version, the
// mode and the configuration hash, such as "atoll-fed/8/d/0123456789abcdef".
func ALPN(mode Mode, configHash uint64) string {
	if mode == ModeDefault {
		mode = DefaultMode
	}
	return fmt.Sprintf("%s/%s/%016x", alpnPrefix, mode.alpnTag(), configHash)
}

// alpnPrefix names the protocol and its version. Version 2 carries, in
// stream mode, the ring's control packets on the hello stream and its
// message packets on a unidirectional stream of each side (version 1 had
// one stream for both). Version 3 adds stripes: more connections to the
// same gateway, opened with stripeMagic, whose hello stream carries
// message packets both ways. Version 4 carries the ring's wire version 4
// (localring's fence notice): the version follows the ring's wire
// version too, so that gateways whose ring packets would not decode at
// each other refuse each other in the handshake, with a log line naming
// the cause, instead of dropping every packet as malformed. Version 5
// sends, in stream mode, the ring's regular tokens as QUIC DATAGRAMs
// (tokenDatagram), so both ends of a stream-mode connection enable
// datagrams. ModeUDP (tag u) adds sealed ring packets outside QUIC; no
// earlier version names that mode, so an earlier gateway refuses a
// ModeUDP one in the handshake whatever its own mode, and the other
// modes' wire is unchanged: the version stayed 5. Version 6 counts the
// ring's flow-control window in bytes over datagrams and in ModeUDP
// (localring.Config.ByteWindow, set by federation.FitPacket): the
// token's flow-control count is then bytes, which a member counting
// packets would take for far more than its window (and the reverse), so
// the two refuse each other. Version 7 adds the ring's nack packet
// (localring.Config.NackDelay, on in the federation ring's DefaultWAN):
// a member asks a lost packet's sender for it directly, which an earlier
// gateway would drop as malformed (an unknown packet type) at every loss.
// Version 8 carries the ring's wire version 5 (a join lists the members
// its sender does not hear: localring's cut pairs).
const alpnPrefix = "atoll-fed/8"
