package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atoll-gcs/atoll/internal/wanem"
)

// TestRelayHelperProcess is not a test: it is the `atoll relay` process of
// TestRelayBetweenNamespaces, which starts this test binary inside a
// network namespace with the command line in ATOLL_RELAY_HELPER_ARGS.
func TestRelayHelperProcess(t *testing.T) {
	args := os.Getenv("ATOLL_RELAY_HELPER_ARGS")
	if args == "" {
		t.Skip("only run by TestRelayBetweenNamespaces")
	}
	os.Exit(Run(strings.Fields(args), os.Stdout, os.Stderr))
}

// udpIn opens a UDP socket in network namespace ns; the socket stays in it
// whatever goroutine uses it later.
func udpIn(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	type result struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan result)
	go func() {
		// This thread enters ns and is never unlocked, so it ends with the
		// goroutine instead of going back to the runtime's pool.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		ua, _ := net.ResolveUDPAddr("udp", addr)
		c, err := net.ListenUDP("udp", ua)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// TestRelayBetweenNamespaces runs `atoll relay` in a router namespace
// between a client's and a server's namespace, and cuts and heals the path
// from outside through the control socket.
func TestRelayBetweenNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (Debian package iproute2)")
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	name := "wanem" + hex.EncodeToString(rnd[:])
	nsA, nsR, nsB := name+"-a", name+"-r", name+"-b"
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{nsA, nsR, nsB} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, ns := range []string{nsA, nsR, nsB} {
		sh("ip", "netns", "add", ns)
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	// a (10.251.1.2) -- (10.251.1.1) r (10.251.2.1) -- (10.251.2.2) b
	for i, ns := range []string{nsA, nsB} {
		ra, far := fmt.Sprintf("10.251.%d.1", i+1), fmt.Sprintf("10.251.%d.2", i+1)
		sh("ip", "link", "add", name+"x", "netns", nsR, "type", "veth", "peer", "name", "eth0", "netns", ns)
		sh("ip", "-n", nsR, "link", "set", name+"x", "name", fmt.Sprintf("eth%d", i))
		sh("ip", "-n", nsR, "addr", "add", ra+"/24", "dev", fmt.Sprintf("eth%d", i))
		sh("ip", "-n", nsR, "link", "set", fmt.Sprintf("eth%d", i), "up")
		sh("ip", "-n", ns, "addr", "add", far+"/24", "dev", "eth0")
		sh("ip", "-n", ns, "link", "set", "eth0", "up")
	}

	server := udpIn(t, nsB, "10.251.2.2:7000")
	go serveEcho(server)
	ctl := filepath.Join(t.TempDir(), "relay.sock")
	relay := exec.Command("ip", "netns", "exec", nsR, os.Args[0], "-test.run=^TestRelayHelperProcess$")
	relay.Env = append(os.Environ(), "ATOLL_RELAY_HELPER_ARGS=relay --listen 10.251.1.1:7000 --target 10.251.2.2:7000 --link rtt=20ms --control "+ctl)
	var out strings.Builder
	relay.Stdout, relay.Stderr = &out, &out
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- relay.Wait() }()
	t.Cleanup(func() {
		relay.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := wanem.ControlRequest(ctl, "show"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay's control socket never answered; relay output:\n%s", out.String())
		}
	}

	client := udpIn(t, nsA, "10.251.1.2:0")
	to := &net.UDPAddr{IP: net.IPv4(10, 251, 1, 1), Port: 7000}
	ping := func(wait time.Duration) (time.Duration, bool) {
		start := time.Now()
		client.WriteToUDP([]byte("ping"), to)
		client.SetReadDeadline(start.Add(wait))
		if _, _, err := client.ReadFromUDP(make([]byte, 64)); err != nil {
			return 0, false
		}
		return time.Since(start), true
	}
	if rtt, ok := ping(5 * time.Second); !ok || rtt < 20*time.Millisecond {
		t.Fatalf("a -> relay in r -> b: round trip %v (ok %v), want at least 20 ms", rtt, ok)
	}
	if code, o, e := run("relay", "ctl", ctl, "cut", "all"); code != 0 {
		t.Fatalf("cut: %s %s", o, e)
	}
	if _, ok := ping(300 * time.Millisecond); ok {
		t.Fatal("an echo through the cut relay")
	}
	if code, o, e := run("relay", "ctl", ctl, "heal", "all"); code != 0 {
		t.Fatalf("heal: %s %s", o, e)
	}
	client.SetReadDeadline(time.Now())
	if _, ok := ping(5 * time.Second); !ok {
		t.Fatal("no echo after the heal")
	}
	relay.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("relay exited with %v:\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("relay did not stop on SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "forward: 3 packets in, 2 delivered") || !strings.Contains(out.String(), "cut 1") {
		t.Fatalf("relay counters:\n%s", out.String())
	}
}
