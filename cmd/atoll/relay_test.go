package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/waittest"
	"github.com/atoll-gcs/atoll/internal/wanem"
)

// serveEcho sends every datagram c receives back, until c is closed.
func serveEcho(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		c.WriteToUDP(buf[:n], from)
	}
}

// waitControl waits up to 10 s until the control socket ctl of what (a
// relay or a mesh) answers, and fails the test if it does not.
func waitControl(t *testing.T, ctl, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := wanem.ControlRequest(ctl, "show"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's control socket never answered", what)
		}
	}
}

// echoClient talks to an echo server (serveEcho) through a relay.
type echoClient struct{ conn *net.UDPConn }

// dialEcho dials addr over UDP; the connection closes at the test's end.
func dialEcho(t *testing.T, addr string) *echoClient {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoClient{c}
}

// ping sends "ping" and waits up to wait for the echo: the round trip,
// and whether the echo came.
func (e *echoClient) ping(wait time.Duration) (time.Duration, bool) {
	start := time.Now()
	e.conn.Write([]byte("ping"))
	e.conn.SetReadDeadline(start.Add(wait))
	if _, err := e.conn.Read(make([]byte, 64)); err != nil {
		return 0, false
	}
	return time.Since(start), true
}

func TestRelayCommand(t *testing.T) {
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	go serveEcho(server)
	// A free port for --listen.
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	listen := probe.LocalAddr().String()
	probe.Close()
	ctl := filepath.Join(t.TempDir(), "relay.sock")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- RunContext(ctx, []string{"relay", "--listen", listen, "--target", server.LocalAddr().String(),
			"--link", "rtt=40ms", "--reverse", "loss=0", "--control", ctl}, &out, &errb)
	}()
	waitControl(t, ctl, "the relay")
	c := dialEcho(t, listen)
	ping := c.ping
	if rtt, ok := ping(5 * time.Second); !ok || rtt < 40*time.Millisecond {
		t.Fatalf("round trip %v (ok %v) through rtt=40ms", rtt, ok)
	}
	if code, o, e := run("relay", "ctl", ctl, "cut", "all"); code != 0 {
		t.Fatalf("relay ctl cut all: %d %s %s", code, o, e)
	}
	if _, ok := ping(300 * time.Millisecond); ok {
		t.Fatal("an echo through a cut relay")
	}
	if code, o, _ := run("relay", "ctl", ctl, "show"); code != 0 || !strings.Contains(o, "forward: delay=20ms cut") {
		t.Fatalf("relay ctl show: %d %q", code, o)
	}
	run("relay", "ctl", ctl, "heal", "all")
	run("relay", "ctl", ctl, "set", "all", "rtt=0")
	c.conn.SetReadDeadline(time.Now()) // forget a late echo, if any
	if _, ok := ping(5 * time.Second); !ok {
		t.Fatal("no echo after heal")
	}
	if code, _, e := run("relay", "ctl", ctl, "set", "all", "loss=7"); code == 0 || !strings.Contains(e, "probability") {
		t.Fatalf("a bad set: exit %d, stderr %q", code, e)
	}
	cancel()
	if code := waittest.Recv(t, done, 10*time.Second, "the relay to return after its context ended"); code != 0 {
		t.Fatalf("relay exited %d: %s", code, errb.String())
	}
	for _, want := range []string{"relay " + listen + " -> ", "forward delay=20ms; reverse delay=20ms",
		"forward: 3 packets in, 2 delivered", "drops: cut 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("relay output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRelayCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "--target", "127.0.0.1:9"}, "needs --listen"},
		{[]string{"relay", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--link", "loss=2"}, "--link"},
		{[]string{"relay", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--forward", "wobble=1"}, "--forward"},
		{[]string{"relay", "ctl", filepath.Join(t.TempDir(), "none.sock"), "show"}, "is the relay running"},
	} {
		code, _, e := run(tc.args...)
		if code == 0 || !strings.Contains(e, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", tc.args, code, e, tc.want)
		}
	}
}

func TestRelayMeshCommand(t *testing.T) {
	args := []string{"relay", "mesh", "--link", "rtt=20ms", "--set", "a:c,c:a rtt=60ms"}
	for _, s := range []string{"a", "b", "c"} {
		server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		go serveEcho(server)
		args = append(args, "--site", s+"="+server.LocalAddr().String())
	}
	ctl := filepath.Join(t.TempDir(), "mesh.sock")
	args = append(args, "--control", ctl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncbuf.Buffer
	done := make(chan int)
	go func() { done <- RunContext(ctx, args, &out, &errb) }()
	// The table ("a:c 127.0.0.1:PORT -> ...") is printed once the relays run.
	var ac string
	for deadline := time.Now().Add(10 * time.Second); ac == ""; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] == "a:c" {
				ac = f[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no relay table; output %q, errors %q", out.String(), errb.String())
		}
	}
	waitControl(t, ctl, "the mesh")
	ping := dialEcho(t, ac).ping
	if rtt, ok := ping(5 * time.Second); !ok || rtt < 60*time.Millisecond {
		t.Fatalf("a to c: round trip %v (ok %v), want at least the 60 ms set for a:c,c:a", rtt, ok)
	}
	if code, o, e := run("relay", "ctl", ctl, "cut", "c:*,*:c"); code != 0 {
		t.Fatalf("cut: %s %s", o, e)
	}
	if _, ok := ping(300 * time.Millisecond); ok {
		t.Fatal("an echo from the isolated site c")
	}
	if code, o, _ := run("relay", "ctl", ctl, "show"); code != 0 || !strings.Contains(o, "a:b: delay=10ms\n") || !strings.Contains(o, "c:a: delay=30ms cut") {
		t.Fatalf("show: %d %q", code, o)
	}
	cancel()
	if code := waittest.Recv(t, done, 10*time.Second, "the relay mesh to return after its context ended"); code != 0 {
		t.Fatalf("relay mesh exited %d: %s", code, errb.String())
	}
	if o := out.String(); !strings.Contains(o, "a:c: 2 packets in, 1 delivered") || !strings.Contains(o, "drops: cut 1") {
		t.Fatalf("mesh counters:\n%s", o)
	}
	// --topology: the declared RTTs and bandwidths, then --set on top.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2, errb2 syncbuf.Buffer
	done2 := make(chan int)
	ctl2 := filepath.Join(t.TempDir(), "mesh2.sock")
	go func() {
		done2 <- RunContext(ctx2, []string{"relay", "mesh", "--site", "fra=127.0.0.1:9", "--site", "sin=127.0.0.1:9",
			"--link", "loss=1%", "--topology", "../../deploy/examples/europe-asia.yaml", "--set", "sin:fra jitter=1ms", "--control", ctl2}, &out2, &errb2)
	}()
	var show string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if show, err = wanem.ControlRequest(ctl2, "show"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel2()
			t.Fatalf("the second mesh never answered: exit %d %s", waittest.Recv(t, done2, 10*time.Second, "the second relay mesh to return after its context ended"), errb2.String())
		}
	}
	cancel2()
	waittest.Recv(t, done2, 10*time.Second, "the second relay mesh to return after its context ended")
	if want := "fra:sin: delay=79ms loss=1% rate=1gbit\nsin:fra: delay=79ms jitter=1ms loss=1% rate=1gbit"; show != want {
		t.Errorf("mesh with --topology: show = %q, want %q", show, want)
	}
	if !strings.Contains(out2.String(), "europe-asia.yaml: the RTTs and bandwidths of 1 site pairs") {
		t.Errorf("mesh with --topology printed:\n%s", out2.String())
	}

	for _, bad := range [][]string{
		{"relay", "mesh", "--site", "a=127.0.0.1:9", "--site", "b=127.0.0.1:8", "--topology", "/nonexistent.yaml"},
		{"relay", "mesh", "--site", "a=127.0.0.1:9"},
		{"relay", "mesh", "--site", "a=127.0.0.1:9", "--site", "a=127.0.0.1:8"},
		{"relay", "mesh", "--site", "a:x=127.0.0.1:9", "--site", "b=127.0.0.1:8"},
		{"relay", "mesh", "--site", "a=127.0.0.1:9", "--site", "b=127.0.0.1:8", "--set", "a:z rtt=1s"},
	} {
		if code, _, e := run(bad...); code == 0 || e == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, e)
		}
	}
}
