package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newPlanCmd) }

func newPlanCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "plan FILE [-o table|json|dot]",
		Short: "Plan EVS domains, rings, gateways and group placement from a topology file",
		Long: `Plan reads a topology file ("-" reads standard input) and prints the plan:
the EVS domains (one per site, plus federation domains formed per latency
class), each ring's token order, predicted agreed-delivery latency and
derived timeouts, the active and standby gateways of every site in every
federation domain, where each group lives and why, the RTTs assumed between
sites, and what could not be planned, with the numbers and a fix.

Formats: table (for people), json (for tools), dot (a Graphviz picture:
atoll plan FILE -o dot | dot -Tsvg > plan.svg). The latency model and the
algorithms are described in docs/PLANNER.md.

Exit status: 0 for a plan without rejections; 1 when the file has mistakes
(they are printed and no plan is made) or the plan has rejections (the plan
is printed with them).`,
		Example: `  atoll plan deploy/examples/europe-asia.yaml
  atoll plan deploy/examples/europe-asia.yaml -o json | jq '.groups[] | {group, domain}'
  atoll plan deploy/examples/hub-and-spoke.yaml -o dot | dot -Tsvg > plan.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := topology.ParseFormat(output)
			if err != nil {
				return err
			}
			f, err := loadTopology(args[0], cmd.InOrStdin())
			var list topology.ErrorList
			if err != nil && !errors.As(err, &list) || f == nil {
				printMistakes(cmd.ErrOrStderr(), err)
				return &exitError{code: 1, err: fmt.Errorf("no plan for %s", args[0])}
			}
			if mistakes := f.Check(); len(mistakes) > 0 {
				printMistakes(cmd.ErrOrStderr(), mistakes)
				return &exitError{code: 1, err: fmt.Errorf("no plan for %s: fix its mistakes first", args[0])}
			}
			p := f.Plan()
			if err := p.Write(cmd.OutOrStdout(), format); err != nil {
				return err
			}
			if n := len(p.Rejections); n > 0 {
				if format != topology.FormatTable {
					for _, r := range p.Rejections {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d:%d: %s: %s; %s\n", f.Name(), r.Line, r.Col, r.Path, r.Msg, r.Fix)
					}
				}
				return &exitError{code: 1, err: fmt.Errorf("the plan for %s has %s", args[0], nounCount(n, "rejection"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output `format`: table, json or dot")
	return cmd
}
