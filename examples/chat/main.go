// Chat is a tiny chat room over a group, with vs.PubSub: the room is a
// topic, every user subscribes to it and publishes lines to it. Users,
// each an Atoll client of an agent embedded in this process, speak at
// the same time; every user sees the lines in the same order.
//
//	go run ./examples/chat
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/vs"
	"github.com/atoll-gcs/atoll/vs/vstest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// script is what each user says.
var script = map[string][]string{
	"alice": {"hi all", "anyone up for lunch?"},
	"bob":   {"hello alice", "lunch, yes"},
	"carol": {"hey", "count me in"},
}

type user struct {
	name  string
	c     *client.Client
	ps    *vs.PubSub
	lines <-chan *client.Message
}

func run(ctx context.Context, w io.Writer) error {
	a, err := vstest.Start("n1")
	if err != nil {
		return err
	}
	defer a.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	names := slices.Sorted(func(yield func(string) bool) {
		for n := range script {
			if !yield(n) {
				return
			}
		}
	})
	var users []*user
	for _, n := range names {
		c, err := a.Dial(ctx, n)
		if err != nil {
			return err
		}
		defer c.Close()
		u := &user{name: n, c: c, ps: vs.NewPubSub(c, 64)}
		go u.ps.Run(ctx)
		if u.lines, err = u.ps.Subscribe(ctx, "room"); err != nil {
			return err
		}
		users = append(users, u)
	}
	// Speak once the room's view lists everyone: every line sent from
	// then on is delivered to every user.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, _, err := users[0].c.View(ctx, "room")
		if err != nil {
			return err
		}
		if len(v.Members) == len(users) {
			fmt.Fprintf(w, "room: %v\n", v.Members)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the room has %v, not everyone, after 10s", v.Members)
		}
	}
	total := 0
	var wg sync.WaitGroup
	for _, u := range users {
		total += len(script[u.name])
		wg.Go(func() {
			for _, line := range script[u.name] {
				u.ps.Publish(ctx, "room", []byte(line))
			}
		})
	}
	wg.Wait()

	transcripts := make([][]string, len(users))
	for i, u := range users {
		for len(transcripts[i]) < total {
			select {
			case m := <-u.lines:
				transcripts[i] = append(transcripts[i], fmt.Sprintf("<%s> %s", strings.TrimPrefix(m.Sender, "n1:"), m.Payload))
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s got %d lines of %d", u.name, len(transcripts[i]), total)
			}
		}
	}
	for _, l := range transcripts[0] {
		fmt.Fprintln(w, l)
	}
	for i, t := range transcripts[1:] {
		if !slices.Equal(t, transcripts[0]) {
			return fmt.Errorf("%s saw another order:\n%s", users[i+1].name, strings.Join(t, "\n"))
		}
	}
	fmt.Fprintf(w, "all %d users saw the same %d lines in the same order\n", len(users), total)
	return nil
}
