package federation

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/gateway/bridge"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// EnvelopeOverhead is the most bytes the federation envelope adds around a
// local ring message (the gateway's encoding): format version and kind (2),
// origin site (a uvarint length and up to 64 bytes), origin node (the
// same), origin incarnation and message counter (8 + 8), the domain order
// (16), service level and flags (2), payload length (a uvarint, 4) and a
// CRC-32C (4), rounded up to leave room. A federation ring accepts
// messages of localring.MaxMessageBytes + EnvelopeOverhead, so that a
// maximum-size local message fits.
const EnvelopeOverhead = 256

// The envelope must fit into the room the ring core allows above its
// largest message: this fails to compile otherwise.
var _ [localring.MaxEnvelopeBytes - EnvelopeOverhead]struct{}

// MaxMessageBytes is the largest message of a federation ring.
const MaxMessageBytes = localring.MaxMessageBytes + EnvelopeOverhead

// RankBits is the number of low bits of an incarnation that hold the
// gateway's rank in its site's gateway list: at most 256 gateways per site.
const RankBits = 8

// EpochBits is the number of bits above the rank that hold the handover
// epoch: how many handovers the site agreed in the local ring
// configuration before the gateway became active (Role.Handover), at most
// MaxEpoch in one configuration.
const EpochBits = 8

// MaxEpoch is the most handovers one local ring configuration takes; the
// next configuration starts again at 0.
const MaxEpoch = 1<<EpochBits - 1

// MaxLocalSeq is the largest local ring sequence number Incarnation takes:
// the epoch and the rank take the low EpochBits+RankBits bits, and an
// incarnation stays below 2^53, exact for readers of the trace and of the
// JSON status with 53-bit numbers (a local ring adds 4 to its sequence
// number per configuration: 34 billion configurations).
const MaxLocalSeq = 1<<(53-EpochBits-RankBits) - 1

// Incarnation returns the federation incarnation of a gateway that became
// active in the local ring configuration local, after epoch handovers
// agreed in it (0 when the configuration's install made it active), at
// place rank of its site's gateway list (0 for the plan's active gateway):
// local.Seq<<(EpochBits+RankBits) | epoch<<RankBits | rank. See the package
// documentation for why it only grows.
func Incarnation(local localring.RingID, epoch, rank int) (uint64, error) {
	switch {
	case local.Seq == 0:
		return 0, errors.New("federation: a gateway becomes active in an installed local ring, whose sequence number is never 0")
	case local.Seq > MaxLocalSeq:
		return 0, fmt.Errorf("federation: local ring sequence number %d exceeds %d; incarnations cannot grow further", local.Seq, uint64(MaxLocalSeq))
	case epoch < 0 || epoch > MaxEpoch:
		return 0, fmt.Errorf("federation: handover epoch %d out of range 0 to %d", epoch, MaxEpoch)
	case rank < 0 || rank >= 1<<RankBits:
		return 0, fmt.Errorf("federation: gateway rank %d out of range 0 to %d", rank, 1<<RankBits-1)
	}
	return local.Seq<<(EpochBits+RankBits) | uint64(epoch)<<RankBits | uint64(rank), nil
}

// IncarnationRank returns the gateway rank an incarnation names: the
// place in its site's gateway list of the gateway that speaks for the
// site with it (the inverse of Incarnation's last field).
func IncarnationRank(inc uint64) int { return int(inc & (1<<RankBits - 1)) }

// IncarnationSeq returns the local ring sequence number an incarnation
// names: that of the configuration its gateway became active in (the
// inverse of Incarnation's first field).
func IncarnationSeq(inc uint64) uint64 { return inc >> (EpochBits + RankBits) }

// RingSeqMargin is how far above the highest federation ring sequence
// number its site knows a new incarnation starts numbering its rings
// (RingSeqFloor).
const RingSeqMargin = 1 << 16

// RingSeqFloor is the ring sequence number a new federation incarnation
// starts from (Config.Ring.RingSeq; the driver passes the larger of it and
// its own persisted value), given known, the highest federation ring
// sequence number its site's local ring has heard of: the active gateway
// publishes the sequence number of every federation ring it installs on
// the local ring, so the standby that takes over knows it. The margin keeps
// a site's ring numbers growing across a takeover: a new gateway that
// starts cut off from every other site numbers its rings above those its
// predecessor formed after its last publication, or while paused and
// resumed. It exceeds what an old gateway can add on its own (four per
// ring, one ring per consensus timeout: 16,384 rings, hours of isolation).
// It does not by itself keep ring ids apart: an old gateway still running
// can learn its successor's numbers through another site and form a ring
// numbered alike, so each gateway of a site numbers the rings it forms in
// a lane of its own (localring.Config.RingSeqLanes, set by NewConfig).
func RingSeqFloor(known uint64) uint64 {
	return min(known, ^uint64(0)-2*RingSeqMargin) + RingSeqMargin
}

// ActiveGateway returns the node that speaks for site in the federation
// domain d when the site's local ring configuration has the given members
// (node ids): the first of the site's Active and Standby gateways that is a
// member, and its rank in that list. ok is false when none is a member.
func ActiveGateway(d *topology.Domain, site string, members []string) (node string, rank int, ok bool) {
	for _, g := range d.Gateways {
		if g.Site != site || g.Active == "" {
			continue
		}
		for i, id := range append([]string{g.Active}, g.Standby...) {
			if slices.Contains(members, id) {
				return id, i, true
			}
		}
	}
	return "", 0, false
}

// Config is one site's member of one federation domain's ring.
type Config struct {
	// Domain is the domain's name, "fed/CLASS:SITE+SITE+...": the EVS
	// domain of its traces.
	Domain string
	// Site is this member's site: the ring member id.
	Site string
	// Gateway is the node id of the gateway that speaks for the site.
	Gateway string
	// Sites are the ring's members (site names) in the plan's ring order.
	Sites []string
	// Endpoints maps every site of the domain to its active gateway's QUIC
	// endpoint ("host:port") from the plan.
	Endpoints map[string]string
	// Ring is the core's configuration: ID is Site, Incarnation derived
	// from the local ring (Incarnation), RingSeq from RingSeqFloor, timers,
	// window, packet and message sizes from RingConfig. The driver raises
	// RingSeq to its persisted value when that is higher and caps
	// MaxPacketBytes to what its transport carries.
	Ring localring.Config
}

// RingConfig returns the ring settings every member of federation domain d
// of the topology file f must share (ID and Incarnation unset): the
// localring.DefaultWAN preset with the domain's derived timeouts, ring ids
// that carry the representative's incarnation (SharedIDs), a window
// of the bandwidth-delay product of the slowest link the file declares
// between two sites of the domain over the domain's predicted rotation
// (the preset's window when no link declares a bandwidth), and messages up
// to MaxMessageBytes.
func RingConfig(f *topology.File, d *topology.Domain) localring.Config {
	c := localring.DefaultWAN("").WithTimings(d.Timeouts.Ring())
	c.ID, c.Rand = "", nil
	if slowest := SlowestLink(f, d); slowest > 0 {
		c.WindowPackets = localring.WindowForBDP(slowest.BitsPerSecond(), d.Latency.Rotation.D(), c.MaxPacketBytes)
		c.MaxPacketsPerVisit = c.WindowPackets
	}
	c.MaxMessageBytes = MaxMessageBytes
	// A site's gateways speak for it one after another, and an old one
	// may still run (paused, cut off) when its successor starts.
	c.SharedIDs = true
	// The members' ids are the domain's site names, which its ConfigHash
	// covers: every gateway of the ring takes the same bound, the longest
	// name rounded up to 8 bytes, and leaves that much less room for
	// recovery's header below each packet (localring.RecoveryReserve).
	longest := 1
	for _, s := range d.Sites {
		longest = max(longest, len(s))
	}
	c.MaxIDBytes = min((longest+7)/8*8, localring.MaxIDBytes)
	// The gateways' Ups and Acks name the ring they were submitted in,
	// and count for nothing in another: a copy still queued when its
	// ring ends is dropped, not sent first in the next ring, where,
	// Safe, it would hold up the Syncs behind it by two rotations.
	c.RingBoundClasses = []int{bridge.FedDataClass}
	return c
}

// SlowestLink returns the lowest bandwidth that the topology file f
// declares for a link between two sites of domain d, 0 when none declares
// one.
func SlowestLink(f *topology.File, d *topology.Domain) topology.Bandwidth {
	var slowest topology.Bandwidth
	for _, l := range f.DeclaredLinks(d.Sites) {
		if slowest == 0 || l.Bandwidth < slowest {
			slowest = l.Bandwidth
		}
	}
	return slowest
}

// MinBacklogBytes is BacklogBytes' floor: four of the WAN preset's
// packets.
const MinBacklogBytes = 4 * localring.WANPacketBytes

// BacklogBytes returns the bound on the message bytes a gateway of domain
// d lets wait in its transport's queue toward a peer
// (driver.Config.MaxBacklogBytes) when the topology file f declares the
// bandwidth of the domain's slowest link: what that link carries in two
// of the domain's predicted rotations, at least MinBacklogBytes; 0 when no
// link declares one. The regular token goes as a QUIC datagram and
// overtakes the queue: a member that sees it asks for every packet still
// queued toward it, and every gateway that holds one sends it again, so a
// queue longer than a rotation or two of the link fills the link with
// copies (docs/BENCHMARKS.md, the isolation benchmark's saturating phase:
// with the driver's default of 512 KiB, about 4 s at 1 Mbit/s, most of the
// gateways' packets were retransmissions). Held in the ring node's own
// queue instead, the messages wait where the agent's back-pressure sees
// them (the site's backlog) and go out as the link drains.
func BacklogBytes(f *topology.File, d *topology.Domain) int {
	bw := SlowestLink(f, d)
	if bw <= 0 {
		return 0
	}
	return max(MinBacklogBytes, int(float64(bw.BitsPerSecond())/8*2*d.Latency.Rotation.D().Seconds()))
}

// FitPacket caps the packets of ring configuration c (from RingConfig) at
// maxPacket, the largest ring packet the transport carries (QUIC
// datagrams, ModeUDP's sealed datagrams), when that is below
// c.MaxPacketBytes. The window, sized in packets of the preset's size,
// keeps its bytes in the smaller packets, or the ring would send a
// thirteenth of the bandwidth-delay product per rotation, and counts
// them (localring.Config.ByteWindow): a packet of one 1000-byte message
// is 1,040 to 1,120 bytes of a 1,245-byte datagram's, the rest too
// short for a fragment of the next, and counted as a packet it took the
// window's share of a full one. Every member of a ring runs the same
// transport mode (it is in the ALPN), so all fit alike.
func FitPacket(c *localring.Config, maxPacket int) {
	if maxPacket <= 0 || maxPacket >= c.MaxPacketBytes {
		return
	}
	c.WindowPackets = max(1, c.WindowPackets*c.MaxPacketBytes/maxPacket)
	c.MaxPacketsPerVisit = max(1, c.MaxPacketsPerVisit*c.MaxPacketBytes/maxPacket)
	c.MaxPacketBytes = maxPacket
	c.ByteWindow = true
}

// NewConfig returns the configuration of gateway node gateway as the
// member of its site in federation domain domain of plan p (made from
// file f), having become active in the local ring configuration local,
// after epoch handovers agreed in it (Incarnation), when the highest
// federation ring sequence number its site knows is known (0 when none;
// see RingSeqFloor).
func NewConfig(f *topology.File, p *topology.Plan, domain, gateway string, local localring.RingID, epoch int, known uint64) (Config, error) {
	d, ok := p.Domain(domain)
	if !ok || d.Kind != topology.FederationDomain {
		var names []string
		for _, x := range p.Domains {
			if x.Kind == topology.FederationDomain {
				names = append(names, x.Name)
			}
		}
		return Config{}, fmt.Errorf("federation: %q is not a federation domain of the plan of %s; its federation domains are: %s", domain, f.Name(), strings.Join(names, ", "))
	}
	site, _, ok := f.Node(gateway)
	if !ok {
		return Config{}, fmt.Errorf("federation: node %q is not in topology file %s", gateway, f.Name())
	}
	if !slices.Contains(d.Sites, site.Name) {
		return Config{}, fmt.Errorf("federation: node %s is in site %s, which is not in domain %s (sites %s)", gateway, site.Name, d.Name, strings.Join(d.Sites, ", "))
	}
	rank, lanes := -1, 0
	c := Config{Domain: d.Name, Site: site.Name, Gateway: gateway, Sites: slices.Clone(d.Ring), Endpoints: map[string]string{}}
	for _, g := range d.Gateways {
		c.Endpoints[g.Site] = g.Endpoint
		if g.Site == site.Name && g.Active != "" {
			rank, lanes = slices.Index(append([]string{g.Active}, g.Standby...), gateway), 1+len(g.Standby)
		}
	}
	if rank < 0 {
		return Config{}, fmt.Errorf("federation: node %s is not a gateway of site %s for domain %s; list it in the site's gateways in %s", gateway, site.Name, d.Name, f.Name())
	}
	inc, err := Incarnation(local, epoch, rank)
	if err != nil {
		return Config{}, fmt.Errorf("federation: gateway %s of site %s: %w", gateway, site.Name, err)
	}
	c.Ring = RingConfig(f, d)
	c.Ring.ID = localring.NodeID(site.Name)
	c.Ring.Incarnation = inc
	c.Ring.RingSeq = RingSeqFloor(known)
	// The site's gateways may run at once (an old one paused or cut off,
	// its successor): each numbers the rings it forms in its own lane.
	c.Ring.RingSeqLanes, c.Ring.RingSeqLane = lanes, rank
	return c, c.Validate()
}

// Validate reports what is missing or inconsistent, with the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("federation: config: "+format, a...)) }
	if !strings.HasPrefix(c.Domain, "fed/") {
		bad("domain %q must be a federation domain name, fed/CLASS:SITES", c.Domain)
	}
	if string(c.Ring.ID) != c.Site {
		bad("the ring member id %q must be the site %q: a federation ring's members are sites", c.Ring.ID, c.Site)
	}
	if !slices.Contains(c.Sites, c.Site) {
		bad("site %q is not among the domain's sites %v", c.Site, c.Sites)
	}
	if c.Ring.MaxMessageBytes != 0 && c.Ring.MaxMessageBytes < MaxMessageBytes {
		bad("max message size %d is below %d: a maximum-size local message in its envelope would not fit", c.Ring.MaxMessageBytes, MaxMessageBytes)
	}
	if err := c.Ring.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
