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

	ping := func() string {
		start := time.Now()
		client.Write([]byte("ping"))
		client.SetReadDeadline(start.Add(time.Second))
		if _, err := client.Read(make([]byte, 64)); err != nil {
			return "no answer"
		}
		return fmt.Sprintf("answer after at least 200 ms: %v", time.Since(start) >= 200*time.Millisecond)
	}
	fmt.Println(ping())
	path.Cut()
	fmt.Println(ping())
	path.Heal()
	fmt.Println(ping())
	fmt.Println("cut drops:", path.Forward().Stats().Drops.Cut)
	// Output:
	// answer after at least 200 ms: true
	// no answer
	// answer after at least 200 ms: true
	// cut drops: 1
}
