package bench

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// NodeSpec is everything one benchmark node needs. RunLocal and the
// namespace testbed write it as JSON to the standard input of
// `atoll bench node`. Zero values mean the defaults named below.
type NodeSpec struct {
	// ID is this node's id; it must be one of Nodes.
	ID string `json:"id"`
	// Nodes lists every ring node, this one included.
	Nodes []NodeAddr `json:"nodes"`
	// Group is the multicast group ("239.192.77.1:5405"). Empty: the UDP
	// unicast transport, sending every multicast to each of Nodes.
	Group string `json:"group,omitempty"`
	// MTU is the path MTU the transport packs packets to. Default: the
	// interface's.
	MTU int `json:"mtu,omitempty"`

	// Security is the packet protection: "none", "auth" or "encrypt".
	// Default "encrypt", which needs KeyFile.
	Security string `json:"security,omitempty"`
	// KeyFile is the cluster key made by `atoll keygen`.
	KeyFile string `json:"key_file,omitempty"`

	// Service is the service level of every message. Default "agreed".
	Service string `json:"service,omitempty"`
	// Size is the message size in bytes, at least PayloadHeaderLen.
	// Default 1024.
	Size int `json:"size,omitempty"`
	// Send tells whether this node sends.
	Send bool `json:"send"`
	// Rate is this node's offered load in messages per second; 0 sends as
	// fast as flow control allows, keeping MaxOutstanding messages
	// submitted to the agent and not yet sent on the ring.
	Rate float64 `json:"rate,omitempty"`
	// MaxOutstanding bounds the messages submitted and not yet sent on
	// the ring, at full load. Default 100.
	MaxOutstanding int `json:"max_outstanding,omitempty"`

	// Settle is how long the node waits, after the ring holds every node,
	// before it starts sending. Default 300 ms.
	Settle time.Duration `json:"settle,omitempty"`
	// Warmup is sent but not measured. Default 1 s.
	Warmup time.Duration `json:"warmup,omitempty"`
	// Duration is the measurement window. Default 10 s.
	Duration time.Duration `json:"duration,omitempty"`
	// Drain is how long the node keeps receiving after it stops sending.
	// Default 1 s.
	Drain time.Duration `json:"drain,omitempty"`
	// FormTimeout is how long the node waits for the ring to hold every
	// node before it gives up. Default 30 s.
	FormTimeout time.Duration `json:"form_timeout,omitempty"`

	// TokenTimeout overrides the LAN preset's token timeout (200 ms).
	TokenTimeout time.Duration `json:"token_timeout,omitempty"`

	// SamplesFile receives the latency of every delivery in the window,
	// as little-endian int64 nanoseconds (see ReadSamples). Empty: not
	// written.
	SamplesFile string `json:"samples_file,omitempty"`
}

// NodeAddr is one ring node and its unicast address.
type NodeAddr struct {
	ID   string `json:"id"`
	Addr string `json:"addr"` // "10.77.0.1:5405"
}

func (s *NodeSpec) setDefaults() {
	if s.Security == "" {
		s.Security = "encrypt"
	}
	if s.Service == "" {
		s.Service = "agreed"
	}
	if s.Size == 0 {
		s.Size = 1024
	}
	if s.MaxOutstanding == 0 {
		s.MaxOutstanding = 100
	}
	if s.Settle == 0 {
		s.Settle = 300 * time.Millisecond
	}
	if s.Warmup == 0 {
		s.Warmup = time.Second
	}
	if s.Duration == 0 {
		s.Duration = 10 * time.Second
	}
	if s.Drain == 0 {
		s.Drain = time.Second
	}
	if s.FormTimeout == 0 {
		s.FormTimeout = 30 * time.Second
	}
}

// parsed is a validated NodeSpec.
type parsed struct {
	self    int
	addrs   []netip.AddrPort
	byID    map[localring.NodeID]netip.AddrPort
	group   netip.AddrPort
	mode    seal.Mode
	service localring.Service
}

func (s *NodeSpec) parse() (parsed, error) {
	var p parsed
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("bench: node spec: "+format, a...)) }
	p.self = -1
	p.byID = map[localring.NodeID]netip.AddrPort{}
	for i, n := range s.Nodes {
		a, err := netip.ParseAddrPort(n.Addr)
		if err != nil {
			bad("node %s: address %q: %v (want ip:port)", n.ID, n.Addr, err)
		}
		if _, dup := p.byID[localring.NodeID(n.ID)]; dup {
			bad("node id %q appears twice", n.ID)
		}
		p.byID[localring.NodeID(n.ID)] = a
		p.addrs = append(p.addrs, a)
		if n.ID == s.ID {
			p.self = i
		}
	}
	if p.self < 0 {
		bad("this node's id %q is not in the node list", s.ID)
	}
	if s.Group != "" {
		g, err := netip.ParseAddrPort(s.Group)
		if err != nil || !g.Addr().IsMulticast() {
			bad("group %q is not a multicast address and port (e.g. 239.192.77.1:5405)", s.Group)
		}
		p.group = g
	}
	var err error
	if p.mode, err = seal.ParseMode(s.Security); err != nil {
		bad("security: %v", err)
	}
	if p.mode != seal.ModeNone && s.KeyFile == "" {
		bad("security %q needs a key file (atoll keygen)", s.Security)
	}
	if p.service, err = localring.ParseService(s.Service); err != nil {
		bad("%v", err)
	}
	if s.Size < PayloadHeaderLen || s.Size > localring.MaxMessageBytes {
		bad("message size %d must be between %d and %d bytes", s.Size, PayloadHeaderLen, localring.MaxMessageBytes)
	}
	if s.Rate < 0 {
		bad("rate %v must not be negative (0 means as fast as possible)", s.Rate)
	}
	return p, errors.Join(errs...)
}
