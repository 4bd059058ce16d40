package topology

import (
	"slices"
	"time"
)

// This file holds the types of the topology file. Their doc comments are the
// reference: TestSchema turns them into the descriptions of
// docs/topology.schema.json, so write them for an operator.

// File is one topology file: the whole world of one Atoll cluster.
type File struct {
	// Version of the file format. Must be 1.
	Version int `yaml:"version"`
	// Cluster is the name of the cluster, a DNS label such as "prod-eu".
	// Nodes of different clusters never join the same ring.
	Cluster string `yaml:"cluster"`
	// Classes are the latency classes (QoS tiers). Every group names one.
	Classes []Class `yaml:"classes,omitempty"`
	// Sites are the LANs of the cluster. The nodes of one site form one local
	// Totem ring.
	Sites []Site `yaml:"sites"`
	// Links are the wide-area links between sites with their round-trip
	// times. Two sites without a declared link are assumed to talk over the
	// shortest chain of declared links (see docs/PLANNER.md).
	Links []Link `yaml:"links,omitempty"`
	// Groups are the process groups (or name patterns for families of
	// groups), each with its latency class and the sites its members run in.
	Groups []Group `yaml:"groups,omitempty"`
	// Security is the packet security of the local rings. Absent means
	// mode encrypt with the default cipher and the key file given to each
	// agent with --key.
	Security *Security `yaml:"security,omitempty"`
	// Federation are settings of every federation ring of the cluster.
	// Absent means the defaults.
	Federation *Federation `yaml:"federation,omitempty"`

	name string    // file name used in errors
	at   positions // where each key of this mapping is in the file
}

// Class is a latency class: a named budget for agreed delivery.
type Class struct {
	// Name of the class, a DNS label such as "realtime".
	Name string `yaml:"name"`
	// Budget is the longest acceptable predicted delivery latency for the
	// groups of this class, from a member's send to delivery at every
	// member, as a duration such as "2ms" or "500ms": agreed delivery on a
	// site's ring; across sites, the federation ring's Safe delivery (two
	// rotations more). The planner compares the worst case of its latency
	// model (docs/PLANNER.md) against it.
	Budget Duration `yaml:"budget"`
	// Throughput is the optional peak send rate of one group of this class,
	// summed over its senders, as a bandwidth such as "20Mbit/s" or "5MB/s".
	// The planner checks that links declaring a bandwidth can carry the
	// federation traffic of the groups placed on them. Zero means no need
	// declared.
	Throughput Bandwidth `yaml:"throughput,omitempty"`
	// Description is free text for people.
	Description string `yaml:"description,omitempty"`

	at positions
}

// Site is one LAN (a rack or a data centre) whose nodes form one local
// Totem ring over UDP multicast or, where multicast is unavailable, over UDP
// unicast.
type Site struct {
	// Name of the site, a DNS label such as "fra".
	Name string `yaml:"name"`
	// Bind is the default bind address of the site's nodes, as a go-sockaddr
	// template such as '{{ GetPrivateInterfaces | include "network"
	// "10.1.0.0/16" | attr "address" }}' or a literal IP address. It must
	// resolve to exactly one address on each node. Default: '{{ GetPrivateIP }}'.
	Bind string `yaml:"bind,omitempty"`
	// Port is the UDP port of the local ring. Default: 5405.
	Port int `yaml:"port,omitempty"`
	// Multicast is the IP multicast group of the local ring, such as
	// "239.192.1.1". Set exactly one of multicast and unicast.
	Multicast string `yaml:"multicast,omitempty"`
	// Unicast lists the addresses of the local ring's members where multicast
	// is unavailable (clouds), each "IP" or "IP:port" (the port defaults to
	// the site's port). Set exactly one of multicast and unicast.
	Unicast []string `yaml:"unicast,omitempty"`
	// LANRTT is the round-trip time between two nodes of the site, such as
	// "200us". Default: 200us.
	LANRTT Duration `yaml:"lan_rtt,omitempty"`
	// TokenHold is how long a node of this site holds a token (local or
	// federation) before passing it on: processing plus sending its queued
	// messages, such as "100us". Default: 100us.
	TokenHold Duration `yaml:"token_hold,omitempty"`
	// QUIC is the endpoint, "host:port", at which other sites reach this
	// site's gateways over QUIC, such as "fra.gw.example.net:7400". A
	// gateway node may override it. Required for sites that share a group
	// with another site.
	QUIC string `yaml:"quic,omitempty"`
	// Nodes are the agents of this site.
	Nodes []Node `yaml:"nodes"`
	// Gateways lists the ids of the site's gateway-eligible nodes in order
	// of preference. The planner makes one active per federation domain and
	// the rest standby. Required for sites that share a group with another
	// site.
	Gateways []string `yaml:"gateways,omitempty"`

	at positions
}

// Node is one agent process.
type Node struct {
	// ID is the stable node id, unique in the cluster, such as "fra-1". It
	// names the node in traces and views.
	ID string `yaml:"id"`
	// Bind overrides the site's bind address template for this node.
	Bind string `yaml:"bind,omitempty"`
	// Port overrides the site's local ring port for this node (useful when
	// several nodes share a host, as in demos).
	Port int `yaml:"port,omitempty"`
	// QUIC overrides the site's QUIC endpoint ("host:port") for this node
	// when it is a gateway.
	QUIC string `yaml:"quic,omitempty"`

	at positions
}

// Link is a wide-area link between two sites.
type Link struct {
	// Between names the two sites the link joins, such as [fra, sin].
	Between []string `yaml:"between"`
	// RTT is the round-trip time between the sites' gateways, such as
	// "160ms".
	RTT Duration `yaml:"rtt"`
	// Bandwidth is the optional capacity of the link in each direction, such
	// as "1Gbit/s". Zero means unlimited. Declared on a link between two
	// sites of a federation ring, it also makes udp that ring's default
	// federation.ring_packets, paced at it: declare what the path carries.
	Bandwidth Bandwidth `yaml:"bandwidth,omitempty"`
	// Stripes is at most how many QUIC connections carry the federation
	// rings' messages between the two sites' gateways, 1 to 64
	// (MaxStripes); absent means the transport's default
	// (transport.DefaultStripes: 8 on a path of 100 ms RTT or more, else
	// 1). Each connection has its own
	// loss-based congestion window, which at 1 % random loss and 200 ms
	// RTT carries only 1–2 Mbit/s, so a long path that loses packets at
	// random needs several; the extra ones send only while the path loses
	// packets, shows no standing queue and the others do not keep up. 1
	// keeps one connection. Stripes carry messages only in the
	// transport's stream mode (the default).
	Stripes int `yaml:"stripes,omitempty"`

	at positions
}

// Group is a process group, or a family of groups given by a name pattern.
type Group struct {
	// Name is the group name, such as "orders", or a pattern with "*" and
	// "?" wildcards, such as "orders.*", that covers every group it matches.
	// An exact name wins over a pattern; among patterns the first listed
	// wins.
	Name string `yaml:"name"`
	// Class is the name of the group's latency class.
	Class string `yaml:"class"`
	// Sites lists the sites the group's members run in, or ["*"] for every
	// site.
	Sites []string `yaml:"sites"`
	// ACL restricts who may join and send. Absent means anyone with access
	// to an agent.
	ACL *ACL `yaml:"acl,omitempty"`

	at positions
}

// ACL lists the principals allowed to join a group and to send to it. A
// principal is "*" (anyone), "user:NAME" or "uid:N" (local clients over the
// Unix socket), "unixgroup:NAME" or "gid:N", "cn:NAME" (TCP clients by TLS
// certificate common name), or "node:ID" (clients embedded in that node).
type ACL struct {
	// Join lists the principals that may join the group. Empty means
	// anyone.
	Join []string `yaml:"join,omitempty"`
	// Send lists the principals that may multicast to the group, members
	// or not. Empty means the group's members.
	Send []string `yaml:"send,omitempty"`

	at positions
}

// Federation are settings of the cluster's federation rings. Gateways
// with different ring_packets refuse each other at the QUIC handshake
// (the ALPN names it), with a log line that says so; unneeded is each
// site's own, and agents of this version may differ in it.
type Federation struct {
	// RingPackets is how the federation rings' message packets and tokens
	// travel between gateways: "streams" (QUIC streams, under QUIC's
	// congestion control, with several connections on long lossy paths,
	// see links[].stripes), "datagrams" (QUIC DATAGRAM frames, still under
	// QUIC's congestion control) or "udp" (sealed UDP datagrams on the
	// QUIC socket, keyed from the authenticated QUIC connection, outside
	// QUIC's congestion control and paced at the link's declared
	// bandwidth). Absent, a federation ring runs udp when a link between
	// two of its sites declares its bandwidth (each pair of sites whose
	// link declares none keeps QUIC streams), and streams when none does.
	// At 1 % random loss on a 200 ms path udp carries several times what
	// streams does (package federation/transport's doc has the figures);
	// nothing but the declared bandwidth limits its rate, so declare what
	// the path really carries, or set streams.
	RingPackets string `yaml:"ring_packets,omitempty"`
	// Unneeded is what a site's local ring carries of a message of a
	// federation domain's groups that the site has no use for (no member
	// of its groups there, not sent there, no recipient there): "stubs"
	// (the default: the group header with the data's CRC-32C and length,
	// about 35 bytes, at the message's place) or "full" (the message with
	// its data, as agents before stubs did). Every agent of a domain must
	// run a version that knows stubs unless every one of them has "full".
	Unneeded string `yaml:"unneeded,omitempty"`

	at positions
}

// Unneeded values (Federation.Unneeded).
const (
	UnneededStubs = "stubs"
	UnneededFull  = "full"
)

// Stubs reports whether a site's active gateway brings a message of a
// federation domain that its site has no use for down as a stub
// (federation.unneeded, default stubs).
func (f *File) Stubs() bool {
	return f.Federation == nil || f.Federation.Unneeded != UnneededFull
}

// Security is the packet security of every local ring of the cluster. All
// nodes must agree on it: a node with another mode, cipher, key or key epoch
// is never admitted to a ring.
type Security struct {
	// Mode is "encrypt" (the default: packets are encrypted and
	// authenticated), "auth" (authenticated, sent in the clear) or "none"
	// (no protection: anyone who reaches the ring's port can read and
	// inject packets; only for benchmarks and isolated test networks).
	Mode string `yaml:"mode,omitempty"`
	// Cipher is the AEAD of modes encrypt and auth: "aes-256-gcm" (the
	// default) or "chacha20-poly1305" (faster on CPUs without AES
	// instructions).
	Cipher string `yaml:"cipher,omitempty"`
	// KeyFile is the path of the cluster key file on every node, made once
	// by `atoll keygen` and copied to each node with mode 0600, such as
	// "/etc/atoll/atoll.key". An agent's --key flag overrides it. Not
	// allowed with mode none.
	KeyFile string `yaml:"key_file,omitempty"`
	// KeyEpoch numbers the key: 0 for the first key, one more at every key
	// rotation. Nodes on different epochs reject each other.
	KeyEpoch int `yaml:"key_epoch,omitempty"`

	at positions
}

// Defaults of optional fields.
const (
	// DefaultPort is the UDP port of a local ring when a site sets none.
	DefaultPort = 5405
	// DefaultBind is the bind template of a node when neither the node nor
	// its site sets one.
	DefaultBind = "{{ GetPrivateIP }}"
	// DefaultLANRTT is a site's LAN round-trip time when it sets none.
	DefaultLANRTT = Duration(200_000) // 200µs
	// DefaultTokenHold is a site's token hold time when it sets none.
	DefaultTokenHold = Duration(100_000) // 100µs
	// MaxDelay is the longest RTT, LAN RTT or token hold time the file may
	// declare; the planner treats longer ones as MaxDelay.
	MaxDelay = 10 * time.Second
)

// DeclaredLinks returns the links of f that join two different sites of
// sites and declare a bandwidth, in file order.
func (f *File) DeclaredLinks(sites []string) []Link {
	var out []Link
	for _, l := range f.Links {
		if l.Bandwidth > 0 && len(l.Between) == 2 && l.Between[0] != l.Between[1] &&
			slices.Contains(sites, l.Between[0]) && slices.Contains(sites, l.Between[1]) {
			out = append(out, l)
		}
	}
	return out
}

// Name returns the file name the topology was read from, as used in errors.
func (f *File) Name() string { return f.name }

// Site returns the site with the given name.
func (f *File) Site(name string) (*Site, bool) {
	for i := range f.Sites {
		if f.Sites[i].Name == name {
			return &f.Sites[i], true
		}
	}
	return nil, false
}

// Node returns the node with the given id and the site it belongs to.
func (f *File) Node(id string) (*Site, *Node, bool) {
	for i := range f.Sites {
		s := &f.Sites[i]
		for j := range s.Nodes {
			if s.Nodes[j].ID == id {
				return s, &s.Nodes[j], true
			}
		}
	}
	return nil, nil, false
}

// BindTemplate returns the bind address template in force for node n of
// site s: the node's, else the site's, else DefaultBind.
func (s *Site) BindTemplate(n *Node) string {
	switch {
	case n != nil && n.Bind != "":
		return n.Bind
	case s.Bind != "":
		return s.Bind
	}
	return DefaultBind
}

// RingPort returns the local ring UDP port in force for node n of site s.
func (s *Site) RingPort(n *Node) int {
	switch {
	case n != nil && n.Port != 0:
		return n.Port
	case s.Port != 0:
		return s.Port
	}
	return DefaultPort
}

// QUICEndpoint returns the QUIC endpoint in force for gateway n of site s:
// the node's, else the site's (possibly empty).
func (s *Site) QUICEndpoint(n *Node) string {
	if n != nil && n.QUIC != "" {
		return n.QUIC
	}
	return s.QUIC
}

func (s *Site) lanRTT() Duration {
	if s.LANRTT > 0 {
		return min(s.LANRTT, Duration(MaxDelay))
	}
	return DefaultLANRTT
}

func (s *Site) tokenHold() Duration {
	if s.TokenHold > 0 {
		return min(s.TokenHold, Duration(MaxDelay))
	}
	return DefaultTokenHold
}
