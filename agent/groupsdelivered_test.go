package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	cp "github.com/atoll-gcs/atoll/internal/clientproto"
)

// TestGroupsDelivered: Agent.Groups counts each group's local members and
// the multicasts delivered to it (not point-to-point messages), and says
// ErrStopped once the agent stopped.
func TestGroupsDelivered(t *testing.T) {
	c := newCluster(t, 1)
	ag := c.start("n1", nil)
	c.waitRing([]string{"n1"}, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if gs, err := ag.Groups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("Groups before any join: %+v, %v; want none", gs, err)
	}
	path := clientSocket(c, "n1")
	a := newRaw(t, dialUnix(t, path), "a")
	b := newRaw(t, dialUnix(t, path), "b")
	a.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	b.ok(cp.Frame{Type: cp.TypeJoin, Group: "g"})
	b.ok(cp.Frame{Type: cp.TypeJoin, Group: "h"})
	a.waitView("g", "n1:a", "n1:b")
	for _, p := range []string{"m1", "m2"} {
		a.ok(cp.Frame{Type: cp.TypeMulticast, Svc: 5, Groups: []string{"g"}, Payload: []byte(p)})
	}
	a.ok(cp.Frame{Type: cp.TypeSend, Svc: 5, To: "n1:b", Payload: []byte("p1")})
	b.waitFrame("p1", func(f cp.Frame) bool { return f.Type == cp.TypeMessage && string(f.Payload) == "p1" })
	vg := a.do(cp.Frame{Type: cp.TypeGetView, Group: "g"}).View

	gs, err := ag.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Name != "g" || gs[0].ViewID != vg.ID || len(gs[0].Members) != 2 || gs[0].LocalMembers != 2 || gs[0].Delivered != 2 ||
		gs[1].Name != "h" || len(gs[1].Members) != 1 || gs[1].LocalMembers != 1 || gs[1].Delivered != 0 || gs[1].ViewID == "" {
		t.Fatalf("Groups: %+v\nwant g (view %s) with 2 members, both local, 2 delivered; h with 1 local member, 0 delivered", gs, vg.ID)
	}
	c.stop("n1")
	if _, err := ag.Groups(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("Groups after the agent stopped: %v, want ErrStopped", err)
	}
}
