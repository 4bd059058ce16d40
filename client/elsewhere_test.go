package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/client"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestSentElsewhere: a message the agent reports ordered, if at all, in a
// configuration it left (an Error with req 0 and code sent_elsewhere,
// before the answer of the Flush that waited for it: agent
// TestSentElsewhere) reaches the application as an EventError naming the
// message (Op, Group, Seq) that errors.Is matches with ErrSentElsewhere,
// and the Flush returns.
func TestSentElsewhere(t *testing.T) {
	ctx := bounded(t)
	a := newFakeAgent(t, cp.Version3, 64)
	cl, conn, r := a.session()
	rec := record(t, cl)
	if err := mcast(cl, ctx, false, 0); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- cl.Flush(ctx) }()
	reqs := requests(t, conn, r, 2)
	if reqs[0].Type != cp.TypeMulticast || reqs[1].Type != cp.TypeFlush {
		t.Fatalf("requests %s, %s: want a multicast and a flush", reqs[0].Type, reqs[1].Type)
	}
	const text = `message 1 to group "g" was ordered, if at all, in a configuration of federation domain eu that this node left when site fra was cut off`
	b := cp.Append(nil, &cp.Frame{Type: cp.TypeOK, Req: reqs[0].Req, Seq: 1})
	b = cp.Append(b, &cp.Frame{Type: cp.TypeError, Code: cp.CodeSentElsewhere, Op: cp.TypeMulticast, Group: "g", Seq: 1, Text: text})
	b = cp.Append(b, &cp.Frame{Type: cp.TypeOK, Req: reqs[1].Req, Seq: 1})
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, flushed); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	rec.wait("the message's error", func(es []client.Event) bool { return len(es) > 0 })
	errs := rec.errors()
	if len(errs) != 1 {
		t.Fatalf("events %+v: want one error", rec.snapshot())
	}
	e := errs[0]
	if !errors.Is(e, client.ErrSentElsewhere) || client.CodeOf(e) != client.CodeSentElsewhere || e.Op != "multicast" || e.Group != "g" || e.Seq != 1 {
		t.Errorf("error %+v: want sent_elsewhere for the multicast of seq 1 to g", e)
	}
	if errors.Is(e, client.ErrDenied) {
		t.Errorf("%v matches ErrDenied", e)
	}
	if s := e.Error(); !strings.Contains(s, `multicast "g": sent_elsewhere: `+text) {
		t.Errorf("error text %q", s)
	}
}
