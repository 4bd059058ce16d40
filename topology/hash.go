package topology

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// ConfigHash identifies what every member of domain d's ring must agree
// on: the cluster, the domain's name, sites and ring order, its derived
// timeouts, and (for a federation domain) every site's gateway-eligible
// nodes in takeover order with the active one first. The federation
// transport puts it in its ALPN, so gateways started from different
// topology files refuse each other with a message saying so instead of
// forming a ring they would disturb. Predicted latencies and group
// placements are not part of it.
func (p *Plan) ConfigHash(d *Domain) uint64 {
	h := sha256.New()
	fmt.Fprintf(h, "atoll domain v1\x00%s\x00%s\x00%d\x00", p.Cluster, d.Name, d.Kind)
	list := func(ss []string) {
		fmt.Fprintf(h, "%d\x00", len(ss))
		for _, s := range ss {
			fmt.Fprintf(h, "%s\x00", s)
		}
	}
	list(d.Sites)
	list(d.Ring)
	for _, t := range []Duration{d.Timeouts.Token, d.Timeouts.Retransmit, d.Timeouts.Consensus, d.Timeouts.Join} {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(t))
		h.Write(b[:])
	}
	for _, g := range d.Gateways {
		fmt.Fprintf(h, "%s\x00%s\x00", g.Site, g.Active)
		list(g.Standby)
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}
