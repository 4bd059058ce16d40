package localring

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// TestDeliveredPayloadsStay keeps every delivered Payload, without copying,
// while the ring goes on ordering messages (whole, packed several to a
// packet, and fragmented over packets, from every member), and then checks
// each still holds what was sent: no buffer a delivered message points into
// may be reused by the node afterwards (a pooled packet, receive or
// reassembly buffer would fail this).
func TestDeliveredPayloadsStay(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	content := func(sender NodeID, i, size int) []byte {
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(int(sender[0]) + i*7 + j)
		}
		binary.BigEndian.PutUint32(p, uint32(i))
		return p
	}
	sizes := []int{100, 900, 3000, 1500, 40, 5000}
	type kept struct {
		by  NodeID
		id  MessageID
		got []byte
	}
	var all []kept
	sent := map[MessageID][]byte{}
	for round := range 20 {
		for _, n := range nodes {
			for k := range 5 {
				i := round*5 + k
				p := content(n.me.ID, i, sizes[i%len(sizes)])
				seq, err := n.Submit(now, Agreed, p)
				if err != nil {
					t.Fatal(err)
				}
				sent[MessageID{Sender: n.me.ID, Inc: n.me.Inc, Seq: seq}] = content(n.me.ID, i, len(p))
			}
		}
		now = pumpEvents(t, nodes, now, 200*time.Millisecond, func(n *Node, e Event) {
			if e.Kind == EventDeliver {
				all = append(all, kept{n.me.ID, e.Msg.ID, e.Msg.Payload})
			}
		})
	}
	if want := 3 * len(sent); len(all) != want {
		t.Fatalf("%d deliveries, want %d", len(all), want)
	}
	bad := 0
	for _, k := range all {
		if string(k.got) != string(sent[k.id]) {
			if bad++; bad <= 5 {
				t.Errorf("%s: the payload of %v (%d bytes) changed after its delivery", k.by, k.id, len(k.got))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d delivered payloads changed", bad, len(all))
	}
}

// TestOwnFragmentedMessageNotCopied checks that a sender delivers its own
// fragmented message as the payload it submitted (ownMessage), not as a
// join of its fragments into a new buffer, and that the other members
// deliver the same bytes.
func TestOwnFragmentedMessageNotCopied(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	var payloads [][]byte
	for i := range 3 {
		p := []byte(fmt.Sprintf("%d", i))
		p = append(p, make([]byte, 3*nodes[0].cfg.MaxPacketBytes)...)
		payloads = append(payloads, p)
		if _, err := nodes[1].Submit(now, Agreed, p); err != nil {
			t.Fatal(err)
		}
	}
	got := map[NodeID]int{}
	pumpEvents(t, nodes, now, time.Second, func(n *Node, e Event) {
		if e.Kind != EventDeliver {
			return
		}
		i := got[n.me.ID]
		got[n.me.ID]++
		if string(e.Msg.Payload) != string(payloads[i]) {
			t.Fatalf("%s: message %d differs", n.me.ID, i)
		}
		if n == nodes[1] && &e.Msg.Payload[0] != &payloads[i][0] {
			t.Errorf("the sender delivered its fragmented message %d in a new buffer, not the one it submitted", i)
		}
	})
	for _, n := range nodes {
		if got[n.me.ID] != len(payloads) {
			t.Errorf("%s delivered %d messages, want %d", n.me.ID, got[n.me.ID], len(payloads))
		}
	}
}

// TestDeliveredPayloadsCapped: every delivered Payload has its length as
// its capacity, so an application that appends to one (which
// Message.Payload does not forbid as it forbids writing into it) gets a
// copy and changes no other payload: the node keeps packets and joined
// messages side by side in its slab's chunks, and the sender's own
// messages are entries of its packets.
func TestDeliveredPayloadsCapped(t *testing.T) {
	nodes, now := formRing(t, "a", "b", "c")
	sizes := []int{100, 900, 3000, 1500, 40}
	type kept struct {
		by   NodeID
		got  []byte
		want string
	}
	var all []kept
	for round := range 10 {
		for _, n := range nodes {
			for k := range 5 {
				p := make([]byte, sizes[(round+k)%len(sizes)])
				for j := range p {
					p[j] = byte(round + k + j)
				}
				if _, err := n.Submit(now, Agreed, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		now = pumpEvents(t, nodes, now, 200*time.Millisecond, func(n *Node, e Event) {
			if e.Kind == EventDeliver {
				all = append(all, kept{n.me.ID, e.Msg.Payload, string(e.Msg.Payload)})
			}
		})
	}
	for _, k := range all {
		_ = append(k.got, bytes.Repeat([]byte{0xff}, 64)...)
	}
	bad := 0
	for _, k := range all {
		if string(k.got) != k.want {
			if bad++; bad <= 5 {
				t.Errorf("%s: a payload of %d bytes changed when the application appended to another", k.by, len(k.got))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d delivered payloads changed", bad, len(all))
	}
}
