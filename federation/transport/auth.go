package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/atoll-gcs/atoll/internal/pki"
)

// Cause is why a connection was refused.
type Cause int

// Causes of refusal, each counted in Stats.Refused. The certificate's
// causes are pki's, with the same values.
const (
	// CauseBadCertificate: the certificate failed verification for
	// another reason (a malformed chain, a wrong key usage).
	CauseBadCertificate = Cause(pki.CauseOther)
	// CauseUnknownCA: not signed by the cluster CA.
	CauseUnknownCA = Cause(pki.CauseUnknownCA)
	// CauseExpired: expired, or not valid yet.
	CauseExpired = Cause(pki.CauseExpired)
	// CauseIdentity: a valid certificate of a cluster, site or node the
	// ring does not admit, or of another site than the one dialed.
	CauseIdentity = Cause(pki.CauseIdentity)
	// CauseALPN: the peer speaks another protocol version, transport mode
	// or configuration hash.
	CauseALPN = CauseIdentity + 1
	// CauseRefusedByPeer: the peer refused this gateway's certificate (the
	// peer's log names why).
	CauseRefusedByPeer = CauseALPN + 1
	numCauses          = int(CauseRefusedByPeer) + 1
)

func (c Cause) String() string {
	switch c {
	case CauseALPN:
		return "ALPN mismatch"
	case CauseRefusedByPeer:
		return "refused by peer"
	}
	return pki.Cause(c).String() // the certificate's causes share pki's values
}

// fix says what an operator does about a refusal.
func (c Cause) fix() string {
	switch c {
	case CauseUnknownCA:
		return "the peer's certificate is not signed by this cluster's CA: issue it with `atoll certs` from the cluster's ca.key, or give both gateways the same ca.crt"
	case CauseExpired:
		return "the certificate has expired or is not valid yet: renew it with `atoll certs --node NODE --force`, and check both clocks"
	case CauseIdentity:
		return "the certificate names a cluster, site or node this ring does not admit: check the topology's sites[].gateways and issue the node's certificate with `atoll certs`"
	case CauseALPN:
		return "the gateways run different configurations (topology file, transport mode or version): deploy the same topology file and version to both"
	case CauseRefusedByPeer:
		return ""
	}
	return "issue the certificate with `atoll certs`"
}

// counters are the transport's statistics.
type counters struct {
	connects, disconnects, replaced, dialFailures atomic.Uint64
	superseded, redials                           atomic.Uint64
	sent, received, sendDrops, sendNoConn         atomic.Uint64
	sendDuplicates                                atomic.Uint64
	recvDrops, controlDrops, tokenDatagrams       atomic.Uint64
	stripeConnects, stripeDisconnects             atomic.Uint64
	stripeRefused                                 atomic.Uint64
	stripeWakes                                   atomic.Uint64 // a yielding stripe's writer looked at its gate again
	ringSent, ringReceived, ringPaceWaits         atomic.Uint64
	ringMalformed, ringUnknownKey, ringForged     atomic.Uint64
	ringReplayed, ringRecvFull, ringGapsRetired   atomic.Uint64
	refused                                       [numCauses]atomic.Uint64
}

// Stats are the transport's counters since New.
type Stats struct {
	// Connects counts established connections; Disconnects those that
	// ended; Replaced those replaced by a newer connection of the same
	// site (a restarted or standby gateway).
	Connects, Disconnects, Replaced uint64
	// Superseded counts this side's dialed connections that the peer
	// replaced with one from another gateway of this site (after which
	// this side waits RedialMax before dialing again).
	Superseded uint64
	// Redials counts connections closed by Redial: to a gateway that no
	// longer speaks for its site.
	Redials uint64
	// DialFailures counts connection attempts that failed without a
	// refusal (no answer, unreachable).
	DialFailures uint64
	// Refused counts refused connections by cause: index it with the
	// Cause constants.
	Refused [numCauses]uint64
	// PacketsSent and PacketsReceived count ring packets.
	PacketsSent, PacketsReceived uint64
	// SendDrops counts packets dropped because a peer's send queue was
	// full or a datagram no longer fit the path; SendNoConn packets for a
	// peer without a connection; RecvDrops malformed received packets.
	SendDrops, SendNoConn, RecvDrops uint64
	// SendDuplicates counts message packets not queued for a peer because
	// an identical one was still in its queue: retransmissions the ring
	// asked for while the original waited behind the path's backlog.
	SendDuplicates uint64
	// ControlDrops counts tokens and membership packets dropped because
	// a peer's control queue (ControlQueuePackets) was full; message
	// packets never delay them, so this stays 0 unless the connection
	// carries nothing at all.
	ControlDrops uint64
	// TokenDatagrams counts the regular tokens sent as QUIC DATAGRAMs in
	// stream mode (the others went on the control stream: too large for
	// a datagram, or sent while closing); they count in PacketsSent too.
	TokenDatagrams uint64
	// StripeConnects counts stripes (Config.Stripes) attached to a
	// connection, StripeDisconnects those that ended, and StripeRefused
	// the stripes accepted that found no connection of their gateway to
	// join (the peer dials them again).
	StripeConnects, StripeDisconnects, StripeRefused uint64

	// ModeUDP's sealed datagrams (ring packets outside QUIC).
	// RingSent and RingReceived count the datagrams sent and accepted
	// (each carries one or more ring packets, counted in PacketsSent and
	// PacketsReceived); RingPaceWaits the times the pacer held a datagram
	// back to keep to the path's bandwidth.
	RingSent, RingReceived, RingPaceWaits uint64
	// Datagrams that are not QUIC refused: RingMalformed not a sealed
	// datagram (or its frames did not add up), RingUnknownKey sealed
	// with a key id of no live connection (a connection that ended, or
	// not from a peer), RingForged failed authentication (not sealed by
	// the connection's peer, or corrupted), RingReplayed a counter
	// accepted before or below the replay window (a replay, or a
	// duplicate from the network).
	RingMalformed, RingUnknownKey, RingForged, RingReplayed uint64
	// RingRecvFull counts ring packets of accepted datagrams dropped
	// because the receive queue was full (the driver did not keep up).
	RingRecvFull uint64
	// RingGaps counts the counters skipped below the highest accepted,
	// over every connection: sealed datagrams lost on the path (or in
	// quic-go's queue of packets that are not QUIC) and not yet arrived.
	RingGaps uint64
}

// Stats returns the counters.
func (t *Transport) Stats() Stats {
	s := &t.stats
	st := Stats{
		Connects: s.connects.Load(), Disconnects: s.disconnects.Load(), Replaced: s.replaced.Load(),
		Superseded:   s.superseded.Load(),
		Redials:      s.redials.Load(),
		DialFailures: s.dialFailures.Load(),
		PacketsSent:  s.sent.Load(), PacketsReceived: s.received.Load(),
		SendDrops: s.sendDrops.Load(), SendNoConn: s.sendNoConn.Load(), RecvDrops: s.recvDrops.Load(),
		SendDuplicates: s.sendDuplicates.Load(),
		ControlDrops:   s.controlDrops.Load(), TokenDatagrams: s.tokenDatagrams.Load(),
		StripeConnects: s.stripeConnects.Load(), StripeDisconnects: s.stripeDisconnects.Load(), StripeRefused: s.stripeRefused.Load(),
	}
	for i := range st.Refused {
		st.Refused[i] = s.refused[i].Load()
	}
	st.RingSent, st.RingReceived, st.RingPaceWaits = s.ringSent.Load(), s.ringReceived.Load(), s.ringPaceWaits.Load()
	st.RingMalformed, st.RingUnknownKey, st.RingForged, st.RingReplayed = s.ringMalformed.Load(), s.ringUnknownKey.Load(), s.ringForged.Load(), s.ringReplayed.Load()
	st.RingRecvFull = s.ringRecvFull.Load()
	t.ringMu.RLock()
	st.RingGaps = s.ringGapsRetired.Load()
	for _, k := range t.ringKeys {
		st.RingGaps += k.gaps()
	}
	t.ringMu.RUnlock()
	return st
}

// refusal is the error a verification callback returns; the handshake
// fails with it.
type refusal struct {
	cause Cause
	err   error
}

func (r *refusal) Error() string {
	return "transport: refused: " + r.cause.String() + ": " + r.err.Error()
}
func (r *refusal) Unwrap() error { return r.err }

// refuse logs one line for a refused connection and counts it.
func (t *Transport) refuse(c Cause, addr net.Addr, id pki.Identity, err error) *refusal {
	t.stats.refused[c].Add(1)
	args := []any{"cause", c.String()}
	if addr != nil {
		args = append(args, "addr", addr.String())
	}
	switch {
	case id.Node != "":
		args = append(args, "peer", id.Site+"/"+id.Node, "peer_cluster", id.Cluster)
	case id.Site != "":
		args = append(args, "site", id.Site)
	}
	args = append(args, "err", err.Error())
	if f := c.fix(); f != "" {
		args = append(args, "fix", f)
	}
	t.log.Warn("federation: gateway connection refused: "+c.String(), args...)
	return &refusal{cause: c, err: err}
}

// baseTLS is what both ends of a connection share.
func (t *Transport) baseTLS() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{t.cfg.Certificate},
		NextProtos:             []string{t.alpn},
		SessionTicketsDisabled: true, // every connection verifies the full chain
	}
}

// serverTLS is the listener's configuration: it requires a client
// certificate and checks the ALPN and the certificate itself, per
// connection, so that it can name the remote address in its log line.
func (t *Transport) serverTLS() *tls.Config {
	base := t.baseTLS()
	base.ClientAuth = tls.RequireAnyClientCert
	base.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		var addr net.Addr
		if hi.Conn != nil {
			addr = hi.Conn.RemoteAddr()
		}
		if !slices.Contains(hi.SupportedProtos, t.alpn) {
			err := fmt.Errorf("the peer offers ALPN %s, this gateway speaks %s%s", strings.Join(hi.SupportedProtos, ","), t.alpn, alpnDiff(hi.SupportedProtos, t.alpn))
			t.refuse(CauseALPN, addr, pki.Identity{}, err)
			if len(hi.SupportedProtos) == 0 {
				return nil, err // Go would accept a client without ALPN
			}
			return nil, nil // crypto/tls refuses with alert no_application_protocol
		}
		c := t.baseTLS()
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := t.verify(cs, "", addr)
			return err
		}
		return c, nil
	}
	return base
}

// alpnDiff explains an ALPN mismatch: another version, mode or
// configuration.
func alpnDiff(offered []string, want string) string {
	w := strings.Split(want, "/")
	for _, o := range offered {
		p := strings.Split(o, "/")
		if len(p) != len(w) || p[0] != w[0] {
			continue
		}
		switch {
		case p[1] != w[1]:
			return " (another protocol version)"
		case p[2] != w[2]:
			return fmt.Sprintf(" (another transport mode: the peer's %s, this gateway's %s; the gateways' topology files differ in federation.ring_packets or, where it is not set, in the links' declared bandwidths, which choose udp over streams)", tagMode(p[2]), tagMode(w[2]))
		}
		return " (another configuration hash: the gateways were started from different topology files)"
	}
	return " (not an atoll federation gateway)"
}

// tagMode names the transport mode of an ALPN mode tag (Mode.alpnTag).
func tagMode(tag string) string {
	for _, m := range []Mode{ModeDatagrams, ModeStreams, ModeUDP} {
		if m.alpnTag() == tag {
			return m.String()
		}
	}
	return "mode " + strconv.Quote(tag)
}

// clientTLS is the dialer's configuration for site's endpoint addr: it
// verifies the server's certificate itself (identity, not host name).
func (t *Transport) clientTLS(site string, addr net.Addr, att *attempt) *tls.Config {
	c := t.baseTLS()
	c.ServerName = site
	c.InsecureSkipVerify = true // replaced by VerifyConnection: the chain, and the identity instead of a host name
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := t.verify(cs, site, addr)
		if err != nil {
			att.refused.Store(true)
		}
		return err
	}
	return c
}

// verify checks the peer's certificate chain against the cluster CA and
// its identity against the ring's sites and gateways; wantSite, when set,
// is the site this side dialed. A refusal is logged and counted.
func (t *Transport) verify(cs tls.ConnectionState, wantSite string, addr net.Addr) (pki.Identity, error) {
	id, err := pki.Verify(cs.PeerCertificates, t.cfg.Roots, t.cfg.Now())
	if err != nil {
		c := Cause(pki.Classify(err))
		if len(cs.PeerCertificates) > 0 {
			if who, werr := pki.IdentityOf(cs.PeerCertificates[0]); werr == nil {
				err = fmt.Errorf("a certificate claiming to be %s: %w", who, err)
			}
		}
		return pki.Identity{}, t.refuse(c, addr, pki.Identity{}, err)
	}
	if err := t.admit(id, wantSite); err != nil {
		return pki.Identity{}, t.refuse(CauseIdentity, addr, id, err)
	}
	return id, nil
}

// identify returns the identity of an established connection's peer.
func (t *Transport) identify(cs tls.ConnectionState, wantSite string) (pki.Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return pki.Identity{}, errors.New("transport: no peer certificate")
	}
	id, err := pki.IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return pki.Identity{}, err
	}
	return id, t.admit(id, wantSite)
}

// admit checks an authenticated identity against the ring's membership.
func (t *Transport) admit(id pki.Identity, wantSite string) error {
	self := t.cfg.self
	if id.Cluster != self.Cluster {
		return fmt.Errorf("the certificate is of cluster %q, this is cluster %q", id.Cluster, self.Cluster)
	}
	if id.Site == self.Site {
		return fmt.Errorf("the certificate is of this gateway's own site %s (node %s); two gateways of one site never talk over the federation ring", id.Site, id.Node)
	}
	p := t.peers[id.Site]
	if p == nil {
		sites := make([]string, 0, len(t.order))
		for _, q := range t.order {
			sites = append(sites, q.site)
		}
		return fmt.Errorf("site %s is not a member of this federation ring (peers: %s)", id.Site, strings.Join(sites, ", "))
	}
	if !slices.Contains(p.allowed, id.Node) {
		return fmt.Errorf("node %s is not a gateway-eligible node of site %s (gateways: %s)", id.Node, id.Site, strings.Join(p.allowed, ", "))
	}
	if wantSite != "" && id.Site != wantSite {
		return fmt.Errorf("dialed site %s's endpoint, but the certificate is of site %s", wantSite, id.Site)
	}
	return nil
}
