package sites

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatewayConn: a gateway's socket on a port another one holds binds
// once the port is free, dropping what is written meanwhile; a read
// deadline in the past ends a read that waits for the bind; once the node
// is killed, or while it is cut off, nothing goes out or comes in.
func TestGatewayConn(t *testing.T) {
	holder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := holder.LocalAddr().String()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var dead, cut atomic.Bool
	c, err := openGatewayConn(addr, &dead, &cut)
	if err != nil {
		t.Fatalf("open while the port is held: %v", err)
	}
	defer c.Close()
	if c.LocalAddr().String() != addr {
		t.Fatalf("LocalAddr %v before the bind, want %s", c.LocalAddr(), addr)
	}
	if n, err := c.WriteTo([]byte("early"), peer.LocalAddr()); n != 5 || err != nil {
		t.Fatalf("WriteTo before the bind: %d, %v; want it taken and dropped", n, err)
	}
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := peer.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatal("a packet written before the bind arrived")
	}
	// A read deadline in the past ends a read that waits for the bind.
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 64))
		done <- err
	}()
	c.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read ended with %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read deadline in the past did not end the read waiting for the bind")
	}
	c.SetReadDeadline(time.Time{})

	holder.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.conn() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no bind within 5s of the port's release")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}

	// Cut off (World.CutGateway): nothing goes out or comes in; mended,
	// it flows again.
	cut.Store(true)
	c.WriteTo([]byte("cut off"), peer.LocalAddr())
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := peer.ReadFrom(buf); err == nil {
		t.Fatal("a packet of a gateway cut off went out")
	}
	peer.WriteTo([]byte("to the cut"), c.LocalAddr())
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := c.ReadFrom(buf); err == nil {
		t.Fatalf("a gateway cut off read %q", buf[:n])
	}
	cut.Store(false)
	c.SetReadDeadline(time.Time{})
	if _, err := c.WriteTo([]byte("mended"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "mended" {
		t.Fatalf("after the mend, peer read %q, %v", buf[:n], err)
	}

	dead.Store(true)
	c.WriteTo([]byte("after death"), peer.LocalAddr())
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := peer.ReadFrom(buf); err == nil {
		t.Fatal("a killed node's packet went out")
	}
	peer.WriteTo([]byte("to the dead"), c.LocalAddr())
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := c.ReadFrom(buf); err == nil {
		t.Fatalf("a killed node read %q", buf[:n])
	}
}
