// Package snmp is the Atoll agent's AgentX subagent (RFC 2741): it
// registers ATOLL-MIB (deploy/snmp/ATOLL-MIB.txt) with an SNMP master
// agent such as net-snmp's snmpd, and answers its requests from the
// agent's status and group table, so that SNMP managers read the same
// numbers as `atoll status` and the metrics.
//
// The subagent keeps its session up: when the master is unreachable or
// restarts, it logs one line and tries again with a growing delay, and
// logs one line when it is registered again.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/agent"
)

// Source is what the subagent reads: an *agent.Agent.
type Source interface {
	Status() agent.Status
	Groups(ctx context.Context) ([]agent.GroupInfo, error)
}

// Config configures a Subagent.
type Config struct {
	// Master is the master agent's AgentX socket, as net-snmp's
	// agentXSocket names it: tcp:HOST:PORT, unix:PATH, or an absolute
	// PATH of a Unix socket.
	Master string
	// Source is the agent whose state the subagent serves.
	Source Source
	// Logger gets the subagent's log lines (default slog.Default()).
	Logger *slog.Logger
	// Timeout bounds connecting, the master's answers to Open and
	// Register, and each write; it is also the session's timeout the
	// master waits for an answer (whole seconds, default 5s).
	Timeout time.Duration
	// CacheFor is how long one reading of the agent's state answers the
	// master's requests (default 1s; negative: every request reads the
	// agent): a walk then sees one consistent snapshot, and a table of
	// thousands of groups is read from the agent once, not once per row.
	CacheFor time.Duration
	// MinRetry and MaxRetry bound the delay between connection attempts:
	// it starts at MinRetry and doubles up to MaxRetry (defaults 1s and
	// 30s).
	MinRetry, MaxRetry time.Duration
}

// Subagent serves ATOLL-MIB to one master agent.
type Subagent struct {
	cfg              Config
	network, address string
	log              *slog.Logger
	descr            string
	snaps            *snapshots
}

// ParseMaster splits an AgentX socket address (Config.Master) into a
// network and an address for net.Dial.
func ParseMaster(s string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(s, "tcp:"):
		address = strings.TrimPrefix(s, "tcp:")
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", fmt.Errorf("AgentX master %q: %w; write tcp:HOST:PORT, e.g. tcp:localhost:705", s, err)
		}
		return "tcp", address, nil
	case strings.HasPrefix(s, "unix:") && len(s) > len("unix:"):
		return "unix", strings.TrimPrefix(s, "unix:"), nil
	case strings.HasPrefix(s, "/"):
		return "unix", s, nil
	}
	return "", "", fmt.Errorf("AgentX master %q: write tcp:HOST:PORT (e.g. tcp:localhost:705) or unix:PATH (e.g. unix:/var/agentx/master), as snmpd.conf's agentXSocket", s)
}

// New checks cfg and returns a subagent; Run connects it.
func New(cfg Config) (*Subagent, error) {
	if cfg.Source == nil {
		return nil, errors.New("snmp: Config.Source is nil")
	}
	network, address, err := ParseMaster(cfg.Master)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.Timeout = max(cfg.Timeout.Round(time.Second), time.Second) // the Open PDU carries whole seconds
	if cfg.CacheFor == 0 {
		cfg.CacheFor = time.Second
	}
	if cfg.MinRetry <= 0 {
		cfg.MinRetry = time.Second
	}
	if cfg.MaxRetry < cfg.MinRetry {
		cfg.MaxRetry = max(30*time.Second, cfg.MinRetry)
	}
	st := cfg.Source.Status()
	log := cfg.Logger.With("master", cfg.Master)
	return &Subagent{
		cfg: cfg, network: network, address: address, log: log,
		descr: fmt.Sprintf("Atoll agent %s (site %s)", st.Node, st.Site),
		snaps: &snapshots{src: cfg.Source, ttl: cfg.CacheFor, log: log},
	}, nil
}

// Run keeps a session with the master agent until ctx ends, then closes
// it. It logs one line when the master becomes unreachable (or refuses
// the registration) and one when the subagent is registered again.
func (s *Subagent) Run(ctx context.Context) {
	delay := s.cfg.MinRetry
	reported := false   // the current outage is logged
	registered := false // a session was registered before
	for ctx.Err() == nil {
		err := s.session(ctx, func() {
			if registered {
				s.log.Info("AgentX: registered again with the master agent", "subtree", Root.String())
			} else {
				s.log.Info("AgentX: registered with the master agent; SNMP managers can read ATOLL-MIB", "subtree", Root.String())
			}
			registered, reported, delay = true, false, s.cfg.MinRetry
		})
		if ctx.Err() != nil {
			return
		}
		if !reported {
			s.log.Warn("AgentX: the master agent is unreachable; SNMP managers see no ATOLL-MIB until it is back (retrying in the background, up to every "+s.cfg.MaxRetry.String()+"): check that snmpd runs with 'master agentx' and 'agentXSocket "+s.cfg.Master+"'", "err", err)
			reported = true
		} else {
			s.log.Debug("AgentX: the master agent is still unreachable", "err", err, "retry_in", delay)
		}
		// Jitter keeps the agents of a host from reconnecting in step.
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, s.cfg.MaxRetry)
	}
}

// session connects, opens and registers a session, calls registered and
// serves the master until the session fails (its error) or ctx ends.
func (s *Subagent) session(ctx context.Context, registered func()) error {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, s.network, s.address)
	if err != nil {
		return err
	}
	ss := &session{conn: conn, timeout: s.cfg.Timeout, snaps: s.snaps}
	// A master that accepts and does not answer holds Open up to the
	// timeout: ctx ends it sooner.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = ss.open(s.descr)
	if !stop() || err != nil {
		conn.Close()
		return err
	}
	registered()
	if err := ss.serve(ctx); ctx.Err() == nil {
		conn.Close()
		return err
	}
	ss.shutdown()
	return nil
}
