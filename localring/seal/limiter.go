package seal

import (
	"sync"
	"time"
)

// Limiter decides when to log a rejected packet: at most one line per peer
// per Interval, so that a node with the wrong key produces one clear line
// every Interval instead of one per packet. Time is passed in; the
// Limiter never reads the clock.
//
// Key it by what identifies the peer reliably for a rejected packet: its
// source address (the header's sender field is unauthenticated then).
//
//	var lim = seal.Limiter[netip.Addr]{Interval: time.Minute}
//	if ok, more := lim.Allow(from.Addr(), now); ok {
//		log.Warn(s.Diagnose(pkt, err), "peer", from, "suppressed", more)
//	}
//
// The zero value is ready to use with the defaults. A Limiter is safe for
// concurrent use.
type Limiter[K comparable] struct {
	// Interval is the least time between two lines for the same peer.
	// Default 1 minute.
	Interval time.Duration

	// MaxPeers bounds the peers tracked at once (memory under a flood of
	// spoofed source addresses). Peers beyond it share one budget of one
	// line per Interval. Default 1024.
	MaxPeers int

	mu       sync.Mutex
	peers    map[K]*limitState
	overflow limitState
	swept    time.Time // last sweep of quiet peers
}

type limitState struct {
	last       time.Time // when the last line was allowed
	suppressed uint64    // lines refused since then
}

// Allow reports whether a line about peer may be logged at now, and how
// many lines about it (or, past MaxPeers, about any untracked peer) were
// refused since the last allowed one; log that number with the line.
func (l *Limiter[K]) Allow(peer K, now time.Time) (ok bool, suppressed uint64) {
	interval := l.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	maxPeers := l.MaxPeers
	if maxPeers <= 0 {
		maxPeers = 1024
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = make(map[K]*limitState)
	}
	st := l.peers[peer]
	if st == nil {
		if len(l.peers) >= maxPeers && now.Sub(l.swept) >= interval {
			// Forget peers quiet for an interval; at most once per interval,
			// so a flood of new addresses costs O(1) per packet.
			l.swept = now
			for k, v := range l.peers {
				if now.Sub(v.last) >= interval {
					delete(l.peers, k)
				}
			}
		}
		if len(l.peers) >= maxPeers {
			st = &l.overflow
		} else {
			// A new peer is always allowed its first line.
			l.peers[peer] = &limitState{last: now}
			return true, 0
		}
	}
	if !st.last.IsZero() && now.Sub(st.last) < interval {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	*st = limitState{last: now}
	return true, suppressed
}
