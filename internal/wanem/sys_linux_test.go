package wanem

import (
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestRxAge: a datagram read 30 ms after it arrived is known to be at least
// that old, from its kernel timestamp.
func TestRxAge(t *testing.T) {
	s, err := listenSock("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	c := dial(t, s.c.LocalAddr().String())
	// The kernel turns receive timestamps on for the whole stack with a
	// deferred work item after the first socket asks.
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	ms := []ipv4.Message{{Buffers: [][]byte{make([]byte, 64)}, OOB: make([]byte, oobLen)}}
	if _, err := s.bc.ReadBatch(ms, 0); err != nil {
		t.Fatal(err)
	}
	if age := rxAge(ms[0].OOB[:ms[0].NN], time.Now()); age < 30*time.Millisecond || age > time.Second {
		t.Fatalf("a datagram read 30 ms after it was sent has age %v", age)
	}
	if age := rxAge(nil, time.Now()); age != 0 {
		t.Fatalf("age without a timestamp: %v", age)
	}
	if age := rxAge([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 35, 0, 0, 0}, time.Now()); age != 0 {
		t.Fatalf("age from a malformed control message: %v", age)
	}
}
