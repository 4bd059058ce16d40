package tracemap

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// encode renders a mapped line as JSON, "-" for no line.
func encode(e evs.Event, ok bool) string {
	if !ok {
		return "-"
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

// TestLines maps one event of every kind and compares the lines with the
// shapes EVS.md shows.
func TestLines(t *testing.T) {
	p := Proc{Node: "fra-2", Inc: 1764547200123456, Domain: "site/fra"}
	conf := &localring.Configuration{ID: "r:12:fra-2", Kind: localring.Regular, Ring: localring.RingID{Seq: 12, Rep: "fra-2"},
		Members: []localring.Member{{ID: "fra-1", Inc: 3}, {ID: "fra-2", Inc: 1}}}
	msg := localring.Message{ID: localring.MessageID{Sender: "fra-1", Inc: 3, Seq: 57}, Svc: localring.Agreed, Payload: []byte("hi"),
		Conf: "r:12:fra-2", Order: localring.Order{Ring: 12, Seq: 10, Index: 172}}
	far := msg
	far.Order.Seq = 1 << 43
	unrel := msg
	unrel.Svc = localring.Reliable
	h := Hash([]byte("hi"))
	cases := []struct {
		name string
		line string
		want string
	}{
		{"install", encode(p.Ring(&localring.Event{Kind: localring.EventInstall, Conf: conf})),
			`{"ev":"install","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":{"id":"r:12:fra-2","kind":"reg","members":["fra-1","fra-2"]}}`},
		{"send", encode(p.Ring(&localring.Event{Kind: localring.EventSend, Msg: msg})),
			`{"ev":"send","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","hash":"` + h + `"}`},
		{"deliver", encode(p.Ring(&localring.Event{Kind: localring.EventDeliver, Msg: msg})),
			`{"ev":"deliver","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","hash":"` + h + `","order":10412}`},
		{"deliver past 2^43 packets: no order", encode(p.Ring(&localring.Event{Kind: localring.EventDeliver, Msg: far})),
			`{"ev":"deliver","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","hash":"` + h + `"}`},
		{"reliable deliver: no order", encode(p.Ring(&localring.Event{Kind: localring.EventDeliver, Msg: unrel})),
			`{"ev":"deliver","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"reliable","hash":"` + h + `"}`},
		{"token lost", encode(p.Ring(&localring.Event{Kind: localring.EventTokenLost, Reason: "x"})), "-"},
		{"group install", encode(p.Group(&groups.Event{Kind: groups.EventConf, Conf: conf})),
			`{"ev":"install","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":{"id":"r:12:fra-2","kind":"reg","members":["fra-1","fra-2"]}}`},
		{"group deliver", encode(p.Group(&groups.Event{Kind: groups.EventDeliver, Msg: &groups.Message{ID: msg.ID, Svc: msg.Svc, Groups: []string{"orders"}, Payload: msg.Payload, Conf: msg.Conf, Order: msg.Order}})),
			`{"ev":"deliver","node":"fra-2","inc":1764547200123456,"domain":"site/fra","conf":"r:12:fra-2","msg":"fra-1/3/57","svc":"agreed","groups":["orders"],"hash":"` + h + `","order":10412}`},
		{"regular view, nobody left", encode(p.Group(&groups.Event{Kind: groups.EventView, View: &groups.View{Group: "orders", ID: "r:12:fra-2@10.172",
			Members: []string{"fra-1:client7", "fra-2:client1"}, Joined: []string{"fra-2:client1"}, Reason: groups.ReasonJoin}})),
			`{"ev":"view","node":"fra-2","inc":1764547200123456,"domain":"site/fra","group":"orders","view":{"id":"r:12:fra-2@10.172","members":["fra-1:client7","fra-2:client1"],"joined":["fra-2:client1"],"left":[],"reason":"join","transitional":false}}`},
		{"transitional view", encode(p.Group(&groups.Event{Kind: groups.EventView, View: &groups.View{Group: "orders", ID: "t~1",
			Members: []string{"fra-2:client1"}, Reason: groups.ReasonNetwork, Transitional: true}})),
			`{"ev":"view","node":"fra-2","inc":1764547200123456,"domain":"site/fra","group":"orders","view":{"id":"t~1","members":["fra-2:client1"],"joined":[],"left":[],"transitional":true}}`},
		{"reject", encode(p.Group(&groups.Event{Kind: groups.EventReject, Client: "c", Group: "g"})), "-"},
		// EVS.md 1.4: no send in a configuration the node left.
		{"sent elsewhere", encode(p.Group(&groups.Event{Kind: groups.EventSentElsewhere, Msg: &groups.Message{ID: msg.ID, Svc: msg.Svc, Groups: []string{"orders"}, Payload: msg.Payload, Conf: groups.SentElsewhere}})), "-"},
	}
	for _, c := range cases {
		if c.line != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.line, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	if Hash([]byte("hi")) == Hash([]byte("hj")) || Hash(nil) == Hash([]byte{0}) {
		t.Error("hash collides on a changed byte or a changed length")
	}
	if got := Hash(nil); got != "0" {
		t.Errorf("hash of nothing: %q", got)
	}
	if h := Hash(make([]byte, 5)); !strings.HasSuffix(h, "00000005") {
		t.Errorf("hash %q does not end with the length", h)
	}
}

func TestOrderNumbers(t *testing.T) {
	if got := Order(localring.Order{Ring: 1 << 63, Seq: 3, Index: 2}); got != 3*1024+2 {
		t.Errorf("Order = %d", got)
	}
	if got := Order(localring.Order{Seq: 1 << 43}); got != 0 {
		t.Errorf("Order past the exact range = %d, want 0 (no field)", got)
	}
	if got := DomainOrder(localring.DomainOrder{Seq: 10412, Ring: 8}); got != 10412 {
		t.Errorf("DomainOrder = %d", got)
	}
	if got := DomainOrder(localring.DomainOrder{Seq: 1 << 53}); got != 0 {
		t.Errorf("DomainOrder past 2^53 = %d, want 0", got)
	}
}
