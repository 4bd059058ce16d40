package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newValidateCmd) }

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files and report every mistake with its line and column",
		Long: `Validate reads topology files ("-" reads standard input) and reports every
mistake at once, one per line, as

  file:line:col: field.path: what is wrong; how to fix it

It checks the YAML (strictly: unknown keys are mistakes), the values,
duplicate names and ids, references between sites, nodes, gateways, classes
and groups, bind address templates, multicast groups and ports, and what
the planner cannot do: budgets that cannot be met, sites with no links
between them, links too thin for their traffic. The file format is in
docs/TOPOLOGY.md.

Exit status: 0 when every file is valid, 1 otherwise.`,
		Example: `  atoll validate /etc/atoll/topology.yaml
  atoll validate deploy/examples/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				f, err := loadTopology(path, cmd.InOrStdin())
				if err == nil {
					p := f.Plan()
					fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %s, %s, %s\n", path,
						nounCount(len(f.Sites), "site"), nounCount(len(f.Groups), "group"), nounCount(len(p.Domains), "domain"))
					continue
				}
				bad++
				printMistakes(cmd.ErrOrStderr(), err)
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d topology files are invalid", bad, len(args))}
			}
			return nil
		},
	}
}

// loadTopology reads, decodes and validates a topology file; "-" is
// standard input.
func loadTopology(path string, stdin io.Reader) (*topology.File, error) {
	if path != "-" {
		return topology.Load(path)
	}
	data, err := io.ReadAll(io.LimitReader(stdin, topology.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("topology: reading standard input: %w", err)
	}
	return topology.Parse("<stdin>", data)
}

// printMistakes prints one line per mistake of an ErrorList, or the error.
func printMistakes(w io.Writer, err error) {
	var list topology.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		fmt.Fprintf(w, "%s: %s\n", list[0].File, nounCount(len(list), "mistake"))
		return
	}
	fmt.Fprintln(w, err)
}

// nounCount returns "1 site", "2 sites".
func nounCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
