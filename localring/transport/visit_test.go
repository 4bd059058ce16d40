package transport_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/transport"
)

// TestVisitOneSendmmsg: what a ring node queues at one token visit, a
// burst of messages for every member and then the token for its
// successor, leaves at Flush in one sendmmsg, and arrives in order, the
// token after the messages it covers.
func TestVisitOneSendmmsg(t *testing.T) {
	tn := multicastNet(t)
	port := testPort()
	group := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.3"), port)
	var ts []*transport.UDP
	tn.run(func() {
		for i := range 2 {
			u, _, err := transport.Listen(transport.Config{Bind: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i)}), 0), Group: group, MTU: 1500})
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, u)
		}
	})
	for _, u := range ts {
		t.Cleanup(func() { u.Close() })
	}
	ch := startReader(t, ts[1], ts[1].MaxPacket())

	const burst = 50 // the LAN preset's packets per visit
	var want []string
	for i := range burst {
		p := []byte(fmt.Sprintf("%04d", i))
		for len(p) < 1100 {
			p = append(p, byte('a'+i%26))
		}
		must(t, ts[0].Multicast(p))
		want = append(want, string(p))
	}
	must(t, ts[0].Unicast(ts[1].LocalAddr(), []byte("token")))
	want = append(want, "token")
	must(t, ts[0].Flush())

	for i, w := range want {
		select {
		case r := <-ch:
			if r.data != w || r.from != ts[0].LocalAddr() || r.truncated {
				t.Fatalf("datagram %d: %+v, want %+v", i, shorten(r), shorten(received{from: ts[0].LocalAddr(), data: w}))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d of %d datagrams", i, len(want))
		}
	}
	expectNothing(t, ch, 50*time.Millisecond)
	if st := ts[0].Stats(); st.SentPackets != burst+1 || st.SendCalls != 1 || st.SendErrors != 0 {
		t.Errorf("sent %d datagrams in %d sendmmsg calls, %d refused; want %d in 1, none", st.SentPackets, st.SendCalls, st.SendErrors, burst+1)
	}
}
