package isolation

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteDeliveries: one line per message and receiver, with the phase
// and round from the message's phase code and the sender's node.
func TestWriteDeliveries(t *testing.T) {
	r := newMember("a-2", 0, clock{})
	r.got[key{0, phaseCode(PhaseSaturated, 1), 0, 7}] = &delivery{sent: 100, at: 350, count: 1}
	r.got[key{0, phaseCode(PhaseDetached, 0), 2, 1}] = &delivery{sent: 50, at: 60, count: 1}
	b := &runner{members: map[string][]*member{ALocal: {r}}}
	var out bytes.Buffer
	if err := b.writeDeliveries(&out); err != nil {
		t.Fatal(err)
	}
	want := "group,phase,round,sender,seq,receiver,sent_ns,delivered_ns\n" +
		"a-local,detached,0,a-3,1,a-2,50,60\n" +
		"a-local,saturating,1,a-1,7,a-2,100,350\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, strings.TrimSpace(want))
	}
}
