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

// BenchmarkFakeMulticast multicasts 1,400-byte packets on a FakeNetwork
// of three, flushed in batches of 16, and has the two receivers read
// them: one op is one packet sent and received twice. allocs/op and B/op
// are what the simulated LAN allocates per packet (bench/isolation's
// sites run on one).
func BenchmarkFakeMulticast(b *testing.B) {
	var fn transport.FakeNetwork
	fs := make([]*transport.Fake, 3)
	for i := range fs {
		f, err := fn.Listen(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(5000+i)))
		if err != nil {
			b.Fatal(err)
		}
		fs[i] = f
		defer f.Close()
	}
	ms := make([]transport.Message, 16)
	for i := range ms {
		ms[i].Buf = make([]byte, fs[0].MaxPacket())
	}
	pkt := make([]byte, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		if err := fs[0].Multicast(pkt); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if err := fs[0].Flush(); err != nil {
				b.Fatal(err)
			}
			for _, r := range fs[1:] {
				for got := 0; got < 16; {
					n, err := r.ReadBatch(ms)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		}
	}
}
