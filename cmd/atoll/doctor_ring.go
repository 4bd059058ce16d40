package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

// The checks that need the other nodes: what the running agent hears
// (agentChecks), and, with the agents stopped, an active probe over the
// ring's own transport (probe).

// agentChecks asks the agent on the admin socket which peers it hears and
// what it runs, and compares that with the topology file and key.
func (d *doctor) agentChecks(ctx context.Context, socket string, probing bool) {
	st, err := agent.NewClient(socket).Status(ctx)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			hint := "; to test reachability before starting the agents, run `atoll doctor --probe 5s` on every node at once"
			if probing {
				hint = ""
			}
			d.line(docInfo, "agent", fmt.Sprintf("no agent answers on %s: the running ring's checks (peers heard, settings, key) are skipped%s", socket, hint))
			return
		}
		d.line(docWarn, "agent", err.Error())
		return
	}
	if st.Node != d.node {
		d.line(docFail, "agent", fmt.Sprintf("the agent on %s runs node %s, not %s: give the --data-dir of node %s's agent", socket, st.Node, d.node, d.node))
		return
	}
	d.line(docOK, "agent", fmt.Sprintf("node %s's agent is %s (%s), version %s", st.Node, st.State, st.Health, st.Config.Version))

	rs := st.Config.RingSettings
	if want := d.cfg.RingHash(); rs.ConfigHash != want {
		d.line(docFail, "settings", fmt.Sprintf("the agent runs ring settings %s (preset %s, from %s), but %s gives %s: it was started from another topology file or with --ring-preset, and nodes with other settings reject each other's packets; restart it with `atoll agent --config %s` and the same flags on every node",
			rs.ConfigHash, rs.Preset, orNone(st.Config.ConfigFile), d.topo.Name(), want, d.topo.Name()))
	} else {
		d.line(docOK, "settings", fmt.Sprintf("the agent runs the ring settings of %s (hash %s, preset %s)", d.topo.Name(), rs.ConfigHash, rs.Preset))
	}
	if running := agentKeyID(st.Security); d.keyID != 0 && running != "" && running != fmt.Sprintf("%08x", d.keyID) {
		d.line(docFail, "key", fmt.Sprintf("the agent uses key id %s, the key file has %08x: the file changed since the agent started; restart the agent (and every node, with the same file)", running, d.keyID))
	}

	k := st.Counters
	if k.RejectWrongKey > 0 {
		d.line(docWarn, "key", fmt.Sprintf("the agent rejected %d packets sealed with another cluster key since it started (its log names their sources): give every node the same key file", k.RejectWrongKey))
	}
	if k.RejectMismatch > 0 {
		d.line(docWarn, "settings", fmt.Sprintf("the agent rejected %d packets of nodes with other ring settings or of another site since it started (its log names their sources): run `atoll doctor` on those nodes", k.RejectMismatch))
	}
	d.peersHeard(st)
	d.federation(st)
}

// federation reports, on a gateway-eligible node, the QUIC connections of
// the federation ring members its agent runs: which other sites' gateways
// it reaches, and the connections refused.
func (d *doctor) federation(st *agent.Status) {
	site, _, _ := d.topo.Node(d.node)
	if !slices.Contains(site.Gateways, d.node) {
		return
	}
	if len(st.Federation) == 0 {
		d.line(docInfo, "federation", fmt.Sprintf("node %s is gateway-eligible but runs no federation ring member now: it is a standby gateway, or its agent has no --cert-dir (its log says which); QUIC reachability shows on the active gateway", d.node))
		return
	}
	for _, fs := range st.Federation {
		for _, s := range slices.Sorted(slices.Values(append(slices.Clone(fs.Members), fs.Missing...))) {
			if s == site.Name {
				continue
			}
			if gw, ok := fs.Connected[s]; ok {
				d.line(docOK, "federation", fmt.Sprintf("domain %s: connected to site %s's gateway %s over QUIC", fs.Domain, s, gw))
				continue
			}
			d.line(docFail, "federation", fmt.Sprintf("domain %s: no QUIC connection to site %s's gateways (%s): they are down, their UDP port is blocked on the way (firewall, NAT), or one side refuses the other's certificate; run `atoll doctor` on them and `atoll certs check` on both",
				fs.Domain, s, strings.Join(d.quicEndpoints(fs.Domain, s), ", ")))
		}
		for _, cause := range slices.Sorted(maps.Keys(fs.Refused)) {
			d.line(docWarn, "federation", fmt.Sprintf("domain %s: %d gateway connection(s) refused since it started: %s; the log names the peers; check the certificates with `atoll certs check` (one CA, not expired, a gateway-eligible node)", fs.Domain, fs.Refused[cause], cause))
		}
	}
}

// quicEndpoints lists the QUIC endpoints of site's gateways for
// federation domain (topology.Plan.GatewayEndpoint).
func (d *doctor) quicEndpoints(domain, site string) []string {
	s, ok := d.topo.Site(site)
	if !ok {
		return nil
	}
	p := d.topo.Plan()
	var eps []string
	for _, id := range s.Gateways {
		if ep, err := p.GatewayEndpoint(d.topo, domain, id); err == nil {
			eps = append(eps, id+" at "+ep)
		}
	}
	return eps
}

// peersHeard reports, for each configured node of the site, whether the
// agent hears it: the multicast (or unicast) reachability the ring sees.
func (d *doctor) peersHeard(st *agent.Status) {
	path := "unicast"
	if g := d.cfg.Transport.Group; g.IsValid() {
		path = "multicast " + g.String()
	}
	for _, m := range st.Members {
		if m.Self || !m.Configured {
			continue
		}
		switch {
		case m.InRing:
			d.line(docOK, "peers", fmt.Sprintf("%s (%s) is in the ring", m.ID, m.Address))
		case !m.LastHeard.IsZero():
			d.line(docWarn, "peers", fmt.Sprintf("%s (%s) was last heard %s ago and is not in the ring: it stopped, or its packets stopped reaching this node; run `atoll doctor` on %s",
				m.ID, m.Address, time.Since(m.LastHeard).Round(time.Second), m.ID))
		default:
			d.line(docFail, "peers", fmt.Sprintf("%s was never heard over %s: its agent is not running, or its packets do not reach this node (firewall, IGMP snooping without a querier, another group, port or key); with both agents stopped, run `atoll doctor --probe 5s` on both nodes at once",
				m.ID, path))
		}
	}
}

// agentKeyID takes the key id out of Status.Security ("encrypt AES-256-GCM
// key 1a2b3c4d epoch 0").
func agentKeyID(security string) string {
	f := strings.Fields(security)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "key" {
			return f[i+1]
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "flags"
	}
	return s
}

// probeMagic starts every probe datagram: the ring's packets never start
// so (they start with the sealer's header).
const probeMagic = "atoll doctor probe v1\n"

// probeMsg is what a probe says about its sender.
type probeMsg struct {
	Cluster  string `json:"cluster"`
	Site     string `json:"site"`
	Node     string `json:"node"`
	RingHash string `json:"ring_hash"`
	Key      string `json:"key,omitempty"`
	// Size is the datagram's size: small ones, and ones of the sender's
	// largest ring packet, which the path MTU must let through.
	Size int `json:"size"`
	// Time is the sender's wall clock when it sent the probe (Unix
	// nanoseconds).
	Time int64 `json:"time"`
}

// maxSkew is the clock difference between two nodes beyond which the
// probe warns: certificates' validity and the nodes' logs need the clocks
// within a second.
const maxSkew = time.Second

// maxHeard bounds the nodes a probe keeps apart (against a flood of
// probes with made-up names).
const maxHeard = 1024

// heard is what a probe heard of one node.
type heard struct {
	from       netip.AddrPort
	msg        probeMsg
	small, big bool
	skew       time.Duration // the sender's clock minus this node's, at its last probe
}

// probe sends probes over the ring's own transport (multicast to the
// site's group, or unicast to its peers) on port for dur, and reports
// which of the site's nodes it heard, with which settings, key and packet
// sizes. Every node must run it at the same time, with their agents
// stopped (or on a free port).
func (d *doctor) probe(port int, dur time.Duration) {
	tc := d.cfg.Transport
	if port > 0 {
		tc.Bind = netip.AddrPortFrom(tc.Bind.Addr(), uint16(port))
		if tc.Group.IsValid() {
			tc.Group = netip.AddrPortFrom(tc.Group.Addr(), uint16(port))
		}
		for i, p := range tc.Peers {
			tc.Peers[i] = netip.AddrPortFrom(p.Addr(), uint16(port))
		}
	}
	tr, _, err := transport.Listen(tc)
	if err != nil {
		fix := "check the bind address"
		if errors.Is(err, syscall.EADDRINUSE) {
			fix = "stop the agent on this node first, or give every node the same free --probe-port"
		}
		d.line(docFail, "probe", fmt.Sprintf("cannot open the ring's transport on port %d: %v; %s", tc.Bind.Port(), err, fix))
		return
	}
	self := probeMsg{Cluster: d.topo.Cluster, Site: d.cfg.Site, Node: d.node, RingHash: d.cfg.RingHash()}
	if d.keyID != 0 {
		self.Key = fmt.Sprintf("%08x", d.keyID)
	}
	got := map[string]*heard{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() { receiveProbes(tr, &mu, got) })
	sizes := []int{0, tr.MaxPacket()}
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, size := range sizes {
			tr.Multicast(probeDatagram(self, size))
		}
		tr.Flush()
	}
	time.Sleep(200 * time.Millisecond) // the last probes of the others
	tr.Close()
	wg.Wait()
	d.probeReport(tc, dur, got)
}

// probeDatagram encodes m, padded to size bytes (at least its own length).
func probeDatagram(m probeMsg, size int) []byte {
	m.Size, m.Time = size, time.Now().UnixNano()
	b, _ := json.Marshal(m)
	b = append([]byte(probeMagic), b...)
	if len(b) < size {
		b = append(b, make([]byte, size-len(b))...)
	}
	return b
}

// receiveProbes records the probes tr receives until it is closed.
func receiveProbes(tr transport.Transport, mu *sync.Mutex, got map[string]*heard) {
	ms := make([]transport.Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, tr.MaxPacket())
	}
	for {
		n, err := tr.ReadBatch(ms)
		if err != nil {
			return
		}
		for _, m := range ms[:n] {
			p, ok := strings.CutPrefix(string(m.Payload()), probeMagic)
			if !ok || m.Truncated {
				continue
			}
			var pm probeMsg
			if err := json.NewDecoder(strings.NewReader(p)).Decode(&pm); err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			h := got[pm.Node]
			if h == nil && len(got) < maxHeard {
				h = &heard{from: m.From, msg: pm}
				got[pm.Node] = h
			}
			if h == nil {
				mu.Unlock()
				continue
			}
			h.skew = time.Unix(0, pm.Time).Sub(now)
			if pm.Size == 0 {
				h.small = true
			} else {
				h.big, h.msg.Size = true, pm.Size
			}
			mu.Unlock()
		}
	}
}

// probeReport says, for every other node of the site, what the probe
// heard of it.
func (d *doctor) probeReport(tc transport.Config, dur time.Duration, got map[string]*heard) {
	path := fmt.Sprintf("unicast to port %d", tc.Bind.Port())
	if tc.Group.IsValid() {
		path = "multicast " + tc.Group.String()
	}
	site, _, _ := d.topo.Node(d.node)
	for _, n := range site.Nodes {
		if n.ID == d.node {
			continue
		}
		h := got[n.ID]
		if h != nil && h.skew.Abs() > maxSkew {
			rel := "ahead of"
			if h.skew < 0 {
				rel = "behind"
			}
			d.line(docWarn, "clock", fmt.Sprintf("%s's clock is %s %s this node's: certificates may look expired or not yet valid on one of them, and their logs do not line up; run an NTP client on both", n.ID, h.skew.Abs().Round(time.Millisecond), rel))
		}
		switch {
		case h == nil:
			d.line(docFail, "probe", fmt.Sprintf("did not hear %s in %s over %s: either %s did not run `atoll doctor --probe` at the same time, or its packets do not reach this node (firewall on either node, IGMP snooping without a querier, a router between them with multicast TTL 1)",
				n.ID, dur, path, n.ID))
		case h.msg.Cluster != d.topo.Cluster || h.msg.Site != d.cfg.Site:
			d.line(docFail, "probe", fmt.Sprintf("%s (%s) says it is in cluster %s, site %s, not %s, %s: its topology file differs; copy this one to it", n.ID, h.from, h.msg.Cluster, h.msg.Site, d.topo.Cluster, d.cfg.Site))
		case h.msg.RingHash != d.cfg.RingHash():
			d.line(docFail, "probe", fmt.Sprintf("%s (%s) has ring settings %s, this node %s: the ring would reject its packets; give every node the same topology file and --ring-preset", n.ID, h.from, h.msg.RingHash, d.cfg.RingHash()))
		case h.msg.Key != "" && d.keyID != 0 && h.msg.Key != fmt.Sprintf("%08x", d.keyID):
			d.line(docFail, "probe", fmt.Sprintf("%s (%s) has cluster key id %s, this node %08x: copy the same key file to every node", n.ID, h.from, h.msg.Key, d.keyID))
		case !h.big:
			d.line(docFail, "probe", fmt.Sprintf("heard %s (%s), but none of its full-size packets: the path between drops packets this large (a smaller MTU on the way, a tunnel or overlay); set the interfaces' MTU alike, or a lower transport MTU on every node", n.ID, h.from))
		default:
			d.line(docOK, "probe", fmt.Sprintf("heard %s (%s) over %s, full-size packets (%d bytes) included", n.ID, h.from, path, h.msg.Size))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		h := got[id]
		listed := slices.ContainsFunc(site.Nodes, func(n topology.Node) bool { return n.ID == id })
		if !listed && (h.msg.Cluster != d.topo.Cluster || h.msg.Site != d.cfg.Site) {
			d.line(docWarn, "probe", fmt.Sprintf("heard %s (%s) of cluster %s, site %s on the same %s: two sites on one group and port would merge their rings; give each its own", id, h.from, h.msg.Cluster, h.msg.Site, path))
		}
	}
}
