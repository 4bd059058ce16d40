package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
)

func init() {
	register(newInspectCmd)
	register(newAdminCmd)
}

// inspectResource is one resource of `atoll inspect`.
type inspectResource struct {
	name, short, jsonHelp string
	// run fetches and prints the resource (show).
	run func(cmd *cobra.Command, c *agent.Client, out *readFlags) error
}

// showResource is the run of a resource that show prints.
func showResource[T any](fetch func(*agent.Client, context.Context) (*T, error), table func(io.Writer, *T, time.Time)) func(*cobra.Command, *agent.Client, *readFlags) error {
	return func(cmd *cobra.Command, c *agent.Client, out *readFlags) error {
		_, err := show(cmd, out, func(ctx context.Context) (*T, error) { return fetch(c, ctx) },
			func(w io.Writer, v *T) { table(w, v, time.Now()) })
		return err
	}
}

var inspectResources = []inspectResource{
	{"ring", "The local ring: id, members, token rotation, retransmissions, flow control", "agent.RingInfo",
		showResource((*agent.Client).Ring, writeRing)},
	{"groups", "The groups with members, their views and members", `{"node", "groups": [{"name", "view_id", "members"}]}`,
		showResource((*agent.Client).Groups, writeGroups)},
	{"clients", "The agent's client sessions: their groups and queue depths", `{"node", "clients": [...]}`,
		showResource((*agent.Client).Clients, writeClients)},
	{"federation", "The federation domains of the node's site: gateways, the active one, the rings this node runs", "agent.FederationInfo",
		showResource((*agent.Client).Federation, writeFederation)},
	{"plan", "The plan the agent runs with, its hash and its domains' configuration hashes", `{"hash", "domains", "plan"}`,
		showResource((*agent.Client).Plan, writePlan)},
	{"events", "Recent membership changes of the local ring (--watch follows them)", `{"node", "events": [...]}`, showEvents},
}

func newInspectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect RESOURCE [-o table|json] [--watch]",
		Short: "Show one resource of the local agent: ring, groups, clients, federation, plan or events",
		Long: `Inspect reads one resource of the agent's introspection API (docs/OPERATIONS.md),
over its admin socket (--data-dir or --admin-socket: the agent's user, root,
or a member of its --operators-group) or its HTTP listener (--api-url with
--api-token-file). Status, members and console read the same API, so they
never disagree. -o json prints the API's object; --watch prints it again
every --interval, in place, until interrupted.

Exit status: 0, 1 when the agent refuses (the message says why), 3 when no
agent answers, 64 for a usage error.`,
		Example: `  atoll inspect ring
  atoll inspect clients --watch
  atoll inspect events --watch
  atoll inspect plan -o json | jq -r .hash`,
	}
	for _, r := range inspectResources {
		var api apiFlags
		var out readFlags
		sub := &cobra.Command{
			Use:   r.name + " [-o table|json] [--watch]",
			Short: r.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := out.check("inspect " + r.name); err != nil {
					return err
				}
				c, err := api.client()
				if err != nil {
					return err
				}
				return apiError(r.run(cmd, c, &out))
			},
		}
		api.add(sub)
		out.add(sub, r.jsonHelp)
		usageExits(sub)
		cmd.AddCommand(sub)
	}
	usageExits(cmd)
	return cmd
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Millisecond).String() + " ago"
}

func writeRing(w io.Writer, r *agent.RingInfo, now time.Time) {
	id := r.ID
	if id == "" {
		id = "none yet"
	}
	fmt.Fprintf(w, "ring %s (%s, %s), formed %s, seen from %s\n", id, r.Health, r.State, ago(now, r.Since), r.Node)
	writeNodes(w, r.Members, now)
	fmt.Fprintf(w, "rotation     mean %v over %d rotations\n", r.MeanRotation, r.Rotation.Count)
	fmt.Fprintf(w, "messages     %d sent, %d delivered\n", r.MessagesSent, r.MessagesDelivered)
	fmt.Fprintf(w, "retransmits  %d packets resent, %d requested, %d token retransmits, %d token losses\n",
		r.Retransmits, r.RetransmitRequests, r.TokenRetransmits, r.TokenLosses)
	fc := &r.FlowControl
	fmt.Fprintf(w, "flow control window %d packets, %d per visit; %d pending in the ring, %d queued for it, %d in the group layer (bound %d); %d refused, %d holds for slow readers, %d stall holds\n",
		fc.WindowPackets, fc.MaxPacketsPerVisit, fc.Pending, fc.Queued, fc.GroupPending, fc.SendQueueMsgs, fc.Backpressure, fc.ClientsHeld, fc.StallHolds)
}

func writeGroups(w io.Writer, g *agent.GroupsReply, _ time.Time) {
	fmt.Fprintf(w, "%d groups with members, seen from %s\n", len(g.Groups), g.Node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tVIEW\tN\tLOCAL\tDELIVERED\tMEMBERS (oldest first)")
	for _, gi := range g.Groups {
		view := gi.ViewID
		if gi.Transitional {
			view += " (transitional)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", gi.Name, view, len(gi.Members), gi.LocalMembers, gi.Delivered, strings.Join(gi.Members, " "))
	}
	tw.Flush()
}

func writeClients(w io.Writer, c *agent.ClientsReply, now time.Time) {
	fmt.Fprintf(w, "%d clients of agent %s\n", len(c.Clients), c.Node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tVIA\tPEER\tQUEUED FRAMES\tQUEUED BYTES\tOVER BOUND\tGROUPS")
	for _, ci := range c.Clients {
		over := "no"
		if !ci.OverSince.IsZero() {
			over = "since " + ago(now, ci.OverSince)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", ci.Name, ci.Via, dash(ci.Peer), ci.QueuedFrames, ci.QueuedBytes, over, dash(strings.Join(ci.Groups, " ")))
	}
	tw.Flush()
}

func writeFederation(w io.Writer, f *agent.FederationInfo, _ time.Time) {
	if len(f.Domains) == 0 {
		fmt.Fprintln(w, "the node's site is in no federation domain of the plan")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSITES\tSITE'S GATEWAYS\tACTIVE\tRUN HERE")
	for _, d := range f.Domains {
		run := "no"
		if d.Running {
			run = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, strings.Join(d.Sites, " "), dash(strings.Join(d.Gateways, " ")), dash(d.Active), run)
	}
	tw.Flush()
	if len(f.Rings) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEDERATION RING\tSTATE\tRING\tSITES\tMISSING\tDELIVERED")
	for _, r := range f.Rings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.Domain, r.State, dash(r.Ring), dash(strings.Join(r.Members, " ")), dash(strings.Join(r.Missing, " ")), r.Delivered)
	}
	tw.Flush()
}

func writePlan(w io.Writer, p *agent.PlanInfo, _ time.Time) {
	fmt.Fprintf(w, "plan hash %s (-o json for the plan)\n", p.Hash)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tKIND\tCONFIG HASH")
	for _, d := range p.Domains {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, d.Kind, d.ConfigHash)
	}
	tw.Flush()
}

// writeEvents prints events, with a header when header is set.
func writeEvents(w io.Writer, evs []agent.MembershipEvent, header bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "#\tTIME\tEVENT\tRING\tDETAIL")
	}
	for _, e := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format("15:04:05.000"), e.Kind, dash(e.Ring), eventDetail(&e))
	}
	tw.Flush()
}

// eventDetail says what a membership event is about.
func eventDetail(e *agent.MembershipEvent) string {
	var parts []string
	if e.Member != "" {
		parts = append(parts, "member "+e.Member)
	}
	if len(e.Members) > 0 {
		parts = append(parts, "members "+strings.Join(e.Members, " "))
	}
	if len(e.Missing) > 0 {
		parts = append(parts, "missing "+strings.Join(e.Missing, " "))
	}
	if e.Reason != "" {
		parts = append(parts, "reason: "+e.Reason)
	}
	return dash(strings.Join(parts, "; "))
}

// showEvents prints the recent membership events; with --watch it
// follows them, printing each new one once.
func showEvents(cmd *cobra.Command, c *agent.Client, out *readFlags) error {
	w := cmd.OutOrStdout()
	if !out.watch {
		_, err := show(cmd, out, func(ctx context.Context) (*agent.EventsReply, error) { return c.Events(ctx, 0) },
			func(w io.Writer, r *agent.EventsReply) { writeEvents(w, r.Events, true) })
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var last uint64
	header := out.output == "table"
	for {
		r, err := c.Events(ctx, last)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "atoll:", err)
		} else if len(r.Events) > 0 {
			if out.output == "json" {
				enc := json.NewEncoder(w)
				for _, e := range r.Events {
					enc.Encode(e)
				}
			} else {
				writeEvents(w, r.Events, header)
				header = false
			}
			last = r.Events[len(r.Events)-1].Seq
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(out.interval):
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin COMMAND",
		Short: "Change a running agent: evict a client, set the log level, hand a gateway over",
		Long: `Admin changes the running agent through its introspection API; it needs the
admin role: the agent's user or root over the admin socket, or the admin
token over HTTP (--api-url, --api-token-file).

Exit status: 0 done, 1 refused (not allowed, no such client or domain,
a handover refused, not supported: the message says why), 3 no agent
answers, 64 usage error.`,
	}
	var reason string
	evict := adminCommand("evict CLIENT [--reason TEXT]", "Disconnect a client of the agent (its memberships end as on a disconnect)", cobra.ExactArgs(1),
		func(ctx context.Context, c *agent.Client, w io.Writer, args []string) error {
			if err := c.EvictClient(ctx, args[0], reason); err != nil {
				return err
			}
			fmt.Fprintf(w, "client %s evicted\n", args[0])
			return nil
		})
	evict.Flags().StringVar(&reason, "reason", "", "why, told to the client and logged")
	logLevel := adminCommand("log-level [debug|info|warn|error]", "Show or set the agent's log level", cobra.MaximumNArgs(1),
		func(ctx context.Context, c *agent.Client, w io.Writer, args []string) error {
			if len(args) == 1 {
				if err := c.SetLogLevel(ctx, args[0]); err != nil {
					return err
				}
			}
			lv, err := c.LogLevel(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "log level %s%s\n", lv.Level, fixedLevel(lv))
			return nil
		})
	var to string
	handover := adminCommand("handover DOMAIN [--to NODE]", "Hand the site's active gateway role for a federation domain to another gateway of the site (default: the next in takeover order)", cobra.ExactArgs(1),
		func(ctx context.Context, c *agent.Client, w io.Writer, args []string) error {
			r, err := c.Handover(ctx, args[0], to)
			if err != nil {
				return err
			}
			printHandover(w, r)
			return nil
		})
	handover.Flags().StringVar(&to, "to", "", "the gateway to hand the role to (a gateway of the site for the domain, in the local ring)")
	handover.Long = `Handover moves the site's active gateway role for a federation domain from
the active gateway to another gateway of the site, by a message every node
of the site's local ring applies at the same point of its stream: the old
gateway's federation ring member stops, the new one's joins with a higher
incarnation, and the site leaves the domain's configuration and joins it
again, as at a failover (no message of a connected member is lost or
duplicated). Any node of the site may ask. It prints the outcome once the
ring agreed, or that the request is on its way.

The role stays where it was handed while its gateway stays in the local
ring and no node joins the ring; at a configuration that a node joins (it
could not know of the handover) the plan's takeover order applies again.
Refused (exit 1, with the reason) when the domain is not one of the site's,
no other gateway of the site is in the local ring, or the local ring is
changing.`
	cmd.AddCommand(evict, logLevel, handover)
	return cmd
}

// printHandover prints the outcome of a handover request.
func printHandover(w io.Writer, r *agent.HandoverReply) {
	if !r.Agreed {
		fmt.Fprintf(w, "domain %s, site %s: handover from %s to %s submitted, not agreed yet\n%s\n", r.Domain, r.Site, r.From, r.To, r.Note)
		return
	}
	fmt.Fprintf(w, "domain %s, site %s: gateway role moved from %s to %s (local ring %s, handover %d in it, incarnation %d)\n%s\n",
		r.Domain, r.Site, r.From, r.To, r.LocalRing, r.Epoch, r.Incarnation, r.Note)
}

// fixedLevel says when the agent's log level cannot be changed.
func fixedLevel(lv *agent.LogLevelReply) string {
	if lv.Changeable {
		return ""
	}
	return " (fixed: the agent was started without a changeable level)"
}

// adminCommand is one subcommand of admin.
func adminCommand(use, short string, args cobra.PositionalArgs, do func(context.Context, *agent.Client, io.Writer, []string) error) *cobra.Command {
	var api apiFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api.client()
			if err != nil {
				return err
			}
			return apiError(do(cmd.Context(), c, cmd.OutOrStdout(), args))
		},
	}
	api.add(cmd)
	usageExits(cmd)
	return cmd
}
