package agent

import (
	"cmp"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// Config configures one agent: one node of one site's local ring. Build it
// from a topology file with FromTopology and add the node's own settings
// (DataDir, TracePath, Logger). Zero values mean the defaults.
type Config struct {
	// Node is this node's id from the topology file, such as "fra-1".
	// Required.
	Node string

	// Cluster is the cluster name from the topology file. Required: nodes
	// of different clusters reject each other's packets.
	Cluster string

	// Site is the name of the node's site. Required. Traces name the EVS
	// domain "site/<Site>".
	Site string

	// Nodes lists the ids of every node the topology file puts in the site,
	// this one included. Status compares the ring with it: an agent is
	// healthy in a ring of all of them and degraded in a ring that lacks
	// some. Only packets from these nodes reach the ring. Required.
	Nodes []string

	// Transport configures the UDP transport: this node's Bind address
	// and port, and the multicast Group or the unicast Peers. Ignored when
	// Network is set.
	Transport transport.Config

	// Network, when set, is the transport the agent uses instead of
	// opening one from Transport (tests use transport.Fake). The agent owns
	// it from New on and closes it when Run returns or New fails.
	Network transport.Transport

	// Ring holds the ring protocol's settings (timeouts, flow control);
	// zero fields take the values of localring.DefaultLAN. FromTopology
	// fills in the timers the planner derived for the site's ring, or a
	// preset's. The agent sets
	// ID, Incarnation and RingSeq, and caps MaxPacketBytes to what the
	// transport carries after the seal's overhead. Every node of a ring
	// must use the same settings: they are part of the configuration hash
	// in every packet header, so a node with other settings is rejected.
	Ring localring.Config

	// RingSource says where Ring's timers come from, for the log line
	// that states them at start, such as "plan of lab.yaml, domain site/a"
	// or "preset lan". Empty means the defaults.
	RingSource string

	// planRing is the ring the planner derives for the site, whatever the
	// preset (FromTopology), for naming the preset of a peer whose ring
	// settings differ; nil without a plan.
	planRing *localring.Config

	// Security is the packet protection.
	Security Security

	// DataDir holds the agent's state file (incarnation and ring
	// sequence number), its lock file and, by default, the admin socket.
	// Created with mode 0750 (DataDirMode) if missing, so that the
	// agent's group reaches the client socket. New refuses a data dir
	// that is world-writable or lies below a world-writable directory
	// without the sticky bit. Required.
	DataDir string

	// Version and ConfigFile are the agent binary's version and the
	// topology file this configuration came from; Status shows them
	// (informational only).
	Version    string
	ConfigFile string

	// Federation, when set, gives the node its gateway role in the
	// plan's federation domains (see Federation). Nil: none.
	Federation *Federation

	// TracePath, when set, is the file to which the agent appends every
	// install, send and delivery as trace lines of docs/EVS.md (--trace).
	TracePath string

	// AdminSocket is the path of the admin API's Unix socket. Default
	// DataDir/admin.sock; "-" runs no admin API.
	AdminSocket string

	// MetricsListen, when set, also serves the Prometheus metrics of the
	// admin API's /metrics (and nothing else) over plain HTTP on TCP at
	// this address (host:port; port 0 picks one), for scrapers that
	// cannot reach a Unix socket. The metrics are read-only but tell
	// about the cluster: prefer a loopback or management address.
	// Default none.
	MetricsListen string

	// Logger receives the operator's log lines. Default slog.Default().
	Logger *slog.Logger

	// LogLevel, when set, is the level of Logger's handler: the
	// introspection API's PUT /v1/log-level changes it at run time.
	// Without it the level cannot be changed.
	LogLevel *slog.LevelVar

	// API configures who may use the introspection API, and its HTTP
	// listener (see API).
	API API

	// DrainTimeout bounds the graceful leave: after the context of Run is
	// cancelled the agent accepts no more messages and keeps running for
	// at most this long while the messages it already accepted are sent
	// and delivered back to it. Default 1 s.
	DrainTimeout time.Duration

	// SubmitQueue is how many messages Submit holds before the ring takes
	// them; Submit returns ErrBackpressure beyond it. The ring itself
	// queues up to Ring.MaxPendingMessages more. Default 4096.
	SubmitQueue int

	// Load starts the built-in load generator (tests and benchmarks);
	// zero Rate means none. SetLoad changes it while the agent runs.
	Load Load

	// ClientSocket is the path of the Unix socket that serves the client
	// protocol (docs/PROTOCOL.md) to local programs and the CLI. It is
	// created with mode 0660: the agent's user and group may connect, and
	// each client's ACL principals come from its peer credentials
	// (SO_PEERCRED). Default DataDir/client.sock; "-" serves none.
	ClientSocket string

	// ClientListen, when set, also serves the client protocol over TCP
	// with TLS at this address (host:port), with ClientTLS, which must
	// hold the agent's certificate. For mutual TLS set ClientTLS.ClientAuth
	// to tls.RequireAndVerifyClientCert and ClientTLS.ClientCAs; a
	// verified client certificate's common name is the client's "cn:"
	// principal. There is no plain TCP.
	ClientListen string
	ClientTLS    *tls.Config

	// ClientQueueFrames and ClientQueueBytes bound each client session's
	// queue of frames (views, messages, replies) not yet written to its
	// connection. A client whose queue passes half of either bound is
	// sent a warning. Past the bound the queue keeps growing for
	// ClientSlowGrace, so that a client that reads as fast as it can but
	// was outrun for a moment (a burst, a scheduling delay) catches up;
	// a queue still over the bound after the grace, or over four times
	// the bound at any time, gets the client disconnected with the
	// reason, so that a client that stops reading never stalls the ring
	// or other clients and its memory stays bounded. The bounds must hold
	// the bursts a ring rotation delivers at once (a window of packets,
	// each packing many small messages). Defaults 16,384 frames and
	// 16 MiB.
	ClientQueueFrames int
	ClientQueueBytes  int

	// ClientSlowGrace is how long a session's queue may stay over
	// ClientQueueFrames or ClientQueueBytes before the client is
	// disconnected as a slow consumer. Default 2 s.
	ClientSlowGrace time.Duration

	// ClientWindowMsgs and ClientWindowBytes are each session's
	// flow-control window (protocol version 2, docs/PROTOCOL.md): how
	// many Multicast and Send requests, and how many payload bytes, a
	// client may have sent and not yet seen answered. The agent answers a
	// message when the group layer accepts it, which it does only while
	// the messages waiting for the ring stay under SendQueueVisits token
	// visits' worth; so a client that sends faster than the ring carries
	// waits for its window, and the agent holds at most one window per
	// client. A message larger than the bytes window goes alone.
	// Defaults 64 messages and 256 KiB.
	ClientWindowMsgs  int
	ClientWindowBytes int

	// SendQueueVisits bounds the client messages accepted by the group
	// layer and not yet sent by the ring, in token visits of this node:
	// at most SendQueueVisits × max(P, M) messages and SendQueueVisits ×
	// P × Ring.MaxPacketBytes bytes, where M is the messages this node
	// sent at its last visit (localring.Node.VisitMessages: small
	// messages go many to a packet) and P what the ring lets it send at a
	// visit now (localring.Node.VisitShare):
	// Ring.MaxPacketsPerVisit when it sends alone, about the window
	// divided by the ring's size when every node sends. With the windows
	// this bounds how long a message waits at the agent before the ring
	// sends it, in token rotations, however many nodes send
	// (docs/PROTOCOL.md, "Back-pressure and flow control"). Default 2.
	SendQueueVisits int

	// DomainBacklog bounds, for each federation domain of the node's
	// site, how long the site's messages to the domain's groups may wait
	// to be ordered, in time at the domain's slowest link: the agent
	// accepts a client message for such a group only while the site's
	// messages sent up and not yet come down ordered by the federation
	// ring (and this node's accepted ones not yet sent up) hold less than
	// DomainBacklog × that link's bandwidth (links[].bandwidth in the
	// topology file), and at least MinDomainBacklogBytes. A domain whose
	// links declare no bandwidth keeps only the send queue's bound
	// (SendQueueVisits). Default 1 s (docs/PROTOCOL.md, "Back-pressure
	// and flow control").
	DomainBacklog time.Duration

	// MaxClients bounds the number of client sessions at once. Default
	// 4096.
	MaxClients int

	// GroupACLs are the per-group access rules of the topology file
	// (FromTopology fills them in): who may join and who may send, by
	// principal. The agent checks them for its own clients, and applies
	// the rules of exactly named groups to the ring (groups.Node.SetACL)
	// when it starts.
	GroupACLs []GroupACL

	// GroupClasses are the latency classes of the topology file's groups
	// (FromTopology fills them in), by which the delivery latency
	// histogram is labelled.
	GroupClasses []GroupClass

	// Groups configures the group layer (package groups): WindowMsgs and
	// MaxQueuedMsgs. The agent sets Node, MaxMessageBytes (the ring's) and
	// AllViews (with TracePath).
	Groups groups.Config
}

// GroupACL is the access rule of a group, or of every group a pattern
// matches, from the topology file's groups[].acl. A principal is "*"
// (anyone), "user:NAME", "uid:N", "unixgroup:NAME" or "gid:N" (clients on
// the Unix socket, by their peer credentials), "cn:NAME" (TLS clients, by
// their verified certificate's common name) or "node:ID" (clients embedded
// in that node's agent, see Agent.LocalConn).
type GroupACL struct {
	// Group is a group name, or a pattern where '*' matches any run of
	// characters and '?' one. An exact name wins over patterns; among
	// patterns the first listed wins.
	Group string
	// Join lists the principals that may join; empty means anyone.
	Join []string
	// Send lists the principals that may multicast to the group, members
	// or not; empty means the group's members.
	Send []string
}

// Security configures packet protection (package localring/seal).
type Security struct {
	// Mode is seal.ModeEncrypt (the zero value), seal.ModeAuth or
	// seal.ModeNone. ModeNone needs Insecure as well.
	Mode seal.Mode

	// Suite is the AEAD; the zero value is AES-256-GCM.
	Suite seal.Suite

	// Key is the cluster key. When it is zero and Mode is not ModeNone,
	// New loads KeyFile.
	Key seal.Key

	// KeyFile is the path of the key file made by `atoll keygen`.
	KeyFile string

	// Epoch is the key epoch: 0 for the first key, +1 at every rotation.
	Epoch uint32

	// Insecure confirms ModeNone: packets are neither authenticated nor
	// encrypted, and anyone who can reach the ring's port can read them
	// and inject messages. Benchmarks and isolated test networks only.
	Insecure bool
}

// Defaults of Config.
const (
	DefaultDrainTimeout = time.Second
	DefaultSubmitQueue  = 4096
	// AdminSocketName is the admin socket's file name in the data dir.
	AdminSocketName = "admin.sock"
	// ClientSocketName is the client socket's file name in the data dir.
	ClientSocketName = "client.sock"

	DefaultClientQueueFrames = 16384
	DefaultClientQueueBytes  = 16 << 20
	DefaultClientSlowGrace   = 2 * time.Second
	DefaultClientWindowMsgs  = 64
	DefaultClientWindowBytes = 256 << 10
	DefaultSendQueueVisits   = 2
	DefaultDomainBacklog     = time.Second
	DefaultMaxClients        = 4096
)

// MinDomainBacklogBytes is the least backlog a federation domain allows a
// site (Config.DomainBacklog).
const MinDomainBacklogBytes = 64 << 10

// maxSocketPath is the longest path a Unix socket may have on Linux
// (sun_path is 108 bytes, NUL included).
const maxSocketPath = 107

// IdleTokenHold is the localring.Config.IdleTokenHold an agent started
// from a topology file uses for a ring with these timers. An idle ring
// costs CPU per rotation: after a while idle, the representative holds
// the token for a third of the token timeout (66 ms with the LAN preset's
// 200 ms) instead of TokenHold. A member with something to send wakes
// it, and the token timeout keeps two thirds of itself as margin for the
// rotation.
func IdleTokenHold(tokenTimeout, tokenHold time.Duration) time.Duration {
	return max(tokenHold, tokenTimeout/3)
}

// IdleTokenHoldMax is the localring.Config.IdleTokenHoldMax of such a
// ring: half the token timeout (100 ms with the LAN preset), the longest
// the ring allows, held only once the idle rotations and holds have run
// on time for about 7 s (localring.IdleHoldMaxAfter). An idle LAN ring
// then rotates about 10 times a second instead of 14.5, and an idle agent
// uses about a quarter less CPU.
func IdleTokenHoldMax(tokenTimeout, tokenHold time.Duration) time.Duration {
	return max(IdleTokenHold(tokenTimeout, tokenHold), tokenTimeout/2)
}

func (c *Config) setDefaults() {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.SubmitQueue = cmp.Or(c.SubmitQueue, DefaultSubmitQueue)
	if c.AdminSocket == "" && c.DataDir != "" {
		c.AdminSocket = c.DataDir + "/" + AdminSocketName
	}
	if c.ClientSocket == "" && c.DataDir != "" {
		c.ClientSocket = c.DataDir + "/" + ClientSocketName
	}
	c.ClientQueueFrames = cmp.Or(c.ClientQueueFrames, DefaultClientQueueFrames)
	c.ClientQueueBytes = cmp.Or(c.ClientQueueBytes, DefaultClientQueueBytes)
	c.ClientSlowGrace = cmp.Or(c.ClientSlowGrace, DefaultClientSlowGrace)
	c.ClientWindowMsgs = cmp.Or(c.ClientWindowMsgs, DefaultClientWindowMsgs)
	c.ClientWindowBytes = cmp.Or(c.ClientWindowBytes, DefaultClientWindowBytes)
	c.SendQueueVisits = cmp.Or(c.SendQueueVisits, DefaultSendQueueVisits)
	c.DomainBacklog = cmp.Or(c.DomainBacklog, DefaultDomainBacklog)
	c.MaxClients = cmp.Or(c.MaxClients, DefaultMaxClients)
}

// Validate reports every setting that is missing or out of range, with the
// fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("agent: config: "+format, a...)) }
	if c.Node == "" {
		bad("the node id is empty; pass the id of this node in the topology file (--node)")
	}
	if c.Cluster == "" {
		bad("the cluster name is empty; set it from the topology file")
	}
	if c.Site == "" {
		bad("the site name is empty; set it from the topology file")
	}
	if c.Node != "" && !slices.Contains(c.Nodes, c.Node) {
		bad("node %q is not among the site's nodes %v; add it to site %q of the topology file", c.Node, c.Nodes, c.Site)
	}
	if b := c.ringIDBound(); b > localring.MaxIDBytes {
		bad("the longest node name of site %q is %d bytes; node names may be at most %d bytes", c.Site, b, localring.MaxIDBytes)
	} else if long := slices.IndexFunc(c.Nodes, func(n string) bool { return len(n) > b }); long >= 0 {
		bad("node %q of site %q is %d bytes long, above the ring's node id bound of %d (Ring.MaxIDBytes); raise the bound or leave it 0, which takes the longest node name", c.Nodes[long], c.Site, len(c.Nodes[long]), b)
	}
	if c.DataDir == "" {
		bad("the data dir is empty; give the agent a directory of its own for its state (--data-dir)")
	}
	if c.AdminSocket != "-" && len(c.AdminSocket) > maxSocketPath {
		bad("admin socket path %q is %d bytes, longer than the %d a Unix socket allows; choose a shorter --data-dir or --admin-socket", c.AdminSocket, len(c.AdminSocket), maxSocketPath)
	}
	if c.ClientSocket != "-" && len(c.ClientSocket) > maxSocketPath {
		bad("client socket path %q is %d bytes, longer than the %d a Unix socket allows; choose a shorter --data-dir or --client-socket", c.ClientSocket, len(c.ClientSocket), maxSocketPath)
	}
	if c.ClientListen != "" && (c.ClientTLS == nil || len(c.ClientTLS.Certificates) == 0 && c.ClientTLS.GetCertificate == nil) {
		bad("the client listener %s needs a TLS certificate (--client-cert and --client-key); clients connect over TCP with TLS only", c.ClientListen)
	}
	if c.ClientQueueFrames < 16 || c.ClientQueueBytes < 1<<20 {
		bad("client queue of %d frames and %d bytes is too small; allow at least 16 frames and 1 MiB", c.ClientQueueFrames, c.ClientQueueBytes)
	}
	if c.ClientSlowGrace < 0 {
		bad("client slow-consumer grace %v is negative", c.ClientSlowGrace)
	}
	if c.ClientWindowMsgs < 1 || c.ClientWindowMsgs > maxClientWindowMsgs || c.ClientWindowBytes < 1<<10 {
		bad("client window of %d messages and %d bytes is out of range; allow 1 to %d messages and at least 1 KiB", c.ClientWindowMsgs, c.ClientWindowBytes, maxClientWindowMsgs)
	}
	if c.SendQueueVisits < 1 {
		bad("send queue of %d token visits is too small; allow at least 1 (default %d)", c.SendQueueVisits, DefaultSendQueueVisits)
	}
	if c.DomainBacklog < 0 {
		bad("federation domain backlog %v is negative (default %v)", c.DomainBacklog, DefaultDomainBacklog)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics listener %q is not host:port, such as 127.0.0.1:9405 (--metrics-listen)", c.MetricsListen)
		}
	}
	if err := c.API.validate(); err != nil {
		bad("%v", err)
	}
	if c.MaxClients < 0 {
		bad("max clients %d is negative", c.MaxClients)
	}
	for _, acl := range c.GroupACLs {
		if !groups.ValidGroupPattern(acl.Group) {
			bad("group ACL for %q: not a group name or pattern: %s, with '*' and '?' for patterns", acl.Group, groups.GroupNameRule)
		}
	}
	if c.DrainTimeout < 0 {
		bad("drain timeout %v is negative", c.DrainTimeout)
	}
	if c.SubmitQueue < 0 {
		bad("submit queue %d is negative", c.SubmitQueue)
	}
	switch c.Security.Mode {
	case seal.ModeNone:
		if !c.Security.Insecure {
			bad("security mode none sends every packet unauthenticated and in the clear; confirm it with --insecure (benchmarks and isolated test networks only), or use mode encrypt with a key file")
		}
		if c.Security.KeyFile != "" || !c.Security.Key.IsZero() {
			bad("security mode none uses no key, but a key is set; remove it or choose mode encrypt or auth")
		}
	case seal.ModeEncrypt, seal.ModeAuth:
		if c.Security.Key.IsZero() && c.Security.KeyFile == "" {
			bad("security mode %s needs the cluster key file: make one with `atoll keygen -o atoll.key`, copy it to every node and pass --key (or set security.key_file in the topology file)", c.Security.Mode)
		}
	}
	if err := c.Load.validate(); err != nil {
		errs = append(errs, err)
	}
	if d := c.federationDomain(); d != "" && c.Ring.MaxMessageBytes > 0 && c.Ring.MaxMessageBytes < localring.MaxMessageBytes {
		bad("node %q of site %q: Ring.MaxMessageBytes %d is below the %d bytes federation domain %s needs: the other sites' agents accept messages to its groups up to the ring's largest, and this site's active gateway brings each down through its local ring, where a larger one would not fit; leave Ring.MaxMessageBytes 0 (the ring's %d, as the atoll binary does) at every node of the domain's sites",
			c.Node, c.Site, c.Ring.MaxMessageBytes, localring.MaxMessageBytes, d, localring.MaxMessageBytes)
	}
	return errors.Join(errs...)
}

// federationDomain returns the name of the first federation domain of the
// plan that the node's site takes part in, "" when none (or no plan).
func (c *Config) federationDomain() string {
	if c.Federation == nil || c.Federation.Plan == nil {
		return ""
	}
	for _, d := range c.Federation.Plan.Domains {
		if d.Kind == topology.FederationDomain && slices.Contains(d.Sites, c.Site) {
			return d.Name
		}
	}
	return ""
}

// domain is the EVS domain name of the node's traces.
func (c *Config) domain() string { return "site/" + c.Site }

// configHash identifies the ring settings that every node of the ring must
// share: the site, the ring protocol's timeouts and flow control window,
// and the node id bound (ringIDBound). It
// goes into every packet's header (seal.Config.ConfigHash), so a node
// started with other settings is rejected with a clear reason rather than
// admitted into a ring it would disturb. Settings left at zero hash as
// zero: configure every node the same way. The node list and the transport
// are not part of it, so a site can grow one node at a time.
// The bound of packets per visit is hashed as perVisitHashed gives it.
func (c *Config) configHash() uint64 {
	r := &c.Ring
	h := sha256.New()
	fmt.Fprintf(h, "atoll ring v1\x00%s\x00", c.Site)
	for _, v := range []int64{
		int64(r.TokenTimeout), int64(r.TokenRetransmit), int64(r.TokenHold), int64(r.JoinTimeout),
		int64(r.ConsensusTimeout), int64(r.MergeTimeout), int64(r.WindowPackets),
		perVisitHashed(r), int64(r.MaxMessageBytes), int64(c.ringIDBound()),
	} {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// perVisitHashed is the ring's bound of packets per visit
// (Ring.MaxPacketsPerVisit) as configHash hashes it: the bound, except
// that localring's default, half the window (max(1, WindowPackets/2), as
// localring's setDefaults computes it), hashes as 50. Until 4d736c7 the
// default was 50 with every preset, and configHash held the bound, so the
// LAN preset's new default of 100 would have given upgraded nodes another
// hash than the older ones of their site, and each side would have
// rejected the other's packets. So a node on a preset, or with the bound
// left at zero, hashes as before, and so does any bound set to something
// else (TestConfigHashPerVisit pins both against 69fc327). It cannot be
// simpler without changing a hash: the default's value is the one that
// changed. Its one cost: a bound set on purpose to half the window, when
// that is not 50, hashes as 50 would have (docs/OPERATIONS.md,
// "Upgrading"). A window left at zero hashes the bound as it is, so that
// settings left at zero hash as zero. Mixed bounds would not disturb the
// ring (each node keeps its own; the window is shared through the
// token's count), but the hash has always held the setting.
func perVisitHashed(r *localring.Config) int64 {
	if r.WindowPackets > 0 && r.MaxPacketsPerVisit == max(1, r.WindowPackets/2) {
		return 50
	}
	return int64(r.MaxPacketsPerVisit)
}

// IDBoundStep is what the agent rounds the site's longest node name up to
// for the ring's node id bound (ringIDBound): names of up to 8 bytes give
// 8, so that a site can add a node whose name is no longer without a
// restart of the others.
const IDBoundStep = 8

// ringIDBound is the ring's node id bound (localring.Config.MaxIDBytes):
// Ring.MaxIDBytes when set, else the longest of Nodes (and Node) rounded up
// to a multiple of IDBoundStep, at most localring.MaxIDBytes unless a name
// is longer (Validate refuses it). Recovery wraps every packet of the ring
// in a header that names two members, and every packet leaves room for
// that header below MaxPacketBytes: with the site's short names, about 112
// bytes of a 1,400-byte packet more carry messages than with the core's
// 64-byte default. Every node of the site must have the same bound, so it
// is part of configHash: a node whose topology file lists a longer name is
// rejected with the reason (configMismatchCause).
func (c *Config) ringIDBound() int {
	if c.Ring.MaxIDBytes != 0 {
		return c.Ring.MaxIDBytes
	}
	longest := len(c.Node)
	for _, n := range c.Nodes {
		longest = max(longest, len(n))
	}
	b := (max(longest, 1) + IDBoundStep - 1) / IDBoundStep * IDBoundStep
	if longest <= localring.MaxIDBytes {
		b = min(b, localring.MaxIDBytes)
	}
	return b
}

// Preset names a ring timing preset of package localring.
type Preset string

// Presets for FromTopology.
const (
	// PresetAuto is PresetPlan.
	PresetAuto Preset = ""
	// PresetPlan takes the timers the planner derives for the site's ring
	// from its predicted rotation and LAN RTT (topology.DeriveTimeouts,
	// shown by `atoll plan`), on the flow control of PresetLAN for a
	// multicast site and of PresetCloud for a unicast one. Declare a
	// site's lan_rtt (and token_hold) to fit a slower network, or choose
	// a preset.
	PresetPlan Preset = "plan"
	// PresetLAN is localring.DefaultLAN: a 200 ms token timeout.
	PresetLAN Preset = "lan"
	// PresetCloud is localring.DefaultCloud: a 1 s token timeout, for the
	// jitter of cloud and container networks.
	PresetCloud Preset = "cloud"
)

// ParsePreset parses "auto", "plan", "lan" or "cloud".
func ParsePreset(s string) (Preset, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return PresetAuto, nil
	case "plan":
		return PresetPlan, nil
	case "lan":
		return PresetLAN, nil
	case "cloud":
		return PresetCloud, nil
	}
	return "", fmt.Errorf("agent: unknown ring preset %q; use plan (or auto), lan or cloud", s)
}

// aloneOnHost reports whether no other node of site can run on this host
// (in this network namespace): every other node's bind template is a
// literal address, neither unspecified nor one that local reports as this
// host's. A template (resolved on its node's host) or an address of this
// host may be a node beside this one, which hears this node's multicast
// only through the kernel's loopback; with no such node the loopback is
// turned off (transport.Config.NoMulticastLoop), which saves the sender
// a delivery per packet that it would read and drop.
func aloneOnHost(site *topology.Site, self *topology.Node, local func(netip.Addr) bool) bool {
	if local == nil {
		return false
	}
	for i := range site.Nodes {
		n := &site.Nodes[i]
		if n.ID == self.ID {
			continue
		}
		a, err := netip.ParseAddr(site.BindTemplate(n))
		if err != nil || a.IsUnspecified() || local(a.WithZone("").Unmap()) {
			return false
		}
	}
	return true
}

// hostAddr returns a test of whether an address is one of this host's
// (its network namespace's) interface addresses, or nil when they cannot
// be listed.
func hostAddr() func(netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	set := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			set[p.Addr().Unmap()] = true
		}
	}
	return func(a netip.Addr) bool { return set[a] || a.IsLoopback() }
}

// FromTopology returns the configuration of node id from the single-site
// part of a topology file: the cluster, the node's site and its nodes, the
// transport (the node's bind template resolved on this host with
// transport.ResolveBind, the site's port, and its multicast group or
// unicast peers), the ring timings of preset (by default the plan's for the
// site's ring), and the security settings
// (mode, cipher, key file, key epoch). The caller adds DataDir, TracePath
// and Logger, and may override the rest (the key file, say).
func FromTopology(f *topology.File, id string, preset Preset) (Config, error) {
	site, node, ok := f.Node(id)
	if !ok {
		var ids []string
		for _, s := range f.Sites {
			for _, n := range s.Nodes {
				ids = append(ids, n.ID)
			}
		}
		return Config{}, fmt.Errorf("agent: node %q is not in topology file %s; its nodes are %s", id, f.Name(), strings.Join(ids, ", "))
	}
	c := Config{Node: id, Cluster: f.Cluster, Site: site.Name}
	for _, n := range site.Nodes {
		c.Nodes = append(c.Nodes, n.ID)
	}

	tmpl := site.BindTemplate(node)
	addr, err := transport.ResolveBind(tmpl)
	if err != nil {
		return Config{}, fmt.Errorf("agent: node %s: bind address: %w", id, err)
	}
	port := uint16(site.RingPort(node))
	c.Transport.Bind = netip.AddrPortFrom(addr, port)
	multicast := site.Multicast != ""
	if multicast {
		g, err := netip.ParseAddr(site.Multicast)
		if err != nil {
			return Config{}, fmt.Errorf("agent: site %s: multicast group %q: %w", site.Name, site.Multicast, err)
		}
		c.Transport.Group = netip.AddrPortFrom(g, uint16(site.RingPort(nil)))
		c.Transport.NoMulticastLoop = aloneOnHost(site, node, hostAddr())
	} else {
		for _, u := range site.Unicast {
			ap, err := netip.ParseAddrPort(u)
			if err != nil {
				a, err2 := netip.ParseAddr(u)
				if err2 != nil {
					return Config{}, fmt.Errorf("agent: site %s: unicast peer %q is not an IP address or IP:port", site.Name, u)
				}
				ap = netip.AddrPortFrom(a, uint16(site.RingPort(nil)))
			}
			c.Transport.Peers = append(c.Transport.Peers, ap)
		}
	}

	name := "site/" + site.Name
	if d, ok := f.Plan().Domain(name); ok {
		base := localring.DefaultLAN("")
		if !multicast {
			base = localring.DefaultCloud("")
		}
		r := base.WithTimings(d.Timeouts.Ring())
		r.Rand = nil
		c.planRing = &r
	}
	switch preset {
	case PresetLAN:
		c.Ring, c.RingSource = localring.DefaultLAN(""), "preset lan"
	case PresetCloud:
		c.Ring, c.RingSource = localring.DefaultCloud(""), "preset cloud"
	case PresetAuto, PresetPlan:
		if c.planRing == nil {
			return Config{}, fmt.Errorf("agent: the plan of %s has no domain %s for node %s; run `atoll plan %s`", f.Name(), name, id, f.Name())
		}
		c.Ring = *c.planRing
		c.RingSource = fmt.Sprintf("plan of %s, domain %s", f.Name(), name)
	default:
		return Config{}, fmt.Errorf("agent: unknown ring preset %q; use plan (or auto), lan or cloud", preset)
	}
	c.Ring.Rand = nil // seeded from the node id and incarnation by New
	if c.Ring.IdleTokenHold == 0 && c.Ring.TokenTimeout > 0 {
		c.Ring.IdleTokenHold = IdleTokenHold(c.Ring.TokenTimeout, c.Ring.TokenHold)
		c.Ring.IdleTokenHoldMax = IdleTokenHoldMax(c.Ring.TokenTimeout, c.Ring.TokenHold)
	}

	if s := f.Security; s != nil {
		if s.Mode != "" {
			if c.Security.Mode, err = seal.ParseMode(s.Mode); err != nil {
				return Config{}, fmt.Errorf("agent: topology file %s: security.mode: %w", f.Name(), err)
			}
		}
		if s.Cipher != "" {
			if c.Security.Suite, err = seal.ParseSuite(s.Cipher); err != nil {
				return Config{}, fmt.Errorf("agent: topology file %s: security.cipher: %w", f.Name(), err)
			}
		}
		c.Security.KeyFile = s.KeyFile
		c.Security.Epoch = uint32(s.KeyEpoch)
	}
	for _, g := range f.Groups {
		c.GroupClasses = append(c.GroupClasses, GroupClass{Group: g.Name, Class: g.Class})
		if g.ACL != nil {
			c.GroupACLs = append(c.GroupACLs, GroupACL{Group: g.Name, Join: slices.Clone(g.ACL.Join), Send: slices.Clone(g.ACL.Send)})
		}
	}
	return c, nil
}
