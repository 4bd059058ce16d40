// Counter is a replicated counter that stays consistent when replicas
// die: the RandomCounter of SenseiGMS on package vs.
//
// Several replicas, each an Atoll client of an agent embedded in this
// process, add random amounts to one counter (a vs.RSM over the group
// "counter"). While they do, some replicas are killed (their sessions
// end) and a new one joins, getting the state by transfer. Each survivor
// says "done" when it has submitted its operations; every replica notes
// the counter at the point of the total order where the last survivor's
// "done" is applied. The survivors print that value: they agree.
//
//	go run ./examples/counter -replicas 5 -kill 2 -ops 200 -seed 1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/vs"
	"github.com/atoll-gcs/atoll/vs/vstest"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.Replicas, "replicas", 5, "replicas at the start")
	flag.IntVar(&cfg.Kill, "kill", 2, "replicas killed while they work")
	flag.IntVar(&cfg.Ops, "ops", 200, "increments each replica submits")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
}

type config struct {
	Replicas, Kill, Ops int
	Seed                uint64
}

// state is the replicated state: the counter, the operations applied,
// the replicas done, and the counter when the last one was done.
type state struct {
	Value int64           `json:"value"`
	Ops   int64           `json:"ops"`
	Done  map[string]bool `json:"done"`
	Final *[2]int64       `json:"final,omitempty"`
}

// op is one operation: add Add, or (Done set) say that replica is done.
type op struct {
	Add  int64  `json:"add,omitempty"`
	Done string `json:"done,omitempty"`
}

// machine is a vs.Machine over state; survivors is how many "done" end
// the run.
type machine struct {
	mu        sync.Mutex
	s         state
	survivors int
}

func (m *machine) Apply(b []byte) {
	var o op
	if json.Unmarshal(b, &o) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Ops++
	m.s.Value += o.Add
	if o.Done != "" {
		m.s.Done[o.Done] = true
		if len(m.s.Done) == m.survivors && m.s.Final == nil {
			m.s.Final = &[2]int64{m.s.Value, m.s.Ops}
		}
	}
}

func (m *machine) Snapshot() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, _ := json.Marshal(m.s)
	return b
}

func (m *machine) Restore(b []byte) error {
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s.Done == nil {
		s.Done = map[string]bool{}
	}
	m.mu.Lock()
	m.s = s
	m.mu.Unlock()
	return nil
}

func (m *machine) final() (value, ops int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s.Final == nil {
		return 0, 0, false
	}
	return m.s.Final[0], m.s.Final[1], true
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	if cfg.Kill >= cfg.Replicas {
		return errors.New("kill fewer replicas than there are")
	}
	a, err := vstest.Start("n1")
	if err != nil {
		return err
	}
	defer a.Stop()
	ctx, cancel := context.WithCancel(ctx)
	var runs sync.WaitGroup // the replicas' Run: nothing prints after run returns
	defer func() {
		cancel()
		runs.Wait()
	}()
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	say("seed %d: %d replicas, %d to kill, %d increments each", cfg.Seed, cfg.Replicas, cfg.Kill, cfg.Ops)

	type replica struct {
		name string
		m    *machine
		rsm  *vs.RSM
		stop func() error
		seed uint64
	}
	survivors := cfg.Replicas - cfg.Kill + 1 // one joins
	var wg sync.WaitGroup
	start := func(name string) (*replica, error) {
		c, err := a.Dial(ctx, name)
		if err != nil {
			return nil, err
		}
		r := &replica{name: name, m: &machine{s: state{Done: map[string]bool{}}, survivors: survivors}, stop: c.Close, seed: rng.Uint64()}
		r.rsm = vs.NewRSM(c, "counter", r.m, func(l vs.LeaderChange) {
			if l.Self {
				say("%s: I lead now (view %s)", name, l.ViewID)
			}
		})
		runs.Go(func() {
			if err := r.rsm.Run(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrClosed) {
				say("%s: stopped: %v", name, err)
			}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.seed, 1))
			for range cfg.Ops {
				b, _ := json.Marshal(op{Add: rng.Int64N(10) + 1})
				if r.rsm.Submit(ctx, b) != nil {
					return // killed
				}
				time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
			}
			b, _ := json.Marshal(op{Done: name})
			if r.rsm.Submit(ctx, b) == nil {
				say("%s: submitted %d increments", name, cfg.Ops)
			}
		}()
		return r, nil
	}
	var rs []*replica
	for i := range cfg.Replicas {
		r, err := start(fmt.Sprintf("r%d", i+1))
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	// Kill replicas at random moments once every replica holds the state
	// (a group whose members with state all die loses it: see
	// vs.Transfer), then add a joiner.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		synced := 0
		for _, r := range rs {
			if r.rsm.Synced() {
				synced++
			}
		}
		if synced == len(rs) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the replicas did not all get the state within 10s")
		}
	}
	for _, i := range rng.Perm(cfg.Replicas)[:cfg.Kill] {
		time.Sleep(time.Duration(rng.IntN(20)+5) * time.Millisecond)
		rs[i].stop()
		say("%s: killed", rs[i].name)
		rs[i] = nil
	}
	joiner, err := start(fmt.Sprintf("r%d", cfg.Replicas+1))
	if err != nil {
		return err
	}
	say("%s: joined; it gets the counter by state transfer", joiner.name)
	rs = append(rs, joiner)
	wg.Wait()

	deadline := time.Now().Add(30 * time.Second)
	var want [2]int64
	first, agree := true, true
	for _, r := range rs {
		if r == nil {
			continue
		}
		var v, n int64
		for ok := false; !ok; {
			if v, n, ok = r.m.final(); !ok {
				if time.Now().After(deadline) {
					r.m.mu.Lock()
					defer r.m.mu.Unlock()
					return fmt.Errorf("%s never saw every survivor done: %d ops, done %v, synced %v", r.name, r.m.s.Ops, r.m.s.Done, r.rsm.Synced())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		say("%s: counter %d after %d operations", r.name, v, n)
		if first {
			want, first = [2]int64{v, n}, false
		} else if want != [2]int64{v, n} {
			agree = false
		}
		r.stop()
	}
	if !agree {
		say("survivors DISAGREE")
		return errors.New("survivors disagree")
	}
	say("survivors agree: counter %d", want[0])
	return nil
}
