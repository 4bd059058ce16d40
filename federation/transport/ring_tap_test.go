package transport_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// ringTap records what runRing needs to explain a token loss: each token
// sent and received on each hop (with its token sequence number), each
// member's token losses, the driver passes that took long or came late,
// and every 25 ms the QUIC statistics of each connection and the drops
// of its emulated link. report logs the hops, stalls and samples before
// each loss.
type ringTap struct {
	mu       sync.Mutex
	base     time.Time
	sent     map[[2]string][]tapToken // hop (from, to) → the tokens sent
	recv     map[[2]string][]tapToken // hop → the tokens received
	lost     []tapEvent
	stalls   []tapEvent
	starved  []tapStall        // the whole process did not run (probe)
	probe    *schedprobe.Probe // wake-ups probeLate late or more (startProbe)
	timeout  time.Duration     // the ring's token timeout
	lastPass map[string]time.Time
	samples  []tapSample
}

type tapToken struct {
	at  time.Duration
	seq uint64
}

type tapEvent struct {
	at   time.Duration
	site string
	what string
}

// tapStall is a span in which the scheduling probe did not run.
type tapStall struct{ from, to time.Duration }

type tapSample struct {
	at                 time.Duration
	from, to           string
	srtt, latest       time.Duration
	cwnd               uint64
	sent, lost         uint64 // QUIC packets
	linkLoss, linkDrop uint64 // the link's random losses and tail drops
}

func newRingTap(base time.Time) *ringTap {
	return &ringTap{base: base, sent: map[[2]string][]tapToken{}, recv: map[[2]string][]tapToken{}, lastPass: map[string]time.Time{}}
}

// tapTransport is a site's transport as its driver sees it, recording the
// tokens.
type tapTransport struct {
	*transport.Transport
	site string
	tap  *ringTap
}

func (x *tapTransport) Send(to localring.NodeID, pkt []byte) error {
	if localring.IsToken(pkt) {
		x.tap.token(x.tap.sent, x.site, string(to), pkt)
	}
	return x.Transport.Send(to, pkt)
}

func (x *tapTransport) Recv(ps []driver.Packet) (int, error) {
	n, err := x.Transport.Recv(ps)
	for _, p := range ps[:n] {
		if localring.IsToken(p.Data()) {
			x.tap.token(x.tap.recv, string(p.From), x.site, p.Data())
		}
	}
	return n, err
}

func (tp *ringTap) token(m map[[2]string][]tapToken, from, to string, pkt []byte) {
	at := time.Since(tp.base)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	k := [2]string{from, to}
	m[k] = append(m[k], tapToken{at: at, seq: tokenSeq(pkt)})
}

// tokenSeq reads a token's sequence number (localring's wire format:
// version and type, ring id — sequence number, representative,
// incarnation —, addressee, token sequence number); 0 if it is cut short.
func tokenSeq(pkt []byte) uint64 {
	if len(pkt) < 10 {
		return 0
	}
	b := pkt[10:]
	for _, skip := range []bool{true, false, true} { // representative, its incarnation, addressee
		n, k := binary.Uvarint(b)
		if k <= 0 || (skip && uint64(len(b)-k) < n) {
			return 0
		}
		b = b[k:]
		if skip {
			b = b[n:]
		}
	}
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (tp *ringTap) tokenLost(at time.Duration, site string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.lost = append(tp.lost, tapEvent{at: at, site: site})
}

// probeStall is how late the scheduling probe must wake to count as a
// stall of the whole process: the ring's own work never keeps a 5 ms
// sleeper of the same process from running for this long.
const probeStall = 100 * time.Millisecond

// probeLate is how late a wake-up of the probe must be to count towards
// the time the process did not run before a token loss (lateWithin):
// the timer's own slack and the Go scheduler's are well under it.
const probeLate = 10 * time.Millisecond

// lateWithin sums the probe's lateness in [from, to] (the time the whole
// process did not run then, in wake-ups probeLate late or more) and
// counts those wake-ups.
func (tp *ringTap) lateWithin(from, to time.Duration) (time.Duration, int) {
	if tp.probe == nil {
		return 0, 0 // no probe was started
	}
	sum, n, _ := tp.probe.Within(from, to)
	return sum, n
}

// startProbe starts the scheduling probe (a 5 ms sleeper) that records
// every wake-up at least probeLate late, and apart those at least
// probeStall late: the process (all three sites' drivers with it) did
// not run then, because the machine gave it no CPU. The caller stops it.
func (tp *ringTap) startProbe() *schedprobe.Probe {
	tp.probe = schedprobe.Start(tp.base, probeLate, func(s schedprobe.Stall) {
		if late := s.To - s.From; late >= probeStall {
			tp.mu.Lock()
			tp.starved = append(tp.starved, tapStall{from: s.From, to: s.To})
			tp.stalls = append(tp.stalls, tapEvent{at: s.From, site: "*", what: fmt.Sprintf("the process did not run for %v (scheduling probe)", late.Round(time.Millisecond))})
			tp.mu.Unlock()
		}
	})
	return tp.probe
}

// starvedLosses counts the token losses that came during a stall of the
// whole process or within timeout of its end (a timer that expired in the
// pause fires as the process runs again), and those in whose token
// timeout the process did not run for probeStall or more in all, in
// shorter stalls: the token timeout a member measured then was the
// machine's pauses, not the ring's. On a loaded machine the scheduler
// also starves the process in slices shorter than probeStall: before a
// loss at load 10, all three drivers had no pass for 76-94 ms at the same
// instants three times in the 504 ms token timeout, and a Pass hook that
// submits 256 messages took 67-86 ms; at load 22, 9 to 12 stalls of
// 10-100 ms added up to 226-255 ms of the token timeout before each of
// three losses. Counted one by one against probeStall, none of them was
// the machine's.
func (tp *ringTap) starvedLosses(timeout time.Duration) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	n := 0
	for _, l := range tp.lost {
		late, _ := tp.lateWithin(l.at-timeout, l.at)
		if late >= probeStall || slices.ContainsFunc(tp.starved, func(s tapStall) bool { return s.from <= l.at && l.at <= s.to+timeout }) {
			n++
		}
	}
	return n
}

// pass notes a driver pass of site that ran from t0 to now, if it took
// long or came long after the one before.
func (tp *ringTap) pass(site string, t0 time.Time) {
	end := time.Now()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if d := end.Sub(t0); d > 20*time.Millisecond {
		tp.stalls = append(tp.stalls, tapEvent{at: t0.Sub(tp.base), site: site, what: fmt.Sprintf("Pass hook took %v", d.Round(time.Millisecond))})
	}
	if l, ok := tp.lastPass[site]; ok && t0.Sub(l) > 60*time.Millisecond {
		tp.stalls = append(tp.stalls, tapEvent{at: l.Sub(tp.base), site: site, what: fmt.Sprintf("no pass for %v", t0.Sub(l).Round(time.Millisecond))})
	}
	tp.lastPass[site] = end
}

func (tp *ringTap) sample(trs []*transport.Transport, sites []string, mesh *wanem.Mesh) {
	at := time.Since(tp.base)
	var ss []tapSample
	for i, t := range trs {
		for _, o := range sites {
			if o == sites[i] {
				continue
			}
			cs := t.ConnStats(o)
			if len(cs) == 0 {
				continue
			}
			ls := mesh.Link(sites[i], o).Stats()
			ss = append(ss, tapSample{at: at, from: sites[i], to: o, srtt: cs[0].SmoothedRTT, latest: cs[0].LatestRTT, cwnd: cs[0].CongestionWindow,
				sent: cs[0].PacketsSent, lost: cs[0].PacketsLost, linkLoss: ls.Drops.Loss, linkDrop: ls.Drops.Queue})
		}
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.samples = append(tp.samples, ss...)
}

// report logs, for each token loss, the token's hops in the 1.2 s before
// it (sent, first receipt of that token on that hop), the stalls of the
// drivers then, and the connections' statistics every 100 ms of the
// 400 ms before it.
func (tp *ringTap) report(b testing.TB) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	type hop struct {
		from, to   string
		seq        uint64
		sent, recv time.Duration // recv -1: never arrived
	}
	var hops []hop
	for k, ss := range tp.sent {
		rs := tp.recv[k]
		for _, s := range ss {
			h := hop{from: k[0], to: k[1], seq: s.seq, sent: s.at, recv: -1}
			// The first receipt of that token within a second (a new ring
			// numbers its tokens from the start again).
			for _, r := range rs {
				if r.seq == s.seq && r.at > s.at-time.Second && r.at < s.at+5*time.Second {
					h.recv = r.at
					break
				}
			}
			hops = append(hops, h)
		}
	}
	slices.SortFunc(hops, func(x, y hop) int { return int(x.sent - y.sent) })
	const before = 1200 * time.Millisecond
	for _, l := range tp.lost {
		var sb strings.Builder
		fmt.Fprintf(&sb, "token lost at %s at %v (times from the start of runRing); the tokens sent from %v (a copy the ring retransmitted shows when its token first arrived):\n", l.site, l.at.Round(time.Millisecond), (l.at - before).Round(time.Millisecond))
		late, n := tp.lateWithin(l.at-tp.timeout, l.at)
		fmt.Fprintf(&sb, "  the whole process did not run for %v in the token timeout (%v) before the loss, in %d stalls of %v or more\n", late.Round(time.Millisecond), tp.timeout, n, probeLate)
		for _, h := range hops {
			if h.sent < l.at-before || h.sent > l.at {
				continue
			}
			arr := "never arrived"
			if h.recv >= 0 {
				arr = fmt.Sprintf("arrived %v (%v after)", h.recv.Round(time.Millisecond), (h.recv - h.sent).Round(time.Millisecond))
			}
			fmt.Fprintf(&sb, "  %s→%s token %d sent %v, %s\n", h.from, h.to, h.seq, h.sent.Round(time.Millisecond), arr)
		}
		for _, s := range tp.stalls {
			if s.at >= l.at-before && s.at <= l.at {
				fmt.Fprintf(&sb, "  %s at %v: %s\n", s.site, s.at.Round(time.Millisecond), s.what)
			}
		}
		next := time.Duration(-1)
		for _, s := range tp.samples {
			if s.at < l.at-400*time.Millisecond || s.at > l.at {
				continue
			}
			if s.at != next && s.at < next+100*time.Millisecond {
				continue
			}
			next = s.at
			fmt.Fprintf(&sb, "  %v %s→%s: srtt %v, latest RTT %v, cwnd %d B, QUIC packets sent %d, lost %d; link losses %d, tail drops %d\n",
				s.at.Round(time.Millisecond), s.from, s.to, s.srtt.Round(time.Millisecond), s.latest.Round(time.Millisecond), s.cwnd, s.sent, s.lost, s.linkLoss, s.linkDrop)
		}
		b.Log(sb.String())
	}
}

// summary logs, for the run's span [from, to) (times from the start of
// runRing), each site's token rotations (the time between its receipts of
// two successive tokens: p50, p90, max) and the smoothed RTTs sampled on
// its connections (p50, max), so that a run that passes shows how close
// it came to the token timeout too.
func (tp *ringTap) summary(b testing.TB, sites []string, from, to time.Duration) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "from %v to %v:", from.Round(time.Millisecond), to.Round(time.Millisecond))
	for _, s := range sites {
		var rs []tapToken
		for k, ts := range tp.recv {
			if k[1] == s {
				rs = append(rs, ts...)
			}
		}
		slices.SortFunc(rs, func(x, y tapToken) int { return int(x.at - y.at) })
		var rots []time.Duration
		var last tapToken
		for _, r := range rs {
			if r.seq <= last.seq && r.at-last.at < time.Second {
				continue // a copy, or an older token
			}
			if last.at >= from && r.at < to {
				rots = append(rots, r.at-last.at)
			}
			last = r
		}
		var srtts []time.Duration
		for _, x := range tp.samples {
			if x.from == s && x.at >= from && x.at < to {
				srtts = append(srtts, x.srtt)
			}
		}
		fmt.Fprintf(&sb, "\n  %s: %d rotations, p50 %v, p90 %v, max %v; srtt of its connections p50 %v, max %v",
			s, len(rots), pct(rots, 0.5), pct(rots, 0.9), pct(rots, 1), pct(srtts, 0.5), pct(srtts, 1))
	}
	b.Log(sb.String())
}
