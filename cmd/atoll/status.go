package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var api apiFlags
	var out readFlags
	cmd := &cobra.Command{
		Use:   "status [--data-dir DIR | --admin-socket PATH | --api-url URL] [-o table|json] [--watch]",
		Short: "Show the local agent's ring, members and health",
		Long: `Status asks the agent running with --data-dir (through the Unix socket
admin.sock there, or --admin-socket) for its state and prints it: health,
protocol state, the installed ring and since when, the configured nodes
missing from it, transport, security, the effective configuration (version,
topology file, data dir, listeners, ring timings and their preset) and
counters. It reads the agent's introspection API (docs/OPERATIONS.md), over
the admin socket or, with --api-url, over HTTP. --watch prints it again
every --interval, in place, until interrupted (exit status 0).

Exit status, for monitoring:
  0   healthy: operational in a ring with every node the topology file puts
      in the site
  1   degraded: in a ring that lacks some of them
  2   not in a ring (starting, forming a ring, stopped)
  3   no agent answers: no socket, connection refused, or permission denied
      (the admin socket is for the agent's user and root); the message says
      which
  64  usage error (an unknown flag, a bad --output)`,
		Example: `  atoll status
  atoll status --data-dir /tmp/lab-2 -o json | jq .counters
  atoll status --watch
  atoll status --api-url http://127.0.0.1:9406 --api-token-file /etc/atoll/read.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check("status"); err != nil {
				return err
			}
			c, err := api.client()
			if err != nil {
				return err
			}
			st, err := show(cmd, &out, c.Status, func(w io.Writer, st *agent.Status) { writeStatus(w, st, time.Now()) })
			if err != nil {
				return apiError(err)
			}
			if st != nil && st.Health != agent.Healthy {
				return &exitError{code: int(st.Health)}
			}
			return nil
		},
	}
	api.add(cmd)
	out.add(cmd, "the agent's Status, indented")
	usageExits(cmd)
	return cmd
}

func writeStatus(w io.Writer, st *agent.Status, now time.Time) {
	fmt.Fprintf(w, "node       %s (site %s, cluster %s, incarnation %d)\n", st.Node, st.Site, st.Cluster, st.Incarnation)
	health := st.Health.String()
	if st.Reason != "" {
		health += ": " + st.Reason
	}
	fmt.Fprintf(w, "health     %s\n", health)
	fmt.Fprintf(w, "state      %s\n", st.State)
	if st.Ring != "" {
		fmt.Fprintf(w, "ring       %s, formed %s ago\n", st.Ring, now.Sub(st.RingSince).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "ring       none yet\n")
	}
	var in []string
	configured := 0
	for _, m := range st.Members {
		if m.InRing {
			in = append(in, m.ID)
		}
		if m.Configured {
			configured++
		}
	}
	fmt.Fprintf(w, "members    %d of %d configured: %s\n", len(in), configured, strings.Join(in, " "))
	if len(st.Missing) > 0 {
		fmt.Fprintf(w, "missing    %s\n", strings.Join(st.Missing, " "))
	}
	fmt.Fprintf(w, "transport  %s\n", st.Transport)
	fmt.Fprintf(w, "security   %s\n", st.Security)
	writeEffective(w, &st.Config)
	c := &st.Counters
	fmt.Fprintf(w, "messages   %d sent, %d delivered, %d waiting to be sent\n", c.MessagesSent, c.MessagesDelivered, c.Pending+c.Queued)
	fmt.Fprintf(w, "packets    %d in, %d out, %d retransmitted\n", c.PacketsIn, c.PacketsOut, c.Retransmits)
	fmt.Fprintf(w, "rejected   %d (wrong key %d, other settings %d, failed authentication %d, replays %d, unknown nodes %d)\n",
		c.Rejected(), c.RejectWrongKey, c.RejectMismatch, c.RejectAuth, c.RejectReplay, c.UnknownSender)
	fmt.Fprintf(w, "membership %d rings installed, %d token losses\n", c.RingsInstalled, c.TokenLosses)
	if r := &st.TokenRotation; r.Count > 0 {
		fmt.Fprintf(w, "rotation   token rotation %v on average over %d rotations\n", (r.Sum / time.Duration(r.Count)).Round(time.Microsecond), r.Count)
	}
	if l := st.ClientLimits; l.WindowMsgs > 0 {
		fmt.Fprintf(w, "clients    %d open, %d evicted; window %d msgs or %d bytes each, send queue %d msgs or %d bytes, client queue %d frames or %d bytes (grace %v)\n",
			c.Clients, c.ClientsEvicted, l.WindowMsgs, l.WindowBytes, l.SendQueueMsgs, l.SendQueueBytes, l.QueueFrames, l.QueueBytes, l.SlowGrace)
	}
	if st.PlanHash != "" {
		fmt.Fprintf(w, "plan       %s\n", st.PlanHash)
	}
	for _, d := range st.Domains {
		conf := d.Configuration
		if conf == "" {
			conf = "none yet"
		} else if d.Round {
			conf += " (waiting for sites to announce their nodes)"
		}
		role := d.Role
		if d.Endpoint != "" {
			role += " at " + d.Endpoint
		}
		fmt.Fprintf(w, "domain     %s: %s (active gateway %s); sites %s connected of %s; configuration %s, %d nodes; position %s, %d waiting to come down; %d of %d messages unneeded here%s\n",
			d.Domain, role, noneIfEmpty(d.Active), noneIfEmpty(strings.Join(d.Connected, " ")), strings.Join(d.Sites, " "), conf, d.Members, d.Position, d.Pending,
			d.Unneeded, d.Messages, unneededAs(d.UnneededAs))
	}
	if !st.Started.IsZero() {
		fmt.Fprintf(w, "up         %s\n", now.Sub(st.Started).Round(time.Second))
	}
}

// unneededAs says how the site's ring carries a domain's messages that no
// member at the site needs (topology federation.unneeded).
func unneededAs(how string) string {
	switch how {
	case "":
		return "" // an agent from before the setting was reported
	case topology.UnneededFull:
		return ", brought down in full (federation.unneeded: full)"
	default:
		return ", brought down as stubs without their data (federation.unneeded: " + how + ")"
	}
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// writeEffective prints the effective configuration of Status.
func writeEffective(w io.Writer, e *agent.Effective) {
	version := e.Version
	if version == "" {
		version = "unknown"
	}
	fmt.Fprintf(w, "version    %s\n", version)
	if e.ConfigFile != "" {
		fmt.Fprintf(w, "config     %s\n", e.ConfigFile)
	}
	fmt.Fprintf(w, "data dir   %s\n", e.DataDir)
	listen := []string{"ring udp://" + e.Ring}
	if e.Admin != "" {
		listen = append(listen, "admin "+e.Admin)
	}
	if e.Metrics != "" {
		listen = append(listen, "metrics "+e.Metrics)
	}
	if e.API != "" {
		listen = append(listen, "api "+e.API)
	}
	for _, c := range e.Clients {
		if strings.HasPrefix(c, "tcp") && e.ClientAuth != "" {
			c += " (" + e.ClientAuth + ")"
		}
		listen = append(listen, "clients "+c)
	}
	fmt.Fprintf(w, "listening  %s\n", strings.Join(listen, ", "))
	r := &e.RingSettings
	fmt.Fprintf(w, "ring conf  preset %s, hash %s: token timeout %v, retransmit %v, hold %v; join %v, consensus %v, merge %v; window %d packets, %d per visit; packets up to %d bytes, messages up to %d bytes\n",
		r.Preset, r.ConfigHash, r.TokenTimeout, r.TokenRetransmit, r.TokenHold, r.JoinTimeout, r.ConsensusTimeout, r.MergeTimeout,
		r.WindowPackets, r.MaxPacketsPerVisit, r.MaxPacketBytes, r.MaxMessageBytes)
}
