package client

import "testing"

// TestUnqueueTradesBuffers: with WithMessageReuse, Receive returns a
// message that waited in the queue in its payload buffer, not in a copy:
// at full load through a ring of three a sending clientload read most
// deliveries while MulticastWait waited, and the copy was a second memmove
// of every payload (docs/BENCHMARKS.md, apiab profiles). The buffer that
// goes back to the free Messages is the one Receive returned before.
func TestUnqueueTradesBuffers(t *testing.T) {
	c := &Client{reuse: true, eventCap: 4}
	c.pay = append(c.pay, "the message Receive returned before"...)
	before := &c.pay[0]
	q := c.queueMessageLocked(&Message{Seq: 7, Payload: []byte("queued while MulticastWait waited")})
	queued := &q.Payload[0]
	m := c.unqueueLocked(q)
	if m.Seq != 7 || string(m.Payload) != "queued while MulticastWait waited" {
		t.Fatalf("Receive returned seq %d %q", m.Seq, m.Payload)
	}
	if &m.Payload[0] != queued {
		t.Error("the queued payload was copied; want its buffer returned")
	}
	if len(c.qfree) != 1 || cap(c.qfree[0].Payload) == 0 || &c.qfree[0].Payload[:1][0] != before {
		t.Error("the free Message did not get the buffer of the message returned before")
	}
}

// BenchmarkQueueUnqueue: a 1 KiB message a waiting MulticastWait read
// (queueMessageLocked) and Receive then returned (unqueueLocked), with
// WithMessageReuse.
func BenchmarkQueueUnqueue(b *testing.B) {
	c := &Client{reuse: true, eventCap: 4}
	m := &Message{Payload: make([]byte, 1024)}
	b.SetBytes(int64(len(m.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		c.unqueueLocked(c.queueMessageLocked(m))
	}
}
