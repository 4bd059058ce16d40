package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
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
	docOK   = "ok"
	docWarn = "warn"
	docFail = "FAIL"
)

// doctor collects the checks' lines.
type doctor struct {
	w     io.Writer
	fails int
}

func (d *doctor) line(verdict, check, msg string) {
	if verdict == docFail {
		d.fails++
	}
	fmt.Fprintf(d.w, "%-4s  %-12s %s\n", verdict, check, msg)
}

func newDoctorCmd() *cobra.Command {
	var configPath, node, keyFile, certDir, procSys string
	cmd := &cobra.Command{
		Use:   "doctor --config FILE --node ID [--key FILE] [--cert-dir DIR]",
		Short: "Check this host for what usually goes wrong before starting an agent",
		Long: `Doctor checks, on the host where the agent of --node is to run, what
usually keeps a ring from forming, and says what to do: the topology file;
the node's bind template (it must name exactly one address here); the
kernel's socket buffer limits against what the ring's socket asks for; the
cluster key (readable, mode 0600, the length the cipher needs); and, on a
gateway-eligible node with --cert-dir, its certificate and the CA's
(present, not expired, not within 30 days of expiry).

Each check prints one line: ok, warn or FAIL, the check, and what to do.
Doctor exits 0 when nothing failed (warnings included), 1 when a check
failed, 64 on a usage error. It also shows the MTU of the bind address's
interface and whether the kernel says the clock is synchronized. It does
not yet check multicast reachability between nodes, the path MTU, the
firewall or QUIC reachability: they need the peers' cooperation.`,
		Example: `  atoll doctor --config /etc/atoll/atoll.yaml --node fra-1 --key /etc/atoll/atoll.key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{w: cmd.OutOrStdout()}
			d.run(configPath, node, keyFile, certDir, procSys, time.Now())
			if d.fails > 0 {
				return &exitError{code: 1, err: fmt.Errorf("doctor: %d check(s) failed", d.fails)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&configPath, "config", "c", "", "the topology `FILE`")
	fl.StringVar(&node, "node", "", "this host's node id in the topology file")
	fl.StringVar(&keyFile, "key", "", "the cluster key `FILE` (default security.key_file of the topology file)")
	fl.StringVar(&certDir, "cert-dir", "", "the gateway certificates `DIR` (ca.crt, NODE.crt, NODE.key)")
	fl.StringVar(&procSys, "proc-sys", "/proc/sys", "where the kernel's settings are read (testing)")
	fl.MarkHidden("proc-sys")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("node")
	return cmd
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
			d.line(docOK, "key", fmt.Sprintf("%s: key id %08x", keyFile, k.ID()))
		}
	}

	d.mtu(cfg)
	switch synced, known := clockSynced(); {
	case !known:
		d.line(docWarn, "clock", "cannot tell whether the system clock is synchronized")
	case !synced:
		d.line(docWarn, "clock", "the kernel says the system clock is not synchronized: certificates may look expired or not yet valid, and logs of different nodes do not line up; run an NTP client (chrony, systemd-timesyncd)")
	default:
		d.line(docOK, "clock", "the system clock is synchronized (NTP)")
	}

	gateway := false
	for _, g := range pki.Gateways(f) {
		gateway = gateway || g.Node == node
	}
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
