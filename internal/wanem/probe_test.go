package wanem

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// A probe sends numbered, timestamped datagrams through a relay's forward
// link to a sink and records when each arrives, on the process's monotonic
// clock, so one-way delays are measured exactly (sender and sink share the
// clock).

type arrival struct {
	seq   uint64
	delay time.Duration // one-way, send to receive
	at    time.Duration // receive time since the probe's start
	size  int
}

type probeResult struct {
	sent     int
	arrivals []arrival
	stats    Stats // of the forward link, after the run
}

// probeRelay is the relay a probe goes through: in this process, or in
// another (relayProcess).
type probeRelay interface {
	Addr() string
	forwardStats(tb testing.TB) Stats
	Close() error
}

func (r *Relay) forwardStats(testing.TB) Stats { return r.fwd.Stats() }

// runProbe sends n datagrams of size bytes at pps per second through a
// relay in this process whose forward link has p, and waits until the link
// has delivered or dropped all of them.
func runProbe(tb testing.TB, p Params, n, pps, size int) probeResult {
	tb.Helper()
	return runProbeVia(tb, func(target string) probeRelay {
		r, err := New(Config{Target: target, Forward: p, Seed: 42})
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}, p, n, pps, size)
}

// runProbeVia is runProbe through the relay that start returns for a
// target.
func runProbeVia(tb testing.TB, start func(target string) probeRelay, p Params, n, pps, size int) probeResult {
	tb.Helper()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	defer sink.Close()
	sink.SetReadBuffer(socketBuffer)
	r := start(sink.LocalAddr().String())
	defer r.Close()
	src, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(mustAddrPort(tb, r.Addr())))
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	src.SetWriteBuffer(socketBuffer)

	begin := time.Now()
	var (
		mu   sync.Mutex
		res  = probeResult{sent: n}
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, maxDatagram)
		for {
			m, err := sink.Read(buf)
			now := time.Since(begin)
			if err != nil {
				return
			}
			if m < 16 {
				continue
			}
			seq := binary.BigEndian.Uint64(buf)
			sentAt := time.Duration(binary.BigEndian.Uint64(buf[8:]))
			mu.Lock()
			res.arrivals = append(res.arrivals, arrival{seq: seq, delay: now - sentAt, at: now, size: m})
			mu.Unlock()
		}
	}()

	pkt := make([]byte, max(size, 16))
	interval := time.Second / time.Duration(pps)
	for i := 0; i < n; {
		due := int(time.Since(begin)/interval) + 1
		for ; i < min(due, n); i++ {
			binary.BigEndian.PutUint64(pkt, uint64(i))
			binary.BigEndian.PutUint64(pkt[8:], uint64(time.Since(begin)))
			if _, err := src.Write(pkt); err != nil {
				tb.Fatal(err)
			}
		}
		if i < n {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * interval)))
		}
	}
	// Wait until the link has taken every datagram in and let out all of
	// them, and the sink has read them; or, as the kernel may drop some
	// on the way in or out on a loaded machine, until nothing has moved
	// for a second with nothing in flight.
	deadline := time.Now().Add(60*time.Second + 2*p.Delay)
	var last Stats
	lastGot := -1
	lastChange := time.Now()
	for {
		st := r.forwardStats(tb)
		mu.Lock()
		got := len(res.arrivals)
		mu.Unlock()
		if st.Packets != last.Packets || st.Delivered != last.Delivered || got != lastGot {
			last, lastGot, lastChange = st, got, time.Now()
		}
		if st.InFlight == 0 && (st.Packets == uint64(n) && uint64(got) >= st.Delivered || time.Since(lastChange) > time.Second) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("probe did not drain: link %+v, sink got %d", st, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sink.Close()
	<-done
	res.stats = r.forwardStats(tb)
	return res
}

// summary of a probe run.
type summary struct {
	received   int             // datagrams, copies included
	unique     int             // distinct sequence numbers
	dups       int             // extra copies
	reordered  int             // arrivals with a lower seq than one already seen
	delays     []time.Duration // sorted one-way delays of first copies
	throughput float64         // bits/s of payload between first and last arrival
}

func (r probeResult) summarize() summary {
	var s summary
	seen := map[uint64]bool{}
	var maxSeq uint64
	var first, last time.Duration = -1, 0
	var bits float64
	for i, a := range r.arrivals {
		s.received++
		if seen[a.seq] {
			s.dups++
			continue
		}
		seen[a.seq] = true
		s.unique++
		if i > 0 && a.seq < maxSeq {
			s.reordered++
		}
		maxSeq = max(maxSeq, a.seq)
		s.delays = append(s.delays, a.delay)
		if first < 0 {
			first = a.at
		} else {
			bits += float64(a.size) * 8
		}
		last = a.at
	}
	slices.Sort(s.delays)
	if last > first {
		s.throughput = bits / (last - first).Seconds()
	}
	return s
}

func (s summary) quantile(q float64) time.Duration {
	if len(s.delays) == 0 {
		return 0
	}
	return s.delays[min(int(q*float64(len(s.delays))), len(s.delays)-1)]
}

func (s summary) mean() time.Duration {
	var sum time.Duration
	for _, d := range s.delays {
		sum += d
	}
	return sum / time.Duration(max(len(s.delays), 1))
}
