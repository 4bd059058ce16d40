package bench

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// Testbed is N Linux network namespaces, each with one veth interface
// (eth0, 10.213.0.<i+1>/24, MTU 1500) plugged into one bridge: a LAN with
// real multicast, on which every node runs as its own process. The bridge
// lives in a namespace of its own (the hub), so that the host's firewall
// never sees the bridged traffic (with br_netfilter loaded and Docker's
// FORWARD policy DROP, a bridge in the host namespace forwards nothing),
// and nothing of the testbed touches the host's interfaces. Creating it
// needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
type Testbed struct {
	Prefix string       // name prefix of everything created, e.g. "atb1f3a"
	Hub    string       // the namespace of the bridge
	Bridge string       // the bridge, in Hub
	NS     []string     // the namespaces, node i in NS[i]
	Addrs  []netip.Addr // node i's address, on eth0 in NS[i]
	Iface  string       // the interface in every namespace: "eth0"
}

// Subnet is the testbed's IPv4 network; node i has .i+1.
var Subnet = netip.MustParsePrefix("10.213.0.0/24")

// NewTestbed creates n namespaces joined by a bridge. prefix (at most 7
// characters, so that interface names fit in 15) names them; on error
// everything created so far is removed.
func NewTestbed(n int, prefix string) (tb *Testbed, err error) {
	if len(prefix) == 0 || len(prefix) > 7 {
		return nil, fmt.Errorf("testbed: prefix %q must be 1 to 7 characters", prefix)
	}
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("testbed: %d nodes: want 1 to 200", n)
	}
	tb = &Testbed{Prefix: prefix, Hub: prefix + "-hub", Bridge: "br0", Iface: "eth0"}
	defer func() {
		if err != nil {
			tb.Close()
			tb = nil
		}
	}()
	if err := run("ip", "netns", "add", tb.Hub); err != nil {
		return nil, fmt.Errorf("%w (the testbed needs root: run it with sudo)", err)
	}
	// Without snooping the bridge floods multicast to every port, like a
	// plain switch; with it and no IGMP querier, forwarding depends on
	// timing.
	for _, args := range [][]string{
		{"ip", "-n", tb.Hub, "link", "add", tb.Bridge, "type", "bridge", "mcast_snooping", "0"},
		{"ip", "-n", tb.Hub, "link", "set", tb.Bridge, "up"},
		{"ip", "-n", tb.Hub, "link", "set", "lo", "up"},
	} {
		if err := run(args...); err != nil {
			return nil, err
		}
	}
	for i := range n {
		ns := fmt.Sprintf("%s-n%d", prefix, i+1)
		veth := fmt.Sprintf("v%d", i+1)
		addr := Subnet.Addr().As4()
		addr[3] = byte(i + 1)
		a := netip.AddrFrom4(addr)
		if err := run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		tb.NS = append(tb.NS, ns)
		if err := run("ip", "-n", tb.Hub, "link", "add", veth, "type", "veth", "peer", "name", tb.Iface, "netns", ns); err != nil {
			return nil, err
		}
		tb.Addrs = append(tb.Addrs, a)
		for _, args := range [][]string{
			{"ip", "-n", tb.Hub, "link", "set", veth, "master", tb.Bridge, "up"},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(a, Subnet.Bits()).String(), "dev", tb.Iface},
			{"ip", "-n", ns, "link", "set", tb.Iface, "up", "mtu", "1500", "multicast", "on"},
			{"ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", tb.Iface},
		} {
			if err := run(args...); err != nil {
				return nil, err
			}
		}
	}
	return tb, nil
}

// Cmd returns argv run inside node i's namespace.
func (tb *Testbed) Cmd(i int, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", tb.NS[i]}, argv...)
}

// Close removes the namespaces, and with them the bridge and the veth
// pairs. Processes still running in a namespace keep its interfaces alive
// until they end; the caller stops them first.
func (tb *Testbed) Close() error {
	var errs []error
	for _, ns := range append(tb.NS, tb.Hub) {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	tb.NS, tb.Hub = nil, ""
	return errors.Join(errs...)
}

// run runs a command and returns an error with its output.
func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testbed: %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// UDPDrops returns the datagrams the kernels of the namespaces dropped so
// far, summed over the namespaces: Udp InErrors (which include
// RcvbufErrors, a full socket buffer) and SndbufErrors from
// /proc/net/snmp. A ring's retransmissions without such drops are of
// packets that were late or reordered, not lost.
func (tb *Testbed) UDPDrops() (uint64, error) {
	var sum uint64
	for i := range tb.NS {
		argv := tb.Cmd(i, "cat", "/proc/net/snmp")
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			return 0, fmt.Errorf("testbed: read /proc/net/snmp in %s: %w", tb.NS[i], err)
		}
		var names []string
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = f[1:]
				continue
			}
			for k, v := range f[1:] {
				if k < len(names) && (names[k] == "InErrors" || names[k] == "SndbufErrors") {
					n, _ := strconv.ParseUint(v, 10, 64)
					sum += n
				}
			}
		}
	}
	return sum, nil
}
