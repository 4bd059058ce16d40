package agenttest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/trace"
	"time"

	"github.com/atoll-gcs/atoll/internal/agenttest"
)

// flightOnLoss (debugging aid, ATOLL_FLIGHT=dir): a flight recorder whose
// window is written to dir each time an agent's token losses rise.
func flightOnLoss(c *agenttest.Cluster) (stop func()) {
	dir := os.Getenv("ATOLL_FLIGHT")
	if dir == "" {
		return func() {}
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 2 * time.Second, MaxBytes: 256 << 20})
	if err := fr.Start(); err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		last := map[string]uint64{}
		for _, id := range c.IDs {
			if a := c.Agent(id); a != nil {
				last[id] = a.Status().Counters.TokenLosses
			}
		}
		n := 0
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, id := range c.IDs {
				a := c.Agent(id)
				if a == nil {
					continue
				}
				l := a.Status().Counters.TokenLosses
				if l > last[id] {
					last[id] = l
					n++
					f, _ := os.Create(filepath.Join(dir, fmt.Sprintf("loss%d-%s.trace", n, id)))
					fr.WriteTo(f)
					f.Close()
					fmt.Fprintf(os.Stderr, "FLIGHT %s token loss %d at %s\n", id, l, time.Now().Format("15:04:05.000"))
				}
			}
		}
	}()
	return func() { close(done); fr.Stop() }
}
