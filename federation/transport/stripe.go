package transport

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// A stripe is one more QUIC connection between the same two gateways as a
// peer's connection (the main one), carrying message packets of the
// peer's message queue both ways on its hello stream. The stripes of a
// connection and the connection itself take packets from the one queue,
// each as fast as its own congestion window lets it, so N connections
// carry about N times what one carries on a lossy path; the control
// packets stay on the main connection's control stream, in order.
//
// The side that dials the main connection dials its stripes, right after
// and again whenever one ends, with backoff, for as long as the main
// connection lasts; the other side attaches an accepted stripe to the
// current connection of the same gateway. A stripe ends with its main
// connection.
//
// Striping multiplies what the path carries only when its losses are not
// congestion: on a path that is really full, N connections keep its
// bottleneck queue full where one would back off, and the ring's tokens,
// on the main connection, wait in that queue and are lost from it (with
// 16 stripes always on, TestRingOverCongestedPath lost the token 5 to 10
// times and re-formed 1 to 7 times). So the stripes are coupled through
// the main connection's RTT (paceStripes): while its smoothed RTT shows no
// standing queue, one more stripe may send per round trip; when it shows
// one, the stripes stop at once and the main connection carries the
// messages alone, as without stripes. The main connection always carries
// the ring's tokens, so its RTT is measured whether the stripes send or
// not.

// paceStripes sets how many of main's stripes may send (main.active),
// once per smoothed round trip of main, until main ends (stripeStep): none
// while the smoothed RTT shows a standing queue, one more per round trip
// while the connections to the peer lose packets and the peer's message
// queue still holds a backlog, one fewer after stripeIdleRounds round
// trips without a loss.
func (t *Transport) paceStripes(p *peer, main *conn) {
	var prevSent, prevLost uint64
	calm := 0
	for {
		st := main.qc.ConnectionStats()
		sent, lost := st.PacketsSent, st.PacketsLost
		p.mu.Lock()
		for _, sc := range main.stripes {
			cs := sc.qc.ConnectionStats()
			sent += cs.PacketsSent
			lost += cs.PacketsLost
		}
		p.mu.Unlock()
		// A stripe that ended takes its counts with it: the sums can fall.
		var dSent, dLost uint64
		if sent > prevSent && lost >= prevLost {
			dSent, dLost = sent-prevSent, lost-prevLost
		}
		prevSent, prevLost = sent, lost
		s := stripeSample{
			queue:   st.SmoothedRTT-st.MinRTT > max(st.MinRTT/stripeQueueDivisor, stripeQueueFloor),
			lost:    dLost > 0,
			burst:   burstLoss(dSent, dLost),
			backlog: p.queued.Load() > 0,
		}
		if s.lost {
			calm = 0
		} else {
			calm++
		}
		s.calm = calm
		p.setActive(main, stripeStep(int(main.active.Load()), t.stripes(p)-1, s))
		select {
		case <-time.After(max(st.SmoothedRTT, stripeQueueFloor)):
		case <-main.done:
			return
		}
	}
}

// burstLoss reports whether losing lost of sent packets in a round trip
// is too heavy for random loss: the tail drops of a full queue.
func burstLoss(sent, lost uint64) bool {
	return lost >= stripeBurstMin && float64(lost) > stripeBurstLoss*float64(sent)
}

// stripeSample is what paceStripes saw in one round trip of a main
// connection.
type stripeSample struct {
	queue   bool // the smoothed RTT exceeds the minimum by a standing queue
	lost    bool // the connections to the peer lost packets
	burst   bool // they lost more than stripeBurstLoss of what they sent
	backlog bool // message packets wait in the peer's queue
	calm    int  // round trips since the last one with a loss
}

// stripeStep returns how many stripes may send after a round trip that
// saw s, of at most limit, active of them sending before. Stripes are for
// random loss, not for congestion: each connection's loss-based
// congestion window carries only a few Mbit/s at 1 % loss on a long path,
// so while packets are lost, the path shows no queue and the connections
// sending do not keep up (a backlog), one more stripe sends per round
// trip. A standing queue, or a loss too heavy to be random
// (stripeBurstLoss: the tail drops of a full queue), stops them all at
// once (the path is full: more connections would only fill its queue,
// where the ring's tokens wait and are dropped);
// stripeIdleRounds round trips without a loss stop one per round trip (a
// clean path: one connection's window grows to what it carries, and the
// ring runs as without stripes).
func stripeStep(active, limit int, s stripeSample) int {
	switch {
	case s.queue || s.burst:
		return 0
	case s.lost && s.backlog && active < limit:
		return active + 1
	case s.calm >= stripeIdleRounds && active > 0:
		return active - 1
	}
	return min(active, limit)
}

// stripeYields reports whether stripe sc of main must not send now (its
// rank among main's stripes is main.active or more), and a channel closed
// when that may change (gateChanged): a stripe that yields sleeps until
// paceStripes lets more stripes send or a stripe before it ends, so the
// idle stripes of a clean path cost no wake-ups.
func (p *peer) stripeYields(main, sc *conn) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if main.gate == nil {
		main.gate = make(chan struct{})
	}
	return slices.Index(main.stripes, sc) >= int(main.active.Load()), main.gate
}

// setActive lets n of main's stripes send, waking those that yield if n
// changed.
func (p *peer) setActive(main *conn, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if main.active.Swap(int32(n)) != int32(n) {
		main.gateChanged()
	}
}

// gateChanged wakes the stripes of c that yield, to look at their rank
// and c.active again. The caller holds the peer's mu.
func (c *conn) gateChanged() {
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

const (
	// stripeQueueFloor is the least queueing delay paceStripes takes for
	// a standing queue, and stripeQueueDivisor the part of the minimum
	// RTT it takes if more: 25 ms at 200 ms. Half the minimum, as
	// before, was more than a router's queue of 100 ms adds to a path of
	// 200 ms RTT, and stripes kept a full path full.
	stripeQueueFloor   = 20 * time.Millisecond
	stripeQueueDivisor = 8
	// stripeBurstLoss is the share of a round trip's packets lost beyond
	// which paceStripes takes the loss for congestion, not random loss,
	// once stripeBurstMin packets or more were lost: one loss among the
	// dozen packets a slow connection sends per round trip is not a
	// burst.
	stripeBurstLoss = 0.05
	stripeBurstMin  = 4
	// stripeIdleRounds is how many round trips without a loss stop one
	// sending stripe.
	stripeIdleRounds = 8
	// stripeMinRTT is the least minimum RTT of a path that gets stripes
	// by default (longPath).
	stripeMinRTT = 100 * time.Millisecond
)

// longPath reports whether main's path is long enough for stripes by
// default: stripes were set for p (Peer.Stripes) or for every peer
// (Config.Stripes), or main's minimum RTT is stripeMinRTT or more. On a
// shorter path one connection's congestion window carries several
// times more at the same loss (the window a loss rate allows is sent
// once per round trip), and on a short congested path stripes were
// measured to cost the ring its token; the minimum RTT only falls, so
// a path found short stays short.
func (t *Transport) longPath(p *peer, main *conn) bool {
	if p.stripes > 0 || !t.cfg.defaultStripes {
		return true
	}
	return main.qc.ConnectionStats().MinRTT >= stripeMinRTT
}

// stripes is how many connections carry peer p's messages.
func (t *Transport) stripes(p *peer) int {
	switch {
	case t.cfg.Mode == ModeDatagrams, t.paced(p):
		return 1
	case p.stripes > 0:
		return p.stripes
	}
	return t.cfg.Stripes
}

// stripeLoop keeps one stripe of main up while main lasts. Between two
// attempts it waits a backoff that doubles from RedialMin to RedialMax
// and starts over after a stripe that lasted RedialMax or more, so a peer
// that refuses stripes (not yet attached to its main connection) is not
// dialed in a loop.
func (t *Transport) stripeLoop(p *peer, main *conn) {
	if !t.longPath(p, main) {
		return
	}
	backoff := t.cfg.RedialMin
	for {
		began := time.Now()
		sc, err := t.dial(p, main.addr.String(), stripeMagic)
		if err == nil && sc.id.Node != main.id.Node {
			// Another gateway of the site answers at that address now: the
			// main connection is about to end too.
			sc.qc.CloseWithError(codeClosing, "stripe reached another gateway")
			err = errors.New("transport: the stripe reached another gateway")
		}
		if err == nil {
			if !t.addStripe(p, main, sc, t.stripes(p)-1) {
				return
			}
			<-sc.done
			if time.Since(began) >= t.cfg.RedialMax {
				backoff = t.cfg.RedialMin
			}
		}
		d := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		backoff = min(2*backoff, t.cfg.RedialMax)
		select {
		case <-time.After(d):
		case <-main.done:
			return
		case <-t.ctx.Done():
			return
		}
	}
}

// acceptStripe attaches an accepted stripe to the current connection of
// its gateway, or refuses it when there is none or it has MaxStripes-1
// stripes. The side that dials decides how many stripes there are; this
// side's own Stripes says how many of them it sends on (paceStripes).
func (t *Transport) acceptStripe(p *peer, sc *conn) {
	p.mu.Lock()
	main := p.cur
	p.mu.Unlock()
	if main == nil || main.id.Node != sc.id.Node || !t.addStripe(p, main, sc, MaxStripes-1) {
		t.stats.stripeRefused.Add(1)
		t.log.Debug("federation: refused a stripe: no connection of its gateway, or it has all its stripes; the peer dials it again", "site", p.site, "node", sc.id.Node, "addr", sc.addr.String())
		sc.qc.CloseWithError(codeProtocol, "no connection for this stripe")
	}
}

// addStripe attaches sc to main and runs it: a writer of p's message
// queue, a reader, and a watcher that closes sc when main, sc or the
// transport ends. It returns false, closing sc, when main has ended or
// has limit stripes already.
func (t *Transport) addStripe(p *peer, main *conn, sc *conn, limit int) bool {
	p.mu.Lock()
	ok := p.cur == main && len(main.stripes) < limit && !t.closed.Load()
	if ok {
		main.stripes = append(main.stripes, sc)
	}
	p.mu.Unlock()
	if !ok {
		sc.qc.CloseWithError(codeClosing, "no connection for this stripe")
		return false
	}
	t.stats.stripeConnects.Add(1)
	t.wg.Go(func() {
		defer sc.ctl.Close() // ends the stream: the peer closes sc (see Close)
		t.writeFrames(sc.ctl, p.out, p, sc, func() (bool, <-chan struct{}) { return p.stripeYields(main, sc) }, nil)
	})
	t.wg.Go(func() {
		if err := t.readFrames(sc.ctl, p, sc); errors.Is(err, io.EOF) {
			sc.qc.CloseWithError(codePeerLeft, "peer gateway closing")
		}
	})
	t.wg.Go(func() {
		select {
		case <-sc.done:
		case <-main.done:
		case <-t.ctx.Done():
		}
		sc.qc.CloseWithError(codeClosing, "stripe of a closed connection")
		p.mu.Lock()
		main.stripes = slices.DeleteFunc(main.stripes, func(c *conn) bool { return c == sc })
		main.gateChanged() // the stripes after sc moved up a rank
		p.mu.Unlock()
		t.stats.stripeDisconnects.Add(1)
	})
	return true
}
