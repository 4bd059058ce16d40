package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/evs"
)

func init() { register(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var (
		quiescent bool
		failed    []string
		live      []string
		max       int
		domainOrd bool
	)
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Check EVS traces against the properties of extended virtual synchrony",
		Long: `Check reads the traces that agents (--trace) or the simulator wrote, one file
per node or several concatenated ("-" reads standard input), and checks every
EVS domain in them against the properties of docs/EVS.md: basic delivery,
configuration changes, self-delivery, failure atomicity, causal, agreed, Safe
and FIFO order, and the group-view rules. It prints each violation on one
line, then a summary.

A process is one incarnation of a node; one that restarted counts as failed.
Name other crashed processes with --failed. With --quiescent (the run ended
after all traffic settled) a live process's last configuration must be
complete too. With --live, check also that exactly those processes converged
on one configuration and delivered everything sent in it (liveness).
With --domain-order, the order fields of fed/ domains are domain-wide
sequence numbers (traces of gateways and the hierarchy) and must grow across
configurations; without it they are judged per configuration, as the ring
positions of site/ domains and of a bare federation ring's traces are.

Exit status: 0 when every property holds, 1 on violations, 2 when a trace
cannot be read.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: 2, err: errors.New("check: name at least one trace file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := evs.Options{Quiescent: quiescent, MaxPerProperty: max, DomainOrder: domainOrd, Failed: make(map[evs.Proc]bool)}
			for _, s := range failed {
				p, err := evs.ParseProc(s)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("check: --failed: %w", err)}
				}
				opts.Failed[p] = true
			}
			var liveProcs []evs.Proc
			for _, s := range live {
				p, err := evs.ParseProc(s)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("check: --live: %w", err)}
				}
				liveProcs = append(liveProcs, p)
			}

			var events []evs.Event
			for _, name := range args {
				more, err := readTrace(cmd.InOrStdin(), name)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				events = append(events, more...)
			}

			vs := evs.Check(events, opts)
			if len(live) > 0 {
				vs = append(vs, evs.CheckConverged(events, liveProcs)...)
			}
			out := cmd.OutOrStdout()
			if err := evs.Report(out, vs); err != nil {
				return err
			}
			n := evs.Count(vs)
			s := "s"
			if n == 1 {
				s = ""
			}
			if _, err := fmt.Fprintf(out, "checked %s: %d violation%s\n", evs.Summarize(events), n, s); err != nil {
				return err
			}
			if n > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&quiescent, "quiescent", false, "the run ended after all traffic settled: live processes' last configurations must be complete")
	f.StringSliceVar(&failed, "failed", nil, "processes (node/inc) known to have crashed, comma-separated or repeated")
	f.StringSliceVar(&live, "live", nil, "processes (node/inc) up at the end: also check that they converged (liveness)")
	f.BoolVar(&domainOrd, "domain-order", false, "fed/ domains' order fields are domain-wide sequence numbers: they must grow across configurations")
	f.IntVar(&max, "max", evs.DefaultMaxPerProperty, "violations listed per property (-1: all)")
	return cmd
}

// readTrace reads one trace file, or standard input for "-".
func readTrace(stdin io.Reader, name string) ([]evs.Event, error) {
	if name == "-" {
		return evs.Read(stdin, "stdin")
	}
	es, err := evs.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return es, nil
}
