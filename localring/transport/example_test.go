package transport_test

import (
	"fmt"
	"net/netip"

	"github.com/atoll-gcs/atoll/localring/transport"
)

// Three ring members on an in-memory network: a multicast reaches the two
// others, a unicast (a token) reaches one, and nothing comes back to the
// sender.
func ExampleFakeNetwork() {
	var network transport.FakeNetwork
	var nodes []transport.Transport
	for i := range 3 {
		t, err := network.Listen(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(5405+i)))
		if err != nil {
			panic(err)
		}
		defer t.Close()
		nodes = append(nodes, t)
	}

	nodes[0].Multicast([]byte("message"))
	nodes[0].Unicast(nodes[1].LocalAddr(), []byte("token"))
	nodes[0].Flush() // one system call on a real transport

	ms := make([]transport.Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, nodes[0].MaxPacket())
	}
	for _, t := range nodes[1:] {
		n, _ := t.ReadBatch(ms)
		for _, m := range ms[:n] {
			fmt.Printf("%v got %q from %v\n", t.LocalAddr(), m.Payload(), m.From)
		}
	}
	// Output:
	// 10.0.0.1:5406 got "message" from 10.0.0.1:5405
	// 10.0.0.1:5406 got "token" from 10.0.0.1:5405
	// 10.0.0.1:5407 got "message" from 10.0.0.1:5405
}
