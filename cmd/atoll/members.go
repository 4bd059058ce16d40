package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
)

func init() { register(newMembersCmd) }

func newMembersCmd() *cobra.Command {
	var api apiFlags
	var out readFlags
	var group, clientSocket string
	cmd := &cobra.Command{
		Use:   "members [--group G] [--data-dir DIR | --admin-socket PATH | --api-url URL] [-o table|json] [--watch]",
		Short: "List the site's nodes as the local agent sees them, or a group's members",
		Long: `Members asks the agent running with --data-dir for the nodes of its site and
prints one line per node: whether it is in the agent's ring, its incarnation,
the address its packets come from, and when it was last heard: its own
last packet, or "(ring)" the ring's last packet, which passed it (on an
idle ring only the token moves, and it comes from one neighbour).
--watch prints them again every --interval, in place, until interrupted.

Exit status as for 'atoll status': 0 healthy, 1 degraded, 2 not in a ring,
3 no agent answers, 64 usage error.

With --group it lists the members of a group instead, through the agent's
client socket: the group's current view (its id, and the transitional view
during a ring change) with its members oldest first, the first being the
group's natural leader. Exit status 1 when the group has no members, 3 when
no agent answers.`,
		Example: `  atoll members
  atoll members --data-dir /tmp/lab-2 -o json
  atoll members --group orders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check("members"); err != nil {
				return err
			}
			if group != "" {
				f := &clientFlags{dataDir: api.dataDir, socket: clientSocket, output: out.output}
				if out.output == "table" {
					f.output = "text"
				}
				return groupMembers(cmd, f, &out, group)
			}
			c, err := api.client()
			if err != nil {
				return err
			}
			m, err := show(cmd, &out, c.Members, func(w io.Writer, m *agent.MembersReply) { writeMembers(w, m, time.Now()) })
			if err != nil {
				return apiError(err)
			}
			if m != nil && m.Health != agent.Healthy {
				return &exitError{code: int(m.Health)}
			}
			return nil
		},
	}
	api.add(cmd)
	out.add(cmd, "the site's nodes, indented")
	cmd.Flags().StringVar(&group, "group", "", "list the members of this group instead of the ring's nodes")
	cmd.Flags().StringVar(&clientSocket, "socket", "", "with --group: the agent's client socket (default DATA-DIR/"+agent.ClientSocketName+")")
	usageExits(cmd)
	return cmd
}

func writeMembers(w io.Writer, m *agent.MembersReply, now time.Time) {
	ring := m.Ring
	if ring == "" {
		ring = "none"
	}
	fmt.Fprintf(w, "ring %s (%s), seen from %s\n", ring, m.Health, m.Node)
	writeNodes(w, m.Members, now)
}

// writeNodes prints the table of a ring's nodes.
func writeNodes(w io.Writer, members []agent.MemberStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tIN RING\tINCARNATION\tADDRESS\tLAST HEARD")
	for _, ms := range members {
		in := "no"
		if ms.InRing {
			in = "yes"
		}
		if !ms.Configured {
			in += " (not in the topology file)"
		}
		heard := "never"
		switch {
		case ms.Self:
			heard = "self"
		case !ms.LastHeard.IsZero():
			heard = now.Sub(ms.LastHeard).Round(time.Millisecond).String() + " ago"
			if ms.HeardVia == "ring" {
				heard += " (ring)"
			}
		}
		inc, addr := "-", ms.Address
		if ms.Incarnation != 0 {
			inc = fmt.Sprint(ms.Incarnation)
		}
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ms.ID, in, inc, addr, heard)
	}
	tw.Flush()
}
