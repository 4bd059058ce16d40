package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// interfaceFor returns the interface that holds addr. A loopback address
// that no interface lists (127.0.0.2: all of 127/8 is local on Linux)
// belongs to the loopback interface.
func interfaceFor(addr netip.Addr) (*net.Interface, error) {
	addr = addr.Unmap().WithZone("")
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("transport: list interfaces: %w", err)
	}
	for i := range ifs {
		for _, p := range interfacePrefixes(&ifs[i]) {
			if p.Addr() == addr {
				return &ifs[i], nil
			}
		}
	}
	if addr.IsLoopback() {
		for i := range ifs {
			if ifs[i].Flags&net.FlagLoopback != 0 {
				return &ifs[i], nil
			}
		}
	}
	return nil, fmt.Errorf("transport: address %v is not on any interface of this host (addresses here: %s); bind one of those (ResolveBind)", addr, strings.Join(hostAddrs(), ", "))
}

// interfaceByName returns the named interface with a hint when it is
// missing.
func interfaceByName(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		var names []string
		if ifs, err := net.Interfaces(); err == nil {
			for _, i := range ifs {
				names = append(names, i.Name)
			}
		}
		return nil, fmt.Errorf("transport: interface %q: %w (interfaces here: %s)", name, err, strings.Join(names, ", "))
	}
	return ifi, nil
}

// interfacePrefixes returns the addresses of ifi with their prefix lengths.
func interfacePrefixes(ifi *net.Interface) []netip.Prefix {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ps = append(ps, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return ps
}

// hostAddrs lists "name address/prefix" for every address of this host.
func hostAddrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return []string{"(cannot list interfaces: " + err.Error() + ")"}
	}
	var out []string
	for i := range ifs {
		for _, p := range interfacePrefixes(&ifs[i]) {
			out = append(out, ifs[i].Name+" "+p.String())
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
