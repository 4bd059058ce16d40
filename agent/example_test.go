package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// An agent embedded in a program: a site of one node on an in-memory
// network, which multicasts a message and receives it back.
func Example() {
	dir, _ := os.MkdirTemp("", "atoll-example")
	defer os.RemoveAll(dir)
	network, _ := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:5405"))

	a, err := agent.New(agent.Config{
		Node: "lab-1", Cluster: "lab", Site: "lab", Nodes: []string{"lab-1"},
		Network:     network, // omit to open the UDP transport of Config.Transport
		Security:    agent.Security{Key: seal.GenerateKey()},
		DataDir:     dir,
		AdminSocket: "-",
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sub := a.Subscribe(64)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	a.Submit(localring.Agreed, []byte("hello, ring"))
	for e := range sub.C {
		switch e.Kind {
		case localring.EventInstall:
			fmt.Println("installed", e.Conf.Kind, e.Conf.MemberIDs())
		case localring.EventDeliver:
			fmt.Printf("delivered %q (%s)\n", e.Msg.Payload, e.Msg.Svc)
			fmt.Println("health:", a.Status().Health)
			stop()
		}
	}
	fmt.Println("stopped:", <-done, sub.Err())
	// Output:
	// installed trans [lab-1]
	// installed reg [lab-1]
	// delivered "hello, ring" (agreed)
	// health: healthy
	// stopped: <nil> agent: stopped; it accepts no more messages
}
