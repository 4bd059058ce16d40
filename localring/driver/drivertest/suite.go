package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// MakeTransports returns one connected transport per id, in the order of
// ids, each knowing the others as the ring's members. The suite closes
// them at the end of each subtest (Close must tolerate a second call, so
// mk may register its own cleanup too).
type MakeTransports func(t *testing.T, ids []localring.NodeID) []driver.Transport

// waitFor bounds every wait of the suite: generous, for a loaded machine.
const waitFor = 10 * time.Second

// TestTransport checks that the transports mk makes keep the
// driver.Transport contract. Each subtest calls mk for three members
// "a", "b" and "c" and first waits until each has heard from the others
// (the suite repeats a ping, so transports that connect lazily pass), then
// checks:
//
//   - MaxPacket: a packet of exactly MaxPacket bytes arrives intact; one
//     byte more is refused by Send and SendAll;
//   - Send reaches only its member, with From the sender's id;
//   - SendAll reaches every other member and never the sender itself;
//   - packets queued before Flush all arrive with the bytes they had when
//     queued (the transport must not keep the caller's buffer), and Recv
//     fills the caller's buffers, with as many packets as fit in ps (the
//     suite reads with batches of 16 and of 1);
//   - Send to an id that is not a member fails at once with a
//     *driver.SendError naming it;
//   - Close makes a blocked Recv return driver.ErrClosed, and every later
//     call fail without blocking or panicking, while the other members go
//     on talking;
//   - sending and receiving concurrently (run it with -race).
//
// The suite allows no loss: run it over a network that loses nothing
// (loopback, namespaces without faults, the in-memory Network).
//
// Usage, in a transport's test:
//
//	func TestContract(t *testing.T) {
//		drivertest.TestTransport(t, func(t *testing.T, ids []localring.NodeID) []driver.Transport {
//			return makeConnected(t, ids) // yours; t.Fatal on error
//		})
//	}
func TestTransport(t *testing.T, mk MakeTransports) {
	t.Run("MaxPacket", func(t *testing.T) { newEnv(t, mk).maxPacket() })
	t.Run("Send", func(t *testing.T) { newEnv(t, mk).send() })
	t.Run("SendAll", func(t *testing.T) { newEnv(t, mk).sendAll() })
	t.Run("Flush", func(t *testing.T) { newEnv(t, mk).flush() })
	t.Run("UnknownMember", func(t *testing.T) { newEnv(t, mk).unknownMember() })
	t.Run("Close", func(t *testing.T) { newEnv(t, mk).close() })
	t.Run("Concurrent", func(t *testing.T) { newEnv(t, mk).concurrent() })
}

// Packets of the suite start with a kind byte.
const (
	kindPing = 'P'
	kindData = 'D'
)

// got is one received data packet, copied.
type got struct {
	from localring.NodeID
	data []byte
}

type env struct {
	t    *testing.T
	ids  []localring.NodeID
	ts   []driver.Transport
	rx   []chan got
	errs []chan error // the Recv error that ended each collector

	mu    sync.Mutex
	heard []map[localring.NodeID]bool // pings heard by each member
	wg    sync.WaitGroup
}

func newEnv(t *testing.T, mk MakeTransports) *env {
	t.Helper()
	e := &env{t: t, ids: []localring.NodeID{"a", "b", "c"}}
	e.ts = mk(t, e.ids)
	if len(e.ts) != len(e.ids) {
		t.Fatalf("mk returned %d transports for %d ids", len(e.ts), len(e.ids))
	}
	t.Cleanup(func() {
		for _, tr := range e.ts {
			tr.Close()
		}
		e.wg.Wait()
	})
	for i, tr := range e.ts {
		if tr.MaxPacket() < 64 {
			t.Fatalf("%s: MaxPacket() = %d; a ring needs at least a few hundred bytes", e.ids[i], tr.MaxPacket())
		}
		e.rx = append(e.rx, make(chan got, 1024))
		e.errs = append(e.errs, make(chan error, 1))
		e.heard = append(e.heard, map[localring.NodeID]bool{})
	}
	for i := range e.ts {
		batch := 16
		if i == 2 {
			batch = 1 // one member reads one packet at a time
		}
		e.wg.Add(1)
		go e.collect(i, batch)
	}
	e.connect()
	return e
}

// collect is member i's receive goroutine: it checks what Recv returns,
// records pings and passes copies of data packets on.
func (e *env) collect(i, batch int) {
	defer e.wg.Done()
	tr := e.ts[i]
	ps := make([]driver.Packet, batch)
	bufs := make([][]byte, batch)
	for j := range ps {
		bufs[j] = make([]byte, tr.MaxPacket())
		ps[j].Buf = bufs[j]
	}
	for {
		for j := range ps {
			ps[j] = driver.Packet{Buf: bufs[j]}
		}
		n, err := tr.Recv(ps)
		if err != nil {
			e.errs[i] <- err
			return
		}
		if n < 1 || n > len(ps) {
			e.errs[i] <- fmt.Errorf("Recv returned n = %d for %d packets without an error", n, len(ps))
			return
		}
		for j := range ps[:n] {
			p := &ps[j]
			switch {
			case len(p.Buf) != len(bufs[j]) || &p.Buf[0] != &bufs[j][0]:
				e.errs[i] <- errors.New("Recv replaced the caller's Buf instead of filling it")
				return
			case p.N < 1 || p.N > tr.MaxPacket():
				e.errs[i] <- fmt.Errorf("Recv returned a packet of %d bytes (MaxPacket %d)", p.N, tr.MaxPacket())
				return
			case p.From == "":
				e.errs[i] <- errors.New("Recv returned a packet without its sender (From)")
				return
			}
			d := p.Data()
			if d[0] == kindPing {
				e.mu.Lock()
				e.heard[i][p.From] = true
				e.mu.Unlock()
				continue
			}
			e.rx[i] <- got{from: p.From, data: bytes.Clone(d)}
		}
	}
}

// connect pings until every member has heard from every other one.
func (e *env) connect() {
	deadline := time.Now().Add(waitFor)
	for {
		e.mu.Lock()
		missing := ""
		for i, h := range e.heard {
			for _, id := range e.ids {
				if id != e.ids[i] && !h[id] {
					missing = fmt.Sprintf("%s has not heard from %s", e.ids[i], id)
				}
			}
		}
		e.mu.Unlock()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the transports did not connect within %v: %s", waitFor, missing)
		}
		for i, tr := range e.ts {
			e.must(tr.SendAll([]byte{kindPing, byte(i)}))
			e.must(tr.Flush())
		}
		e.checkErrs()
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// checkErrs fails on a collector's error.
func (e *env) checkErrs() {
	e.t.Helper()
	for i, c := range e.errs {
		select {
		case err := <-c:
			e.t.Fatalf("%s: Recv: %v", e.ids[i], err)
		default:
		}
	}
}

// data builds a data packet of size bytes (at least len(tag)+1) that
// starts with the tag and is filled with a pattern after it.
func data(tag string, size int) []byte {
	b := make([]byte, max(size, len(tag)+2))
	b[0] = kindData
	n := 1 + copy(b[1:], tag)
	b[n] = 0
	for i := n + 1; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func tagOf(d []byte) string {
	if i := bytes.IndexByte(d, 0); i > 0 {
		return string(d[1:i])
	}
	return string(d[1:])
}

// recv returns member i's next data packet, failing after waitFor.
func (e *env) recv(i int, what string) got {
	e.t.Helper()
	select {
	case g := <-e.rx[i]:
		if g.from == e.ids[i] {
			e.t.Fatalf("%s received its own packet %q", e.ids[i], tagOf(g.data))
		}
		return g
	case err := <-e.errs[i]:
		e.t.Fatalf("%s: Recv: %v", e.ids[i], err)
	case <-time.After(waitFor):
		e.t.Fatalf("%s: %s did not arrive within %v", e.ids[i], what, waitFor)
	}
	panic("unreachable")
}

// expect receives at member i until every packet of want (by tag) has
// arrived, each with the bytes of want and the sender from; any other
// data packet fails the test.
func (e *env) expect(i int, want map[string]got) {
	e.t.Helper()
	left := len(want)
	seen := map[string]bool{}
	for left > 0 {
		g := e.recv(i, fmt.Sprintf("%d more of %d packets", left, len(want)))
		tag := tagOf(g.data)
		w, ok := want[tag]
		switch {
		case !ok:
			e.t.Fatalf("%s received %q from %s, which was not sent to it", e.ids[i], tag, g.from)
		case seen[tag]:
			e.t.Fatalf("%s received %q twice", e.ids[i], tag)
		case g.from != w.from:
			e.t.Fatalf("%s received %q with From %q, sent by %q", e.ids[i], tag, g.from, w.from)
		case !bytes.Equal(g.data, w.data):
			e.t.Fatalf("%s received %q with other bytes than were sent (%d bytes, sent %d)", e.ids[i], tag, len(g.data), len(w.data))
		}
		seen[tag] = true
		left--
	}
}

// barrier makes every member send a marker to every other one and waits
// for the markers; any other data packet that arrives meanwhile fails the
// test (it was not sent to that member, or it was its own).
func (e *env) barrier(name string) {
	e.t.Helper()
	for i, tr := range e.ts {
		for j, id := range e.ids {
			if i != j {
				e.must(tr.Send(id, data(fmt.Sprintf("%s %d>%d", name, i, j), 40)))
			}
		}
		e.must(tr.Flush())
	}
	for j := range e.ts {
		want := map[string]got{}
		for i := range e.ts {
			if i != j {
				d := data(fmt.Sprintf("%s %d>%d", name, i, j), 40)
				want[tagOf(d)] = got{from: e.ids[i], data: d}
			}
		}
		e.expect(j, want)
	}
}

func (e *env) maxPacket() {
	a, b := e.ts[0], e.ts[1]
	full := data("full", b.MaxPacket())
	if len(full) > a.MaxPacket() {
		e.t.Skipf("members with different MaxPacket (%d, %d)", a.MaxPacket(), b.MaxPacket())
	}
	e.must(a.Send("b", full))
	e.must(a.Flush())
	e.expect(1, map[string]got{"full": {from: "a", data: full}})

	over := data("over", a.MaxPacket()+1)
	if err := a.Send("b", over); err == nil {
		e.t.Errorf("Send accepted a packet of MaxPacket+1 = %d bytes", len(over))
	}
	if err := a.SendAll(over); err == nil {
		e.t.Errorf("SendAll accepted a packet of MaxPacket+1 = %d bytes", len(over))
	}
	a.Flush()
	e.barrier("after-over") // the refused packet must not arrive
}

func (e *env) send() {
	for i, tr := range e.ts {
		j := (i + 1) % len(e.ts)
		d := data(fmt.Sprintf("send %d>%d", i, j), 100+i)
		e.must(tr.Send(e.ids[j], d))
		e.must(tr.Flush())
		e.expect(j, map[string]got{tagOf(d): {from: e.ids[i], data: d}})
	}
	e.barrier("after-send") // nobody else got them
}

func (e *env) sendAll() {
	sent := make([]got, len(e.ts))
	for i, tr := range e.ts {
		sent[i] = got{from: e.ids[i], data: data(fmt.Sprintf("all from %d", i), 200+i)}
		e.must(tr.SendAll(sent[i].data))
		e.must(tr.Flush())
	}
	for j := range e.ts {
		want := map[string]got{}
		for i, g := range sent {
			if i != j {
				want[tagOf(g.data)] = g
			}
		}
		e.expect(j, want)
	}
	e.barrier("after-all") // and nobody got its own
}

func (e *env) flush() {
	a := e.ts[0]
	const n = 48
	buf := make([]byte, a.MaxPacket())
	wantB, wantC := map[string]got{}, map[string]got{}
	for k := range n {
		size := 50 + k*(a.MaxPacket()-60)/n
		d := data(fmt.Sprintf("burst %d", k), size)
		copy(buf, d)
		pkt := buf[:len(d)]
		switch k % 3 {
		case 0:
			e.must(a.Send("b", pkt))
			wantB[tagOf(d)] = got{from: "a", data: d}
		case 1:
			e.must(a.Send("c", pkt))
			wantC[tagOf(d)] = got{from: "a", data: d}
		default:
			e.must(a.SendAll(pkt))
			wantB[tagOf(d)] = got{from: "a", data: d}
			wantC[tagOf(d)] = got{from: "a", data: d}
		}
		for i := range buf { // the transport must not keep pkt
			buf[i] = 0xee
		}
	}
	e.must(a.Flush())
	e.expect(1, wantB)
	e.expect(2, wantC)
	e.barrier("after-burst")
}

func (e *env) unknownMember() {
	a := e.ts[0]
	done := make(chan error, 1)
	go func() { done <- a.Send("nobody", data("lost", 30)) }()
	select {
	case err := <-done:
		var se *driver.SendError
		switch {
		case err == nil:
			e.t.Errorf("Send to a member that does not exist returned no error")
		case !errors.As(err, &se):
			e.t.Errorf("Send to a member that does not exist: %v (%T), want a *driver.SendError", err, err)
		case se.To != "nobody":
			e.t.Errorf("SendError.To = %q, want %q", se.To, "nobody")
		case !strings.Contains(err.Error(), "nobody"):
			e.t.Errorf("the error %q does not name the member", err)
		}
	case <-time.After(waitFor):
		e.t.Fatalf("Send to a member that does not exist blocked for %v", waitFor)
	}
	a.Flush()
	e.barrier("after-unknown")
}

func (e *env) close() {
	c := e.ts[2]
	e.must(c.Close())
	select {
	case err := <-e.errs[2]:
		if !errors.Is(err, driver.ErrClosed) {
			e.t.Fatalf("a Recv blocked in Close returned %v, want driver.ErrClosed", err)
		}
	case <-time.After(waitFor):
		e.t.Fatalf("a blocked Recv did not return within %v of Close", waitFor)
	}
	calls := map[string]func() error{
		"Recv": func() error {
			_, err := c.Recv([]driver.Packet{{Buf: make([]byte, c.MaxPacket())}})
			if !errors.Is(err, driver.ErrClosed) {
				return fmt.Errorf("Recv after Close returned %v, want driver.ErrClosed", err)
			}
			return nil
		},
		"Send": func() error {
			if c.Send("a", data("x", 30)) == nil {
				return errors.New("Send after Close returned no error")
			}
			return nil
		},
		"SendAll": func() error {
			if c.SendAll(data("x", 30)) == nil {
				return errors.New("SendAll after Close returned no error")
			}
			return nil
		},
		"Flush": func() error { c.Flush(); return nil },
		"Close": func() error { c.Close(); return nil },
	}
	for name, f := range calls {
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			if err != nil {
				e.t.Error(err)
			}
		case <-time.After(waitFor):
			e.t.Fatalf("%s after Close blocked for %v", name, waitFor)
		}
	}

	// a and b go on.
	a := e.ts[0]
	d := data("after close", 60)
	if err := a.SendAll(d); err != nil {
		var se *driver.SendError
		if !errors.As(err, &se) || se.To != "c" {
			e.t.Fatalf("SendAll with member c closed: %v; want nil or a *driver.SendError for c", err)
		}
	}
	if err := a.Flush(); err != nil {
		var se *driver.SendError
		if !errors.As(err, &se) {
			e.t.Fatalf("Flush with member c closed: %v; want nil or a *driver.SendError", err)
		}
	}
	e.expect(1, map[string]got{"after close": {from: "a", data: d}})
}

func (e *env) concurrent() {
	const n = 200
	var wg sync.WaitGroup
	wants := make([]map[string]got, len(e.ts))
	for j := range wants {
		wants[j] = map[string]got{}
	}
	for i := range 2 { // a and b send to each other at once
		j := 1 - i
		for k := range n {
			d := data(fmt.Sprintf("conc %d>%d #%d", i, j, k), 80)
			wants[j][tagOf(d)] = got{from: e.ids[i], data: d}
		}
		tr := e.ts[i]
		wg.Go(func() {
			for k := range n {
				if err := tr.Send(e.ids[j], data(fmt.Sprintf("conc %d>%d #%d", i, j, k), 80)); err != nil {
					e.t.Error(err)
					return
				}
				if k%10 == 9 {
					if err := tr.Flush(); err != nil {
						e.t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	e.expect(0, wants[0])
	e.expect(1, wants[1])
	e.barrier("after-concurrent")
}
