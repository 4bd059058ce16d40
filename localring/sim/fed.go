package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// FedSpec describes a federation ring to simulate: its members are sites,
// each spoken for by one of its gateway processes at a time.
type FedSpec struct {
	// Domain is the EVS domain of the traces, "fed/...".
	Domain string
	// Sites are the ring's member ids.
	Sites []string
	// RTT[i][j] is the round-trip time between Sites[i] and Sites[j].
	RTT [][]time.Duration
	// Gateways is the number of gateway processes per site: the active one
	// and its standbys, which take over as newer incarnations. Default 2.
	Gateways int
	// Ring is the ring configuration of every member (ID, Incarnation,
	// RingSeq and Rand are set per process).
	Ring localring.Config
}

// FedSpecFromPlan returns the spec of federation domain domain of the plan
// of topology file f: its sites, the RTTs the planner assumed between them
// (declared, or along the shortest chain of declared links) and the ring
// configuration federation.RingConfig derives.
func FedSpecFromPlan(f *topology.File, p *topology.Plan, domain string) (FedSpec, error) {
	d, ok := p.Domain(domain)
	if !ok || d.Kind != topology.FederationDomain {
		return FedSpec{}, fmt.Errorf("sim: %q is not a federation domain of the plan of %s", domain, f.Name())
	}
	s := FedSpec{Domain: d.Name, Sites: slices.Clone(d.Sites), Gateways: 2, Ring: federation.RingConfig(f, d)}
	s.RTT = make([][]time.Duration, len(s.Sites))
	for i := range s.RTT {
		s.RTT[i] = make([]time.Duration, len(s.Sites))
	}
	for _, l := range p.Links {
		a, b := slices.Index(s.Sites, l.Between[0]), slices.Index(s.Sites, l.Between[1])
		if a >= 0 && b >= 0 {
			s.RTT[a][b], s.RTT[b][a] = l.RTT.D(), l.RTT.D()
		}
	}
	for i := range s.Sites {
		for j := range s.Sites {
			if i != j && s.RTT[i][j] <= 0 {
				return FedSpec{}, fmt.Errorf("sim: the plan of %s assumes no RTT between %s and %s", f.Name(), s.Sites[i], s.Sites[j])
			}
		}
	}
	return s, nil
}

// fedLANDelay is the one-way delay between two gateways of one site.
const fedLANDelay = 100 * time.Microsecond

// NewFedCluster returns a cluster that simulates the federation ring of
// spec, not started: Gateways slots per site, all with the site's name as
// their id, and one-way delays from the RTTs. asymmetry in [0, 1) splits
// each RTT unevenly between the two directions: the share of one direction
// is drawn from [(1-asymmetry)/2, (1+asymmetry)/2], so that the RTT stays
// as declared while the one-way delays differ.
func NewFedCluster(seed uint64, spec FedSpec, asymmetry float64) *Cluster {
	g := max(spec.Gateways, 1)
	var ids []localring.NodeID
	var site []int
	for i, s := range spec.Sites {
		for k := 0; k < g; k++ {
			ids = append(ids, localring.NodeID(s))
			site = append(site, i)
		}
	}
	c := NewClusterOf(seed, ids)
	c.Config = spec.Ring
	// Each gateway slot of a site numbers its rings in its own lane, as
	// federation.NewConfig has a site's gateways do by rank.
	c.Config.RingSeqLanes = g
	for i := range c.nodes {
		c.nodes[i].lane = i % g
	}
	c.RingSeqFloor = federation.RingSeqFloor
	c.SetDomain(spec.Domain)
	rng := rand.New(rand.NewPCG(seed, 0xfed))
	n := len(spec.Sites)
	share := make([][]float64, n)
	for i := range share {
		share[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			f := 0.5 + asymmetry*(rng.Float64()-0.5)
			share[i][j], share[j][i] = f, 1-f
		}
	}
	d := make([][]time.Duration, len(ids))
	for a := range d {
		d[a] = make([]time.Duration, len(ids))
		for b := range d[a] {
			i, j := site[a], site[b]
			if i == j {
				d[a][b] = fedLANDelay
			} else {
				d[a][b] = time.Duration(float64(spec.RTT[i][j]) * share[i][j])
			}
		}
	}
	c.SetDelays(d)
	return c
}

// fedPacing is the pace of federation ring runs: faults a few seconds
// apart, so that WAN token and consensus timeouts of seconds can expire
// between them, and also not.
var fedPacing = pacing{step: 50 * time.Millisecond, firstFault: time.Second, firstSpread: 4 * time.Second,
	faultGap: 500 * time.Millisecond, gapSpread: 6 * time.Second, settle: 3 * time.Second,
	steady: 3 * time.Second}

// RunFed performs one random run of the federation ring of spec under the
// seed's fault mix (PickMix, as for local rings: losses, duplicates,
// reordering, corruption, stale replays, crashes and restarts, pauses,
// partitions, asymmetric links, big and Safe messages) over the spec's
// delays with the seed's asymmetry, with one gateway per site started and
// the standbys taking over as newer incarnations when a fault starts them,
// and, for a third of the seeds, a persistent fault through the liveness
// phase (a site's gateway whose multicasts never arrive or that receives
// none, or a lossy link between two sites; PickPersistent), then checks it
// like Run (EVS, convergence of the others and delivery of their traffic,
// Fencing), in domain spec.Domain. Defaults: 20 s of faults, 60 s to
// converge (virtual).
func RunFed(seed uint64, spec FedSpec, opts RunOptions) *Result {
	if opts.Safety == 0 {
		opts.Safety = 20 * time.Second
	}
	if opts.Liveness == 0 {
		opts.Liveness = time.Minute
	}
	rng := rand.New(rand.NewPCG(seed, 0xfed0))
	mix := PickMix(rng)
	asym := 0.8 * rng.Float64()
	c := NewFedCluster(rng.Uint64(), spec, asym)
	mix.Nodes = c.Size()
	// A federation ring carries a site's cross-site traffic: a quarter of
	// a local ring's, which keeps a run's deliveries, and the checker's
	// work, at a local run's.
	mix.Load = max(10, mix.Load/4)
	// WAN jitter is of milliseconds; the mix's is of a LAN.
	mix.Faults.Jitter = time.Duration(1+rng.IntN(5)) * time.Millisecond
	// A persistent fault of a site's gateway (its multicasts lost, or it
	// receiving none) or of a link between two sites, through the liveness
	// phase; from a source of its own, so that the other faults of a seed
	// stay those it had before.
	pers := PickPersistent(rand.New(rand.NewPCG(seed, 0xfed15)), len(spec.Sites))
	pers.names = spec.Sites
	mix.Persistent = pers.String()
	c.Log = opts.LogTo
	c.logf("federation ring %s: sites %v, asymmetry %.2f, mix: %s", spec.Domain, spec.Sites, asym, mix)
	c.SetFaults(mix.Faults)
	for i := 0; i < c.Size(); i += max(spec.Gateways, 1) {
		c.Start(i)
	}
	return c.play(seed, rng, mix, pers, opts, fedPacing)
}
