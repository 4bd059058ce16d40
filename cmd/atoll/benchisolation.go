package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/atoll-gcs/atoll/bench/isolation"
)

// newBenchIsolationCmd is `atoll bench isolation`: the isolation
// benchmark of docs/BENCHMARKS.md.
func newBenchIsolationCmd() *cobra.Command {
	var cfg isolation.Config
	var groups, saturateFrom, jsonFile, logFile, deliveriesFile string
	cmd := &cobra.Command{
		Use:   "isolation",
		Short: "Measure how well a site-local and a regional group are isolated from a far, saturated site (each site in a process of its own)",
		Long: `isolation runs three sites, each in a process of its own (this binary again),
as separate hosts would — a (3 nodes), b (3 nodes, 10ms RTT to a) and c (2
nodes, 200ms RTT to both, with a bandwidth cap) — each site's ring on a
simulated LAN and the gateways' federation rings over QUIC on loopback
through the WAN emulator, which runs in this process (--one-process: every
site in this one, sharing its heap, collector and scheduler as separate
hosts would not), planned from one topology file in which
a-local (class realtime) lives in site a's ring, ab-regional (regional) in a
federation domain of a and b, and abc-global (global) in one of all three.
Every member of every group sends through the client API. The phases:

  C detached             c cut off the WAN; a-local and ab-regional under load
  C attached             c back; abc-global at a light load too
  C attached, saturating abc-global offered --saturation times the cap from a and from b
  gateway killed         as attached; site a's active gateway of abc-global crashes

It prints the latencies of each group in each phase, issue 9's targets with
what was measured, the failover gap (the longest time without an abc-global
delivery at a member that stayed connected, from the kill to the end of
sending, counted from the kill; beside it how long the members had already
gone without one at the kill), the relay's traffic and the lost and
duplicated counts, then runs the EVS checker over every agent's trace. It
exits 1 if a message was lost or duplicated at a member that stayed
connected or EVS was violated; missed targets are reported, not failed.
docs/BENCHMARKS.md says how to read the table.`,
		Example: `  atoll bench isolation                            # 20s per phase (3 rounds of the first three), about 4 minutes
  atoll bench isolation --duration 5s              # a quick look
  atoll bench isolation --json isolation.json      # also keep every figure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Groups = strings.Split(groups, ",")
			cfg.SaturateFrom = strings.Split(saturateFrom, ",")
			cfg.Log = cmd.ErrOrStderr()
			if logFile != "" {
				f, err := os.Create(logFile)
				if err != nil {
					return fmt.Errorf("bench isolation: the agents' log file: %w", err)
				}
				defer f.Close()
				cfg.AgentLogs = f
			}
			if deliveriesFile != "" {
				f, err := os.Create(deliveriesFile)
				if err != nil {
					return fmt.Errorf("bench isolation: the deliveries file: %w", err)
				}
				defer f.Close()
				cfg.Deliveries = f
			}
			r, err := isolation.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			line := []string{"atoll bench isolation"}
			cmd.Flags().Visit(func(f *pflag.Flag) { line = append(line, "--"+f.Name+"="+f.Value.String()) })
			r.WriteTable(cmd.OutOrStdout(), strings.Join(line, " "))
			if jsonFile != "" {
				b, err := json.MarshalIndent(r, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(jsonFile, append(b, '\n'), 0o644); err != nil {
					return fmt.Errorf("bench isolation: write the report: %w", err)
				}
			}
			if err := r.Err(); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured time of each phase")
	f.IntVar(&cfg.Rounds, "rounds", 3, "run the detached, attached and saturating phases this many times in turn, each measured --duration/rounds; the table pools them and the p99 targets are judged on the median of the rounds' ratios")
	f.DurationVar(&cfg.Warmup, "warmup", 0, "load before each phase's measurement that is not measured (default: a fifth of --duration)")
	f.StringVar(&groups, "groups", "a-local,ab-regional,abc-global", "the groups to run, comma-separated; ab-regional can be left out")
	f.Int64Var(&cfg.CapBits, "cap", 1_000_000, "bandwidth cap of the links to c, bits per second each way")
	f.Float64Var(&cfg.LocalRate, "local-rate", 300, "a-local's offered load, msgs/s over its senders")
	f.Float64Var(&cfg.RegionalRate, "regional-rate", 120, "ab-regional's offered load, msgs/s over its senders")
	f.Float64Var(&cfg.GlobalRate, "global-rate", 24, "abc-global's light load, msgs/s over its senders")
	f.IntVar(&cfg.Size, "size", 256, "payload bytes of a-local's and ab-regional's messages")
	f.IntVar(&cfg.GlobalSize, "global-size", 1024, "payload bytes of abc-global's messages")
	f.Float64Var(&cfg.Saturation, "saturation", 2, "in the saturating phase, abc-global's offered load from each of a and b over the cap")
	f.DurationVar(&cfg.DeliveryWait, "delivery-wait", time.Minute, "after each phase, how long to wait for every message to reach every member before counting the missing ones as lost")
	f.StringVar(&logFile, "agent-logs", "", "write the agents' logs to this file (default: shown only if the run fails)")
	f.StringVar(&saturateFrom, "saturate-from", "a,b", "the sites whose abc-global members offer the saturating load, comma-separated (b alone: site a's agents carry none of its backlog)")
	f.StringVar(&cfg.Dir, "dir", "", "keep the agents' data dirs and EVS traces (NODE.trace) in this directory, for atoll check (default: a temporary directory, removed)")
	f.BoolVar(&cfg.FailoverOnly, "failover-only", false, "run only the gateway-killed phase, with c attached from the start and no saturating phase before it (a quicker look at the failover; the other phases' figures stay empty)")
	f.BoolVar(&cfg.OneProcess, "one-process", false, "run every site in this process instead of one process per site (for comparison: the sites then share one heap, collector and scheduler, as separate hosts would not)")
	f.BoolVar(&cfg.Background, "background-others", false, "run sites b's and c's processes and the coordinator's (the WAN relays) at the lowest CPU priority (SCHED_IDLE; Linux; not with --one-process), site a's at its own: on a host with fewer cores than busy processes, the far sites then take no CPU site a's process wants, as on hosts of their own")
	f.BoolVar(&cfg.NoTrace, "no-trace", false, "run the agents without an EVS trace, as in production (a traced agent holds its ring's new messages while its trace lags: a cost of the check, which this run then skips; lost and duplicated are still counted)")
	f.BoolVar(&cfg.Pin, "pin", false, "pin site a's process to CPU 0 and b's, c's and the relays' to CPU 1 (Linux; not with --one-process)")
	f.StringVar(&deliveriesFile, "deliveries", "", "write every delivery at every member (group, phase, round, sender, seq, receiver, send and delivery times in ns) as CSV to this file")
	f.StringVar(&cfg.ExecTrace, "exec-trace", "", "write each site's process's Go execution trace of each phase's measured part to this `directory` (SITE.PHASE.rROUND.trace, for go tool trace), with the benchmark's sends and deliveries in it as user logs on the clock of --deliveries, and its CPU profile beside it (.pprof); costs the processes some CPU")
	f.StringVar(&jsonFile, "json", "", "also write the report with every figure as JSON to this file")
	return cmd
}
