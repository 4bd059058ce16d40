// Leader is leader election by virtual synchrony: the leader of a group
// is the oldest member of its regular view (vs.Leader), so every member
// names the same leader in the same view without a vote.
//
// Candidates, each an Atoll client of an agent embedded in this process,
// join the group "election" one after another. Then the leader is killed
// (its session ends), again and again: each time the survivors agree at
// once on the next oldest as the new leader.
//
//	go run ./examples/leader -candidates 4
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/vs"
	"github.com/atoll-gcs/atoll/vs/vstest"
)

func main() {
	n := flag.Int("candidates", 4, "candidates")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *n); err != nil {
		fmt.Fprintln(os.Stderr, "leader:", err)
		os.Exit(1)
	}
}

type candidate struct {
	c       *client.Client
	leader  *vs.Leader
	changes chan vs.LeaderChange
}

func run(ctx context.Context, w io.Writer, n int) error {
	a, err := vstest.Start("n1")
	if err != nil {
		return err
	}
	defer a.Stop()
	var cs []*candidate
	defer func() {
		for _, c := range cs {
			c.c.Close()
		}
	}()
	for i := range n {
		c, err := a.Dial(ctx, fmt.Sprintf("c%d", i+1))
		if err != nil {
			return err
		}
		cd := &candidate{c: c, changes: make(chan vs.LeaderChange, 16)}
		cd.leader = vs.NewLeader("election", c.Name(), func(l vs.LeaderChange) { cd.changes <- l })
		go func() {
			for e := range c.Events() {
				if e.Kind == client.EventView {
					cd.leader.Observe(e.View)
				}
			}
		}()
		if err := c.Join(ctx, "election"); err != nil {
			return err
		}
		l, err := next(cd)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s joined; it sees %s lead\n", c.Name(), l.Leader)
		cs = append(cs, cd)
	}
	for len(cs) > 1 {
		old, _ := cs[0].leader.Current()
		i := slices.IndexFunc(cs, func(c *candidate) bool { _, self := c.leader.Current(); return self })
		if i < 0 {
			return errors.New("nobody leads")
		}
		cs[i].c.Close()
		cs = slices.Delete(cs, i, i+1)
		fmt.Fprintf(w, "killed the leader %s\n", old)
		var got []string
		for _, c := range cs {
			l, err := next(c)
			if err != nil {
				return err
			}
			got = append(got, l.Leader)
			if l.Self {
				fmt.Fprintf(w, "%s: I lead now\n", c.c.Name())
			}
		}
		if len(slices.Compact(slices.Clone(got))) != 1 {
			return fmt.Errorf("the survivors name different leaders: %v", got)
		}
		fmt.Fprintf(w, "%d survivors agree: %s leads\n", len(cs), got[0])
	}
	return nil
}

// next waits for the candidate's next leader change.
func next(c *candidate) (vs.LeaderChange, error) {
	select {
	case l := <-c.changes:
		return l, nil
	case <-time.After(10 * time.Second):
		return vs.LeaderChange{}, fmt.Errorf("%s saw no leader change within 10s", c.c.Name())
	}
}
