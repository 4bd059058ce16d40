package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// A program that embeds an agent (a ring of one node, on an in-memory
// network) and uses it as a client: it joins a group, receives the view
// that lists it, multicasts to the group and receives its own message.
func Example() {
	dir, _ := os.MkdirTemp("", "atoll-client-example")
	defer os.RemoveAll(dir)
	network, _ := (&transport.FakeNetwork{}).Listen(netip.MustParseAddrPort("10.0.0.1:5405"))
	a, err := agent.New(agent.Config{
		Node: "lab-1", Cluster: "lab", Site: "lab", Nodes: []string{"lab-1"},
		Network:      network,
		Security:     agent.Security{Key: seal.GenerateKey()},
		DataDir:      dir,
		AdminSocket:  "-",
		ClientSocket: "-", // in-process clients only
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	c, err := client.DialAgent(ctx, a, client.WithName("alice"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected as", c.Name())
	if err := c.Join(ctx, "chat"); err != nil {
		fmt.Println(err)
		return
	}
	for e := range c.Events() {
		switch e.Kind {
		case client.EventView:
			fmt.Printf("view of %s: %v (%s), leader %s\n", e.View.Group, e.View.Members, e.View.Reason, e.View.Leader())
			if err := c.Multicast(ctx, client.Agreed, 1, []string{"chat"}, []byte("hello, group")); err != nil {
				fmt.Println(err)
			}
		case client.EventMessage:
			m := e.Message
			fmt.Printf("%s from %s (%s, type %d): %s\n", m.Groups, m.Sender, m.Svc, m.Type, m.Payload)
			c.Close()
		}
	}
	fmt.Println("session ended:", c.Err())
	stop()
	fmt.Println("agent stopped:", <-done)
	// Output:
	// connected as lab-1:alice
	// view of chat: [lab-1:alice] (join), leader lab-1:alice
	// [chat] from lab-1:alice (agreed, type 1): hello, group
	// session ended: client: closed
	// agent stopped: <nil>
}
