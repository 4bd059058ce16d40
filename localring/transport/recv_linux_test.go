package transport_test

import (
	"net/netip"
	"testing"

	"github.com/atoll-gcs/atoll/localring/transport"
)

// TestReceiveAllocs: on Linux a received datagram allocates nothing, in
// unicast mode (recvmmsg straight into the caller's buffers) and in
// multicast mode (the readers' batches, copied out). x/net's ReadBatch
// allocated its headers and each datagram's address.
func TestReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing")
	}
	const runs = 100
	check := func(t *testing.T, send, recv transport.Transport) {
		pkt := make([]byte, 1024)
		for range runs + 10 { // AllocsPerRun runs once more to warm up
			must(t, send.Multicast(pkt))
		}
		must(t, send.Flush())
		ms := make([]transport.Message, 1)
		ms[0].Buf = make([]byte, recv.MaxPacket())
		var from netip.AddrPort
		allocs := testing.AllocsPerRun(runs, func() {
			if n, err := recv.ReadBatch(ms); n != 1 || err != nil {
				t.Fatalf("ReadBatch = %d, %v", n, err)
			}
			from = ms[0].From
		})
		if from != send.LocalAddr() || ms[0].N != len(pkt) {
			t.Fatalf("received %d bytes from %v, want %d from %v", ms[0].N, from, len(pkt), send.LocalAddr())
		}
		if allocs != 0 {
			t.Errorf("%.1f allocations per received datagram, want 0", allocs)
		}
	}
	t.Run("unicast", func(t *testing.T) {
		ts := listenUnicast(t, "127.0.0.1", 2)
		check(t, ts[0], ts[1])
	})
	t.Run("multicast", func(t *testing.T) {
		tn := multicastNet(t)
		group := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.2"), testPort())
		ts := listenMulticast(t, tn, group, "", []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.2:0"),
		})
		check(t, ts[0], ts[1])
	})
}
