package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newRelayCmd) }

func newRelayCmd() *cobra.Command {
	var (
		cfg                 wanem.Config
		link, fwd, rev, ctl string
	)
	cmd := &cobra.Command{
		Use:   "relay --listen ADDR --target ADDR [--link SPEC] [--forward SPEC] [--reverse SPEC] [--control PATH]",
		Short: "Emulate a WAN path: a UDP relay with delay, jitter, loss, reordering, duplication, a bandwidth cap and cuts",
		Long: `relay forwards UDP datagrams sent to --listen on to --target, and the
target's replies back to their sender, through an emulated WAN path
(netem in user space; QUIC runs over UDP, so gateways dial the relay
instead of their peer). Each direction has its own conditions, given as a
spec of key=value settings:

  rtt=200ms        one-way delay of half the value
  delay=100ms      one-way delay
  jitter=5ms       uniform ±jitter on the delay (never reorders)
  loss=1%          random loss
  burst=1%         burst loss (Gilbert model) at this rate ...
  burstlen=5       ... in bursts of this mean length, in packets
  reorder=1%       packets held back reorderdelay (default 1ms) so later ones pass
  dup=0.5%         duplicated packets
  rate=10mbit      bandwidth cap (bit, kbit, mbit, gbit)
  queue=64KiB      queue of the cap, tail drop (default 100 ms at the rate)

--link sets both directions, --forward and --reverse then change one. With
--control PATH the relay listens on a Unix socket for commands that change
it while running ('atoll relay ctl PATH COMMAND'): show, stats,
set forward|reverse|all SPEC, cut forward|reverse|all, heal ...
The relay runs until interrupted and prints its counters when it stops.`,
		Example: `  atoll relay --listen 10.0.1.1:7000 --target 10.0.2.2:7000 --link rtt=200ms --control /run/atoll-relay-ab.sock
  atoll relay --listen 127.0.0.1:7001 --target 127.0.0.1:7000 --link "rtt=10ms loss=1%" --reverse "rate=10mbit"
  atoll relay ctl /run/atoll-relay-ab.sock cut all
  atoll relay ctl /run/atoll-relay-ab.sock set forward loss=5%`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			both, err := wanem.ParseParams(wanem.Params{}, link)
			if err != nil {
				return fmt.Errorf("--link: %w", err)
			}
			if cfg.Forward, err = wanem.ParseParams(both, fwd); err != nil {
				return fmt.Errorf("--forward: %w", err)
			}
			if cfg.Reverse, err = wanem.ParseParams(both, rev); err != nil {
				return fmt.Errorf("--reverse: %w", err)
			}
			if cfg.Listen == "" || cfg.Target == "" {
				return errors.New("relay needs --listen (where senders send) and --target (where to forward)")
			}
			r, err := wanem.New(cfg)
			if err != nil {
				return err
			}
			defer r.Close()
			banner := fmt.Sprintf("relay %s -> %s: forward %v; reverse %v\n", r.Addr(), cfg.Target, cfg.Forward, cfg.Reverse)
			return serveRelay(cmd, ctl, r.Control(), banner, r.Close)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "", "UDP `ADDR` (host:port) the senders send to")
	f.StringVar(&cfg.Target, "target", "", "UDP `ADDR` (host:port) the datagrams are forwarded to")
	f.StringVar(&cfg.Source, "source", "", "local `ADDR` of the sockets toward the target, one per sender (default: free ports; a fixed port allows one sender at a time)")
	f.StringVar(&link, "link", "", "conditions of both directions, a `SPEC` such as \"rtt=200ms loss=1%\" (default a perfect link)")
	f.StringVar(&fwd, "forward", "", "changes to --link for the direction toward the target (`SPEC`)")
	f.StringVar(&rev, "reverse", "", "changes to --link for the replies (`SPEC`)")
	f.StringVar(&ctl, "control", "", "Unix socket `PATH` for commands that change the running relay")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random choices (0: random)")
	cmd.AddCommand(newRelayCtlCmd(), newRelayMeshCmd())
	return cmd
}

// serveRelay runs a started relay or mesh until the command's context ends
// or a SIGTERM or SIGINT comes: it serves the control socket at ctl (if
// set), prints banner, and at the end stops the relays with stop and
// prints each link's counters.
func serveRelay(cmd *cobra.Command, ctl string, c *wanem.Control, banner string, stop func() error) error {
	if ctl != "" {
		if err := removeStaleSocket(ctl); err != nil {
			return err
		}
		ln, err := net.Listen("unix", ctl)
		if err != nil {
			return fmt.Errorf("relay: control socket: %w", err)
		}
		defer ln.Close()
		go c.Serve(ln)
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	out := cmd.OutOrStdout()
	fmt.Fprint(out, banner)
	<-ctx.Done()
	stop() // the counters are final once the links have stopped
	names := make([]string, 0, len(c.Links))
	for n := range c.Links {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(out, "%s: %v\n", n, c.Links[n].Stats())
	}
	return nil
}

func newRelayMeshCmd() *cobra.Command {
	var (
		cfg             wanem.MeshConfig
		sites           []string
		link, ctl, topo string
		sets            []string
	)
	cmd := &cobra.Command{
		Use:   "mesh --site NAME=ADDR... [--host IP] [--base-port N] [--link SPEC] [--set 'LINKS SPEC']... [--control PATH]",
		Short: "Emulate the WAN paths between N sites: a relay per ordered pair of sites, in one process",
		Long: `mesh starts a relay for every ordered pair of sites (from, to): the gateway
of site from sends to that relay's address instead of to's. The two
directions between two sites are the links "a:b" and "b:a", which both
relays of the pair share (a cap or a cut holds whichever side dialled).
With --base-port the relay from the i-th to the j-th site (sorted by name,
from 0) listens on base-port + i*N + j; the table of addresses is printed
at the start. --link sets every link; --topology then gives each pair the
RTT and bandwidth the topology file declares for it (or the RTT the
planner derives from a chain of links); each --set then changes some (the
control socket's set command: LINKS is a comma-separated list of link
names or patterns such as a:*,*:a). The control socket takes the
commands of 'atoll relay ctl': cut c:*,*:c isolates site c.`,
		Example: `  atoll relay mesh --site a=10.99.0.1:7400 --site b=10.99.0.2:7400 --site c=10.99.0.3:7400 \
      --host 10.99.0.254 --base-port 7500 --link rtt=10ms --set 'a:c,c:a rtt=200ms' --control /tmp/mesh.sock
  atoll relay ctl /tmp/mesh.sock cut 'c:*,*:c'
  atoll relay ctl /tmp/mesh.sock heal all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Sites = map[string]string{}
			for _, s := range sites {
				name, addr, ok := strings.Cut(s, "=")
				if !ok || name == "" || addr == "" || strings.ContainsAny(name, ":,*?[") {
					return fmt.Errorf("--site %q: want NAME=HOST:PORT, a name without : , * ? [", s)
				}
				if _, dup := cfg.Sites[name]; dup {
					return fmt.Errorf("--site %s given twice", name)
				}
				cfg.Sites[name] = addr
			}
			var err error
			if cfg.Link, err = wanem.ParseParams(wanem.Params{}, link); err != nil {
				return fmt.Errorf("--link: %w", err)
			}
			m, err := wanem.NewMesh(cfg)
			if err != nil {
				return err
			}
			defer m.Close()
			banner := m.Table()
			if topo != "" {
				f, err := topology.Load(topo)
				if err != nil {
					return err
				}
				n, err := m.ApplyTopology(f)
				if err != nil {
					return fmt.Errorf("--topology %s: %w", topo, err)
				}
				banner += fmt.Sprintf("%s: the RTTs and bandwidths of %d site pairs\n", topo, n)
			}
			c := m.Control()
			for _, s := range sets {
				if r := c.Do("set " + s); strings.HasPrefix(r, "error: ") {
					return fmt.Errorf("--set %q: %s", s, strings.TrimPrefix(r, "error: "))
				}
			}
			return serveRelay(cmd, ctl, c, banner+strings.TrimPrefix(c.Do("show"), "ok\n"), m.Close)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&sites, "site", nil, "a site and its gateway's UDP address, `NAME=HOST:PORT` (at least two)")
	f.StringVar(&cfg.Host, "host", "127.0.0.1", "`IP` the relays listen on")
	f.IntVar(&cfg.BasePort, "base-port", 0, "first of the relays' fixed ports, `N` (0: free ports)")
	f.StringVar(&link, "link", "", "conditions of every link, a `SPEC` such as \"rtt=10ms loss=1%\"")
	f.StringVar(&topo, "topology", "", "then give the pairs the RTTs and bandwidths a topology `FILE` declares (or the planner derives)")
	f.StringArrayVar(&sets, "set", nil, "then change some links: `'LINKS SPEC'`, e.g. 'a:c,c:a rtt=200ms'")
	f.StringVar(&ctl, "control", "", "Unix socket `PATH` for commands that change the running mesh")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random choices (0: random)")
	return cmd
}

// removeStaleSocket removes a Unix socket left by a relay that died, and
// refuses to touch anything else or a socket still answered.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: control socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("relay: control socket path %s exists and is not a socket; pick another --control path", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("relay: control socket %s is in use by a running relay; stop it or pick another --control path", path)
	}
	return os.Remove(path)
}

func newRelayCtlCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ctl PATH COMMAND...",
		Short: "Change a running relay through its control socket",
		Long: `ctl sends one command to the control socket of a running 'atoll relay' and
prints the reply. Commands: show, stats (JSON), set LINKS SPEC, cut LINKS,
heal LINKS, where LINKS is forward, reverse or all for a relay, a
comma-separated list of link names or patterns (a:b, c:*, *:c) for a
mesh.`,
		Example: `  atoll relay ctl /run/atoll-relay-ab.sock cut all
  atoll relay ctl /run/atoll-relay-ab.sock heal forward
  atoll relay ctl /run/atoll-relay-ab.sock set all rtt=10ms loss=0
  atoll relay ctl /run/atoll-relay-ab.sock show`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := wanem.ControlRequest(args[0], strings.Join(args[1:], " "))
			if err != nil {
				return err
			}
			if out != "" {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), out)
			}
			return err
		},
	}
}
