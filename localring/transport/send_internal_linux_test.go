package transport

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// spyConn counts the batches that the batchConn under a rawBatch sends.
type spyConn struct {
	batchConn
	writes int
}

func (s *spyConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	s.writes++
	return s.batchConn.WriteBatch(ms, flags)
}

// TestRawWriteBatch: on Linux a batch of datagrams leaves in one raw
// sendmmsg (rawBatch.WriteBatch), not through x/net's WriteBatch, whose
// system call goes through the scheduler: in an idle agent that woke the
// runtime's monitor thread at nearly every token passed on, and handed the
// agent's one P to another thread whenever the call took a moment. The
// datagrams arrive whole, from the sender, in order, over IPv4 and IPv6;
// a batch the raw path does not handle (several buffers) still goes out
// through x/net. (Control data, the OOB of segmented sends, goes raw:
// TestSegmentFallback.)
func TestRawWriteBatch(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			listen := func() *net.UDPConn {
				a, err := net.ResolveUDPAddr(tc.network, tc.addr)
				if err != nil {
					t.Fatal(err)
				}
				c, err := net.ListenUDP(tc.network, a)
				if err != nil {
					t.Skipf("%s: %v", tc.network, err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			sc, rc := listen(), listen()
			var pc batchConn = ipv4.NewPacketConn(sc)
			if tc.network == "udp6" {
				pc = ipv6.NewPacketConn(sc)
			}
			spy := &spyConn{batchConn: pc}
			b := rawBatchConn(sc, spy)
			to := rc.LocalAddr().(*net.UDPAddr)
			payloads := [][]byte{[]byte("token"), bytes.Repeat([]byte{7}, 1200), {}}
			ms := make([]ipv4.Message, len(payloads))
			for i, p := range payloads {
				ms[i] = ipv4.Message{Buffers: [][]byte{p}, Addr: to}
			}
			if n, err := b.WriteBatch(ms, 0); n != len(ms) || err != nil {
				t.Fatalf("WriteBatch = %d, %v; want %d", n, err, len(ms))
			}
			if spy.writes != 0 {
				t.Fatalf("WriteBatch went through x/net %d times, want a raw sendmmsg", spy.writes)
			}
			for i, p := range payloads {
				if ms[i].N != len(p) {
					t.Errorf("message %d: N = %d, want %d", i, ms[i].N, len(p))
				}
			}
			rc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			for i, p := range payloads {
				n, from, err := rc.ReadFromUDP(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if !bytes.Equal(buf[:n], p) || from.Port != sc.LocalAddr().(*net.UDPAddr).Port {
					t.Fatalf("datagram %d: %d bytes from %v, want %d bytes from %v", i, n, from, len(p), sc.LocalAddr())
				}
			}
			ms = ms[:1]
			ms[0].Buffers = [][]byte{[]byte("two "), []byte("buffers")}
			b.WriteBatch(ms, 0)
			if spy.writes != 1 {
				t.Fatalf("a batch of a message of two buffers went through x/net %d times, want once", spy.writes)
			}
		})
	}
}
