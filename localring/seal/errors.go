package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Kind classifies why Open rejected a packet, for counting and alarms.
type Kind uint8

// Kinds of rejection.
const (
	// KindTruncated: shorter than the header and tag. Not an Atoll packet,
	// or cut by the network.
	KindTruncated Kind = iota + 1
	// KindVersion: an unknown header version or reserved bits set; a newer
	// (or older) Atoll, or another program sending to the ring's port.
	KindVersion
	// KindMismatch: another cluster, ring configuration, key epoch,
	// security mode or cipher suite. A misconfigured node, never admitted.
	KindMismatch
	// KindWrongKey: the sender's key id differs from ours: it has another
	// key file.
	KindWrongKey
	// KindAuth: the header matches but authentication failed: the packet
	// was corrupted or forged.
	KindAuth
	// KindReplay: a duplicate, a counter older than the replay window, or
	// an old incarnation of the sender.
	KindReplay
)

func (k Kind) String() string {
	switch k {
	case KindTruncated:
		return "truncated"
	case KindVersion:
		return "version"
	case KindMismatch:
		return "mismatch"
	case KindWrongKey:
		return "wrong-key"
	case KindAuth:
		return "auth"
	case KindReplay:
		return "replay"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Error is the type of every error Open returns. Callers branch on Kind, or
// compare with the sentinels below using errors.Is.
type Error struct {
	Kind   Kind
	reason string
}

func (e *Error) Error() string { return "seal: " + e.reason }

// The errors of Open. They are preallocated so that rejecting a flood of
// bad packets allocates nothing; Sealer.Diagnose gives the details.
var (
	ErrTruncated        = &Error{KindTruncated, "packet shorter than the seal header and tag"}
	ErrVersion          = &Error{KindVersion, "unknown seal header version"}
	ErrCluster          = &Error{KindMismatch, "packet belongs to another cluster"}
	ErrConfig           = &Error{KindMismatch, "packet belongs to another ring configuration"}
	ErrEpoch            = &Error{KindMismatch, "packet uses another key epoch"}
	ErrMode             = &Error{KindMismatch, "packet uses another security mode or cipher suite"}
	ErrWrongKey         = &Error{KindWrongKey, "packet sealed with another key"}
	ErrAuth             = &Error{KindAuth, "packet failed authentication"}
	ErrReplay           = &Error{KindReplay, "duplicate packet"}
	ErrTooOld           = &Error{KindReplay, "packet older than the replay window"}
	ErrStaleIncarnation = &Error{KindReplay, "packet from an older incarnation of its sender"}
)

// Diagnose explains why Open rejected pkt with err, in one line an operator
// can act on: which sender, which field, its value and ours, and the fix.
// It reads only header fields, which are unauthenticated for a rejected
// packet: they say what the packet claims. Call it only when you are about
// to log (see Limiter); it allocates.
func (s *Sealer) Diagnose(pkt []byte, err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("seal: %v", err)
	}
	if e.Kind == KindTruncated || len(pkt) < HeaderLen {
		return fmt.Sprintf("seal: dropped a %d-byte packet, shorter than the %d-byte seal header and %d-byte tag: not an Atoll packet, or truncated by the network", len(pkt), HeaderLen, s.tagLen)
	}
	h := parseHeader(pkt)
	from := fmt.Sprintf("sender %016x incarnation %d", h.sender, h.incarnation)
	var b strings.Builder
	b.WriteString("seal: dropped packet: ")
	switch err {
	case ErrVersion:
		fmt.Fprintf(&b, "header version %d with reserved byte %d; this node speaks version %d: another Atoll release, or another program sending to the ring's port", h.version, h.reserved, Version)
	case ErrMode:
		fmt.Fprintf(&b, "%s uses mode %s, suite %s; this node uses mode %s, suite %s: set the same security mode and suite on every node", from, wireModeName(h.mode), wireSuiteName(h.suite), s.mode, s.suiteName())
	case ErrCluster:
		fmt.Fprintf(&b, "%s is from a cluster whose name hashes to %08x; this node's cluster %q hashes to %08x: another cluster shares this multicast group or port; give each cluster its own group or port", from, h.cluster, s.clusterName, s.cluster)
	case ErrConfig:
		fmt.Fprintf(&b, "%s runs ring configuration %016x; this node runs %016x: the nodes have different ring settings (the site, or the ring timings and flow control); give every node of the ring the same", from, h.config, s.configHash)
	case ErrEpoch:
		fmt.Fprintf(&b, "%s uses key epoch %d; this node uses %d: finish the key rotation on every node", from, h.epoch, s.epoch)
	case ErrWrongKey:
		fmt.Fprintf(&b, "%s uses key id %08x; this node uses key id %08x: the nodes have different key files; copy the same key file (made once by `atoll keygen`) to every node", from, h.keyID, s.keyID)
	case ErrAuth:
		fmt.Fprintf(&b, "%s (counter %d) claims this node's key id %08x but fails authentication: corrupted in transit, or forged", from, h.counter, s.keyID)
	case ErrReplay:
		fmt.Fprintf(&b, "%s counter %d was already received: duplicated by the network, or replayed", from, h.counter)
	case ErrTooOld:
		fmt.Fprintf(&b, "%s counter %d is %d or more behind the newest counter of that sender: delayed too long, or replayed", from, h.counter, ReplayWindow)
	case ErrStaleIncarnation:
		fmt.Fprintf(&b, "%s is older than an incarnation already seen from that sender: replayed, or the sender restarted without persisting a growing incarnation (see NextIncarnation)", from)
	default:
		fmt.Fprintf(&b, "%s: %v", from, err)
	}
	return b.String()
}

// ConfigHashOf returns the ring configuration hash that the header of pkt
// claims (unauthenticated when Open rejected it), for diagnosing
// ErrConfig; false when pkt is shorter than a header.
func ConfigHashOf(pkt []byte) (uint64, bool) {
	if len(pkt) < HeaderLen {
		return 0, false
	}
	return parseHeader(pkt).config, true
}

// header is the parsed fixed-size header of a packet.
type header struct {
	version, mode, suite, reserved uint8
	keyID, cluster, epoch          uint32
	config                         uint64
	sender, incarnation, counter   uint64
}

// parseHeader reads the header fields of pkt, which must hold at least
// HeaderLen bytes.
func parseHeader(pkt []byte) header {
	_ = pkt[HeaderLen-1]
	return header{
		version:     pkt[offVersion],
		mode:        pkt[offMode],
		suite:       pkt[offSuite],
		reserved:    pkt[offReserved],
		keyID:       binary.BigEndian.Uint32(pkt[offKeyID:]),
		cluster:     binary.BigEndian.Uint32(pkt[offCluster:]),
		config:      binary.BigEndian.Uint64(pkt[offConfig:]),
		epoch:       binary.BigEndian.Uint32(pkt[offEpoch:]),
		sender:      binary.BigEndian.Uint64(pkt[offSender:]),
		incarnation: binary.BigEndian.Uint64(pkt[offIncarnation:]),
		counter:     binary.BigEndian.Uint64(pkt[offCounter:]),
	}
}
