package hiersim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/localring/sim"
)

// Network is what one ring's simulated network was set to do and did
// (Options.Packets, Options.Persistent): the packet faults of the mix
// drawn for it, its persistent partial fault, and the ring's sim.Injected
// counters at the end of the run (cumulative: the blocked links of a cut
// count there too).
type Network struct {
	// Ring is the ring's EVS domain: "site/<name>" for a site's local
	// ring, the federation domain's name for the federation ring.
	Ring string
	Fed  bool
	// Faults are the packet faults of the ring's mix (sim.PickMix's:
	// loss, burst loss, duplicates, reordering, corruption, stale
	// replays), on from the start of the load to its end; zero when the
	// mix drew none.
	Faults sim.Faults
	// Persistent says which persistent partial fault the ring had from the
	// start of the load to the end of the run ("" for none).
	Persistent string
	Injected   sim.Injected
}

// Packets reports whether the ring's mix has a packet fault.
func (n Network) Packets() bool { return packetFaults(n.Faults) }

func packetFaults(f sim.Faults) bool {
	return f.Loss+f.McastLoss+f.TokenLoss+f.Duplicate+f.Reorder+f.CorruptBytes+f.StaleReplay > 0
}

// PacketCount sums the packet faults the ring's network injected: packets
// lost (at random, in bursts, to a persistent fault), duplicated,
// reordered, corrupted and replayed. Blocked links do not count.
func PacketCount(in sim.Injected) int {
	return in.LostUnicast + in.LostMulticast + in.BurstLost + in.PersistentLost + in.Duplicated + in.Reordered + in.Corrupted + in.Replayed
}

func (n Network) String() string {
	parts := n.Faults.Parts()
	if len(parts) == 0 {
		parts = append(parts, "no packet faults")
	}
	if n.Persistent != "" {
		parts = append(parts, "persistent: "+n.Persistent)
	}
	in := n.Injected
	return fmt.Sprintf("%s: %s; injected: lost %d unicast, %d multicast, %d in bursts, %d to persistent faults; %d duplicated, %d reordered, %d corrupted, %d replayed",
		n.Ring, strings.Join(parts, " "), in.LostUnicast, in.LostMulticast, in.BurstLost, in.PersistentLost, in.Duplicated, in.Reordered, in.Corrupted, in.Replayed)
}

// netState is the packet and persistent faults of a run (Options.Packets,
// Options.Persistent): each ring's mix, the faults the clusters had
// before it (restored at its end), and the persistent faults.
type netState struct {
	mixes  []sim.Faults // by ring: the sites' local rings, then the federation ring
	before []sim.Faults
	// local is the site whose local ring has a persistent fault (nil for
	// none), pers the fault (its Node and From slots of that ring);
	// mute the node it takes out of its ring (mute or deaf), nil for a
	// lossy link.
	local *site
	pers  sim.Persistent
	mute  *node
	// fedFrom and fedTo are the sites of the federation's lossy link
	// (nil for none), fedLoss its loss.
	fedFrom, fedTo *site
	fedLoss        float64
	persistent     []string // by ring, for Result.Networks
	on             bool     // from packetsOn on
}

// clusters returns the rings in Network order.
func (h *hier) clusters() []*sim.Cluster {
	var cs []*sim.Cluster
	for _, s := range h.sites {
		cs = append(cs, s.ring)
	}
	return append(cs, h.fed)
}

// drawNet draws the run's packet fault mixes and persistent faults from
// the seed, each from a source of its own, so that the seed's other
// choices (h.rng) stay those of a run without them: every ring's mix is
// sim.PickMix's network faults, its delays and socket buffers left as
// the hierarchy's (LAN delays in a site, the topology's between sites).
// The persistent faults are a local ring's (sim.PickPersistent's, drawn
// until it has one, at a site with a node that is no gateway: the node
// whose multicasts never arrive or that receives none is one such; a
// lossy link may be between any two nodes of the site) and a lossy link
// between two sites' gateways.
func (h *hier) drawNet(seed uint64) {
	ns := &netState{}
	cs := h.clusters()
	for i := range cs {
		if h.opts.Packets == PacketsOff {
			ns.mixes = append(ns.mixes, sim.Faults{})
			continue
		}
		f := sim.PickMix(rand.New(rand.NewPCG(seed, 0x9ac7e7+uint64(i)))).Faults
		if h.opts.Packets == PacketsNoLocalLoss && cs[i] != h.fed {
			f.Loss, f.McastLoss, f.TokenLoss, f.BurstLoss, f.BurstPackets = 0, 0, 0, 0, 0
		}
		ns.mixes = append(ns.mixes, sim.Faults{Loss: f.Loss, McastLoss: f.McastLoss, TokenLoss: f.TokenLoss, BurstLoss: f.BurstLoss, BurstPackets: f.BurstPackets,
			Duplicate: f.Duplicate, Reorder: f.Reorder, ReorderDelay: f.ReorderDelay, CorruptBytes: f.CorruptBytes, StaleReplay: f.StaleReplay})
	}
	ns.persistent = make([]string, len(cs))
	if h.opts.Persistent || h.opts.persistentVictim {
		rng := rand.New(rand.NewPCG(seed, 0x9e75))
		s := h.sites[rng.IntN(len(h.sites))]
		plain := func(s *site) bool { return slices.ContainsFunc(s.nodes, func(n *node) bool { return n.fslot < 0 }) }
		for h.opts.persistentVictim && !plain(s) { // a site with a node that is no gateway
			s = h.sites[rng.IntN(len(h.sites))]
		}
		// sim.PickPersistent's draw, again until it gives the kind the
		// run wants (a lossy link, or a victim that is no gateway).
		p := sim.PickPersistent(rng, len(s.nodes))
		for h.opts.persistentVictim != (p.Kind == "mute" || p.Kind == "deaf") || p.Kind != "lossy-link" && s.nodes[p.Node].fslot >= 0 {
			p = sim.PickPersistent(rng, len(s.nodes))
		}
		ns.local, ns.pers = s, p
		if p.Kind != "lossy-link" {
			ns.mute = s.nodes[p.Node]
		}
		ns.persistent[slices.Index(h.sites, s)] = map[string]string{
			"mute":       fmt.Sprintf("multicasts from %s never arrive", s.nodes[p.Node].id),
			"deaf":       fmt.Sprintf("%s receives no multicasts", s.nodes[p.Node].id),
			"lossy-link": fmt.Sprintf("link %s->%s loses %.2f", s.nodes[p.From].id, s.nodes[p.Node].id, p.Loss),
		}[p.Kind]
		a := rng.IntN(len(h.sites))
		b := (a + 1 + rng.IntN(len(h.sites)-1)) % len(h.sites)
		ns.fedFrom, ns.fedTo, ns.fedLoss = h.sites[a], h.sites[b], 0.05+0.25*rng.Float64()
		ns.persistent[len(cs)-1] = fmt.Sprintf("link %s->%s loses %.2f", h.sites[a].name, h.sites[b].name, ns.fedLoss)
	}
	h.net = ns
}

// packetsOn switches every ring's mix and the persistent faults on.
func (h *hier) packetsOn() {
	ns := h.net
	if ns == nil {
		return
	}
	ns.on = true
	for i, c := range h.clusters() {
		f := c.Faults()
		ns.before = append(ns.before, f)
		m := ns.mixes[i]
		f.Loss, f.McastLoss, f.TokenLoss, f.BurstLoss, f.BurstPackets = m.Loss, m.McastLoss, m.TokenLoss, m.BurstLoss, m.BurstPackets
		f.Duplicate, f.Reorder, f.ReorderDelay, f.CorruptBytes, f.StaleReplay = m.Duplicate, m.Reorder, m.ReorderDelay, m.CorruptBytes, m.StaleReplay
		if packetFaults(m) {
			h.logf("%s: packet faults on: %s", c.Domain(), Network{Ring: c.Domain(), Faults: m})
		}
		c.SetFaults(f)
	}
	h.persist()
}

// packetsOff switches the mixes off (the persistent faults stay on).
func (h *hier) packetsOff() {
	ns := h.net
	if ns == nil {
		return
	}
	for i, c := range h.clusters() {
		c.SetFaults(ns.before[i])
	}
	h.logf("packet faults off")
}

// persist switches the persistent faults on, again after a sim.Cluster
// Heal or Partition (which clear them): they last to the end of the run.
func (h *hier) persist() {
	ns := h.net
	if ns == nil || ns.local == nil || !ns.on {
		return
	}
	c := ns.local.ring
	switch p := ns.pers; p.Kind {
	case "mute":
		c.MuteMulticast(p.Node, 1)
	case "deaf":
		c.DeafMulticast(p.Node, 1)
	case "lossy-link":
		c.LossyLink(p.From, p.Node, p.Loss)
	}
	for _, a := range h.fslots {
		for j, b := range h.fslots {
			if a.site == ns.fedFrom && b.site == ns.fedTo {
				h.fed.LossyLink(a.fslot, j, ns.fedLoss)
			}
		}
	}
}

// healRing heals site s's local ring (sim.Cluster.Heal) and switches its
// persistent fault on again.
func (h *hier) healRing(s *site) {
	s.ring.Heal()
	h.persist()
}

// partition partitions site s's local ring (sim.Cluster.Partition) and
// switches its persistent fault on again.
func (h *hier) partition(s *site, groups ...[]int) {
	s.ring.Partition(groups...)
	h.persist()
}

// disconnected reports whether node n is the victim of a persistent fault
// (Options.Persistent: its multicasts never arrive, or it receives none)
// and is alive at the end out of the ring of the rest of its site: it is
// no connected member, and the checks of connected members (lost
// messages, the node-level configuration every live node ends in) leave it
// out.
func (h *hier) disconnected(n *node) bool {
	if h.net == nil || h.net.mute != n || !n.site.ring.Alive(n.slot) {
		return false
	}
	v := n.site.ring.Node(n.slot)
	for _, o := range n.site.nodes {
		if o == n || !n.site.ring.Alive(o.slot) {
			continue
		}
		oc, vc := n.site.ring.Node(o.slot).Configuration(), v.Configuration()
		return oc == nil || vc == nil || oc.ID != vc.ID
	}
	return false
}

// networks returns Result.Networks.
func (h *hier) networks() []Network {
	if h.net == nil {
		return nil
	}
	var out []Network
	for i, c := range h.clusters() {
		out = append(out, Network{Ring: c.Domain(), Fed: c == h.fed, Faults: h.net.mixes[i], Persistent: h.net.persistent[i], Injected: c.Injected()})
	}
	return out
}
