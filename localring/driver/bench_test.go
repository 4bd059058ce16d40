package driver_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
)

// BenchmarkRing measures three drivers over the in-memory transport:
// b.N messages of 100 bytes, submitted by all three in turn as fast as
// the ring's flow control allows, delivered at every member. It reports
// msgs/s (ordered and delivered at all three); allocs/op include the
// fake transport's copy of every packet and the core's.
func BenchmarkRing(b *testing.B) {
	const members = 3
	var net drivertest.Network
	var delivered [members]atomic.Int64
	ds := make([]*driver.Driver, members)
	payload := make([]byte, 100)
	var left [members]atomic.Int64
	for i := range members {
		id := localring.NodeID(fmt.Sprintf("n%d", i+1))
		node, err := localring.New(localring.Config{ID: id, Incarnation: 1})
		if err != nil {
			b.Fatal(err)
		}
		f, err := net.Join(id)
		if err != nil {
			b.Fatal(err)
		}
		d, err := driver.New(driver.Config{Node: node, Transport: f, Store: &drivertest.Store{}, Logger: quiet(),
			Hooks: driver.Hooks{
				Events: func(now time.Time, evs []localring.Event) {
					for j := range evs {
						if evs[j].Kind == localring.EventDeliver {
							delivered[i].Add(1)
						}
					}
				},
				Pass: func(now time.Time) {
					for left[i].Load() > 0 {
						if _, err := node.Submit(now, localring.Agreed, payload); err != nil {
							break
						}
						left[i].Add(-1)
					}
				},
			}})
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, members)
	for _, d := range ds {
		go func() { done <- d.Run(ctx) }()
	}
	// Wait for the ring: one message from n1 delivered everywhere.
	left[0].Store(1)
	ds[0].Wake()
	for !all(&delivered, 1) {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range members {
		left[i].Store(int64(b.N/members + boolInt(i < b.N%members)))
		ds[i].Wake()
	}
	for !all(&delivered, int64(1+b.N)) {
		time.Sleep(100 * time.Microsecond)
		for i := range members {
			if left[i].Load() > 0 {
				ds[i].Wake()
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	cancel()
	for range members {
		<-done
	}
}

func all(ds *[3]atomic.Int64, n int64) bool {
	for i := range ds {
		if ds[i].Load() < n {
			return false
		}
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
