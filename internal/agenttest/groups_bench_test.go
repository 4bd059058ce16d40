package agenttest_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/agenttest"
	"github.com/atoll-gcs/atoll/localring"
)

// BenchmarkGroupsConfChange measures what a configuration change costs
// three agents that hold many groups, with the LAN ring preset (200 ms
// token timeout) and the cloud one (1 s): G groups with a member at every
// node (100 in-process clients per node, each in G/100 groups), then node
// n3 stops (every group loses a member) and starts again without members
// (a state exchange of every group). leave-s and rejoin-s are the times
// until a probe group's view shows the change applied everywhere;
// token-losses and rings count n1's token losses and installed rings
// during the two changes (one ring each when nothing stalls). heap-MiB is
// the process's heap after the joins (three agents and their 300
// in-process clients), join-ms the time until a client per node has
// joined one more group and n1's sees their view. With ATOLL_FLIGHT=dir
// an execution trace of the last seconds goes to dir at every token loss
// of an agent (flightOnLoss).
//
//	go test ./internal/agenttest -run '^$' -bench 'GroupsConfChange/preset=lan/groups=10000$' -benchtime 1x
func BenchmarkGroupsConfChange(b *testing.B) {
	for _, preset := range []string{"lan", "cloud"} {
		for _, g := range []int{1000, 10000, 30000, 100000} {
			b.Run(fmt.Sprintf("preset=%s/groups=%d", preset, g), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					groupsConfChange(b, preset, g)
				}
			})
		}
	}
}

func groupsConfChange(b *testing.B, preset string, groups int) {
	const perNode = 100
	c := agenttest.New(b.TempDir(), 3)
	b.Cleanup(func() { c.StopAll(time.Minute) })
	quiet := func(cfg *agent.Config) {
		if preset == "cloud" {
			cfg.Ring = localring.DefaultCloud("")
		}
		cfg.TracePath = ""
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, id := range c.IDs {
		if _, err := c.Start(id, quiet); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.WaitRing(c.IDs, 20*time.Second); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dial := func(id, name string) *client.Client {
		cl, err := client.DialAgent(ctx, c.Agent(id), client.WithName(name))
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range cl.Events() {
			}
		}()
		b.Cleanup(func() { cl.Close() })
		return cl
	}
	// Every node's clients join their groups, all at once.
	var wg sync.WaitGroup
	errs := make(chan error, 3*perNode)
	t0 := time.Now()
	for _, id := range c.IDs {
		for k := 0; k < perNode; k++ {
			cl := dial(id, "c"+strconv.Itoa(k))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := k; j < groups; j += perNode {
					if err := cl.Join(ctx, "g-"+strconv.Itoa(j)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// probe joins a client per node to group and waits for the view of
	// them all at n1: every join before it was applied by then.
	probe := func(group string, ids ...string) {
		var names []string
		var watch *client.Client
		for _, id := range ids {
			cl, err := client.DialAgent(ctx, c.Agent(id), client.WithName("probe-"+group))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cl.Close() })
			if watch == nil {
				watch = cl
			} else {
				go func() {
					for range cl.Events() {
					}
				}()
			}
			if err := cl.Join(ctx, group); err != nil {
				b.Fatal(err)
			}
			names = append(names, id+":probe-"+group)
		}
		slices.Sort(names)
		timeout := time.After(5 * time.Minute)
		for {
			select {
			case e, ok := <-watch.Events():
				if !ok {
					b.Fatalf("probe %s: session ended: %v", group, watch.Err())
				}
				if e.Kind == client.EventView && e.View.Group == group && !e.View.Transitional {
					got := slices.Clone(e.View.Members)
					slices.Sort(got)
					if slices.Equal(got, names) {
						return
					}
				}
			case <-timeout:
				b.Fatalf("probe %s: no view of %v within 2 minutes", group, names)
			}
		}
	}
	probe("probe-joined", c.IDs...)
	b.ReportMetric(time.Since(t0).Seconds(), "setup-s")
	// The heap of the three agents and their in-process clients, and the
	// time one more group takes to form (a client per node joins it).
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ms.HeapAlloc)/float64(3*groups), "heap-B/group/node")
	tj := time.Now()
	probe("probe-join", c.IDs...)
	b.ReportMetric(float64(time.Since(tj).Microseconds())/1000, "join-ms")

	counters := func() (losses, rings uint64) {
		st := c.Agent("n1").Status().Counters
		return st.TokenLosses, st.RingsInstalled
	}
	l0, r0 := counters()
	defer flightOnLoss(c)()
	t1 := time.Now()
	if err := c.Stop("n3", time.Minute); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitRing(c.IDs[:2], 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	probe("probe-left", "n1", "n2")
	leave := time.Since(t1)
	t2 := time.Now()
	if _, err := c.Start("n3", quiet); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitRing(c.IDs, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	probe("probe-back", c.IDs...)
	rejoin := time.Since(t2)
	l1, r1 := counters()
	b.ReportMetric(leave.Seconds(), "leave-s")
	b.ReportMetric(rejoin.Seconds(), "rejoin-s")
	b.ReportMetric(float64(l1-l0), "token-losses")
	b.ReportMetric(float64(r1-r0), "rings")
}
