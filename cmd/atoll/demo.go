package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/sim"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var (
		nodes int
		seed  uint64
		lan   bool
		stop  bool
		far   time.Duration
		dir   string
		stall time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch three sites in one process: groups of three latency classes under load, a gateway killed, a site cut off, the EVS check",
		Long: `demo runs three sites in this process, with no setup: 7 real agents,
each site's ring on a simulated LAN, the sites' gateways federated over
QUIC on loopback through the WAN emulator (a–b 10ms RTT, c --far-rtt from
both). Three groups, one per latency class, are under load through the
client API: a-local inside site a, ab-regional over the two close sites,
abc-global over all three. Every second it prints each group's
deliveries and latencies: the local group's stay flat while the global
one's follow the far links. Site a's active gateway of the global domain
is killed (as kill -9 would: from one instant nothing it sends gets out)
and replaced (--stop stops it gracefully instead); site c is cut off the
WAN and healed,
with the views that says; the lost and duplicated messages of the
members that stayed connected are counted at the clients; the EVS
checker reads every agent's trace; a legend says what you saw. It runs
in under a minute and exits 1 if a message is lost or duplicated, if
members that stayed connected were apart with no stall of the process
(past a ring's token timeout) in that phase or the one before to explain
it, or if the check fails. It prints every stall of its process (a goroutine of it did not run for
150ms or more: a busy or stalled host) with the rings whose token timeout
it passed; --stall stops the process on purpose, --dir keeps the traces.

With --lan it runs the first demo instead: ring nodes of one site on a
simulated LAN with a virtual clock, the same protocol code as the agent,
every packet through the real codec: the ring forming, messages delivered
in one order at every node, a node killed and the new configuration
(transitional first), a node joining, and the EVS checker over every
node's trace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lan {
				if nodes < 3 || nodes > 9 {
					return usageError(fmt.Errorf("--nodes %d: the demo runs 3 to 9 nodes", nodes))
				}
				return runDemo(cmd.OutOrStdout(), nodes, seed)
			}
			if far < 10*time.Millisecond || far > time.Second {
				return usageError(fmt.Errorf("--far-rtt %v: the demo runs 10ms to 1s", far))
			}
			if stall < 0 || stall > 10*time.Second {
				return usageError(fmt.Errorf("--stall %v: the demo stalls for 0 to 10s", stall))
			}
			return runSitesDemo(cmd.OutOrStdout(), sitesOptions{farRTT: far, kill: !stop, dir: dir, stall: stall})
		},
	}
	cmd.Flags().BoolVar(&lan, "lan", false, "run the ring nodes of one site on a simulated LAN with a virtual clock instead")
	cmd.Flags().IntVar(&nodes, "nodes", 5, "with --lan: number of ring nodes (3-9)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "with --lan: simulation seed: the same seed gives the same run")
	cmd.Flags().DurationVar(&far, "far-rtt", 200*time.Millisecond, "the round-trip time between site c and the others")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop site a's gateway gracefully instead of killing it")
	cmd.Flags().DurationVar(&stall, "stall", 0, "stop the whole process (SIGSTOP) for this long 2s into the steady load, as a stalled host or VM does")
	cmd.Flags().StringVar(&dir, "dir", "", "keep the agents' traces (NODE.trace, for atoll check --domain-order), data and certificates in this directory instead of a temporary one")
	var sites bool
	cmd.Flags().BoolVar(&sites, "sites", false, "the three sites (the default now)")
	_ = cmd.Flags().MarkHidden("sites")
	return cmd
}

type demo struct {
	w     io.Writer
	c     *sim.Cluster
	order map[localring.NodeID][]string // delivered payloads per node, in order
	quiet bool
}

func (d *demo) printf(format string, a ...any) {
	fmt.Fprintf(d.w, "%9.3fms  ", float64(d.c.Elapsed().Microseconds())/1000)
	fmt.Fprintf(d.w, format, a...)
	fmt.Fprintln(d.w)
}

func (d *demo) section(title string) { fmt.Fprintf(d.w, "\n== %s\n", title) }

func (d *demo) onEvent(node localring.NodeID, inc uint64, e localring.Event) {
	switch e.Kind {
	case localring.EventInstall:
		kind := "regular     "
		if e.Conf.Kind == localring.Transitional {
			kind = "transitional"
		}
		d.printf("%-3s installs %s configuration %-16s members %s", node, kind, e.Conf.ID, strings.Join(e.Conf.MemberIDs(), " "))
	case localring.EventDeliver:
		d.order[node] = append(d.order[node], string(e.Msg.Payload))
	case localring.EventTokenLost, localring.EventGather, localring.EventEvict, localring.EventReadmit:
		if !d.quiet {
			d.printf("%-3s %s: %s", node, e.Kind, e.Reason)
		}
	}
}

func runDemo(w io.Writer, n int, seed uint64) error {
	c := sim.NewCluster(seed, n)
	d := &demo{w: w, c: c, order: map[localring.NodeID][]string{}}
	c.OnEvent = d.onEvent
	fmt.Fprintf(w, "Atoll demo: %d Totem ring nodes on a simulated LAN (100µs links, seed %d).\n", n, seed)
	fmt.Fprintf(w, "Token timeout %v, consensus timeout %v (the LAN preset).\n", c.Config.TokenTimeout, c.Config.ConsensusTimeout)

	d.section("The ring forms")
	d.quiet = true
	c.StartAll()
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		return fmt.Errorf("demo: the ring did not form")
	}

	d.section("Every node multicasts; every node delivers in the same total order")
	for round := 1; round <= 2; round++ {
		for i := 0; i < n; i++ {
			svc := localring.Agreed
			if round == 2 && i == 0 {
				svc = localring.Safe
			}
			msg := fmt.Sprintf("%s says hello #%d (%s)", c.NodeID(i), round, svc)
			if err := c.SubmitPayload(i, svc, []byte(msg)); err != nil {
				return err
			}
		}
	}
	c.RunFor(50 * time.Millisecond)
	d.showOrder(n)

	victim := n - 2
	d.section(fmt.Sprintf("%s is killed (kill -9); the others detect the lost token and re-form", c.NodeID(victim)))
	d.quiet = false
	c.Crash(victim)
	killedAt := c.Elapsed()
	d.printf("%s crashed", c.NodeID(victim))
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		return fmt.Errorf("demo: the survivors did not re-form")
	}
	d.printf("new ring after %v (token timeout + consensus timeout + protocol)", (c.Elapsed() - killedAt).Round(time.Millisecond))

	d.section("Messages keep flowing in the new configuration")
	for k := range d.order {
		d.order[k] = nil
	}
	for i := 0; i < n; i++ {
		if c.Alive(i) {
			_ = c.SubmitPayload(i, localring.Agreed, []byte(fmt.Sprintf("%s is still here", c.NodeID(i))))
		}
	}
	c.RunFor(50 * time.Millisecond)
	d.showOrder(n)

	d.section(fmt.Sprintf("%s restarts with a new incarnation and joins", c.NodeID(victim)))
	d.quiet = true
	c.Start(victim)
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		return fmt.Errorf("demo: the restarted node did not join")
	}
	c.RunFor(50 * time.Millisecond)

	d.section("The EVS checker reads every node's trace")
	tr := c.Trace()
	vs := evs.Check(tr, evs.Options{Failed: c.Failed(), Quiescent: true})
	vs = append(vs, evs.CheckConverged(tr, c.Live())...)
	if len(vs) > 0 {
		_ = evs.Report(w, vs)
		return &exitError{code: 1, err: fmt.Errorf("demo: %d EVS violations", len(vs))}
	}
	fmt.Fprintf(w, "%d trace events from %d processes: no violation of extended virtual synchrony.\n", len(tr), len(c.Live())+len(c.Failed()))
	fmt.Fprintln(w, "\nNext: `atoll plan deploy/examples/europe-asia.yaml` shows how sites and latency classes become EVS domains.")
	return nil
}

// showOrder prints the delivery order of the first node and checks the
// others delivered the same sequence.
func (d *demo) showOrder(n int) {
	var ref []string
	var refNode localring.NodeID
	for i := 0; i < n; i++ {
		id := d.c.NodeID(i)
		if d.c.Alive(i) {
			ref, refNode = d.order[id], id
			break
		}
	}
	fmt.Fprintf(d.w, "delivery order at %s:\n", refNode)
	for k, m := range ref {
		fmt.Fprintf(d.w, "  %2d. %s\n", k+1, m)
	}
	for i := 0; i < n; i++ {
		id := d.c.NodeID(i)
		if !d.c.Alive(i) || id == refNode {
			continue
		}
		same := len(d.order[id]) == len(ref)
		for k := 0; same && k < len(ref); k++ {
			same = d.order[id][k] == ref[k]
		}
		verdict := "the same order"
		if !same {
			verdict = "A DIFFERENT ORDER (this is a bug)"
		}
		fmt.Fprintf(d.w, "  %s delivered %d messages in %s\n", id, len(d.order[id]), verdict)
	}
}
