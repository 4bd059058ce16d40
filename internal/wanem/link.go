package wanem

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// maxInFlight bounds the packets a link holds (in its delay line and cap
// queue together), so that a link without a cap cannot grow without bound
// when fed faster than it drains; beyond it packets are dropped as
// CauseQueue.
const maxInFlight = 1 << 18

// writeBatchLen is the most packets one scheduler pass writes with one
// sendmmsg.
const writeBatchLen = 64

// Stats counts what happened to the packets of one link direction since it
// was made. A duplicated packet counts once in Packets and twice in
// Delivered.
type Stats struct {
	Packets, Bytes            uint64 // entered the link
	Delivered, DeliveredBytes uint64 // handed to the socket toward the far side
	Duplicated                uint64 // packets given a second copy
	Reordered                 uint64 // copies held back by Params.Reorder
	Drops                     Drops
	InFlight                  int // packets in the delay line and queue now
	// Late is how late the scheduler handed each packet to the socket
	// after its delivery time: the emulator's own error, apart from the
	// network stack's. On an overloaded machine its tail grows.
	Late Histogram
}

// String summarises the counters on one line, for logs and test failures.
func (s Stats) String() string {
	d := s.Drops
	return fmt.Sprintf("%d packets in, %d delivered, %d duplicated, %d reordered, %d in flight; "+
		"drops: cut %d, loss %d, burst %d, queue %d, no-socket %d, write %d; late p50 <= %v, p99 <= %v",
		s.Packets, s.Delivered, s.Duplicated, s.Reordered, s.InFlight,
		d.Cut, d.Loss, d.Burst, d.Queue, d.NoSocket, d.WriteErr, s.Late.Quantile(0.5), s.Late.Quantile(0.99))
}

// Histogram counts durations in buckets of powers of two microseconds:
// bucket 0 holds those under 1 µs, bucket i those in [2^(i-1), 2^i) µs,
// the last one everything longer.
type Histogram [24]uint64

func (h *Histogram) add(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h[min(bits.Len64(us), len(h)-1)]++
}

// Count returns the number of durations counted.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket that holds the q-th
// quantile (0 < q <= 1): a duration at least as long as that fraction of the
// counted ones. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h {
		seen += c
		if seen >= rank {
			return time.Duration(uint64(1)<<i) * time.Microsecond
		}
	}
	return time.Duration(uint64(1)<<(len(h)-1)) * time.Microsecond
}

// Drops counts dropped copies by cause.
type Drops struct {
	Cut      uint64 // entered, or fell due, while the link was cut
	Loss     uint64 // random loss
	Burst    uint64 // burst loss
	Queue    uint64 // the cap's queue was full (or the in-flight limit, 262144 packets)
	NoSocket uint64 // no socket toward the target could be opened for the sender
	WriteErr uint64 // the socket refused the packet
}

// Total returns the sum of all drops.
func (d Drops) Total() uint64 {
	return d.Cut + d.Loss + d.Burst + d.Queue + d.NoSocket + d.WriteErr
}

func (d *Drops) add(c Cause) {
	switch c {
	case CauseCut:
		d.Cut++
	case CauseLoss:
		d.Loss++
	case CauseBurst:
		d.Burst++
	case CauseQueue:
		d.Queue++
	case CauseNoSocket:
		d.NoSocket++
	case CauseWriteErr:
		d.WriteErr++
	}
}

// sock is a UDP socket with batched I/O.
type sock struct {
	c  *net.UDPConn
	bc interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
}

// entry is one packet copy in a link's delay line.
type entry struct {
	at  time.Duration // delivery time on the link's clock
	seq uint64        // entry order, to break ties
	b   []byte
	out *sock
	dst *net.UDPAddr
}

// Link is one direction of an emulated network path: packets enter it from
// a relay's socket, get their fate from the link's Params (dropped,
// delayed, duplicated, held back, queued behind the bandwidth cap) and leave
// through another socket at their delivery time. One goroutine per link
// writes the packets as they fall due, woken by a monotonic timer. All
// methods are safe for concurrent use.
type Link struct {
	name  string
	start time.Time // the link's clock is time.Since(start): monotonic

	mu     sync.Mutex
	p      Params
	cut    bool
	closed bool
	sh     shaper
	q      []entry // a min-heap on (at, seq)
	seq    uint64
	armed  time.Duration // deadline the waker is armed for; -1 when none
	w      *waker
	st     Stats

	done chan struct{}
}

func newLink(name string, p Params, seed1, seed2 uint64) (*Link, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	l := &Link{
		name:  name,
		start: time.Now(),
		p:     p,
		sh:    shaper{rng: rand.New(rand.NewPCG(seed1, seed2))},
		armed: -1,
		w:     w,
		done:  make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// Name returns the link's name: "forward" or "reverse" in a Relay, "a:b" in a Mesh.
func (l *Link) Name() string { return l.name }

// Params returns the link's current parameters.
func (l *Link) Params() Params {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

// Set replaces the link's parameters; packets already in flight keep their
// delivery times. Packets never overtake the ones sent before them (but
// for Reorder), so after Delay is lowered the packets sent during the next
// old-delay span leave right behind the last packet of the old delay, as
// on a queue that drains.
func (l *Link) Set(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p = p
	return nil
}

// Update changes the link's parameters with f, atomically with respect to
// other changes; it returns the new parameters, or the old ones and an
// error if f made them invalid.
func (l *Link) Update(f func(*Params)) (Params, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.p
	f(&p)
	if err := p.Validate(); err != nil {
		return l.p, err
	}
	l.p = p
	return p, nil
}

// Cut makes the link drop every packet that enters it or falls due while it
// is cut (packets in flight at the cut are lost, as on a severed cable),
// until Heal. Cutting is separate from Params: Set does not heal.
func (l *Link) Cut() {
	l.mu.Lock()
	l.cut = true
	l.mu.Unlock()
}

// Heal undoes Cut.
func (l *Link) Heal() {
	l.mu.Lock()
	l.cut = false
	l.mu.Unlock()
}

// IsCut reports whether the link is cut.
func (l *Link) IsCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.st
	s.InFlight = len(l.q)
	return s
}

func (l *Link) now() time.Duration { return time.Since(l.start) }

// enqueue admits packet b, which arrived age ago, to be written to dst
// through out.
func (l *Link) enqueue(b []byte, age time.Duration, out *sock, dst *net.UDPAddr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.st.Packets++
	l.st.Bytes += uint64(len(b))
	switch {
	case dst == nil:
		l.st.Drops.NoSocket++
		return
	case l.cut:
		l.st.Drops.Cut++
		return
	case len(l.q) >= maxInFlight:
		l.st.Drops.Queue++
		return
	}
	now := l.now()
	v := l.sh.admit(&l.p, now-age, len(b))
	l.st.Drops.add(v.cause)
	if v.dup {
		l.st.Duplicated++
	}
	l.st.Reordered += uint64(v.reordered)
	for i := range v.n {
		l.seq++
		l.push(entry{at: v.at[i], seq: l.seq, b: b, out: out, dst: dst})
	}
	if len(l.q) > 0 && (l.armed < 0 || l.q[0].at < l.armed) {
		l.armed = l.q[0].at
		l.w.arm(l.armed - now)
	}
}

// run is the link's scheduler: it sleeps until the earliest packet is due,
// then writes every due packet, in batches.
func (l *Link) run() {
	defer close(l.done)
	var (
		batch = make([]entry, 0, writeBatchLen)
		ms    = make([]ipv4.Message, writeBatchLen)
	)
	for i := range ms {
		ms[i].Buffers = make([][]byte, 1)
	}
	for {
		if err := l.w.wait(); err != nil {
			return
		}
		for more := true; more; {
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				return
			}
			now := l.now()
			batch = batch[:0]
			for len(l.q) > 0 && l.q[0].at <= now && len(batch) < writeBatchLen {
				e := l.pop()
				if l.cut {
					l.st.Drops.Cut++
					continue
				}
				// Counted before the write, so that a packet seen at the far
				// end is always in Delivered; write takes back the failures.
				l.st.Late.add(now - e.at)
				l.st.Delivered++
				l.st.DeliveredBytes += uint64(len(e.b))
				batch = append(batch, e)
			}
			more = len(l.q) > 0 && l.q[0].at <= now
			switch {
			case more:
			case len(l.q) > 0:
				l.armed = l.q[0].at
				l.w.arm(l.armed - now)
			default:
				l.armed = -1
			}
			l.mu.Unlock()
			l.write(batch, ms)
		}
	}
}

// write sends the batch, one sendmmsg per run of packets for one socket.
func (l *Link) write(batch []entry, ms []ipv4.Message) {
	var failed, failedBytes uint64
	for i := 0; i < len(batch); {
		j := i
		for j < len(batch) && batch[j].out == batch[i].out {
			ms[j-i].Buffers[0] = batch[j].b
			ms[j-i].Addr = batch[j].dst
			j++
		}
		out := batch[i].out
		for k := 0; k < j-i; {
			n, err := out.bc.WriteBatch(ms[k:j-i], 0)
			k += n
			if err != nil && k < j-i {
				failed++ // the first unwritten packet; go on after it
				failedBytes += uint64(len(ms[k].Buffers[0]))
				k++
			}
		}
		i = j
	}
	for i := range batch {
		batch[i] = entry{}
	}
	for i := range ms {
		ms[i].Buffers[0], ms[i].Addr = nil, nil
	}
	if failed > 0 {
		l.mu.Lock()
		l.st.Delivered -= failed
		l.st.DeliveredBytes -= failedBytes
		l.st.Drops.WriteErr += failed
		l.mu.Unlock()
	}
}

// close stops the scheduler and drops the packets in flight.
func (l *Link) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.q = nil
		l.w.close()
	}
	l.mu.Unlock()
	<-l.done
}

func (l *Link) less(i, j int) bool {
	a, b := &l.q[i], &l.q[j]
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (l *Link) push(e entry) {
	l.q = append(l.q, e)
	for i := len(l.q) - 1; i > 0; {
		p := (i - 1) / 2
		if !l.less(i, p) {
			break
		}
		l.q[i], l.q[p] = l.q[p], l.q[i]
		i = p
	}
}

func (l *Link) pop() entry {
	e := l.q[0]
	n := len(l.q) - 1
	l.q[0] = l.q[n]
	l.q[n] = entry{}
	l.q = l.q[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			break
		}
		l.q[i], l.q[c] = l.q[c], l.q[i]
		i = c
	}
	return e
}
