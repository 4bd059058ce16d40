package agent

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// Load describes the built-in load generator: the agent itself submits
// Rate messages per second of Size bytes at service level Service, from
// its own loop (no extra goroutine, no queue). Tests and benchmarks use it
// to load real agents without a client; `atoll agent --load-rate` and the
// admin API's /load set it.
//
// Each payload starts with a big-endian message counter and the sender's
// wall clock at submission (Unix nanoseconds), and ends with the counter
// again, so payloads are unique and a receiver can estimate latency.
type Load struct {
	// Rate is messages per second; 0 stops the generator.
	Rate float64 `json:"rate"`
	// Size is the payload size in bytes, at least 24. Default 1024.
	Size int `json:"size"`
	// Service is the service level. Default Agreed.
	Service localring.Service `json:"-"`
	// Svc is Service by name ("agreed", "safe", ...), for JSON.
	Svc string `json:"svc,omitempty"`
}

// Defaults of Load.
const (
	DefaultLoadSize = 1024
	minLoadSize     = 24
	// maxLoadBurst bounds how many messages the generator submits at once
	// after a stall, so that a paused process does not flood the ring when
	// it resumes.
	maxLoadBurst = 256
)

func (l *Load) normalize() error {
	if l.Svc != "" {
		s, err := localring.ParseService(l.Svc)
		if err != nil {
			return fmt.Errorf("agent: load: %w", err)
		}
		l.Service = s
	}
	if l.Service == 0 {
		l.Service = localring.Agreed
	}
	l.Svc = l.Service.String()
	if l.Size == 0 {
		l.Size = DefaultLoadSize
	}
	return l.validate()
}

func (l *Load) validate() error {
	switch {
	case l.Rate < 0 || l.Rate > 1e7:
		return fmt.Errorf("agent: load rate %g must be between 0 and 10,000,000 messages per second", l.Rate)
	case l.Size != 0 && (l.Size < minLoadSize || l.Size > localring.MaxMessageBytes):
		return fmt.Errorf("agent: load message size %d must be between %d and %d bytes", l.Size, minLoadSize, localring.MaxMessageBytes)
	}
	return nil
}

// loadGen is the generator's state, owned by the driver's loop.
type loadGen struct {
	cfg     Load
	next    time.Time // when the next message is due; zero when stopped
	counter uint64
	dropped uint64 // messages the ring refused (backpressure)
}

// set changes the load; the first message is due at now.
func (g *loadGen) set(l Load, now time.Time) {
	g.cfg = l
	g.next = time.Time{}
	if l.Rate > 0 {
		g.next = now
	}
}

// deadline is when the driver's loop must wake up for the generator.
func (g *loadGen) deadline() time.Time { return g.next }

// run submits the messages due at now.
func (g *loadGen) run(now time.Time, n *localring.Node, submitted *uint64) {
	if g.next.IsZero() || now.Before(g.next) {
		return
	}
	interval := time.Duration(float64(time.Second) / g.cfg.Rate)
	if interval <= 0 {
		interval = 1
	}
	due := int(now.Sub(g.next)/interval) + 1
	if due > maxLoadBurst {
		due = maxLoadBurst
		g.next = now // forget the backlog of a stall
	}
	for range due {
		g.counter++
		p := make([]byte, g.cfg.Size)
		binary.BigEndian.PutUint64(p, g.counter)
		binary.BigEndian.PutUint64(p[8:], uint64(now.UnixNano()))
		binary.BigEndian.PutUint64(p[len(p)-8:], g.counter)
		if _, err := n.Submit(now, g.cfg.Service, p); err != nil {
			g.dropped++
		} else {
			*submitted++
		}
		g.next = g.next.Add(interval)
	}
}
