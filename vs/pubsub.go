package vs

import (
	"context"
	"fmt"
	"sync"

	"github.com/atoll-gcs/atoll/client"
)

// PubSub is publish and subscribe by topic over groups: a topic is a
// group, Subscribe joins it and Publish multicasts to it (Agreed, type
// TypePublish). Groups are open, so a program may publish to a topic it
// does not subscribe to (unless the group's ACL forbids it). Every
// subscriber receives a topic's publications in the same order.
//
// A PubSub owns its client's events: Run reads them and hands each
// publication to the topic's subscribers.
type PubSub struct {
	c   *client.Client
	buf int

	mu   sync.Mutex
	subs map[string][]chan *client.Message
	done bool
}

// NewPubSub returns a PubSub on c whose subscription channels hold buffer
// messages. When a subscriber's channel is full, Run waits for it (so a
// slow subscriber slows the others of this client, and eventually the
// agent warns the client), it never drops a publication.
func NewPubSub(c *client.Client, buffer int) *PubSub {
	return &PubSub{c: c, buf: buffer, subs: map[string][]chan *client.Message{}}
}

// Subscribe joins topic and returns a channel of its publications,
// closed when Run returns. It returns once the agent accepted the join:
// the subscriber receives the publications ordered after the view that
// lists it (client.View tells when the agent has installed that view),
// none from before.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *client.Message, error) {
	ch := make(chan *client.Message, p.buf)
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil, client.ErrClosed
	}
	first := len(p.subs[topic]) == 0
	p.subs[topic] = append(p.subs[topic], ch)
	p.mu.Unlock()
	if first {
		if err := p.c.Join(ctx, topic); err != nil {
			return nil, fmt.Errorf("vs: subscribing to %s: %w", topic, err)
		}
	}
	return ch, nil
}

// Publish sends msg to every subscriber of topic. It waits for room while
// the ring carries less than is offered (client.Client.MulticastWait), as long
// as ctx allows.
func (p *PubSub) Publish(ctx context.Context, topic string, msg []byte) error {
	return p.c.MulticastWait(ctx, client.Agreed, TypePublish, []string{topic}, msg)
}

// Run delivers publications to the subscribers until the session ends or
// ctx is done, then closes the subscription channels.
func (p *PubSub) Run(ctx context.Context) error {
	defer func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.done = true
		for _, chs := range p.subs {
			for _, ch := range chs {
				close(ch)
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-p.c.Events():
			if !ok {
				return p.c.Err()
			}
			if e.Kind != client.EventMessage || e.Message.Type != TypePublish {
				continue
			}
			for _, topic := range e.Message.Groups {
				p.mu.Lock()
				chs := p.subs[topic]
				p.mu.Unlock()
				for _, ch := range chs {
					select {
					case ch <- e.Message:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
		}
	}
}
