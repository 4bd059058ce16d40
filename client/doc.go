// Package client is the Go API of Atoll for applications: a session with
// an agent, through which a program joins groups, multicasts to them,
// sends to single members, and receives views and messages with extended
// virtual synchrony.
//
// # Connecting
//
// A program talks to the agent of its host, or to one it runs itself:
//
//	c, err := client.Dial(ctx, "unix:///var/lib/atoll/client.sock")
//	c, err := client.Dial(ctx, "tcp+tls://agent.example:7405", client.WithTLS(cfg))
//	c, err := client.DialAgent(ctx, a) // a *agent.Agent running in this process
//
// The three speak the same protocol (docs/PROTOCOL.md) and offer the same
// API. Over the Unix socket the agent knows the program's user and groups
// from the socket's peer credentials; over TLS, from its certificate's
// common name (mutual TLS); in process, the client is "node:<node id>".
// The groups' ACLs in the topology file name these principals.
//
// # Groups, views and messages
//
//	err = c.Join(ctx, "orders")                    // the agent accepted the join
//	err = c.Multicast(ctx, client.Agreed, 1, []string{"orders"}, payload)
//	for e := range c.Events() {
//		switch e.Kind {
//		case client.EventView:    // e.View: the members, oldest first
//		case client.EventMessage: // e.Message: sender, groups, payload
//		case client.EventLeft:    // this client's Leave took effect
//		case client.EventError:   // e.Err: a request refused later (an ACL, say), or a message sent elsewhere
//		case client.EventWarning: // the client reads too slowly
//		}
//	}
//	// Events is closed when the session ends; c.Err() says why.
//
// Events are handed from the client's reader goroutine to the
// application's through the channel. With WithReceive the application
// receives with Receive instead, and the goroutine that calls it reads
// and decodes the agent's frames itself: no reader goroutine, and no
// hand-off between goroutines (a wake-up of a second thread) per batch of
// events, which was most of a receiving client's CPU:
//
//	c, err := client.Dial(ctx, addr, client.WithReceive())
//	for {
//		e, err := c.Receive(ctx) // err: ctx.Err(), or c.Err() once the session ended
//		...
//	}
//
// The client then reads only while a call waits for the agent (Receive,
// the calls that wait for a reply or for room), so keep a goroutine in
// Receive as one would read Events.
//
// By default each message Receive returns is a Message of its own with a
// copy of its payload, which the application may keep. An application
// that handles a message before it asks for the next, as a callback
// would, adds WithMessageReuse: Receive then returns its messages in one
// Message that the next call overwrites, payload and groups included, and
// a message allocates (almost) nothing.
//
// A client becomes a member of a group with the view that lists it, and
// from then on receives every message sent to the group, in the same
// order as every other member, each in the same view everywhere: every
// member that moves from one view to the next received the same messages
// in the first. A ring change (a partition, a crash, a merge) first
// delivers a transitional view with the members that move on together,
// then a regular one; View.Reason says why members left (leave,
// disconnect, network). Members are named "node:client"; Members[0] is the
// oldest member, a natural leader. Groups are open: a client may
// multicast to a group it has not joined, unless the group's ACL says
// otherwise. A multicast may name several groups: each member of any of
// them receives it once.
//
// A message to a federation domain's groups (groups that span sites) has
// one more possible fate. When the agent's site is cut off from the
// domain, the domain may have ordered the message in a configuration that
// went on without this site's part: the members that stayed there may
// have delivered it, while this client's views, in the configuration its
// agent went on to, never do. It counts as failed there (extended virtual
// synchrony allows no more: docs/EVS.md, 2.4), and the agent does not
// send it again, which would be a second copy wherever the first was
// delivered. The client is told: an EventError with CodeSentElsewhere
// (errors.Is(e.Err, client.ErrSentElsewhere)) names the message (Op,
// Group, Seq), and a Flush that waited for it returns after it. An
// application that must have the members get it sends it again, and its
// receivers may then get it twice.
//
// # Never blocked by the network
//
// The methods are safe for concurrent use, and none waits on the network
// beyond its context: Multicast and Send queue the message and return,
// failing at once with CodeBackpressure when the send queue is full;
// MulticastWait and SendWait wait for room, so that a sender goes at the
// rate the ring carries its messages; Join, Leave, Flush, Groups and View
// wait for room and for the agent's reply, bounded by their context.
// Errors are *Error values with a Code a program branches on
// (CodeOf(err) == client.CodeDenied, or errors.Is(err, client.ErrDenied))
// and a text for people.
//
// # Flow control
//
// The client writes at most the agent's window of messages (64 by
// default) ahead of the agent's acceptance, and the agent accepts them as
// fast as the ring sends them, keeping only a few token visits' worth
// waiting: a message waits for a few token rotations between Multicast and
// the ring, not for deep queues to drain (docs/PROTOCOL.md, "Back-pressure
// and flow control"). While half of the window or more is unanswered (the
// ring is the bottleneck), the client writes its messages up to a quarter
// of the window at a time, and within two windows' worth of messages after
// the window was full (a sender at the ring's rate, whose answers come in
// bursts after each token visit) up to the window's room at a time from
// the first unanswered message on, when that many wait or when it has
// read what the agent wrote, instead of one write each (one system call,
// and one wake-up of the agent's reader, per batch); below that each
// message goes out at once.
//
// The agent keeps a bounded queue per client: a client that does not read
// its Events is warned (EventWarning), then, if its queue stays over the
// bound for the agent's grace (2 s by default), disconnected with
// CodeSlowConsumer, so that it never stalls the ring or other clients; Err
// then returns the agent's reason.
//
// # CPU per message
//
// Much of a client's CPU per message is the Go runtime's, not this
// package's: each frame the agent writes wakes the reading goroutine, each
// message a sender paces wakes the sender, and with more than one P the
// runtime wakes a second thread for such a hand-off, which spins, finds
// nothing and sleeps again (futex and epoll_wait under findRunnable in a
// CPU profile: about half of a paced sender's CPU). A process that does
// little besides its session, on a small host, may run with GOMAXPROCS=1.
// The benchmark's clientload (a goroutine in Receive and one in
// MulticastWait; 3 nodes, 1 KiB messages, a 2-core host at load 4-9,
// three interleaved rounds each) used less CPU per message with it: at
// full load with one sender 4.9 against 6.3 us (the sender) and 2.7
// against 3.9 us (the receivers), every node sending 3.2 against 4.1 us;
// at 14,000 messages per second 13.3 against 17.6 us and 7.0 against 7.8
// us; at 1,000 messages per second 79 against 98 us and 39 against 42 us,
// with p50 270-280 us against 280-320 us and p99 2.5-5.6 ms against
// 2.9-3.3 ms. Later draws on a quieter host agree for receivers and for
// senders at the ring's full rate (which also carried more), but a
// process that paces its sends and receives had a higher p50 at one
// thread (docs/OPERATIONS.md, "Client processes"). The goroutines park as
// often on one thread as on two; what one thread saves is the second
// thread's wake-up at each park.
//
// # Embedding an agent
//
// A Go program can run the agent itself (package agent) and use this
// package against it with DialAgent: the Example shows a ring of one node
// in one process.
package client
