package transport

import "github.com/quic-go/quic-go"

// PacketHeader is packetHeader, for the external tests.
var PacketHeader = packetHeader

// ConnStats returns the QUIC statistics of the connections to site: the
// main connection first, then its stripes.
func (t *Transport) ConnStats(site string) []quic.ConnectionStats {
	p := t.peers[site]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	cs := []quic.ConnectionStats{p.cur.qc.ConnectionStats()}
	for _, sc := range p.cur.stripes {
		cs = append(cs, sc.qc.ConnectionStats())
	}
	return cs
}

// CloseStripe closes the connection of the i-th stripe to site, as a
// network failure would; false when there is no such stripe.
func (t *Transport) CloseStripe(site string, i int) bool {
	p := t.peers[site]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || i >= len(p.cur.stripes) {
		return false
	}
	p.cur.stripes[i].qc.CloseWithError(0x7, "closed by the test")
	return true
}

// StripeWakes counts the times a yielding stripe's writer woke to look
// at its gate again.
func (t *Transport) StripeWakes() uint64 { return t.stats.stripeWakes.Load() }

// PeerQueue returns the message bytes queued for site, how many stripes
// of its connection may send (paceStripes) and how many it has.
func (t *Transport) PeerQueue(site string) (queued int64, active, stripes int) {
	p := t.peers[site]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return p.queued.Load(), 0, 0
	}
	return p.queued.Load(), int(p.cur.active.Load()), len(p.cur.stripes)
}

// SealAllPackets has a ModeUDP transport made from c send every packet
// to a peer with a bandwidth in sealed datagrams, whatever it holds (the
// transport contract suite sends packets that are no ring packets).
func SealAllPackets(c *Config) { c.sealAll = true }

// SealFor returns pkt in a sealed datagram with the keys of the current
// connection to site, as the transport would send it (ModeUDP); nil
// without a connection.
func (t *Transport) SealFor(site string, pkt []byte) []byte {
	p := t.peers[site]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || p.cur.keys == nil {
		return nil
	}
	return p.cur.keys.seal(nil, appendFrame(nil, pkt))
}

// CloseConn closes the connection to site, as a network failure would;
// false without one.
func (t *Transport) CloseConn(site string) bool {
	p := t.peers[site]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return false
	}
	p.cur.qc.CloseWithError(0x7, "closed by the test")
	return true
}
