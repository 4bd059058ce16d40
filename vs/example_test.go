package vs_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/vs"
	"github.com/atoll-gcs/atoll/vs/vstest"
)

// sum is a Machine: the sum of the numbers applied.
type sum struct {
	mu sync.Mutex
	n  int
}

func (s *sum) Apply(op []byte) {
	d, _ := strconv.Atoi(string(op))
	s.mu.Lock()
	s.n += d
	s.mu.Unlock()
}

func (s *sum) Snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.AppendInt(nil, int64(s.n), 10)
}

func (s *sum) Restore(b []byte) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, err = strconv.Atoi(string(b))
	return err
}

func (s *sum) get() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// A replicated sum: replica a applies operations alone, then replica b
// joins, gets the sum by state transfer, and both apply what follows.
func ExampleRSM() {
	agent, _ := vstest.Start("n1") // an agent in this process
	defer agent.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := func(name string) (*vs.RSM, *sum) {
		c, _ := agent.Dial(ctx, name)
		m := &sum{}
		r := vs.NewRSM(c, "sum", m, func(l vs.LeaderChange) {
			if l.Self {
				fmt.Println(name, "leads")
			}
		})
		go r.Run(ctx)
		return r, m
	}
	wait := func(cond func() bool) {
		for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	a, am := start("a")
	for _, op := range []string{"1", "2", "3"} {
		a.Submit(ctx, []byte(op))
	}
	wait(func() bool { return am.get() == 6 })
	fmt.Println("a:", am.get())

	b, bm := start("b")
	wait(b.Synced)
	b.Submit(ctx, []byte("10"))
	wait(func() bool { return am.get() == 16 && bm.get() == 16 })
	fmt.Println("a:", am.get(), "b:", bm.get())
	// Output:
	// a leads
	// a: 6
	// a: 16 b: 16
}
