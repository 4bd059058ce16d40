//go:build linux

package client_test

import (
	"testing"

	"github.com/atoll-gcs/atoll/internal/epconn"
)

// TestSocketNotPolledForRoom: neither end of a session over the Unix
// socket (the client's connection, the agent's) is watched for room
// (EPOLLOUT) while no write waits, so that neither process wakes when the
// other reads what it wrote (package epconn). Both ends live in this
// process here.
func TestSocketNotPolledForRoom(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll(nil)
	ctx := bounded(t)
	cl := c.dial(c.ids[0], "a")
	if err := cl.Join(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	ws, sockets, err := epconn.SocketWatches()
	if err != nil {
		t.Fatal(err)
	}
	watched := map[uint64]bool{}
	for _, w := range ws {
		watched[w.Inode] = true
		if w.RoomWatched() {
			t.Errorf("a session socket is watched for room while no write waits: %v", w)
		}
	}
	if sockets < 2 || len(watched) < 2 {
		t.Fatalf("%d connected Unix stream sockets, %d of them in an epoll set: want the session's two ends", sockets, len(watched))
	}
}
