package wanem_test

import (
	"fmt"
	"net"
	"time"

	"github.com/atoll-gcs/atoll/internal/wanem"
)

// A client reaches an echo server through a path with a round-trip time of
// 200 ms, then through the same path cut, then healed.
func Example() {
	server, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer server.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := server.ReadFromUDP(buf)
			if err != nil {
				return
			}
			server.WriteToUDP(buf[:n], from)
		}
	}()

	path, err := wanem.Pipe(server.LocalAddr().String(), wanem.RTT(200*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer path.Close()
	raddr, _ := net.ResolveUDPAddr("udp", path.Addr())
	client, _ := net.DialUDP("udp", nil, raddr)
	defer client.Close()

	// ping waits up to wait for the answer.
	ping := func(wait time.Duration) string {
		start := time.Now()
		client.Write([]byte("ping"))
		client.SetReadDeadline(start.Add(wait))
		if _, err := client.Read(make([]byte, 64)); err != nil {
			return "no answer"
		}
		return fmt.Sprintf("answer after at least 200 ms: %v", time.Since(start) >= 200*time.Millisecond)
	}
	fmt.Println(ping(10 * time.Second))
	path.Cut()
	fmt.Println(ping(500 * time.Millisecond))
	path.Heal()
	fmt.Println(ping(10 * time.Second))
	fmt.Println("cut drops:", path.Forward().Stats().Drops.Cut)
	// Output:
	// answer after at least 200 ms: true
	// no answer
	// answer after at least 200 ms: true
	// cut drops: 1
}

// Three sites, 10 ms apart except a and c, 200 ms apart; site c is cut off
// and comes back.
func ExampleNewMesh() {
	sites := map[string]string{}
	for _, s := range []string{"a", "b", "c"} {
		gw, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // the site's gateway
		defer gw.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := gw.ReadFromUDP(buf)
				if err != nil {
					return
				}
				gw.WriteToUDP(buf[:n], from)
			}
		}()
		sites[s] = gw.LocalAddr().String()
	}
	m, err := wanem.NewMesh(wanem.MeshConfig{Sites: sites, Link: wanem.RTT(10 * time.Millisecond)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	m.SetPath("a", "c", wanem.RTT(200*time.Millisecond))

	// Site a reaches c at m.Addr("a", "c") instead of sites["c"].
	raddr, _ := net.ResolveUDPAddr("udp", m.Addr("a", "c"))
	conn, _ := net.DialUDP("udp", nil, raddr)
	defer conn.Close()
	// ping waits up to wait for the answer.
	ping := func(wait time.Duration) string {
		start := time.Now()
		conn.Write([]byte("ping"))
		conn.SetReadDeadline(start.Add(wait))
		if _, err := conn.Read(make([]byte, 64)); err != nil {
			return "no answer"
		}
		return fmt.Sprintf("answer after at least 200 ms: %v", time.Since(start) >= 200*time.Millisecond)
	}
	fmt.Println(ping(10 * time.Second))
	m.Isolate("c")
	fmt.Println(ping(500 * time.Millisecond))
	m.Rejoin("c")
	fmt.Println(ping(10 * time.Second))
	fmt.Println(m.Link("a", "c").Params(), "| cut drops a:c:", m.Link("a", "c").Stats().Drops.Cut)
	// Output:
	// answer after at least 200 ms: true
	// no answer
	// answer after at least 200 ms: true
	// delay=100ms | cut drops a:c: 1
}

func ExampleParseParams() {
	p, err := wanem.ParseParams(wanem.Params{}, "rtt=200ms loss=1% burst=0.5% burstlen=4 rate=50mbit")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Delay, p.Loss, p.BitsPerSec)
	fmt.Printf("burst loss %.3g, mean burst %g packets\n", p.Burst.Rate(), 1/p.Burst.BadToGood)
	fmt.Println(p)
	// Output:
	// 100ms 0.01 50000000
	// burst loss 0.005, mean burst 4 packets
	// delay=100ms loss=1% burst=0.5% burstlen=4 rate=50mbit
}
