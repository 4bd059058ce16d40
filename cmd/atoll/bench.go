package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/bench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var cfg bench.LocalConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure an Atoll ring on this host: throughput, latency, retransmissions, CPU and memory per node",
		Long: `bench starts --nodes ring nodes as separate processes on this host, connected
over loopback with the UDP unicast transport (no root needed), lets --senders
of them offer --size byte messages at --rate messages per second in total
(0: as fast as flow control allows) for --warmup plus --duration, and prints
msgs/s, MB/s, latency p50/p99/p99.9 from submit to delivery over every
delivery at every node, retransmissions, and CPU and peak RSS per node.

Each node is an agent (the code of "atoll agent": ring core, transport, packet
protection, loop) driven through its in-process API, with the load generator
and the measurement in the same process. For Atoll against Corosync on
network namespaces joined by a bridge (real multicast), see
docs/BENCHMARKS.md and tests/bench/compare.sh.`,
		Example: `  atoll bench                                  # 3 nodes, all send 1 KiB agreed messages as fast as they can
  atoll bench --rate 1000 --security none      # latency at 1,000 msgs/s in total, no packet protection
  atoll bench --nodes 5 --service safe --size 8192`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: find this program to start the nodes: %w", err)
			}
			s, err := bench.RunLocal(cmd.Context(), cfg, []string{exe, "bench", "node"}, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			senders := cfg.Senders
			if senders == 0 {
				senders = cfg.Nodes
			}
			offered := "as fast as flow control allows"
			if cfg.Rate > 0 {
				offered = fmt.Sprintf("%g msgs/s in total", cfg.Rate)
			}
			fmt.Fprintf(w, "atoll bench: %d nodes (processes on loopback, UDP unicast, MTU %d), %d senders, %d-byte %s messages, security %s\n",
				s.Nodes, cfg.MTU, senders, cfg.Size, cfg.Service, cfg.Security)
			fmt.Fprintf(w, "offered: %s; measured over %v after %v of warm-up\n\n", offered, cfg.Duration, cfg.Warmup)
			return bench.WriteReport(w, s)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 3, "ring nodes, one process each")
	f.IntVar(&cfg.Senders, "senders", 0, "how many nodes send (0: all)")
	f.IntVar(&cfg.Size, "size", 1024, "message size in bytes")
	f.StringVar(&cfg.Service, "service", "agreed", "service level: unreliable, reliable, fifo, causal, agreed or safe")
	f.Float64Var(&cfg.Rate, "rate", 0, "total offered load in msgs/s, split over the senders (0: as fast as flow control allows)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measurement window")
	f.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before the window that is not measured")
	f.StringVar(&cfg.Security, "security", "encrypt", "packet protection: none, auth or encrypt (a fresh key is made for the run)")
	f.IntVar(&cfg.MTU, "mtu", 1500, "path MTU the nodes pack packets to")
	f.IntVar(&cfg.MaxOutstanding, "max-outstanding", 0, "at full load, messages each sender keeps submitted but not yet sent on the ring (default 100)")
	f.DurationVar(&cfg.TokenTimeout, "token-timeout", 0, "token timeout (default: the LAN preset's 200ms)")
	f.BoolVar(&asJSON, "json", false, "print the summary, with every node's result, as JSON")
	cmd.AddCommand(newBenchNodeCmd(), newBenchIsolationCmd())
	return cmd
}

// newBenchNodeCmd is one node of a benchmark ring, started by `atoll bench`
// and by the namespace testbed (tests/bench).
func newBenchNodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "node",
		Short: "Run one benchmark node: reads its bench.NodeSpec as JSON on stdin, writes JSON lines",
		Long: `node runs one node of a benchmark ring, as started by "atoll bench" and by
the namespace testbed (tests/bench/compare.sh): it reads a bench.NodeSpec as
JSON on standard input and writes progress events and its result as JSON
lines on standard output. It runs on as many threads as a ring node started
by "atoll agent" with --procs 0 (one, unless GOMAXPROCS is set), and with
its default heap floor (--gc-heap-floor), so the in-process figures and the
client API's compare like for like.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var spec bench.NodeSpec
			dec := json.NewDecoder(cmd.InOrStdin())
			dec.DisallowUnknownFields()
			if err := dec.Decode(&spec); err != nil {
				return fmt.Errorf("bench node: read the node spec (JSON) on stdin: %w", err)
			}
			pc, err := chooseProcs(0, os.Getenv("GOMAXPROCS"), false, false)
			if err != nil {
				return err
			}
			pc.apply()
			floor, _, _ := chooseGCHeapFloor(defaultGCHeapFloorMiB, os.Getenv("GOGC"))
			defer startGCHeapFloor(floor)()
			return bench.RunNode(cmd.Context(), spec, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}
