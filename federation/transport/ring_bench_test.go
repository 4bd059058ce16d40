package transport_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
	"github.com/atoll-gcs/atoll/topology"
)

// BenchmarkRingWAN runs a federation ring of three sites — localring
// nodes with the WAN preset and the timeouts topology.DeriveTimeouts gives
// this ring, each driven by driver.Driver over this transport — through a
// wanem mesh: 200 ms RTT between every two sites, a 50 Mbit/s cap each
// way, 0 % or 1 % random loss each way. Each site submits Agreed messages
// of 1000 bytes:
//
//   - paced: 20 messages/s per site for 15 s; p50-ms and p99-ms are the
//     agreed latency from Submit to delivery at the last of the three
//     sites, undelivered% the messages not delivered everywhere within
//     5 s of the end;
//   - saturated: every site keeps its send queue full for 12 s; msgs/s is
//     the rate delivered at every site from second 4 to 12.
//
// reconfigs counts the configurations installed after the first,
// token-losses the members' token loss timeouts, and queue-drops the
// packets the transports dropped because a send queue was full (message
// and control queues), over both phases; the log gives each transport's
// counters.
//
//	go test -run '^$' -bench RingWAN -benchtime 1x ./federation/transport
func BenchmarkRingWAN(b *testing.B) {
	type variant struct {
		name    string
		mode    transport.Mode
		stripes int
	}
	for _, v := range []variant{
		{"datagrams", transport.ModeDatagrams, 1},
		{"streams", transport.ModeStreams, 1},
		{"streams-default", transport.ModeStreams, 0}, // DefaultStripes, adaptive
		{"streams-16stripes", transport.ModeStreams, 16},
		{"udp", transport.ModeUDP, 0}, // sealed datagrams paced at the declared bandwidth
	} {
		for _, loss := range []float64{0, 0.01} {
			b.Run(fmt.Sprintf("%s/loss=%g%%", v.name, 100*loss), func(b *testing.B) {
				path := wanem.Params{Delay: 100 * time.Millisecond, Loss: loss, BitsPerSec: wanCap}
				var paced, sat ringResult
				for range b.N {
					paced = runRing(b, v.mode, v.stripes, path, wanCap, 15*time.Second, 20)
					sat = runRing(b, v.mode, v.stripes, path, wanCap, 12*time.Second, 0)
				}
				b.ReportMetric(paced.pct(50), "p50-ms")
				b.ReportMetric(paced.pct(99), "p99-ms")
				b.ReportMetric(100*float64(paced.submitted-len(paced.lat))/float64(paced.submitted), "undelivered%")
				b.ReportMetric(sat.rate(4*time.Second, 12*time.Second), "msgs/s")
				b.ReportMetric(float64(paced.reconfigs+sat.reconfigs), "reconfigs")
				b.ReportMetric(float64(paced.tokenLost+sat.tokenLost), "token-losses")
				b.ReportMetric(float64(paced.queueDrops+sat.queueDrops), "queue-drops")
			})
		}
	}
}

const ringMsgBytes = 1000

// ringSubmitBatch bounds the messages a saturating site submits per pass
// of its driver's loop (Hooks.Pass must not block): a pass comes at least
// every 10 ms, so this keeps the node's queue full, while submitting up
// to the node's 10,000 pending messages in one pass held the loop, and
// the token with it, for 0.65-0.7 s on a loaded machine.
const ringSubmitBatch = 256

type ringResult struct {
	submitted int
	lat       []time.Duration // agreed latency of each message delivered everywhere
	done      []time.Duration // when each of them was delivered everywhere
	reconfigs int
	tokenLost int
	// starvedLosses are the token losses that came within a token
	// timeout of a stall of the whole process (ringTap.probe): on a
	// loaded machine the test, not the ring, lost those.
	starvedLosses int
	queueDrops    uint64 // packets dropped by the transports' full send queues
	// ringSent and ringRefused are the transports' sealed datagrams sent
	// and refused (ModeUDP: malformed, unknown key, forged, replayed).
	ringSent, ringRefused uint64
	// trace is every member's EVS trace (EVS.md's lines, domain
	// fed/test) up to 5 s after the load ended, before the members
	// leave; oneRing says whether every member's last regular
	// configuration was then one and the same, of all three sites.
	trace   []evs.Event
	oneRing bool
}

func (r *ringResult) pct(p float64) float64 {
	w := wanResult{lat: r.lat}
	return w.pct(p)
}

func (r *ringResult) rate(from, to time.Duration) float64 {
	n := 0
	for _, d := range r.done {
		if d >= from && d < to {
			n++
		}
	}
	return float64(n) / (to - from).Seconds()
}

// ringTrack records deliveries at every member.
type ringTrack struct {
	mu        sync.Mutex
	base      time.Time
	submitted map[uint64]time.Duration // message key → submit time
	seen      map[uint64]int           // members that delivered it
	last      map[uint64]time.Duration // latest delivery
	installs  int
	tokenLost int // token losses while measuring
	// ended is set when the measurement ends, 5 s after the load: token
	// losses and installs are counted from the ring's forming until then,
	// the drain of the queues after the load included.
	ended bool
	conf  []string // each member's regular configuration: id and size
	size  []int
	trace []evs.Event // every member's, in each member's order
}

// runRing runs the ring of three sites through a mesh of path for d after
// it formed, each site submitting rate messages/s (0: as many as its
// queue takes), and 5 s more for what was submitted to be delivered. The
// window is sized from declared bits/s over the rotation, as the
// federation ring sizes it from the topology's declared bandwidth. For
// each token loss it logs what ringTap recorded before it.
func runRing(b testing.TB, mode transport.Mode, stripes int, path wanem.Params, declared int64, d time.Duration, rate int) ringResult {
	sites := []string{"a", "b", "c"}
	w := newWorld(b, sites...)
	pcs, addrs := w.sockets()
	mesh, err := wanem.NewMesh(wanem.MeshConfig{Sites: addrs, Link: path})
	if err != nil {
		b.Fatal(err)
	}
	defer mesh.Close()

	// The timeouts the planner derives for this ring: rotation = the sum of
	// the one-way delays around it.
	rtt := 2 * path.Delay
	tm := topology.DeriveTimeouts(3*path.Delay, rtt)
	tr := &ringTrack{base: time.Now(), submitted: map[uint64]time.Duration{}, seen: map[uint64]int{}, last: map[uint64]time.Duration{},
		conf: make([]string, len(sites)), size: make([]int, len(sites))}
	tap := newRingTap(tr.base)
	tap.timeout = tm.Token.D()
	begin, stop := make(chan struct{}), make(chan struct{})
	var beginAt time.Duration // written before begin is closed
	begun := func() bool {
		select {
		case <-begin:
			return true
		default:
			return false
		}
	}
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
		}
		return begun()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	drivers := make([]*driver.Driver, len(sites))
	trs := make([]*transport.Transport, len(sites))
	for i, s := range sites {
		via := map[string]string{}
		for _, o := range sites {
			via[o] = mesh.Addr(s, o)
		}
		cfg := w.config(s, pcs[s], via, mode, nil)
		cfg.Stripes = stripes
		if mode == transport.ModeUDP {
			cfg.Bandwidth = declared
		}
		t := start(b, cfg)
		trs[i] = t
		rcfg := localring.DefaultWAN(localring.NodeID(s)).WithTimings(localring.Timings{
			Token: tm.Token.D(), Retransmit: tm.Retransmit.D(), Consensus: tm.Consensus.D(), Join: tm.Join.D(),
		})
		rcfg.WindowPackets = localring.WindowForBDP(declared, 3*path.Delay, rcfg.MaxPacketBytes)
		rcfg.MaxPacketsPerVisit = rcfg.WindowPackets
		federation.FitPacket(&rcfg, t.MaxPacket()) // as the gateway runner does
		node, err := localring.New(rcfg)
		if err != nil {
			b.Fatal(err)
		}
		proc := tracemap.Proc{Node: s, Inc: rcfg.Incarnation, Domain: "fed/test"}
		idx := uint64(i)
		var seq uint64
		submit := func(now time.Time) bool {
			key := idx<<32 | seq
			payload := make([]byte, ringMsgBytes) // the node keeps it
			binary.BigEndian.PutUint64(payload, key)
			if _, err := node.Submit(now, localring.Agreed, payload); err != nil {
				return false
			}
			tr.mu.Lock()
			tr.submitted[key] = now.Sub(tr.base)
			tr.mu.Unlock()
			seq++
			return true
		}
		next := time.Duration(-1)
		drv, err := driver.New(driver.Config{
			Node: node, Transport: &tapTransport{Transport: t, site: s, tap: tap}, Store: &drivertest.Store{},
			MaxBacklogBytes: t.BacklogBound(rcfg.WindowPackets * rcfg.MaxPacketBytes),
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
			Hooks: driver.Hooks{
				Events: func(now time.Time, es []localring.Event) {
					at := now.Sub(tr.base)
					tr.mu.Lock()
					defer tr.mu.Unlock()
					for _, e := range es {
						if l, ok := proc.Ring(&e); ok {
							tr.trace = append(tr.trace, l)
						}
						switch {
						case e.Kind == localring.EventTokenLost && begun() && !tr.ended:
							tr.tokenLost++
							tap.tokenLost(at, sites[idx])
						case e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular:
							tr.installs++
							tr.conf[idx], tr.size[idx] = e.Conf.ID, len(e.Conf.Members)
						case e.Kind == localring.EventDeliver && len(e.Msg.Payload) >= 8:
							key := binary.BigEndian.Uint64(e.Msg.Payload)
							tr.seen[key]++
							tr.last[key] = max(tr.last[key], at)
						}
					}
				},
				Pass: func(now time.Time) {
					if !running() {
						return
					}
					t0 := time.Now()
					defer tap.pass(sites[idx], t0)
					if next < 0 {
						next = beginAt
					}
					if rate == 0 {
						for range ringSubmitBatch {
							if !submit(now) {
								break
							}
						}
						return
					}
					for now.Sub(tr.base) >= next {
						if !submit(now) {
							break
						}
						next += time.Second / time.Duration(rate)
					}
				},
				Deadline: func() time.Time {
					if !running() {
						return time.Time{}
					}
					if rate == 0 || next < 0 {
						return time.Now().Add(10 * time.Millisecond)
					}
					return tr.base.Add(next)
				},
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		drivers[i] = drv
		wg.Go(func() { drv.Run(ctx) })
	}
	// Wait for the ring of three, then measure from then on.
	deadline := time.Now().Add(30 * time.Second)
	firstInstalls := 0
	for {
		tr.mu.Lock()
		formed := true
		for i := range sites {
			formed = formed && tr.size[i] == len(sites) && tr.conf[i] == tr.conf[0]
		}
		firstInstalls = tr.installs
		tr.mu.Unlock()
		if formed {
			beginAt = time.Since(tr.base)
			close(begin)
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the three sites did not form a ring")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, drv := range drivers {
		drv.Wake()
	}
	sampDone := make(chan struct{})
	stopProbe := sync.OnceFunc(tap.startProbe().Stop)
	defer stopProbe()
	// What each direction's queue and stripes were like from second 4 on
	// (the saturated phase's measurement): the share of samples with no
	// message bytes queued (the ring gave the connections nothing to send),
	// the mean queued bytes and the mean active stripes.
	type qdir struct {
		n, empty          int
		bytes, act, total float64
	}
	qs := map[[2]string]*qdir{}
	_, sampleQueues := b.(*testing.B) // the benchmark's log only: the tests run as before
	sampExited := make(chan struct{})
	wg.Go(func() {
		defer close(sampExited)
		tk := time.NewTicker(25 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				tap.sample(trs, sites, mesh)
				if !sampleQueues || time.Since(tr.base)-beginAt < 4*time.Second {
					continue
				}
				for i, t := range trs {
					for _, o := range sites {
						if o == sites[i] {
							continue
						}
						q, a, n := t.PeerQueue(o)
						k := [2]string{sites[i], o}
						if qs[k] == nil {
							qs[k] = &qdir{}
						}
						d := qs[k]
						d.n++
						if q == 0 {
							d.empty++
						}
						d.bytes += float64(q)
						d.act += float64(a)
						d.total += float64(n)
					}
				}
			case <-sampDone:
				return
			}
		}
	})
	time.Sleep(d)
	close(sampDone)
	<-sampExited
	tap.summary(b, sites, beginAt, beginAt+d)
	for k, d := range qs {
		if d.n > 0 {
			b.Logf("%s→%s queue: empty in %.0f %% of %d samples, mean %.0f KiB queued, %.1f of %.1f stripes active", k[0], k[1],
				100*float64(d.empty)/float64(d.n), d.n, d.bytes/float64(d.n)/1024, d.act/float64(d.n), d.total/float64(d.n))
		}
	}
	for i, t := range trs {
		for _, o := range sites {
			if o == sites[i] {
				continue
			}
			for j, cs := range t.ConnStats(o) {
				b.Logf("%s→%s conn %d: cwnd %d B, srtt %v, sent %d pkts, lost %d pkts (%.2f %%), %.2f Mbit/s sent over the run", sites[i], o, j, cs.CongestionWindow, cs.SmoothedRTT, cs.PacketsSent, cs.PacketsLost, 100*float64(cs.PacketsLost)/float64(max(cs.PacketsSent, 1)), float64(cs.BytesSent)*8/1e6/time.Since(tr.base).Seconds())
			}
		}
	}
	close(stop)
	time.Sleep(5 * time.Second)
	// The traces before the members leave (cancel): one copy of all three
	// under tr.mu, which the Events hooks hold while they append.
	tr.mu.Lock()
	tr.ended = true
	installs := tr.installs
	trace := slices.Clone(tr.trace)
	oneRing := true
	for i := range sites {
		oneRing = oneRing && tr.size[i] == len(sites) && tr.conf[i] == tr.conf[0]
	}
	tr.mu.Unlock()
	stopProbe()
	cancel()
	wg.Wait()
	tap.report(b)

	tr.mu.Lock()
	defer tr.mu.Unlock()
	res := ringResult{submitted: len(tr.submitted), reconfigs: (installs - firstInstalls) / len(sites), tokenLost: tr.tokenLost,
		starvedLosses: tap.starvedLosses(tm.Token.D()), trace: trace, oneRing: oneRing}
	for i, t := range trs {
		st := t.Stats()
		ns := drivers[i].Node().Stats()
		b.Logf("%s rate=%d: site %s: sent %d, received %d, dropped (queue full) %d messages, %d control, no connection %d; the ring node halved its window %d times (AdaptWindow), asked for %d packets (%d of them gaps in a sender's visit, RequestGaps) and retransmitted %d; nacked %d packets (%d observations too long to), answered %d nacks, sent %d token nacks and resent %d tokens on one; %d token retransmissions", mode, rate, sites[i], st.PacketsSent, st.PacketsReceived, st.SendDrops, st.ControlDrops, st.SendNoConn, ns.WindowCuts, ns.RetransmitRequests, ns.GapRequests, ns.Retransmits, ns.Nacks, ns.NackRunsSkipped, ns.NackAnswers, ns.TokenNacks, ns.TokenNackResends, ns.TokenRetransmits)
		res.queueDrops += st.SendDrops + st.ControlDrops
		res.ringSent += st.RingSent
		res.ringRefused += st.RingMalformed + st.RingUnknownKey + st.RingForged + st.RingReplayed
		if mode == transport.ModeUDP {
			b.Logf("site %s: sealed datagrams sent %d, received %d, gaps %d, pacer waits %d; refused: malformed %d, unknown key %d, forged %d, replayed %d; receive queue full %d",
				sites[i], st.RingSent, st.RingReceived, st.RingGaps, st.RingPaceWaits, st.RingMalformed, st.RingUnknownKey, st.RingForged, st.RingReplayed, st.RingRecvFull)
		}
	}
	for _, from := range sites {
		for _, to := range sites {
			if from != to {
				b.Logf("relay %s→%s: %s", from, to, mesh.Link(from, to).Stats())
			}
		}
	}
	for key, at := range tr.submitted {
		if tr.seen[key] == len(sites) {
			res.lat = append(res.lat, tr.last[key]-at)
			res.done = append(res.done, tr.last[key]-beginAt)
		}
	}
	slices.Sort(res.done)
	return res
}
