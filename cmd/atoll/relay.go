package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/internal/wanem"
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
			if ctl != "" {
				if err := removeStaleSocket(ctl); err != nil {
					return err
				}
				ln, err := net.Listen("unix", ctl)
				if err != nil {
					return fmt.Errorf("relay: control socket: %w", err)
				}
				defer ln.Close()
				go r.Control().Serve(ln)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "relay %s -> %s: forward %v; reverse %v\n", r.Addr(), cfg.Target, cfg.Forward, cfg.Reverse)
			<-ctx.Done()
			r.Close() // the counters are final once the links have stopped
			for _, l := range []*wanem.Link{r.Forward(), r.Reverse()} {
				fmt.Fprintf(out, "%s: %v\n", l.Name(), l.Stats())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "", "UDP `ADDR` (host:port) the senders send to")
	f.StringVar(&cfg.Target, "target", "", "UDP `ADDR` (host:port) the datagrams are forwarded to")
	f.StringVar(&cfg.Source, "source", "", "local `ADDR` of the socket toward the target (default: any address, a free port)")
	f.StringVar(&link, "link", "", "conditions of both directions, a `SPEC` such as \"rtt=200ms loss=1%\" (default a perfect link)")
	f.StringVar(&fwd, "forward", "", "changes to --link for the direction toward the target (`SPEC`)")
	f.StringVar(&rev, "reverse", "", "changes to --link for the replies (`SPEC`)")
	f.StringVar(&ctl, "control", "", "Unix socket `PATH` for commands that change the running relay")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random choices (0: random)")
	cmd.AddCommand(newRelayCtlCmd())
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
prints the reply. Commands: show, stats (JSON), set LINK SPEC, cut LINK,
heal LINK, where LINK is forward, reverse or all.`,
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
