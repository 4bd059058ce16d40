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
// once per smoothed round trip of main, until main ends: none while the
// smoothed RTT exceeds the minimum by more than half the minimum (or
// stripeQueueFloor, on short paths that jitter by more than they last),
// one more per round trip otherwise.
func (t *Transport) paceStripes(p *peer, main *conn) {
	for {
		st := main.qc.ConnectionStats()
		switch {
		case st.SmoothedRTT-st.MinRTT > max(st.MinRTT/2, stripeQueueFloor):
			main.active.Store(0)
		case int(main.active.Load()) < t.stripes(p)-1:
			main.active.Add(1)
		}
		select {
		case <-time.After(max(st.SmoothedRTT, stripeQueueFloor)):
		case <-main.done:
			return
		}
	}
}

// stripeYields reports whether stripe sc of main must not send now: its
// rank among main's stripes is main.active or more.
func (p *peer) stripeYields(main, sc *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Index(main.stripes, sc) >= int(main.active.Load())
}

const (
	// stripeQueueFloor is the least queueing delay paceStripes takes for
	// a standing queue.
	stripeQueueFloor = 20 * time.Millisecond
	// stripeYieldPoll is how often a yielding stripe looks again.
	stripeYieldPoll = 20 * time.Millisecond
)

// stripes is how many connections carry peer p's messages.
func (t *Transport) stripes(p *peer) int {
	switch {
	case t.cfg.Mode == ModeDatagrams:
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
		t.writeFrames(sc.ctl, p.out, p, sc, func() bool { return p.stripeYields(main, sc) })
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
		p.mu.Unlock()
		t.stats.stripeDisconnects.Add(1)
	})
	return true
}
