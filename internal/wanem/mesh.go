package wanem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/atoll-gcs/atoll/topology"
)

// MeshConfig configures a Mesh.
type MeshConfig struct {
	// Sites maps each site's name to the UDP address its gateway listens
	// on (host:port). At least two.
	Sites map[string]string
	// Link is the initial condition of every direction between two sites;
	// change it per pair with SetPath or per direction with Link(a, b).Set.
	Link Params
	// Host is the address the relays listen on. Default 127.0.0.1.
	Host string
	// BasePort, when set, gives the relays fixed ports: the relay from
	// the i-th to the j-th site (in sorted order, from 0) listens on
	// BasePort + i*len(Sites) + j. Default 0: free ports.
	BasePort int
	// Seed seeds the links' random choices; zero means a random seed.
	Seed uint64
}

// Mesh connects N sites pairwise through emulated paths: one relay per
// ordered pair (from, to), at Addr(from, to), which from's gateway dials to
// reach to. The two directions between a and b are two Links, named "a:b"
// and "b:a", that both relays of the pair share: the relay from a to b
// carries a's packets over Link(a, b) and b's replies over Link(b, a), the
// relay from b to a the other way round, so a cap or a cut of a:b holds
// whoever dialled.
type Mesh struct {
	sites  []string
	host   string
	links  map[[2]string]*Link
	relays map[[2]string]*Relay
	extra  []extraRelay // AddRelay's, in order
}

type extraRelay struct {
	from, to string
	r        *Relay
}

// Validate reports what is missing or out of range in cfg.
func (cfg MeshConfig) Validate() error {
	if len(cfg.Sites) < 2 {
		return fmt.Errorf("wanem: a mesh needs at least two sites, got %d", len(cfg.Sites))
	}
	for s, a := range cfg.Sites {
		if s == "" || a == "" {
			return fmt.Errorf("wanem: mesh site %q at %q: a site needs a name and an address", s, a)
		}
	}
	if n := len(cfg.Sites); cfg.BasePort < 0 || cfg.BasePort+n*n > 65535 {
		return fmt.Errorf("wanem: base port %d leaves no room for the %d relays of %d sites", cfg.BasePort, n*(n-1), n)
	}
	if err := cfg.Link.check(); err != nil {
		return fmt.Errorf("wanem: mesh link: %w", err)
	}
	return nil
}

// NewMesh starts the relays of a mesh.
func NewMesh(cfg MeshConfig) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	m := &Mesh{host: host, links: map[[2]string]*Link{}, relays: map[[2]string]*Relay{}}
	for s := range cfg.Sites {
		m.sites = append(m.sites, s)
	}
	sort.Strings(m.sites)
	var n uint64
	for _, a := range m.sites {
		for _, b := range m.sites {
			if a == b {
				continue
			}
			n++
			l, err := newLink(a+":"+b, cfg.Link, seed, n)
			if err != nil {
				m.Close()
				return nil, err
			}
			m.links[[2]string{a, b}] = l
		}
	}
	for i, a := range m.sites {
		for j, b := range m.sites {
			if a == b {
				continue
			}
			port := 0
			if cfg.BasePort > 0 {
				port = cfg.BasePort + i*len(m.sites) + j
			}
			r, err := newRelay(Config{Listen: net.JoinHostPort(host, strconv.Itoa(port)), Target: cfg.Sites[b]},
				m.links[[2]string{a, b}], m.links[[2]string{b, a}])
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("wanem: relay from %s to %s: %w", a, b, err)
			}
			m.relays[[2]string{a, b}] = r
		}
	}
	return m, nil
}

// Sites returns the site names, sorted.
func (m *Mesh) Sites() []string { return append([]string(nil), m.sites...) }

// Addr returns the address from's gateway dials to reach to's ("" if
// either is not a site).
func (m *Mesh) Addr(from, to string) string {
	if r := m.relays[[2]string{from, to}]; r != nil {
		return r.Addr()
	}
	return ""
}

// AddRelay starts another relay from site from to site to, toward target
// instead of to's address, over the same two links as the pair's relays:
// a second address of site to (the endpoint of another federation ring of
// its gateways) behind the same emulated path, so that every flow between
// the two sites shares its delay, its bandwidth cap and its cuts. It
// returns the address from dials; Close stops the relay.
func (m *Mesh) AddRelay(from, to, target string) (string, error) {
	ab, ba, err := m.pair(from, to)
	if err != nil {
		return "", err
	}
	r, err := newRelay(Config{Listen: net.JoinHostPort(m.host, "0"), Target: target}, ab, ba)
	if err != nil {
		return "", fmt.Errorf("wanem: relay from %s to %s at %s: %w", from, to, target, err)
	}
	m.extra = append(m.extra, extraRelay{from: from, to: to, r: r})
	return r.Addr(), nil
}

// Link returns the direction from -> to (nil if either is not a site).
func (m *Mesh) Link(from, to string) *Link { return m.links[[2]string{from, to}] }

func (m *Mesh) pair(a, b string) (ab, ba *Link, err error) {
	ab, ba = m.Link(a, b), m.Link(b, a)
	if ab == nil || ba == nil {
		return nil, nil, fmt.Errorf("wanem: no path between %q and %q in the mesh (sites %v)", a, b, m.sites)
	}
	return ab, ba, nil
}

// SetPath gives both directions between a and b the parameters p:
// SetPath("a", "b", RTT(200*time.Millisecond)).
func (m *Mesh) SetPath(a, b string, p Params) error {
	ab, ba, err := m.pair(a, b)
	if err != nil {
		return err
	}
	return errors.Join(ab.Set(p), ba.Set(p))
}

// Cut cuts both directions between a and b.
func (m *Mesh) Cut(a, b string) error {
	ab, ba, err := m.pair(a, b)
	if err == nil {
		ab.Cut()
		ba.Cut()
	}
	return err
}

// Heal heals both directions between a and b.
func (m *Mesh) Heal(a, b string) error {
	ab, ba, err := m.pair(a, b)
	if err == nil {
		ab.Heal()
		ba.Heal()
	}
	return err
}

// Isolate cuts every path of site s; Rejoin heals them.
func (m *Mesh) Isolate(s string) error { return m.each(s, (*Mesh).Cut) }

// Rejoin heals every path of site s.
func (m *Mesh) Rejoin(s string) error { return m.each(s, (*Mesh).Heal) }

func (m *Mesh) each(s string, f func(*Mesh, string, string) error) error {
	var errs []error
	found := false
	for _, o := range m.sites {
		if o == s {
			found = true
			continue
		}
		errs = append(errs, f(m, s, o))
	}
	if !found {
		return fmt.Errorf("wanem: no site %q in the mesh (sites %v)", s, m.sites)
	}
	return errors.Join(errs...)
}

// Close stops every relay and link.
func (m *Mesh) Close() error {
	var errs []error
	for _, r := range m.relays {
		errs = append(errs, r.Close())
	}
	for _, x := range m.extra {
		errs = append(errs, x.r.Close())
	}
	for _, l := range m.links {
		l.close()
	}
	return errors.Join(errs...)
}

// Table returns the mesh's relays, one line each: "a:b 127.0.0.1:7501 ->
// 10.0.0.2:7400", the address a dials to reach b and b's address.
func (m *Mesh) Table() string {
	var b strings.Builder
	for _, from := range m.sites {
		for _, to := range m.sites {
			if r := m.relays[[2]string{from, to}]; r != nil {
				fmt.Fprintf(&b, "%s:%s %s -> %s\n", from, to, r.Addr(), r.target)
			}
		}
	}
	for _, x := range m.extra {
		fmt.Fprintf(&b, "%s:%s %s -> %s\n", x.from, x.to, x.r.Addr(), x.r.target)
	}
	return b.String()
}

// Control returns a Control over the mesh's links, named "from:to".
func (m *Mesh) Control() *Control {
	c := &Control{Links: map[string]*Link{}}
	for _, l := range m.links {
		c.Links[l.Name()] = l
	}
	return c
}

// ApplyTopology gives the paths between the mesh's sites the conditions a
// topology file declares, each way, keeping the other parameters (loss,
// jitter, ...): for each link of f between two sites of the mesh, a
// one-way Delay of half its RTT and its bandwidth as the cap (BitsPerSec;
// none if it declares none); for a pair with no declared link whose RTT
// the planner derived from a chain of links (Plan.Links), that Delay
// alone. Pairs neither declares nor plans keep their conditions. It
// returns how many pairs it set.
func (m *Mesh) ApplyTopology(f *topology.File) (int, error) {
	set := map[[2]string]bool{}
	apply := func(a, b string, change func(*Params)) error {
		k := [2]string{min(a, b), max(a, b)}
		ab, ba := m.Link(a, b), m.Link(b, a)
		if set[k] || ab == nil || ba == nil {
			return nil
		}
		set[k] = true
		_, err1 := ab.Update(change)
		_, err2 := ba.Update(change)
		return errors.Join(err1, err2)
	}
	for _, l := range f.Links {
		if len(l.Between) != 2 {
			continue
		}
		err := apply(l.Between[0], l.Between[1], func(p *Params) {
			p.Delay, p.BitsPerSec = l.RTT.D()/2, l.Bandwidth.BitsPerSecond()
		})
		if err != nil {
			return len(set), err
		}
	}
	for _, l := range f.Plan().Links {
		if err := apply(l.Between[0], l.Between[1], func(p *Params) { p.Delay = l.RTT.D() / 2 }); err != nil {
			return len(set), err
		}
	}
	return len(set), nil
}
