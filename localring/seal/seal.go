package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/atoll-gcs/atoll/internal/replay"
)

// Version is the version of the seal header this package writes and reads.
const Version = 1

// HeaderLen is the length in bytes of the seal header; TagLen the length of
// the authentication tag that follows the payload in ModeAuth and
// ModeEncrypt. Sealer.Overhead is their sum for the sealer's mode.
const (
	HeaderLen = 48
	TagLen    = 16
)

// Header field offsets; see the package documentation.
const (
	offVersion     = 0
	offMode        = 1
	offSuite       = 2
	offReserved    = 3
	offKeyID       = 4
	offCluster     = 8
	offConfig      = 12
	offEpoch       = 20
	offSender      = 24
	offIncarnation = 32
	offCounter     = 40
	offNonce       = HeaderLen - nonceLen
	nonceLen       = 12
)

// Mode is the protection applied to packets. The zero value is ModeEncrypt.
type Mode uint8

// Modes.
const (
	// ModeEncrypt encrypts the payload and authenticates header and payload.
	ModeEncrypt Mode = iota
	// ModeAuth authenticates header and payload; the payload travels in the
	// clear.
	ModeAuth
	// ModeNone protects nothing: insecure, for benchmarks and isolated test
	// networks only. See Sealer.Warning.
	ModeNone
)

func (m Mode) String() string {
	switch m {
	case ModeEncrypt:
		return "encrypt"
	case ModeAuth:
		return "auth"
	case ModeNone:
		return "none"
	}
	return fmt.Sprintf("mode-%d", uint8(m))
}

// ParseMode parses "encrypt", "auth" or "none" (the names of String).
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeEncrypt, ModeAuth, ModeNone} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("seal: unknown security mode %q; use encrypt (the default), auth, or none (insecure)", s)
}

// wire returns the mode byte of the header.
func (m Mode) wire() uint8 {
	switch m {
	case ModeAuth:
		return 1
	case ModeEncrypt:
		return 2
	}
	return 0
}

func wireModeName(b uint8) string {
	switch b {
	case 0:
		return "none"
	case 1:
		return "auth"
	case 2:
		return "encrypt"
	}
	return fmt.Sprintf("unknown(%d)", b)
}

// Suite is the AEAD used by ModeAuth and ModeEncrypt. The zero value is
// AES256GCM. Every node of a ring must use the same suite.
type Suite uint8

// Suites.
const (
	// AES256GCM is AES-256 in Galois/Counter Mode from the standard
	// library: the fastest choice on CPUs with AES and carry-less multiply
	// instructions (x86-64 since 2010, ARMv8).
	AES256GCM Suite = iota
	// ChaCha20Poly1305 (RFC 8439, golang.org/x/crypto) is constant-time in
	// software: prefer it on CPUs without AES instructions.
	ChaCha20Poly1305
)

func (s Suite) String() string {
	switch s {
	case AES256GCM:
		return "aes-256-gcm"
	case ChaCha20Poly1305:
		return "chacha20-poly1305"
	}
	return fmt.Sprintf("suite-%d", uint8(s))
}

// ParseSuite parses "aes-256-gcm" or "chacha20-poly1305".
func ParseSuite(s string) (Suite, error) {
	for _, x := range []Suite{AES256GCM, ChaCha20Poly1305} {
		if strings.EqualFold(s, x.String()) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("seal: unknown cipher suite %q; use aes-256-gcm (the default) or chacha20-poly1305", s)
}

func (s Suite) wire() uint8 { return uint8(s) + 1 }

func wireSuiteName(b uint8) string {
	if b == 0 {
		return "none"
	}
	if b <= uint8(ChaCha20Poly1305)+1 {
		return Suite(b - 1).String()
	}
	return fmt.Sprintf("unknown(%d)", b)
}

// Config configures a Sealer. Every node of a ring must agree on Mode,
// Suite, Key, Cluster, ConfigHash and Epoch; Sender and Incarnation are
// this node's own.
type Config struct {
	// Mode is the protection; the zero value is ModeEncrypt. ModeNone must
	// be chosen explicitly and is insecure.
	Mode Mode

	// Suite is the AEAD; the zero value is AES256GCM. Ignored in ModeNone.
	Suite Suite

	// Key is the cluster key from the key file (LoadKeyFile). Required in
	// ModeAuth and ModeEncrypt; must be unset in ModeNone, so a key file is
	// never silently ignored.
	Key Key

	// Cluster is the cluster name from the topology file. Required.
	Cluster string

	// ConfigHash identifies the ring configuration: every setting that
	// nodes of one ring must share (the driver hashes them, e.g. the first
	// 8 bytes of SHA-256 over their canonical encoding). Nodes whose hashes
	// differ reject each other's packets, so a node with another
	// configuration is never admitted. 0 is allowed.
	ConfigHash uint64

	// Epoch is the key epoch: 0 for the first key, +1 at every key
	// rotation.
	Epoch uint32

	// Sender is this node's 64-bit id, unique in the cluster: SenderID of
	// the ring node id. Must not be 0.
	Sender uint64

	// Incarnation distinguishes restarts of this node. It must never
	// repeat for Sender and must grow from one start to the next (persist
	// it; see NextIncarnation): nonce uniqueness depends on it. Must not
	// be 0.
	Incarnation uint64
}

// Validate reports every invalid setting, with the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("seal: config: "+format, a...)) }
	switch c.Mode {
	case ModeEncrypt, ModeAuth:
		if c.Key.IsZero() {
			bad("mode %s needs the cluster key: load the key file made by `atoll keygen` (or choose mode none, which is insecure)", c.Mode)
		}
	case ModeNone:
		if !c.Key.IsZero() {
			bad("mode none ignores the key that is set; choose mode auth or encrypt to use it, or remove the key file from the configuration")
		}
	default:
		bad("unknown mode %d; use ModeEncrypt, ModeAuth or ModeNone", uint8(c.Mode))
	}
	if c.Suite != AES256GCM && c.Suite != ChaCha20Poly1305 {
		bad("unknown cipher suite %d; use AES256GCM or ChaCha20Poly1305", uint8(c.Suite))
	}
	if c.Cluster == "" {
		bad("cluster name is empty; set it to the cluster name of the topology file")
	}
	if c.Sender == 0 {
		bad("sender id is 0; set it to SenderID(node id)")
	}
	if c.Incarnation == 0 {
		bad("incarnation is 0; persist a growing incarnation with NextIncarnation")
	}
	return errors.Join(errs...)
}

// Origin identifies the sender of an opened packet. The fields come from
// the authenticated header (in ModeNone, from an unauthenticated one).
type Origin struct {
	Sender      uint64
	Incarnation uint64
	Counter     uint64
}

// ReplayWindow is how many counters below a sender's newest accepted one
// Open still accepts, each at most once.
const ReplayWindow = 1024

// Stats are the counts of a Sealer since New. Rejected packets are counted
// by Kind.
type Stats struct {
	Sealed     uint64 // packets sealed
	Opened     uint64 // packets accepted by Open
	Truncated  uint64 // KindTruncated
	BadVersion uint64 // KindVersion
	Mismatch   uint64 // KindMismatch: cluster, configuration, epoch, mode, suite
	WrongKey   uint64 // KindWrongKey
	AuthFailed uint64 // KindAuth
	Replayed   uint64 // KindReplay: duplicates, too old, older incarnation
}

// Rejected is the total of all rejected packets.
func (s Stats) Rejected() uint64 {
	return s.Truncated + s.BadVersion + s.Mismatch + s.WrongKey + s.AuthFailed + s.Replayed
}

// Sealer seals outgoing and opens incoming packets of one ring node. Create
// it with New; it is safe for concurrent use.
type Sealer struct {
	mode        Mode
	suite       Suite
	tagLen      int
	prk         []byte // HKDF pseudorandom key; nil in ModeNone
	keyID       uint32
	clusterName string
	cluster     uint32
	configHash  uint64
	epoch       uint32
	sender      uint64
	incarnation uint64
	// hdr is the header without the counter: the same for every packet.
	hdr  [offCounter]byte
	aead cipher.AEAD // this node's sending key; nil in ModeNone

	counter atomic.Uint64 // the last counter used by Seal

	mu    sync.Mutex       // guards peers and cand
	peers map[uint64]*peer // by sender
	cand  peer             // last derived, not yet authenticated peer

	n struct {
		sealed, opened                                             atomic.Uint64
		truncated, version, mismatch, wrongKey, authFailed, replay atomic.Uint64
	}
}

// peer is what a Sealer knows about one sender.
type peer struct {
	sender      uint64
	incarnation uint64
	aead        cipher.AEAD
	win         replay.Window
}

// New returns a Sealer for cfg, or the errors of cfg.Validate.
func New(cfg Config) (*Sealer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(cfg.Cluster))
	s := &Sealer{
		mode:        cfg.Mode,
		suite:       cfg.Suite,
		clusterName: cfg.Cluster,
		cluster:     binary.BigEndian.Uint32(sum[:4]),
		configHash:  cfg.ConfigHash,
		epoch:       cfg.Epoch,
		sender:      cfg.Sender,
		incarnation: cfg.Incarnation,
		peers:       make(map[uint64]*peer),
	}
	if s.mode != ModeNone {
		s.tagLen = TagLen
		s.prk = cfg.Key.prk()
		s.keyID = cfg.Key.ID()
		aead, err := s.derive(s.sender, s.incarnation)
		if err != nil {
			return nil, err
		}
		s.aead = aead
	}
	h := s.hdr[:]
	h[offVersion] = Version
	h[offMode] = s.mode.wire()
	if s.mode != ModeNone {
		h[offSuite] = s.suite.wire()
	}
	binary.BigEndian.PutUint32(h[offKeyID:], s.keyID)
	binary.BigEndian.PutUint32(h[offCluster:], s.cluster)
	binary.BigEndian.PutUint64(h[offConfig:], s.configHash)
	binary.BigEndian.PutUint32(h[offEpoch:], s.epoch)
	binary.BigEndian.PutUint64(h[offSender:], s.sender)
	binary.BigEndian.PutUint64(h[offIncarnation:], s.incarnation)
	return s, nil
}

// derive returns the AEAD of one sender incarnation; see the package
// documentation for the HKDF info.
func (s *Sealer) derive(sender, incarnation uint64) (cipher.AEAD, error) {
	info := make([]byte, 0, 64+len(s.clusterName))
	info = append(info, "atoll seal v1 packet key"...)
	info = append(info, 0, s.mode.wire(), s.suite.wire())
	info = binary.BigEndian.AppendUint16(info, uint16(len(s.clusterName)))
	info = append(info, s.clusterName...)
	info = binary.BigEndian.AppendUint64(info, s.configHash)
	info = binary.BigEndian.AppendUint32(info, s.epoch)
	info = binary.BigEndian.AppendUint64(info, sender)
	info = binary.BigEndian.AppendUint64(info, incarnation)
	var key [32]byte
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, s.prk, info), key[:]); err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	switch s.suite {
	case ChaCha20Poly1305:
		return chacha20poly1305.New(key[:])
	default:
		block, err := aes.NewCipher(key[:])
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		return cipher.NewGCM(block)
	}
}

// Mode returns the sealer's mode.
func (s *Sealer) Mode() Mode { return s.mode }

func (s *Sealer) suiteName() string {
	if s.mode == ModeNone {
		return "none"
	}
	return s.suite.String()
}

// Overhead is the number of bytes Seal adds to a payload: HeaderLen, plus
// TagLen unless the mode is ModeNone. Pack payloads to the transport's
// maximum packet size minus Overhead.
func (s *Sealer) Overhead() int { return HeaderLen + s.tagLen }

// KeyID returns the id of the key in use (0 in ModeNone).
func (s *Sealer) KeyID() uint32 { return s.keyID }

// Warning returns a line to log at start when the configuration is
// insecure (ModeNone), or "" when it is not.
func (s *Sealer) Warning() string {
	if s.mode != ModeNone {
		return ""
	}
	return "seal: PACKET SECURITY IS OFF (mode none): any host that can reach the ring's port can read, forge and inject ring packets; use mode encrypt with a key file from `atoll keygen` outside isolated test networks"
}

// Seal appends the sealed packet for payload to dst and returns the
// extended slice. payload must not overlap dst's spare capacity. Seal
// allocates nothing when dst has room for len(payload)+s.Overhead() more
// bytes. It panics if the 64-bit counter would wrap, which at ten million
// packets per second takes 58,000 years.
func (s *Sealer) Seal(dst, payload []byte) []byte {
	c := s.counter.Add(1)
	if c == 0 {
		panic(fmt.Sprintf("seal: packet counter of sender %016x incarnation %d wrapped; restart with a new incarnation", s.sender, s.incarnation))
	}
	start := len(dst)
	out := slices.Grow(dst, HeaderLen+len(payload)+s.tagLen)
	out = append(out, s.hdr[:]...)
	out = binary.BigEndian.AppendUint64(out, c)
	hdr := out[start : start+HeaderLen]
	nonce := hdr[offNonce:]
	switch s.mode {
	case ModeEncrypt:
		out = s.aead.Seal(out, nonce, payload, hdr)
	case ModeAuth:
		out = append(out, payload...)
		out = s.aead.Seal(out, nonce, nil, out[start:])
	default:
		out = append(out, payload...)
	}
	s.n.sealed.Add(1)
	return out
}

// Open checks pkt and appends its payload to dst. dst must not overlap pkt
// (to decrypt in place use OpenInPlace). On success it returns the extended
// slice and the packet's origin; on failure dst unchanged and one of the
// errors of this package, already counted in Stats. Open reads only the
// fixed-size header before it authenticates the packet.
func (s *Sealer) Open(dst, pkt []byte) ([]byte, Origin, error) {
	return s.open(dst, pkt)
}

// OpenInPlace is Open that decrypts pkt in place and returns the payload as
// a subslice of pkt. pkt is modified even when authentication fails.
func (s *Sealer) OpenInPlace(pkt []byte) ([]byte, Origin, error) {
	if len(pkt) < HeaderLen {
		return nil, Origin{}, s.reject(ErrTruncated)
	}
	return s.open(pkt[HeaderLen:HeaderLen], pkt)
}

func (s *Sealer) open(dst, pkt []byte) ([]byte, Origin, error) {
	if len(pkt) < HeaderLen {
		return dst, Origin{}, s.reject(ErrTruncated)
	}
	if pkt[offVersion] != Version || pkt[offReserved] != 0 {
		return dst, Origin{}, s.reject(ErrVersion)
	}
	if pkt[offMode] != s.mode.wire() || (s.mode != ModeNone && pkt[offSuite] != s.suite.wire()) || (s.mode == ModeNone && pkt[offSuite] != 0) {
		return dst, Origin{}, s.reject(ErrMode)
	}
	if len(pkt) < HeaderLen+s.tagLen {
		return dst, Origin{}, s.reject(ErrTruncated)
	}
	switch {
	case binary.BigEndian.Uint32(pkt[offCluster:]) != s.cluster:
		return dst, Origin{}, s.reject(ErrCluster)
	case binary.BigEndian.Uint64(pkt[offConfig:]) != s.configHash:
		return dst, Origin{}, s.reject(ErrConfig)
	case binary.BigEndian.Uint32(pkt[offEpoch:]) != s.epoch:
		return dst, Origin{}, s.reject(ErrEpoch)
	case binary.BigEndian.Uint32(pkt[offKeyID:]) != s.keyID:
		return dst, Origin{}, s.reject(ErrWrongKey)
	}
	o := Origin{
		Sender:      binary.BigEndian.Uint64(pkt[offSender:]),
		Incarnation: binary.BigEndian.Uint64(pkt[offIncarnation:]),
		Counter:     binary.BigEndian.Uint64(pkt[offCounter:]),
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[o.Sender]
	fresh := p == nil || o.Incarnation > p.incarnation
	switch {
	case fresh:
		if s.mode != ModeNone && (s.cand.aead == nil || s.cand.sender != o.Sender || s.cand.incarnation != o.Incarnation) {
			aead, err := s.derive(o.Sender, o.Incarnation)
			if err != nil {
				return dst, Origin{}, s.reject(ErrAuth)
			}
			s.cand = peer{sender: o.Sender, incarnation: o.Incarnation, aead: aead}
		}
		if o.Counter == 0 {
			return dst, Origin{}, s.reject(ErrTooOld)
		}
	case o.Incarnation < p.incarnation:
		return dst, Origin{}, s.reject(ErrStaleIncarnation)
	default:
		switch p.win.Check(o.Counter, ReplayWindow) {
		case replay.TooOld:
			return dst, Origin{}, s.reject(ErrTooOld)
		case replay.Replayed:
			return dst, Origin{}, s.reject(ErrReplay)
		}
	}

	out := dst
	body := pkt[HeaderLen : len(pkt)-s.tagLen]
	switch s.mode {
	case ModeEncrypt, ModeAuth:
		aead := s.cand.aead
		if !fresh {
			aead = p.aead
		}
		nonce := pkt[offNonce:HeaderLen]
		var err error
		if s.mode == ModeEncrypt {
			out, err = aead.Open(dst, nonce, pkt[HeaderLen:], pkt[:HeaderLen])
		} else {
			_, err = aead.Open(nil, nonce, pkt[len(pkt)-TagLen:], pkt[:len(pkt)-TagLen])
			if err == nil {
				out = append(dst, body...)
			}
		}
		if err != nil {
			return dst, Origin{}, s.reject(ErrAuth)
		}
	default:
		out = append(dst, body...)
	}

	if fresh {
		if p == nil {
			p = new(peer)
			s.peers[o.Sender] = p
		}
		*p = peer{sender: o.Sender, incarnation: o.Incarnation, aead: s.cand.aead}
		s.cand = peer{}
	}
	p.win.Accept(o.Counter)
	s.n.opened.Add(1)
	return out, o, nil
}

// reject counts err by kind and returns it.
func (s *Sealer) reject(err *Error) error {
	switch err.Kind {
	case KindTruncated:
		s.n.truncated.Add(1)
	case KindVersion:
		s.n.version.Add(1)
	case KindMismatch:
		s.n.mismatch.Add(1)
	case KindWrongKey:
		s.n.wrongKey.Add(1)
	case KindAuth:
		s.n.authFailed.Add(1)
	case KindReplay:
		s.n.replay.Add(1)
	}
	return err
}

// Stats returns the counts since New.
func (s *Sealer) Stats() Stats {
	return Stats{
		Sealed:     s.n.sealed.Load(),
		Opened:     s.n.opened.Load(),
		Truncated:  s.n.truncated.Load(),
		BadVersion: s.n.version.Load(),
		Mismatch:   s.n.mismatch.Load(),
		WrongKey:   s.n.wrongKey.Load(),
		AuthFailed: s.n.authFailed.Load(),
		Replayed:   s.n.replay.Load(),
	}
}

// Forget drops what the sealer knows about sender (its incarnation and
// replay window), e.g. after the node was removed from the cluster for
// good. Without Forget a sealer keeps under 1 KiB (replay window and key
// schedule) per sender it ever authenticated.
func (s *Sealer) Forget(sender uint64) {
	s.mu.Lock()
	delete(s.peers, sender)
	s.mu.Unlock()
}
