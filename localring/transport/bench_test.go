package transport_test

import (
	"errors"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/transport"
)

// BenchmarkUnicastLoopback sends 1 KiB datagrams over 127.0.0.1 in
// batches of 64 (one sendmmsg each) to a receiver reading batches of 64
// (recvmmsg), and reports datagrams per second received and the average
// datagrams per system call on each side.
func BenchmarkUnicastLoopback(b *testing.B) {
	var ts []transport.Transport
	var peers []netip.AddrPort
	for range 2 {
		u, _, err := transport.Listen(transport.Config{
			Bind:  netip.MustParseAddrPort("127.0.0.1:0"),
			Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")},
			MTU:   1500,
		})
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, u)
		peers = append(peers, u.LocalAddr())
	}
	send, recv := ts[0].(*transport.UDP), ts[1].(*transport.UDP)
	send.SetPeers(peers)
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		ms := make([]transport.Message, 64)
		for i := range ms {
			ms[i].Buf = make([]byte, recv.MaxPacket())
		}
		for {
			n, err := recv.ReadBatch(ms)
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			got.Add(int64(n))
		}
	}()
	pkt := make([]byte, 1024)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := send.Multicast(pkt); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			send.Flush()
			for int64(i)-got.Load() > 1024 { // do not outrun the receiver
				runtime.Gosched()
			}
		}
	}
	send.Flush()
	elapsed := time.Since(start)
	deadline := time.Now().Add(time.Second)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ss, rs := send.Stats(), recv.Stats()
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "recv-pkts/s")
	b.ReportMetric(float64(ss.SentPackets)/float64(max(ss.SendCalls, 1)), "pkts/sendmmsg")
	b.ReportMetric(float64(rs.RecvPackets)/float64(max(rs.RecvCalls, 1)), "pkts/recvmmsg")
	send.Close()
	recv.Close()
	<-done
}
