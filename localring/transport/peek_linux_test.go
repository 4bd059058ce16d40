package transport

import (
	"net"
	"testing"
)

// TestPeek: the peek sees a waiting datagram without taking it, and
// allocates nothing (it runs for every token held back behind the group
// socket).
func TestPeek(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peek, err := peeker(c)
	if err != nil {
		t.Fatal(err)
	}
	if peek() {
		t.Fatal("peek of an empty socket: true")
	}
	s, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("xy")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if !peek() {
			t.Fatal("peek with a datagram waiting: false")
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { peek() }); allocs != 0 && !raceOn {
		t.Errorf("%.1f allocations per peek, want 0", allocs)
	}
	buf := make([]byte, 8)
	if n, _, err := c.ReadFromUDP(buf); err != nil || string(buf[:n]) != "xy" {
		t.Fatalf("read after peeks: %q, %v", buf[:n], err)
	}
}
