package transport_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// BenchmarkWAN compares datagrams and streams over an emulated WAN path
// (internal/wanem): 200 ms RTT, a 50 Mbit/s cap each way with wanem's
// default queue (100 ms at the cap), and 0 % or 1 % random loss each way.
// Site a sends ring-sized packets (1200 bytes) to site b through the relay
// in two phases, each on fresh connections:
//
//   - saturated: a offers far more than the cap for 6 s; Mbit/s and %cap
//     are what b received from second 2 to 6 (after slow start);
//   - paced: a sends 50 packets/s (480 kbit/s) for 10 s; delivered% is
//     the share that arrived (within 3 s of the end), p50-ms and p99-ms the
//     one-way latency of those that did.
//
// Run it alone, it takes about a minute and a half:
//
//	go test -run '^$' -bench WAN -benchtime 1x ./federation/transport
func BenchmarkWAN(b *testing.B) {
	for _, mode := range []transport.Mode{transport.ModeDatagrams, transport.ModeStreams} {
		for _, loss := range []float64{0, 0.01} {
			b.Run(fmt.Sprintf("%s/loss=%g%%", mode, 100*loss), func(b *testing.B) {
				path := wanem.Params{Delay: 100 * time.Millisecond, Loss: loss, BitsPerSec: wanCap}
				var sat, paced wanResult
				for range b.N {
					sat = runWAN(b, mode, path, 6*time.Second, 0)
					paced = runWAN(b, mode, path, 10*time.Second, wanPaced)
				}
				b.ReportMetric(sat.mbps(2*time.Second, 6*time.Second), "Mbit/s")
				b.ReportMetric(100*sat.mbps(2*time.Second, 6*time.Second)/(wanCap/1e6), "%cap")
				b.ReportMetric(100*float64(len(paced.lat))/float64(paced.sent), "delivered%")
				b.ReportMetric(paced.pct(50), "p50-ms")
				b.ReportMetric(paced.pct(99), "p99-ms")
			})
		}
	}
}

const (
	wanCap    = 50_000_000 // bits per second
	wanPacket = 1200       // bytes
	// wanPaced is the paced phase's rate in packets per second: 480
	// kbit/s, below what a loss-based congestion controller sustains at
	// 200 ms RTT and 1 % loss (about 0.6 Mbit/s by the Mathis formula).
	wanPaced = 50
)

type wanResult struct {
	sent int
	at   []time.Duration // arrival times since the start, per packet
	lat  []time.Duration // one-way latencies
}

// mbps is the received rate between from and to after the start.
func (r *wanResult) mbps(from, to time.Duration) float64 {
	n := 0
	for _, a := range r.at {
		if a >= from && a < to {
			n++
		}
	}
	return float64(n*wanPacket*8) / (to - from).Seconds() / 1e6
}

// pct returns the p-th percentile latency in milliseconds.
func (r *wanResult) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := min(len(s)-1, int(float64(len(s))*p/100))
	return float64(s[i]) / float64(time.Millisecond)
}

// runWAN sends from a to b through a relay with path both ways for d, at
// rate packets per second (0: as fast as Send takes them), and returns
// what b received.
func runWAN(b *testing.B, mode transport.Mode, path wanem.Params, d time.Duration, rate int) wanResult {
	w := newWorld(b, "a", "b")
	pcs, addrs := w.sockets()
	relay, err := wanem.Pipe(addrs["b"], path)
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	via := map[string]string{"a": addrs["a"], "b": relay.Addr()}
	ta, tb := start(b, w.config("a", pcs["a"], via, mode, nil)), start(b, w.config("b", pcs["b"], addrs, mode, nil))
	defer ta.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := ta.Connected("b"); ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("a did not connect to b through the relay")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var res wanResult
	var mu sync.Mutex
	base := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ps := make([]driver.Packet, 64)
		for i := range ps {
			ps[i].Buf = make([]byte, tb.MaxPacket())
		}
		for {
			n, err := tb.Recv(ps)
			if err != nil {
				return
			}
			now := time.Since(base)
			mu.Lock()
			for _, p := range ps[:n] {
				sentAt := time.Duration(binary.BigEndian.Uint64(p.Data()[8:]))
				res.at = append(res.at, now)
				res.lat = append(res.lat, now-sentAt)
			}
			mu.Unlock()
		}
	}()
	pkt := make([]byte, wanPacket)
	seq := uint64(0)
	send := func() {
		seq++
		binary.BigEndian.PutUint64(pkt, seq)
		binary.BigEndian.PutUint64(pkt[8:], uint64(time.Since(base)))
		ta.Send("b", pkt)
	}
	if rate == 0 {
		for time.Since(base) < d {
			for range 64 {
				send()
			}
			time.Sleep(time.Millisecond)
		}
	} else {
		every := time.Second / time.Duration(rate)
		for next := time.Duration(0); next < d; next += every {
			time.Sleep(time.Until(base.Add(next)))
			send()
		}
	}
	time.Sleep(3 * time.Second) // the last packets arrive or are lost
	tb.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	res.sent = int(seq)
	return res
}
