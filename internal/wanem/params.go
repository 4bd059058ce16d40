package wanem

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Params are the conditions of one direction of a link. The zero value is a
// perfect link: no delay, no loss, no cap. Every field can be changed while
// packets flow (Link.Set); a change applies to the packets that enter the link
// after it, packets already in flight keep the fate they were given.
type Params struct {
	// Delay is the one-way propagation delay every packet gets. Default 0.
	Delay time.Duration
	// Jitter spreads each packet's delay uniformly over
	// [Delay-Jitter, Delay+Jitter] (never below zero). Jitter alone does not
	// reorder: a packet never overtakes the one sent before it (a packet
	// whose draw would make it overtake leaves with its predecessor), so at
	// packet rates above about 1/Jitter the delays gather near Delay+Jitter.
	// Reordering is Reorder's job. Default 0.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a packet is dropped, each
	// packet independently (counted as Drops.Loss). Default 0.
	Loss float64
	// Burst adds losses that come in bursts (Gilbert-Elliott), independent
	// of Loss (counted as Drops.Burst). The zero value adds none; Bursty
	// builds the usual two-state model from a loss rate and a mean burst
	// length.
	Burst GilbertElliott
	// Reorder is the probability in [0, 1] that a packet is held back
	// ReorderDelay longer than its delay, so that the packets sent within
	// ReorderDelay after it overtake it. Default 0.
	Reorder float64
	// ReorderDelay is how much longer a reordered packet is held. Zero
	// means 1 ms.
	ReorderDelay time.Duration
	// Duplicate is the probability in [0, 1] that a packet is delivered
	// twice (the copy right after the original; with a BitsPerSec cap the
	// copy takes its own share of the bandwidth). Default 0.
	Duplicate float64
	// BitsPerSec caps the link's throughput in bits per second of UDP
	// payload: packets are serialised one after the other at this rate
	// before their delay starts, waiting in a queue of QueueBytes. Zero
	// means no cap.
	BitsPerSec int64
	// QueueBytes bounds the bytes waiting for the cap; a packet that does
	// not fit is dropped (tail drop, counted as Drops.Queue). Zero means
	// 100 ms at BitsPerSec (at least two 1500-byte packets). Ignored
	// without a cap.
	QueueBytes int
}

// RTT returns the Params of one direction of a symmetric link with the given
// round-trip time: a one-way Delay of rtt/2 and nothing else.
func RTT(rtt time.Duration) Params { return Params{Delay: rtt / 2} }

// GilbertElliott is a two-state burst loss model: a link in the good state
// loses each packet with probability LossGood and moves to the bad state
// with probability GoodToBad per packet; in the bad state it loses each
// packet with probability LossBad and moves back with probability BadToGood.
// The state steps once per packet that enters the link. The zero value never
// leaves the good state and loses nothing.
type GilbertElliott struct {
	GoodToBad, BadToGood float64 // transition probabilities per packet, in [0, 1]
	LossGood, LossBad    float64 // loss probabilities in each state, in [0, 1]
}

// Bursty returns the Gilbert model (LossBad 1, LossGood 0) whose long-run loss
// rate is rate (in [0, 1)) and whose bursts last meanLen packets on average
// (meanLen >= 1).
func Bursty(rate, meanLen float64) GilbertElliott {
	if rate <= 0 || meanLen < 1 {
		return GilbertElliott{}
	}
	r := 1 / meanLen
	return GilbertElliott{GoodToBad: rate * r / (1 - rate), BadToGood: r, LossBad: 1}
}

// Rate returns the model's long-run loss rate.
func (g GilbertElliott) Rate() float64 {
	if g.GoodToBad == 0 {
		return g.LossGood
	}
	if g.BadToGood == 0 {
		return g.LossBad
	}
	pb := g.GoodToBad / (g.GoodToBad + g.BadToGood)
	return pb*g.LossBad + (1-pb)*g.LossGood
}

func (g GilbertElliott) isGilbert() bool { return g.LossGood == 0 && g.LossBad == 1 }

// queueBytes returns the effective queue bound.
func (p *Params) queueBytes() int {
	if p.QueueBytes > 0 {
		return p.QueueBytes
	}
	q := int(p.BitsPerSec / 8 / 10)
	return max(q, 3000)
}

func (p *Params) reorderDelay() time.Duration {
	if p.ReorderDelay > 0 {
		return p.ReorderDelay
	}
	return time.Millisecond
}

// Validate reports the fields out of range.
func (p Params) Validate() error {
	if err := p.check(); err != nil {
		return fmt.Errorf("wanem: %w", err)
	}
	return nil
}

// check is Validate without the package prefix, for callers that add
// their own context.
func (p Params) check() error {
	prob := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s %v is not a probability in [0, 1]", name, v)
		}
		return nil
	}
	switch {
	case p.Delay < 0:
		return fmt.Errorf("delay %v is negative", p.Delay)
	case p.Jitter < 0:
		return fmt.Errorf("jitter %v is negative", p.Jitter)
	case p.ReorderDelay < 0:
		return fmt.Errorf("reorder delay %v is negative", p.ReorderDelay)
	case p.BitsPerSec < 0:
		return fmt.Errorf("rate %d bit/s is negative", p.BitsPerSec)
	case p.QueueBytes < 0:
		return fmt.Errorf("queue %d bytes is negative", p.QueueBytes)
	}
	return errors.Join(prob("loss", p.Loss), prob("reorder", p.Reorder), prob("duplicate", p.Duplicate),
		prob("burst good-to-bad", p.Burst.GoodToBad), prob("burst bad-to-good", p.Burst.BadToGood),
		prob("burst loss in good state", p.Burst.LossGood), prob("burst loss in bad state", p.Burst.LossBad))
}

// String formats p as a spec that ParseParams reads back, listing only the
// fields that differ from a perfect link ("perfect" when none does).
func (p Params) String() string {
	var f []string
	add := func(k, v string) { f = append(f, k+"="+v) }
	if p.Delay != 0 {
		add("delay", p.Delay.String())
	}
	if p.Jitter != 0 {
		add("jitter", p.Jitter.String())
	}
	if p.Loss != 0 {
		add("loss", pct(p.Loss))
	}
	if p.Burst != (GilbertElliott{}) {
		if g := p.Burst; g.isGilbert() && g.BadToGood > 0 {
			add("burst", pct(g.Rate()))
			add("burstlen", strconv.FormatFloat(1/g.BadToGood, 'g', 6, 64))
		} else {
			add("ge", fmt.Sprintf("%g/%g/%g/%g", g.GoodToBad, g.BadToGood, g.LossGood, g.LossBad))
		}
	}
	if p.Reorder != 0 {
		add("reorder", pct(p.Reorder))
	}
	if p.ReorderDelay != 0 {
		add("reorderdelay", p.ReorderDelay.String())
	}
	if p.Duplicate != 0 {
		add("dup", pct(p.Duplicate))
	}
	if p.BitsPerSec != 0 {
		add("rate", formatRate(p.BitsPerSec))
	}
	if p.QueueBytes != 0 {
		add("queue", strconv.Itoa(p.QueueBytes))
	}
	if len(f) == 0 {
		return "perfect"
	}
	return strings.Join(f, " ")
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'g', 6, 64) + "%" }

func formatRate(bps int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps%u.m == 0 {
			return strconv.FormatInt(bps/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(bps, 10) + "bit"
}

// ParseParams reads a spec of space- or comma-separated key=value settings
// into a copy of base and returns it; keys not named keep base's value. The
// keys are
//
//	rtt=200ms        delay of half the value (for one direction of a symmetric link)
//	delay=100ms      Delay
//	jitter=5ms       Jitter
//	loss=1%          Loss (a percentage, or a fraction: 0.01)
//	burst=1%         Burst: a Gilbert model with this loss rate ...
//	burstlen=5       ... and this mean burst length in packets (default 4)
//	ge=p/r/lg/lb     Burst: a full Gilbert-Elliott model
//	reorder=1%       Reorder
//	reorderdelay=2ms ReorderDelay
//	dup=0.5%         Duplicate
//	rate=10mbit      BitsPerSec (units bit, kbit, mbit, gbit: powers of 1000)
//	queue=64KiB      QueueBytes (plain bytes, or with KB, KiB, MB, MiB)
//
// and the word "perfect", which resets everything to the zero Params.
func ParseParams(base Params, spec string) (Params, error) {
	p := base
	burstRate, burstLen := -1.0, -1.0
	if base.Burst.isGilbert() && base.Burst.BadToGood > 0 {
		burstRate, burstLen = base.Burst.Rate(), 1/base.Burst.BadToGood
	}
	burstSet := false
	for _, tok := range strings.FieldsFunc(spec, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if tok == "perfect" {
			p, burstRate, burstLen = Params{}, -1, -1
			continue
		}
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return base, fmt.Errorf("wanem: %q in link spec is not key=value (keys: rtt delay jitter loss burst burstlen ge reorder reorderdelay dup rate queue)", tok)
		}
		var err error
		switch strings.ToLower(k) {
		case "rtt":
			var d time.Duration
			d, err = time.ParseDuration(v)
			p.Delay = d / 2
		case "delay":
			p.Delay, err = time.ParseDuration(v)
		case "jitter":
			p.Jitter, err = time.ParseDuration(v)
		case "loss":
			p.Loss, err = parseProb(v)
		case "burst":
			burstRate, err = parseProb(v)
			burstSet = true
		case "burstlen":
			burstLen, err = strconv.ParseFloat(v, 64)
			if err == nil && !(burstLen >= 1) {
				err = errors.New("the mean burst length must be at least 1 packet")
			}
			burstSet = true
		case "ge":
			var g GilbertElliott
			_, err = fmt.Sscanf(v, "%g/%g/%g/%g", &g.GoodToBad, &g.BadToGood, &g.LossGood, &g.LossBad)
			p.Burst, burstRate, burstLen = g, -1, -1
		case "reorder":
			p.Reorder, err = parseProb(v)
		case "reorderdelay":
			p.ReorderDelay, err = time.ParseDuration(v)
		case "dup", "duplicate":
			p.Duplicate, err = parseProb(v)
		case "rate":
			p.BitsPerSec, err = parseRate(v)
		case "queue":
			p.QueueBytes, err = parseBytes(v)
		default:
			err = errors.New("unknown key (keys: rtt delay jitter loss burst burstlen ge reorder reorderdelay dup rate queue)")
		}
		if err != nil {
			return base, fmt.Errorf("wanem: link spec %q: %w", tok, err)
		}
	}
	if burstSet {
		if burstRate < 0 {
			burstRate = 0
		}
		if burstLen < 1 {
			burstLen = 4
		}
		if burstRate >= 1 {
			return base, fmt.Errorf("wanem: burst loss rate %v must be below 100%%", burstRate)
		}
		p.Burst = Bursty(burstRate, burstLen)
	}
	if err := p.check(); err != nil {
		return base, fmt.Errorf("wanem: link spec %q: %w", spec, err)
	}
	return p, nil
}

func parseProb(v string) (float64, error) {
	scale := 1.0
	if s, ok := strings.CutSuffix(v, "%"); ok {
		v, scale = s, 0.01
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	f *= scale
	if !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("%v is not a probability in [0, 1]", f)
	}
	return f, nil
}

func parseRate(v string) (int64, error) {
	s := strings.ToLower(v)
	mult := 1.0
	for _, u := range []struct {
		s string
		m float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if t, ok := strings.CutSuffix(s, u.s); ok {
			s, mult = t, u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("bad rate %q (e.g. 10mbit, 500kbit, 1gbit, 0 for no cap)", v)
	}
	return int64(f * mult), nil
}

func parseBytes(v string) (int, error) {
	s := v
	mult := 1
	for _, u := range []struct {
		s string
		m int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000000}, {"B", 1}} {
		if t, ok := strings.CutSuffix(s, u.s); ok {
			s, mult = t, u.m
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > math.MaxInt32/mult {
		return 0, fmt.Errorf("bad size %q (e.g. 65536, 64KiB, 1MB)", v)
	}
	return n * mult, nil
}
