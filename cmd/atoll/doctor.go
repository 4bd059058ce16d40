package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
	"github.com/atoll-gcs/atoll/topology"
)

func init() { register(newDoctorCmd) }

// doctor's verdicts, in the order of their weight.
const (
	docInfo = "info" // a note: nothing to fix
	docOK   = "ok"
	docWarn = "warn"
	docFail = "FAIL"
)

// doctor collects the checks' lines.
type doctor struct {
	w     io.Writer
	fails int

	// What the checks found out, for the later ones.
	topo    *topology.File
	node    string
	cfg     agent.Config
	keyID   uint32 // the cluster key's id; 0 without a key
	gateway bool   // the node is gateway-eligible
}

func (d *doctor) line(verdict, check, msg string) {
	if verdict == docFail {
		d.fails++
	}
	fmt.Fprintf(d.w, "%-4s  %-12s %s\n", verdict, check, msg)
}

// doctorFlags are the flags of atoll doctor.
type doctorFlags struct {
	configPath, node, keyFile, certDir, procSys string
	dataDir, adminSocket                        string
	probe                                       time.Duration
	probePort                                   int
	noFirewall                                  bool
}

func newDoctorCmd() *cobra.Command {
	var o doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor --config FILE --node ID [--key FILE] [--cert-dir DIR] [--probe DURATION]",
		Short: "Check this host and its ring for what usually goes wrong",
		Long: `Doctor checks, on the host of node --node, what usually keeps a ring
from forming, and says what to do:

  topology      the topology file is valid
  bind          the node's bind template names exactly one address here
  sysctl        the kernel's socket buffer limits (net.core.rmem_max,
                wmem_max) against what the ring's socket asks for
  key           the cluster key: readable, mode 0600, the right length
  mtu           the MTU of the bind address's interface
  clock         whether the kernel says the clock is synchronized (adjtimex)
  certificates  on a gateway-eligible node with --cert-dir: its certificate
                and the CA's, present, valid, not within 30 days of expiry
  quic          on a gateway-eligible node with --cert-dir: a QUIC handshake
                with a gateway of every other site of its federation
                domains (their endpoints answer, with a certificate of the
                cluster CA naming their site); no hello is sent, so the
                running federation ring is not disturbed
  firewall      nftables (or iptables) rules of the input and output hooks
                that drop the ring's UDP port or the gateway's QUIC port
  agent, settings, key, peers, federation
                when the node's agent runs (its admin socket in --data-dir):
                that it runs the topology file's ring settings (their hash)
                and key, the packets it rejected for another key or other
                settings, and which of the site's nodes it hears and has in
                its ring (the multicast reachability the ring sees); on the
                active gateway, the other sites' gateways it is connected to
                over QUIC and the connections refused
  probe         with --probe DURATION, run on every node of the site at the
                same time with the agents stopped (or on a free
                --probe-port): probes over the ring's own transport
                (multicast to the site's group, or unicast to its peers),
                small and full-size, saying which nodes were heard, with
                which settings and key, and whether full-size packets pass
                (the path MTU)

Each check prints a line: info, ok, warn or FAIL, the check, and what is
wrong and what to do. Exit status: 0 when nothing failed (warnings
included), 1 when a check failed, 64 on a usage error.`,
		Example: `  atoll doctor --config /etc/atoll/atoll.yaml --node fra-1 --key /etc/atoll/atoll.key
  # before the first start, on every node of the site at once:
  atoll doctor --config /etc/atoll/atoll.yaml --node fra-1 --probe 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{w: cmd.OutOrStdout()}
			d.all(cmd.Context(), &o, time.Now())
			if d.fails > 0 {
				return &exitError{code: 1, err: fmt.Errorf("doctor: %d check(s) failed", d.fails)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.configPath, "config", "c", "", "the topology `FILE`")
	fl.StringVar(&o.node, "node", "", "this host's node id in the topology file")
	fl.StringVar(&o.keyFile, "key", "", "the cluster key `FILE` (default security.key_file of the topology file)")
	fl.StringVar(&o.certDir, "cert-dir", "", "the gateway certificates `DIR` (ca.crt, NODE.crt, NODE.key)")
	fl.StringVar(&o.dataDir, "data-dir", defaultDataDir, "the agent's data dir, where its admin socket is")
	fl.StringVar(&o.adminSocket, "admin-socket", "", "the agent's admin socket (default DATA-DIR/admin.sock)")
	fl.DurationVar(&o.probe, "probe", 0, "probe the site's other nodes over the ring's transport for `DURATION` (run on every node at once, agents stopped)")
	fl.IntVar(&o.probePort, "probe-port", 0, "the UDP port of --probe (default the ring's port)")
	fl.StringVar(&o.procSys, "proc-sys", "/proc/sys", "where the kernel's settings are read (testing)")
	fl.BoolVar(&o.noFirewall, "no-firewall", false, "do not read the firewall rules (testing)")
	fl.MarkHidden("proc-sys")
	fl.MarkHidden("no-firewall")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("node")
	return cmd
}

// all runs every check that applies.
func (d *doctor) all(ctx context.Context, o *doctorFlags, now time.Time) {
	d.run(o.configPath, o.node, o.keyFile, o.certDir, o.procSys, now)
	if d.topo == nil {
		return // no node configuration to check against
	}
	if !o.noFirewall {
		d.firewall(func(name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).Output()
		})
	}
	socket := o.adminSocket
	if socket == "" {
		socket = filepath.Join(o.dataDir, agent.AdminSocketName)
	}
	d.agentChecks(ctx, socket, o.probe > 0)
	if d.gateway && o.certDir != "" {
		d.quicReach(ctx, o.certDir)
	}
	if o.probe > 0 {
		d.probe(o.probePort, o.probe)
	}
}

func (d *doctor) run(configPath, node, keyFile, certDir, procSys string, now time.Time) {
	f, err := topology.Load(configPath)
	if err != nil {
		var list topology.ErrorList
		if f == nil || !errors.As(err, &list) || len(f.Check()) > 0 {
			d.line(docFail, "topology", fmt.Sprintf("%s: %v; run `atoll validate %s` and fix it", configPath, err, configPath))
			return
		}
		d.line(docWarn, "topology", fmt.Sprintf("%s: the plan has %d rejection(s); run `atoll plan %s`", configPath, len(list), configPath))
	} else {
		d.line(docOK, "topology", configPath+" is valid")
	}
	cfg, err := agent.FromTopology(f, node, agent.PresetAuto)
	if err != nil {
		d.line(docFail, "node", err.Error())
		return
	}
	d.topo, d.node, d.cfg = f, node, cfg
	d.line(docOK, "bind", fmt.Sprintf("node %s binds %s (%s)", node, cfg.Transport.Bind, strings.TrimPrefix(transportMode(cfg), " ")))

	for _, b := range []struct {
		key  string
		want int
	}{{"net/core/rmem_max", transport.DefaultRecvBufferBytes}, {"net/core/wmem_max", transport.DefaultSendBufferBytes}} {
		name := strings.ReplaceAll(b.key, "/", ".")
		raw, err := os.ReadFile(filepath.Join(procSys, b.key))
		if err != nil {
			d.line(docWarn, "sysctl", fmt.Sprintf("cannot read %s: %v", name, err))
			continue
		}
		v, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		if v < b.want {
			d.line(docWarn, "sysctl", fmt.Sprintf("%s is %d bytes, below the %d the ring's socket asks for: bursts may overflow it; install deploy/systemd/90-atoll.conf in /etc/sysctl.d and run `sysctl --system`", name, v, b.want))
		} else {
			d.line(docOK, "sysctl", fmt.Sprintf("%s is %d bytes", name, v))
		}
	}

	if cfg.Security.Mode == seal.ModeNone {
		d.line(docWarn, "key", "security mode none: packets travel unauthenticated and in the clear (isolated test networks only)")
	} else {
		if keyFile == "" {
			keyFile = cfg.Security.KeyFile
		}
		if keyFile == "" {
			d.line(docFail, "key", "no key file: the topology file has no security.key_file; give --key (the file of `atoll keygen`)")
		} else if k, err := seal.LoadKeyFile(keyFile); err != nil {
			d.line(docFail, "key", err.Error())
		} else {
			d.keyID = k.ID()
			d.line(docOK, "key", fmt.Sprintf("%s: key id %08x", keyFile, k.ID()))
		}
	}

	d.mtu(cfg)
	synced, esterror, known := clockSynced()
	switch {
	case !known:
		d.line(docWarn, "clock", "cannot tell whether the system clock is synchronized")
	case !synced:
		d.line(docWarn, "clock", "the kernel says the system clock is not synchronized: certificates may look expired or not yet valid, and logs of different nodes do not line up; run an NTP client (chrony, systemd-timesyncd)")
	default:
		d.line(docOK, "clock", fmt.Sprintf("the system clock is synchronized (NTP), estimated error %s", esterror))
	}

	gateway := false
	for _, g := range pki.Gateways(f) {
		gateway = gateway || g.Node == node
	}
	d.gateway = gateway
	switch {
	case !gateway:
		d.line(docOK, "certificates", "node "+node+" is not gateway-eligible: none needed")
	case certDir == "":
		d.line(docWarn, "certificates", "node "+node+" is gateway-eligible: give --cert-dir to check its certificates")
	default:
		d.certs(certDir, node, now)
	}
}

// certs checks the CA's and the node's certificates in dir.
func (d *doctor) certs(dir, node string, now time.Time) {
	for _, name := range []string{"ca.crt", pki.CertFile(node), pki.KeyFile(node)} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			d.line(docFail, "certificates", fmt.Sprintf("%v; make the certificates with `atoll certs TOPOLOGY -d DIR` (with an existing CA: `--node %s`) and copy ca.crt, %s and %s here", err, node, pki.CertFile(node), pki.KeyFile(node)))
			return
		}
	}
	made, err := pki.Check(dir, now)
	if err != nil {
		d.line(docFail, "certificates", err.Error())
		return
	}
	for _, m := range made {
		if base := filepath.Base(m.CertPath); base != "ca.crt" && base != pki.CertFile(node) {
			continue
		}
		e := m.Expiry
		switch {
		case e.Left <= 0:
			d.line(docFail, "certificates", fmt.Sprintf("%s expired %s ago; renew it with `atoll certs TOPOLOGY -d DIR --node %s`", m.CertPath, (-e.Left).Round(time.Hour), node))
		case e.Left < 30*24*time.Hour:
			d.line(docWarn, "certificates", fmt.Sprintf("%s expires in %s (%s); renew it soon", m.CertPath, e.Left.Round(time.Hour), e.NotAfter.Format(time.DateOnly)))
		default:
			d.line(docOK, "certificates", fmt.Sprintf("%s valid until %s", m.CertPath, e.NotAfter.Format(time.DateOnly)))
		}
	}
}

// mtu reports the MTU of the interface holding the node's bind address,
// from which the ring sizes its packets.
func (d *doctor) mtu(cfg agent.Config) {
	ifs, err := net.Interfaces()
	if err != nil {
		d.line(docWarn, "mtu", "cannot list the interfaces: "+err.Error())
		return
	}
	bind := cfg.Transport.Bind.Addr()
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || p.Addr().Unmap() != bind.Unmap() {
				continue
			}
			if ifc.MTU < 1280 {
				d.line(docWarn, "mtu", fmt.Sprintf("%s (%s) has MTU %d: ring packets are small; check the interface", ifc.Name, bind, ifc.MTU))
			} else {
				d.line(docOK, "mtu", fmt.Sprintf("%s (%s) has MTU %d; on a tunnel, VPN or overlay with a smaller path MTU, set it lower (docs/OPERATIONS.md)", ifc.Name, bind, ifc.MTU))
			}
			return
		}
	}
	d.line(docWarn, "mtu", fmt.Sprintf("no interface holds %s", bind))
}

// transportMode says how the node's ring travels.
func transportMode(cfg agent.Config) string {
	if cfg.Transport.Group.IsValid() {
		return "multicast " + cfg.Transport.Group.String()
	}
	return "unicast"
}
