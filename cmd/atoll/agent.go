package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/agent/snmp"
	"github.com/atoll-gcs/atoll/internal/sdnotify"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newAgentCmd) }

// defaultDataDir is the agent's data dir when --data-dir is not given, and
// where status and members look for its admin socket.
const defaultDataDir = "/var/lib/atoll"

// defaultBusyRotation is --busy-rotation's default
// (localring.Config.BusyRotation): the representative of a ring that
// rotates faster than this with a few messages a visit keeps the token
// until the rotation has lasted this long. On the 2-core benchmark host,
// under SCHED_RR with the agents at 99 and their clients at 98 (as
// compare.sh ran them until 2026-12-07; docs/OPERATIONS.md, "Scheduling
// the agent and its clients", now advises one priority for both), a token
// passed on at once rotated 1,800-3,300 times a second with 16-21
// messages a visit from one sender: the agents, preempting the sending
// client at every hop, took the CPU it needed to refill the visit. With
// 1 ms the visits carried 37-51 messages, and one sender delivered 16-44 %
// more at 15-33 % less CPU per message with a lower p99, in every
// interleaved round (docs/BENCHMARKS.md, history, 2026-12-06). It stays
// far below half the token retransmit interval of every preset and plan
// (47.6 ms or more).
const defaultBusyRotation = time.Millisecond

// defaultIdleLinger is --idle-linger's default
// (localring.Config.IdleLinger): 1 ms since 2026-12-07, off before. On the
// 2-core benchmark host, with every node sending 333 msgs/s through the
// client API, 1 ms lowered the median in 12 of 16 interleaved pairs (by
// 60 us, the median of the pairs' differences) and the p99 in 11 of 16,
// encrypted the median in 7 of 10 (25 us), for a quarter to three-quarters
// more CPU per message at that rate; full load, half of the maximum, one
// sender (the representative) and an idle ring did not change. 2-5 ms had
// cost 1.6-3.3 times the CPU per message for 40-140 us (docs/OPERATIONS.md,
// "A member's message on a quiet ring"; docs/BENCHMARKS.md, history, "A
// linger of 1 ms").
const defaultIdleLinger = time.Millisecond

func newAgentCmd() *cobra.Command {
	var (
		configPath, node, dataDir, trace, keyFile, adminSocket string
		metricsListen, agentX                                  string
		api                                                    agent.API
		apiCert, apiKey                                        string
		preset, logFormat, logLevel                            string
		fed                                                    agent.Federation
		insecure, udpGSO, udpGRO                               bool
		load                                                   agent.Load
		clients                                                clientListenFlags
		limits                                                 clientLimitFlags
		procs                                                  int
		gcHeapFloorMiB                                         int
		busyRotation, idleLinger                               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "agent --config FILE --node ID",
		Short: "Run the agent: one node of its site's local ring",
		Long: `Agent runs one node of a site's local ring, as the topology file describes
it: the node's site, the site's nodes, its bind address template (resolved on
this host: it must name exactly one address), port, multicast group or
unicast peers, and the security settings.

Packets are encrypted and authenticated with the cluster key (made once with
'atoll keygen' and copied to every node), given with --key or as
security.key_file in the topology file. Security mode none (no protection)
must be confirmed with --insecure.

The ring's timers (token, retransmit, consensus, join and merge-detect
intervals) are the ones 'atoll plan' derives for the site's ring from its
node count, lan_rtt and token_hold; --ring-preset lan or cloud overrides
them with a fixed preset. The agent logs the timings in force at start.

The agent keeps its state (incarnation, ring sequence number) in --data-dir,
which must be its own, and serves 'atoll status' and 'atoll members' on the
Unix socket admin.sock there, with its Prometheus metrics at /metrics
(--metrics-listen also serves them over HTTP on TCP). That socket serves
the introspection API that status, members, inspect, admin and console read
(docs/OPERATIONS.md): the agent's user and root may change the agent, the
members of --operators-group only read it; --http-listen also serves it over
HTTP with the bearer tokens of --http-read-token and --http-admin-token.
With --agentx the agent is also an AgentX subagent of an SNMP master agent such as
snmpd, serving ATOLL-MIB (deploy/snmp/ATOLL-MIB.txt). Applications (package
client; 'atoll join',
'send', 'recv', 'groups') connect to the client socket client.sock there
(mode 0660: the agent's user and group), or with --client-listen over TCP
with TLS (--client-cert, --client-key; --client-ca requires and verifies
client certificates, whose common names are the "cn:" principals of the
topology file's group ACLs). A TCP listener without --client-ca admits
anonymous clients: it must be confirmed with --insecure-clients, and the
agent warns about it at every start. With --trace it appends every configuration
install, send and delivery to FILE as JSON lines for 'atoll check'.

A node listed among its site's gateways for a federation domain of the plan
runs the site's member of that domain's federation ring (QUIC, mutual TLS
with the certificates of 'atoll certs' in --cert-dir) while it is the site's
active gateway: the first of the site's gateways in the local ring. It warns
at start when its certificate expires within 30 days. Groups the plan puts
in a federation domain are delivered at every site of the domain, in the
domain's order; a point-to-point message to a member at another site goes
through the federation domain of the tightest class that holds both
sites, in its order with the sender's multicasts to that domain's groups
(refused when no domain holds both). A Safe message across sites
(multicast or point-to-point) is delivered once every member of every
site of the domain holds it.

On SIGTERM or SIGINT it stops accepting messages, lets its queue drain for
up to a second, and exits with status 0. SIGHUP is logged and otherwise
ignored: reloading the configuration is not implemented yet. It exits with status 1 when it
cannot start: the message says what to fix.`,
		Example: `  atoll agent --config /etc/atoll/atoll.yaml --node fra-1 --key /etc/atoll/atoll.key
  atoll agent --config lab.yaml --node lab-2 --data-dir /tmp/lab-2 --trace /tmp/lab-2.trace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := new(slog.LevelVar)
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel, level)
			if err != nil {
				return err
			}
			f, err := topology.Load(configPath)
			if err != nil {
				var list topology.ErrorList
				if !errors.As(err, &list) {
					return fmt.Errorf("agent: %w", err)
				}
				if f == nil || len(f.Check()) > 0 {
					printMistakes(cmd.ErrOrStderr(), err)
					return fmt.Errorf("agent: cannot start with topology file %s: fix its mistakes first", configPath)
				}
				// Only the planner's rejections (budgets, links): they do
				// not concern a site's local ring.
				log.Warn("the topology file's plan has rejections; run `atoll plan` for them", "file", configPath, "rejections", len(list))
			}
			p, err := agent.ParsePreset(preset)
			if err != nil {
				return err
			}
			cfg, err := agent.FromTopology(f, node, p)
			if err != nil {
				return err
			}
			cfg.DataDir, cfg.TracePath, cfg.Logger, cfg.Load = dataDir, trace, log, load
			cfg.Ring.BusyRotation, cfg.Ring.IdleLinger = busyRotation, idleLinger
			cfg.Transport.NoGSO, cfg.Transport.NoGRO = !udpGSO, !udpGRO
			cfg.Version, cfg.ConfigFile = buildVersion(), configPath
			if abs, err := filepath.Abs(configPath); err == nil {
				cfg.ConfigFile = abs
			}
			if adminSocket != "" {
				cfg.AdminSocket = adminSocket
			}
			cfg.MetricsListen = metricsListen
			cfg.API, cfg.LogLevel = api, level
			if cfg.API.TLS, err = apiTLS(api.HTTPListen, apiCert, apiKey); err != nil {
				return err
			}
			if keyFile != "" {
				cfg.Security.KeyFile = keyFile
			}
			cfg.Security.Insecure = insecure
			fed.File, fed.Plan = f, f.Plan()
			cfg.Federation = &fed
			if err := clients.apply(&cfg); err != nil {
				return err
			}
			limits.apply(&cfg)
			pc, err := chooseProcs(procs, os.Getenv("GOMAXPROCS"), agent.GatewayEligible(fed.Plan, cfg.Site, cfg.Node), clients.listen != "")
			if err != nil {
				return err
			}
			log.Info("threads running Go code at once (GOMAXPROCS)", "node", cfg.Node, "threads", pc.apply(), "why", pc.reason)
			floor, why, err := chooseGCHeapFloor(gcHeapFloorMiB, os.Getenv("GOGC"))
			if err != nil {
				return err
			}
			defer startGCHeapFloor(floor)()
			log.Info("the garbage collector's heap floor", "node", cfg.Node, "mib", floor>>20, "why", why)
			if insecure && cfg.Security.Mode != seal.ModeNone {
				log.Warn("--insecure has no effect: the topology file asks for security mode " + cfg.Security.Mode.String())
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			// SIGHUP's default action kills the process at once, without a
			// graceful leave: the peers would see a token loss. Until reload
			// exists, say so and keep running.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						log.Warn("SIGHUP received: reloading the configuration is not implemented yet; the agent keeps running with the configuration it started with (restart it to apply a change)", "node", cfg.Node, "site", cfg.Site, "config", configPath)
					case <-ctx.Done():
						return
					}
				}
			}()
			if agentX != "" {
				if _, _, err := snmp.ParseMaster(agentX); err != nil {
					return fmt.Errorf("--agentx: %w", err)
				}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			var notifier sync.WaitGroup
			if sdnotify.Enabled() {
				n := systemdNotifier(a, log)
				notifier.Go(func() { n.Run(ctx) })
			}
			if agentX != "" {
				sub, err := snmp.New(snmp.Config{Master: agentX, Source: a, Logger: log})
				if err != nil {
					a.Close()
					return fmt.Errorf("--agentx: %w", err)
				}
				notifier.Go(func() { sub.Run(ctx) })
			}
			err = a.Run(ctx)
			// The notifier says STOPPING=1 and the subagent closes its
			// session when ctx ends; wait for them, or the process may exit
			// first.
			stop()
			notifier.Wait()
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&configPath, "config", "c", "", "the topology file (`FILE`)")
	fl.StringVar(&node, "node", "", "this node's id in the topology file")
	fl.StringVar(&dataDir, "data-dir", defaultDataDir, "the agent's own directory for its state and admin socket")
	fl.StringVar(&trace, "trace", "", "append every install, send and delivery to `FILE` (EVS trace, JSON lines)")
	fl.StringVar(&keyFile, "key", "", "the cluster key `FILE` (overrides security.key_file of the topology file)")
	fl.StringVar(&adminSocket, "admin-socket", "", "the admin API's Unix socket (default DATA-DIR/admin.sock; - for none)")
	fl.StringVar(&metricsListen, "metrics-listen", "", "also serve the Prometheus metrics over HTTP at `HOST:PORT` (GET /metrics only; prefer a loopback or management address)")
	fl.StringVar(&api.OperatorsGroup, "operators-group", "", "a Unix `GROUP` whose members may read the introspection API over the admin socket (status, inspect, console; not change anything)")
	fl.StringVar(&api.HTTPListen, "http-listen", "", "also serve the introspection API over HTTP at `HOST:PORT` (an empty host is 127.0.0.1); needs --http-read-token or --http-admin-token")
	fl.StringVar(&apiCert, "http-cert", "", "serve the --http-listen API over HTTPS with this certificate `FILE` (PEM)")
	fl.StringVar(&apiKey, "http-key", "", "the private key `FILE` (PEM) of --http-cert")
	fl.StringVar(&api.ReadTokenFile, "http-read-token", "", "the `FILE` holding the bearer token of the HTTP API's read-only role (mode 0600)")
	fl.StringVar(&api.AdminTokenFile, "http-admin-token", "", "the `FILE` holding the bearer token of the HTTP API's admin role (mode 0600)")
	fl.StringVar(&agentX, "agentx", "", "also serve ATOLL-MIB as an AgentX subagent of the SNMP master agent at `SOCKET`: tcp:HOST:PORT or unix:PATH, as snmpd.conf's agentXSocket (e.g. tcp:localhost:705, unix:/var/agentx/master)")
	fl.BoolVar(&insecure, "insecure", false, "confirm security mode none: packets travel unauthenticated and in the clear")
	fl.StringVar(&preset, "ring-preset", "plan", "ring timings: plan (the timeouts atoll plan derives for the site's ring; also auto), or a preset that overrides them: lan (token timeout 200ms) or cloud (1s)")
	fl.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&clients.socket, "client-socket", "", "the client protocol's Unix socket (default DATA-DIR/client.sock; - for none)")
	fl.StringVar(&clients.listen, "client-listen", "", "also serve clients over TCP with TLS at `HOST:PORT`")
	fl.StringVar(&clients.cert, "client-cert", "", "the agent's TLS certificate `FILE` (PEM) for --client-listen")
	fl.StringVar(&clients.key, "client-key", "", "the private key `FILE` (PEM) of --client-cert")
	fl.StringVar(&clients.ca, "client-ca", "", "require client certificates signed by the CA in `FILE` (PEM): mutual TLS")
	fl.BoolVar(&clients.anonymous, "insecure-clients", false, "confirm --client-listen without --client-ca: anyone who reaches the port may connect, join groups and send where no ACL forbids it")
	fl.StringVar(&fed.CertDir, "cert-dir", "", "the gateway certificates `DIR` of 'atoll certs' (ca.crt, NODE.crt, NODE.key): a gateway-eligible node runs its site's federation ring member while it is the active gateway")
	fl.StringVar(&fed.Listen, "quic-listen", "", "the UDP `ADDR` of the federation ring of the site's first federation domain; its k-th domain's ring listens at the port plus k (default :PORT of the node's QUIC endpoint in the topology file)")
	fl.StringVar(&fed.TracePath, "fed-trace", "", "append the federation ring's installs, sends and deliveries to `FILE` (EVS trace, domain fed/...)")
	fl.IntVar(&procs, "procs", 0, "threads that may run the agent's Go code at once (GOMAXPROCS); 0: 1 on a node that is not gateway-eligible and serves no TLS clients, the Go runtime's default otherwise or when GOMAXPROCS is set")
	fl.IntVar(&gcHeapFloorMiB, "gc-heap-floor", defaultGCHeapFloorMiB, fmt.Sprintf("while the agent allocates fast, the Go garbage collector lets the heap grow to at least this many `MiB` between its cycles (0: GOGC's goal alone; ignored when GOGC is set): fewer cycles at full load for at most that much more memory; the default keeps an agent at full load under %d MiB resident (docs/OPERATIONS.md, \"Memory\")", agentRSSBudgetMiB))
	fl.DurationVar(&idleLinger, "idle-linger", defaultIdleLinger, "as the ring's representative, keep passing the token on for this long after another member's last message before holding it as idle: a message at another node then waits for the rotating token, not for its wake to reach the representative and the token to come round, for more CPU while members send at a low rate (1 ms: a quarter to three-quarters more per message at 1,000 msgs/s from every node on a 2-core host; 0: hold at once; docs/OPERATIONS.md, \"A member's message on a quiet ring\")")
	fl.DurationVar(&busyRotation, "busy-rotation", defaultBusyRotation, "as the ring's representative, keep the token of a lightly loaded ring (two messages a member or more per rotation, under half the window, no member left with more) until a rotation has lasted this long: fewer token passes and wake-ups per message for up to this much more latency (0: never; below half the token retransmit interval; docs/OPERATIONS.md, \"A lightly loaded ring's cost\")")
	fl.BoolVar(&udpGSO, "udp-gso", true, "in multicast mode, hand the kernel each run of full ring packets as one send that it cuts into datagrams (UDP GSO, Linux 4.18 or later): a node that sends much spends half as much in the kernel's send; a path that refuses such sends turns it off by itself and says so in the log, set false for one that silently loses them (docs/OPERATIONS.md, \"Segmented sends and coalesced receives\")")
	fl.BoolVar(&udpGRO, "udp-gro", true, "in multicast mode, have the kernel hand the ring's group socket the packets of one segmented send (or that the NIC coalesced) as one receive (UDP GRO, Linux 5.0 or later), which the agent splits again: fewer receives, and no cutting of segmented sends in the kernel (docs/OPERATIONS.md, \"Segmented sends and coalesced receives\")")
	limits.add(cmd)
	// The load generator, for tests and benchmarks.
	fl.Float64Var(&load.Rate, "load-rate", 0, "submit this many messages per second (testing)")
	fl.IntVar(&load.Size, "load-size", agent.DefaultLoadSize, "size of the load generator's messages in bytes (testing)")
	fl.StringVar(&load.Svc, "load-svc", "agreed", "service level of the load generator's messages (testing)")
	for _, h := range []string{"load-rate", "load-size", "load-svc"} {
		fl.MarkHidden(h)
	}
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("node")
	return cmd
}

// systemdNotifier tells systemd (Type=notify) that the agent is ready once
// it has installed its first regular configuration, and pings the
// watchdog while the agent's loop keeps running passes.
func systemdNotifier(a *agent.Agent, log *slog.Logger) *sdnotify.Notifier {
	var last time.Time
	return &sdnotify.Notifier{
		Ready: a.Ready(),
		Status: func() string {
			st := a.Status()
			in := 0
			for _, m := range st.Members {
				if m.InRing {
					in++
				}
			}
			return fmt.Sprintf("ring %s formed: %d members, %d configured nodes missing", st.Ring, in, len(st.Missing))
		},
		Alive: func() error {
			p, err := a.Probe() // and asks for the next pass
			if err != nil {
				return err
			}
			if !last.IsZero() && !p.After(last) {
				return fmt.Errorf("agent: the ring loop has run no pass for %v", time.Since(last).Round(time.Millisecond))
			}
			last = p
			return nil
		},
		Logger: log,
	}
}

// apiTLS returns the TLS configuration of the API's HTTP listener from
// --http-cert and --http-key, nil without them.
func apiTLS(listen, cert, key string) (*tls.Config, error) {
	switch {
	case cert == "" && key == "":
		return nil, nil
	case listen == "":
		return nil, fmt.Errorf("agent: --http-cert and --http-key need --http-listen")
	case cert == "" || key == "":
		return nil, fmt.Errorf("agent: give both --http-cert and --http-key, or neither")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("agent: --http-cert %s, --http-key %s: %w", cert, key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// newLogger returns the agent's logger on w, at a level lv holds (which
// `atoll admin log-level` changes).
func newLogger(w io.Writer, format, level string, lv *slog.LevelVar) (*slog.Logger, error) {
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("agent: --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("agent: --log-format %q: use text or json", format)
}

// adminClient returns the admin API client for the --data-dir and
// --admin-socket flags of status and members.
func adminClient(dataDir, socket string) *agent.Client {
	if socket == "" {
		socket = dataDir + "/" + agent.AdminSocketName
	}
	return agent.NewClient(socket)
}

// unreachable is the exit of the commands that talk to an agent when no
// agent answers.
func unreachable(err error) error { return &exitError{code: exitUnreachable, err: err} }

// clientLimitFlags are the agent's bounds of its client sessions' queues
// (agent.Config); zero keeps the default.
type clientLimitFlags struct {
	windowMsgs, windowBytes, queueFrames, queueBytes, sendVisits int
	grace, domainBacklog                                         time.Duration
}

func (f *clientLimitFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.windowMsgs, "client-window", agent.DefaultClientWindowMsgs, "each client's flow-control window: messages sent and not yet accepted")
	fl.IntVar(&f.windowBytes, "client-window-bytes", agent.DefaultClientWindowBytes, "each client's flow-control window in payload bytes")
	fl.IntVar(&f.sendVisits, "send-queue-visits", agent.DefaultSendQueueVisits, "client messages waiting for the ring, in token visits' worth (each what the ring lets this node send at a visit: max packets per visit when it sends alone, its share of the window when others send too)")
	fl.DurationVar(&f.domainBacklog, "domain-backlog", agent.DefaultDomainBacklog, "a site's messages to a federation domain's groups waiting to be ordered, in time at the domain's slowest declared link bandwidth")
	fl.IntVar(&f.queueFrames, "client-queue-frames", agent.DefaultClientQueueFrames, "frames waiting for a client to read them before its grace starts")
	fl.IntVar(&f.queueBytes, "client-queue-bytes", agent.DefaultClientQueueBytes, "bytes waiting for a client to read them before its grace starts")
	fl.DurationVar(&f.grace, "client-slow-grace", agent.DefaultClientSlowGrace, "how long a client's queue may stay over its bound before it is disconnected")
}

func (f *clientLimitFlags) apply(cfg *agent.Config) {
	cfg.ClientWindowMsgs, cfg.ClientWindowBytes, cfg.SendQueueVisits = f.windowMsgs, f.windowBytes, f.sendVisits
	cfg.ClientQueueFrames, cfg.ClientQueueBytes, cfg.ClientSlowGrace = f.queueFrames, f.queueBytes, f.grace
	cfg.DomainBacklog = f.domainBacklog
}
