package seal_test

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/atoll-gcs/atoll/localring/seal"
)

// Two nodes of one ring: a seals, b opens, a replay is rejected and the
// rejection is explained once.
func Example() {
	key := seal.GenerateKey() // in a real cluster: seal.LoadKeyFile(path) on every node
	newNode := func(id string) *seal.Sealer {
		s, err := seal.New(seal.Config{
			Key:         key,
			Cluster:     "prod",
			ConfigHash:  0x5eed,
			Sender:      seal.SenderID(id),
			Incarnation: 1, // in a real node: seal.NextIncarnation(persisted, time.Now())
		})
		if err != nil {
			panic(err)
		}
		return s
	}
	a, b := newNode("node-a"), newNode("node-b")

	pkt := a.Seal(nil, []byte("a ring packet"))
	fmt.Println("overhead:", len(pkt)-len("a ring packet"), "bytes")

	payload, from, err := b.Open(nil, pkt)
	fmt.Printf("opened %q from counter %d: %v\n", payload, from.Counter, err)

	var lim seal.Limiter[netip.Addr]
	src, now := netip.MustParseAddr("10.0.0.7"), time.Unix(0, 0)
	for range 3 {
		_, _, err = b.Open(nil, pkt)
		if ok, _ := lim.Allow(src, now); ok {
			fmt.Println("log:", errors.Is(err, seal.ErrReplay), err)
		}
	}
	fmt.Printf("%+v\n", b.Stats())
	// Output:
	// overhead: 64 bytes
	// opened "a ring packet" from counter 1: <nil>
	// log: true seal: duplicate packet
	// {Sealed:0 Opened:1 Truncated:0 BadVersion:0 Mismatch:0 WrongKey:0 AuthFailed:0 Replayed:3}
}
