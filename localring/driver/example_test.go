package driver_test

import (
	"context"
	"fmt"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
)

// A ring of one node over the in-memory transport: the node forms its
// ring, a message submitted from another goroutine (Do) is delivered, and
// cancelling the context makes the node leave. A real node passes its
// transport (sealed UDP, QUIC) and a StateStore that writes to disk.
func Example() {
	node, err := localring.New(localring.Config{ID: "solo", Incarnation: 1})
	if err != nil {
		panic(err)
	}
	var net drivertest.Network
	tr, _ := net.Join("solo")
	ctx, cancel := context.WithCancel(context.Background())
	var d *driver.Driver
	d, err = driver.New(driver.Config{
		Node: node, Transport: tr, Store: &drivertest.Store{},
		Hooks: driver.Hooks{
			Events: func(now time.Time, evs []localring.Event) {
				for _, e := range evs {
					switch e.Kind {
					case localring.EventInstall:
						fmt.Println("installed", e.Conf.ID)
						if e.Conf.Kind == localring.Regular {
							d.Do(func(now time.Time) { node.Submit(now, localring.Agreed, []byte("hello")) })
						}
					case localring.EventDeliver:
						fmt.Printf("delivered %s in %s\n", e.Msg.Payload, e.Msg.Conf)
						cancel()
					}
				}
			},
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("Run:", d.Run(ctx))
	// Output:
	// installed t:4:solo/0:solo
	// installed r:4:solo
	// delivered hello in r:4:solo
	// Run: <nil>
}
