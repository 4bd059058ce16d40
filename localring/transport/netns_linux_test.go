package transport_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// multicastNet returns where the loopback interface carries multicast: this
// network namespace if lo already has the MULTICAST flag, else a private
// namespace of the test, whose lo it brings up with multicast on, leaving
// the host alone. It skips the test, with the reason, where neither is
// possible.
//
// Linux does not route IPv6 multicast through lo (the packets are counted
// as Ip6OutNoRoutes and dropped), so in the private namespace it also
// creates a veth pair with three IPv6 addresses, on which IPv6 multicast
// takes the same path as on Ethernet: out of the interface, and back to
// the host's own sockets through multicast loopback.
func multicastNet(t *testing.T) testNet {
	t.Helper()
	if lo, err := net.InterfaceByName("lo"); err == nil && lo.Flags&net.FlagMulticast != 0 && lo.Flags&net.FlagUp != 0 {
		return testNet{run: func(f func()) { f() }}
	}
	work := make(chan func())
	ready := make(chan error)
	var tn testNet
	var wg sync.WaitGroup
	wg.Go(func() {
		// This goroutine's thread moves to a new network namespace. It
		// never unlocks: when the goroutine ends, the runtime ends the
		// thread instead of reusing it elsewhere.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		if err := setLinkFlags("lo", unix.IFF_UP|unix.IFF_MULTICAST); err != nil {
			ready <- fmt.Errorf("bring up lo with multicast in the new namespace: %w", err)
			return
		}
		// Children started here run on this thread, so in the namespace.
		ip := func(args ...string) error {
			out, err := exec.Command("ip", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		err := errors.Join(
			ip("link", "add", "atoll0", "type", "veth", "peer", "name", "atoll1"),
			ip("link", "set", "atoll1", "up"),
			ip("link", "set", "atoll0", "up", "multicast", "on"),
		)
		for i := 1; err == nil && i <= 3; i++ {
			a := netip.AddrFrom16([16]byte{0xfd, 0, 0xa7, 0x01, 15: byte(i)})
			err = ip("-6", "addr", "add", a.String()+"/64", "dev", "atoll0", "nodad")
			tn.v6Addrs = append(tn.v6Addrs, a)
		}
		if err == nil {
			tn.v6Iface = "atoll0"
		} else {
			tn.v6Addrs = nil
			t.Logf("no veth pair for the IPv6 multicast test: %v", err)
		}
		ready <- nil
		for f := range work {
			f()
		}
	})
	if err := <-ready; err != nil {
		wg.Wait()
		t.Skipf("multicast on loopback is not available: lo lacks the MULTICAST flag and %v; run as root (CAP_SYS_ADMIN) or `ip link set lo multicast on`", err)
	}
	t.Cleanup(func() {
		close(work)
		wg.Wait()
	})
	tn.run = func(f func()) {
		done := make(chan struct{})
		work <- func() { defer close(done); f() }
		<-done
	}
	return tn
}

// setLinkFlags adds flags to the named interface (SIOCSIFFLAGS).
func setLinkFlags(name string, flags uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | flags)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
