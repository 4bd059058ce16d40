package sealed_test

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// BenchmarkSendRecv measures the sealed UDP transport on loopback: one
// node sends 1,200-byte packets (encrypted) in batches of 32 per Flush,
// another receives and opens them with batches of 64 (as the driver
// does). An op is one packet sent and received; allocs/op shows whether
// the path allocates per packet.
func BenchmarkSendRecv(b *testing.B) {
	ids := []localring.NodeID{"a", "b"}
	addrs := freePorts(b, 2)
	var raw []transport.Transport
	for i := range ids {
		u, _, err := transport.Listen(transport.Config{Bind: addrs[i], Peers: addrs})
		if err != nil {
			b.Fatal(err)
		}
		raw = append(raw, u)
	}
	ts := wrap(b, ids, raw)
	a, r := ts[0], ts[1]
	ps := make([]driver.Packet, 64)
	for i := range ps {
		ps[i].Buf = make([]byte, r.MaxPacket())
	}
	pkt := make([]byte, 1200)
	got := make(chan int, 1)
	go func() {
		n := 0
		for n < b.N {
			k, err := r.Recv(ps)
			if err != nil {
				break
			}
			n += k
		}
		got <- n
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	const batch = 32
	for i := range b.N {
		if err := a.Send("b", pkt); err != nil {
			b.Fatal(err)
		}
		if i%batch == batch-1 || i == b.N-1 {
			if err := a.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	a.Close()
	r.Close()
	if n := <-got; n < b.N {
		b.Logf("received %d of %d packets (the rest overflowed the socket buffer)", n, b.N)
	}
}
