//go:build !linux

package transport_test

import (
	"net"
	"testing"
)

// multicastNet returns this host's network when a loopback interface is up
// and carries multicast, and skips the test otherwise: private network
// namespaces, in which the Linux version sets one up, exist on Linux only.
// IPv6 multicast on co-located nodes is not set up here (v6Iface empty).
func multicastNet(t *testing.T) testNet {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skipf("multicast tests: cannot list the network interfaces: %v", err)
	}
	for _, i := range ifs {
		if i.Flags&(net.FlagLoopback|net.FlagUp|net.FlagMulticast) == net.FlagLoopback|net.FlagUp|net.FlagMulticast {
			return testNet{run: func(f func()) { f() }}
		}
	}
	t.Skip("multicast tests: no loopback interface that is up and carries multicast")
	return testNet{}
}
