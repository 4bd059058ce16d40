package driver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/waittest"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
)

// member is one driven node of a test ring, with what its hooks saw.
type member struct {
	id    localring.NodeID
	node  *localring.Node
	d     *driver.Driver
	store *drivertest.Store
	tr    *checked

	mu       sync.Mutex
	conf     *localring.Configuration // last regular configuration
	delivers []string                 // payloads, in delivery order
	toSend   [][]byte
	fence    func(now time.Time) // run once by Pass, when set
	bad      []string            // broken expectations seen inside the loop

	err chan error // Run's result
}

// checked wraps a transport and checks, at every send, the persistence
// contract: the store holds at least the node's ring sequence number, so
// no packet can reveal one that is not saved.
type checked struct {
	driver.Transport
	m    *member
	sent atomic.Int64 // read by the test while the loop sends
}

func (c *checked) check() {
	if seq, saved := c.m.node.RingSeq(), c.m.store.Saved(); seq > saved {
		c.m.fail(fmt.Sprintf("a packet was sent with ring seq %d while the store held %d", seq, saved))
	}
	c.sent.Add(1)
}

func (c *checked) Send(to localring.NodeID, pkt []byte) error {
	c.check()
	return c.Transport.Send(to, pkt)
}

func (c *checked) SendAll(pkt []byte) error {
	c.check()
	return c.Transport.SendAll(pkt)
}

func (m *member) fail(s string) {
	m.mu.Lock()
	m.bad = append(m.bad, s)
	m.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newMember(t *testing.T, net *drivertest.Network, id localring.NodeID, drain time.Duration) *member {
	t.Helper()
	return newMemberOver(t, net, id, drain, nil)
}

// newMemberOver is newMember whose driver uses wrap(transport) when wrap
// is set.
func newMemberOver(t *testing.T, net *drivertest.Network, id localring.NodeID, drain time.Duration, wrap func(*checked) driver.Transport) *member {
	t.Helper()
	node, err := localring.New(localring.Config{ID: id, Incarnation: 1, MaxPacketBytes: 1400})
	if err != nil {
		t.Fatal(err)
	}
	f, err := net.Join(id)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{id: id, node: node, store: &drivertest.Store{}, err: make(chan error, 1)}
	m.tr = &checked{Transport: f, m: m}
	var tr driver.Transport = m.tr
	if wrap != nil {
		tr = wrap(m.tr)
	}
	m.d, err = driver.New(driver.Config{
		Node: node, Transport: tr, Store: m.store, Logger: quiet(), DrainTimeout: drain,
		Hooks: driver.Hooks{
			Events: func(now time.Time, evs []localring.Event) {
				m.mu.Lock()
				defer m.mu.Unlock()
				for _, e := range evs {
					switch e.Kind {
					case localring.EventInstall:
						if saved := m.store.Saved(); e.Conf.Ring.Seq > saved {
							m.bad = append(m.bad, fmt.Sprintf("configuration %s installed while the store held ring seq %d", e.Conf.ID, saved))
						}
						if e.Conf.Kind == localring.Regular {
							m.conf = e.Conf
						}
					case localring.EventDeliver:
						m.delivers = append(m.delivers, string(e.Msg.Payload))
					}
				}
			},
			Pass: func(now time.Time) {
				m.mu.Lock()
				defer m.mu.Unlock()
				if f := m.fence; f != nil {
					m.fence = nil
					f(now)
				}
				for len(m.toSend) > 0 {
					if _, err := node.Submit(now, localring.Agreed, m.toSend[0]); err != nil {
						break
					}
					m.toSend = m.toSend[1:]
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *member) run(ctx context.Context) { go func() { m.err <- m.d.Run(ctx) }() }

func (m *member) submit(payloads ...string) {
	m.mu.Lock()
	for _, p := range payloads {
		m.toSend = append(m.toSend, []byte(p))
	}
	m.mu.Unlock()
	m.d.Wake()
}

// waitFor polls cond until it holds, failing after a generous timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ring(t *testing.T, n int, drain time.Duration) (*drivertest.Network, []*member) {
	net := &drivertest.Network{}
	var ms []*member
	for i := range n {
		ms = append(ms, newMember(t, net, localring.NodeID(fmt.Sprintf("n%d", i+1)), drain))
	}
	return net, ms
}

// formed reports whether every member installed the same regular
// configuration of all of them.
func formed(ms []*member) bool {
	var id string
	for _, m := range ms {
		m.mu.Lock()
		c := m.conf
		m.mu.Unlock()
		if c == nil || len(c.Members) != len(ms) || (id != "" && c.ID != id) {
			return false
		}
		id = c.ID
	}
	return true
}

func (m *member) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.bad {
		t.Errorf("%s: %s", m.id, b)
	}
}

// TestRing runs four drivers over the in-memory transport: they form one
// ring, deliver every member's messages in one order, keep the
// persistence order at every send, and leave when cancelled.
func TestRing(t *testing.T) {
	_, ms := ring(t, 4, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, m := range ms {
		m.run(ctx)
	}
	waitFor(t, "the four drivers form one ring", func() bool { return formed(ms) })

	const each = 50
	for _, m := range ms {
		var ps []string
		for k := range each {
			ps = append(ps, fmt.Sprintf("%s-%d", m.id, k))
		}
		m.submit(ps...)
	}
	total := each * len(ms)
	waitFor(t, "every member delivered every message", func() bool {
		for _, m := range ms {
			m.mu.Lock()
			n := len(m.delivers)
			m.mu.Unlock()
			if n < total {
				return false
			}
		}
		return true
	})
	first := ms[0]
	for _, m := range ms {
		m.mu.Lock()
		if !slices.Equal(m.delivers, first.delivers) {
			t.Errorf("%s delivered in another order than %s:\n%v\n%v", m.id, first.id, m.delivers, first.delivers)
		}
		if len(m.delivers) != total {
			t.Errorf("%s delivered %d messages, want %d", m.id, len(m.delivers), total)
		}
		m.mu.Unlock()
		if saves := m.store.Saves(); m.tr.sent.Load() == 0 || len(saves) != 1 || saves[0] < 1024 {
			t.Errorf("%s sent %d packets and saved %v; want one save with the reserve", m.id, m.tr.sent.Load(), saves)
		}
		if m.d.Saved() < m.node.RingSeq() && m.node.HasReady() {
			t.Errorf("%s: saved %d below the node's %d", m.id, m.d.Saved(), m.node.RingSeq())
		}
	}

	cancel()
	for _, m := range ms {
		select {
		case err := <-m.err:
			if err != nil {
				t.Errorf("%s: Run: %v", m.id, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Run did not return after cancel", m.id)
		}
		m.check(t)
	}
}

// TestSaveFails: a node whose store fails stops with ErrStateNotSaved and
// sends nothing that reveals the ring sequence number it could not save;
// the other node forms a ring alone.
func TestSaveFails(t *testing.T) {
	_, ms := ring(t, 2, 0)
	a, b := ms[0], ms[1]
	a.store.Fail(errors.New("disk full"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.run(ctx)
	b.run(ctx)
	var err error
	select {
	case err = <-a.err:
	case <-time.After(30 * time.Second):
		t.Fatal("the driver with a failing store did not stop")
	}
	if !errors.Is(err, driver.ErrStateNotSaved) {
		t.Fatalf("Run returned %v, want ErrStateNotSaved", err)
	}
	for _, s := range []string{"node n1", "disk full", "restart"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error %q does not say %q", err, s)
		}
	}
	if a.node.RingSeq() == 0 {
		t.Errorf("the node's ring seq did not grow; the test did not reach a save")
	}
	if a.tr.sent.Load() == 0 {
		t.Errorf("the node sent nothing before its ring seq grew (its joins); the test saw no send")
	}
	a.check(t) // no send with an unsaved ring seq
	a.mu.Lock()
	if a.conf != nil {
		t.Errorf("the node installed %s without saving it", a.conf.ID)
	}
	a.mu.Unlock()

	waitFor(t, "the other node forms a ring alone", func() bool { return formed([]*member{b}) })
	cancel()
	if err := waittest.Recv(t, b.err, 30*time.Second, string(b.id)+"'s Run to return after cancel"); err != nil {
		t.Errorf("%s: Run: %v", b.id, err)
	}
	b.check(t)
}

// TestLeaveDrains: a cancelled driver delivers what was submitted before
// it leaves; with no drain time it leaves at once.
func TestLeaveDrains(t *testing.T) {
	_, ms := ring(t, 1, 20*time.Second)
	m := ms[0]
	ctx, cancel := context.WithCancel(context.Background())
	var ps []string
	for k := range 100 {
		ps = append(ps, fmt.Sprint(k))
	}
	m.submit(ps...)
	m.run(ctx)
	cancel()
	select {
	case err := <-m.err:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	m.mu.Lock()
	if !slices.Equal(m.delivers, ps) {
		t.Errorf("a ring of one delivered %d of its %d messages before leaving (or out of order)", len(m.delivers), len(ps))
	}
	m.mu.Unlock()
	m.check(t)
}

func TestConfigValidate(t *testing.T) {
	node, err := localring.New(localring.Config{ID: "a", Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	var net drivertest.Network
	f, _ := net.Join("a")
	for _, c := range []driver.Config{
		{Transport: f, Store: &drivertest.Store{}},
		{Node: node, Store: &drivertest.Store{}},
		{Node: node, Transport: f},
		{Node: node, Transport: f, Store: &drivertest.Store{}, DrainTimeout: -1},
	} {
		if _, err := driver.New(c); err == nil || !strings.HasPrefix(err.Error(), "driver: ") {
			t.Errorf("New(%+v) = %v, want a driver: error", c, err)
		}
	}
}

// TestSuperseded: a node fenced by a newer incarnation of its own id stops
// the driver with localring.ErrSuperseded and sends nothing more.
func TestSuperseded(t *testing.T) {
	_, ms := ring(t, 2, time.Minute)
	a, b := ms[0], ms[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.run(ctx)
	b.run(ctx)
	waitFor(t, "the two drivers form a ring", func() bool { return formed(ms) })

	fenced := make(chan int64, 1) // packets sent when fenced
	(&fencer{m: a, fenced: fenced}).arm()
	var err error
	select {
	case err = <-a.err:
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced driver did not stop")
	}
	if !errors.Is(err, localring.ErrSuperseded) || !strings.Contains(err.Error(), "node n1") {
		t.Fatalf("Run returned %v, want localring.ErrSuperseded naming the node", err)
	}
	if sent := waittest.Recv(t, fenced, 30*time.Second, "the fencer hook's count of the packets sent"); a.tr.sent.Load() != sent {
		t.Errorf("the fenced node sent %d packets after it was fenced", a.tr.sent.Load()-sent)
	}
	waitFor(t, "the other node re-forms alone", func() bool { return formed([]*member{b}) })
}

// fencer fences its member's node, from the member's Pass hook, with a
// newer incarnation of its own id.
type fencer struct {
	m      *member
	fenced chan int64
}

func (f *fencer) arm() {
	f.m.mu.Lock()
	f.m.fence = func(now time.Time) {
		f.fenced <- f.m.tr.sent.Load()
		f.m.node.Fence(now, f.m.id, 2)
	}
	f.m.mu.Unlock()
	f.m.d.Wake()
}

// TestDo: functions handed to Do run on the loop, in order, with the
// pass's clock reading; a Submit through Do is delivered.
func TestDo(t *testing.T) {
	_, ms := ring(t, 1, time.Second)
	m := ms[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.run(ctx)
	var mu sync.Mutex
	var got []int
	for i := range 5 {
		m.d.Do(func(now time.Time) {
			if now.IsZero() {
				t.Error("Do ran without the pass's clock reading")
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			if _, err := m.d.Node().Submit(now, localring.Agreed, []byte(fmt.Sprint("do-", i))); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "the submits through Do are delivered", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.delivers) == 5
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("Do ran %v, want 0..4 in order", got)
	}
}

// orderLog records saves and sends of one node in one sequence.
type orderLog struct {
	driver.Transport
	node *localring.Node
	mu   sync.Mutex
	log  []string
	fail error
}

func (o *orderLog) add(s string) {
	o.mu.Lock()
	o.log = append(o.log, s)
	o.mu.Unlock()
}

func (o *orderLog) SaveRingSeq(seq uint64) error {
	o.add(fmt.Sprintf("save %d", seq))
	return o.fail
}

func (o *orderLog) Send(to localring.NodeID, pkt []byte) error {
	o.add(fmt.Sprintf("send %d", o.node.RingSeq()))
	return o.Transport.Send(to, pkt)
}

func (o *orderLog) SendAll(pkt []byte) error {
	o.add(fmt.Sprintf("send %d", o.node.RingSeq()))
	return o.Transport.SendAll(pkt)
}

// TestSaveBeforeSend records one node's saves and sends in one log: no
// send reveals a ring seq above the value saved before it, the first
// ring's seq (4) is saved with the reserve (4+1024) and then not again;
// with a store that fails, the failed save is the last entry.
func TestSaveBeforeSend(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("fail=", fail), func(t *testing.T) {
			var net drivertest.Network
			node, err := localring.New(localring.Config{ID: "a", Incarnation: 1})
			if err != nil {
				t.Fatal(err)
			}
			f, _ := net.Join("a")
			o := &orderLog{Transport: f, node: node}
			if fail {
				o.fail = errors.New("read-only file system")
			}
			installed := make(chan struct{}, 1)
			d, err := driver.New(driver.Config{Node: node, Transport: o, Store: o, Logger: quiet(), Hooks: driver.Hooks{
				Events: func(now time.Time, evs []localring.Event) {
					for _, e := range evs {
						if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular {
							select {
							case installed <- struct{}{}:
							default:
							}
						}
					}
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			if !fail {
				select {
				case <-installed:
				case <-time.After(30 * time.Second):
					t.Fatal("the ring of one did not form")
				}
				cancel()
			}
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			if fail != (err != nil) {
				t.Fatalf("Run = %v", err)
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			var saved, sent4 uint64
			var saves []uint64
			for _, e := range o.log {
				var n uint64
				if _, err := fmt.Sscanf(e, "save %d", &n); err == nil {
					saves = append(saves, n)
					if !fail {
						saved = n
					}
					continue
				}
				fmt.Sscanf(e, "send %d", &n)
				if n > saved {
					t.Fatalf("ring seq %d sent while %d was saved: %v", n, saved, o.log)
				}
				if n == 4 {
					sent4++
				}
			}
			if !slices.Equal(saves, []uint64{4 + 1024}) {
				t.Errorf("saves %v, want [1028] (the first ring's seq and the reserve)", saves)
			}
			if fail && o.log[len(o.log)-1] != "save 1028" {
				t.Errorf("sends after the failed save: %v", o.log)
			}
			if !fail && sent4 == 0 {
				t.Errorf("nothing of ring 4 sent after the save: %v", o.log)
			}
		})
	}
}

// flaky fails its first Recv calls and every SendAll.
type flaky struct {
	driver.Transport
	recvFails atomic.Int32
}

func (f *flaky) Recv(ps []driver.Packet) (int, error) {
	if f.recvFails.Add(-1) >= 0 {
		return 0, errors.New("recvmmsg: no buffer space available")
	}
	return f.Transport.Recv(ps)
}

func (f *flaky) SendAll(pkt []byte) error {
	return errors.New("sendmmsg: network is unreachable")
}

// TestTransportErrors: failed receives and sends are counted and logged
// (a line per kind, not per packet), and the driver goes on: here a node
// whose multicasts all fail still forms a ring of itself.
func TestTransportErrors(t *testing.T) {
	var net drivertest.Network
	node, err := localring.New(localring.Config{ID: "a", Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := net.Join("a")
	tr := &flaky{Transport: f}
	tr.recvFails.Store(3)
	var logs syncbuf.Buffer
	formed := make(chan struct{}, 1)
	d, err := driver.New(driver.Config{Node: node, Transport: tr, Store: &drivertest.Store{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Hooks: driver.Hooks{Events: func(now time.Time, evs []localring.Event) {
			for _, e := range evs {
				if e.Kind == localring.EventInstall && e.Conf.Kind == localring.Regular {
					select {
					case formed <- struct{}{}:
					default:
					}
				}
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-formed:
	case <-time.After(30 * time.Second):
		t.Fatal("no ring formed")
	}
	waitFor(t, "the receive errors are counted", func() bool { return d.Stats().RecvErrors == 3 })
	cancel()
	if err := waittest.Recv(t, done, 30*time.Second, "Run to return after cancel"); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.SendErrors < 2 {
		t.Errorf("SendErrors = %d, want every failed multicast counted", s.SendErrors)
	}
	out := logs.String()
	for _, want := range []string{"cannot receive ring packets", "cannot send ring packets", "network is unreachable"} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("%d lines say %q, want 1:\n%s", n, want, out)
		}
	}
}

// backlogged is a transport that reports a send backlog the test sets.
type backlogged struct {
	*checked
	bytes atomic.Int64
}

func (b *backlogged) Backlog() int { return int(b.bytes.Load()) }

// TestBacklogBound: while its transport reports a backlog over
// Config.MaxBacklogBytes, a node sends none of its messages yet keeps the
// ring going (the other member's messages are delivered, no new
// configuration); when the backlog drains, its messages go out.
func TestBacklogBound(t *testing.T) {
	net := &drivertest.Network{}
	var bl *backlogged
	m1 := newMemberOver(t, net, "n1", 0, func(c *checked) driver.Transport {
		bl = &backlogged{checked: c}
		return bl
	})
	m2 := newMember(t, net, "n2", 0)
	ms := []*member{m1, m2}
	bl.bytes.Store(driver.DefaultMaxBacklogBytes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, m := range ms {
		m.run(ctx)
	}
	waitFor(t, "the ring formed", func() bool { return formed(ms) })
	confID := func() string {
		m1.mu.Lock()
		defer m1.mu.Unlock()
		return m1.conf.ID
	}
	conf := confID()
	delivered := func(m *member, p string) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return slices.Contains(m.delivers, p)
	}
	m1.submit("held-1", "held-2")
	m2.submit("n2-1")
	waitFor(t, "n2's message delivered at n1", func() bool { return delivered(m1, "n2-1") })
	m2.submit("n2-2")
	waitFor(t, "n2's second message delivered at n1", func() bool { return delivered(m1, "n2-2") })
	if delivered(m2, "held-1") || delivered(m1, "held-1") {
		t.Fatal("n1 sent a message while its transport's backlog was over MaxBacklogBytes")
	}
	bl.bytes.Store(0)
	m1.d.Wake()
	waitFor(t, "n1's messages delivered after the backlog drained", func() bool { return delivered(m2, "held-2") && delivered(m1, "held-2") })
	if !formed(ms) || confID() != conf {
		t.Fatal("the ring changed configuration")
	}
	for _, m := range ms {
		m.check(t)
	}
}
