package agent

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestLoopSession: the group loop's lookup of a client's session finds
// what cs.session finds, also after the name changed hands: a session
// unregistered is not found, and a new one under its name is.
func TestLoopSession(t *testing.T) {
	a := &Agent{cfg: Config{MaxClients: 10}, self: localring.Member{ID: "n1", Inc: 1}}
	cs := &clientServer{a: a, byName: map[string]*session{}}
	s1 := &session{cs: cs}
	if code, text := cs.register(s1, "app"); code != 0 {
		t.Fatal(text)
	}
	if got := cs.loopSession("app"); got != s1 {
		t.Fatalf("loopSession(app) = %p, want %p", got, s1)
	}
	if got := cs.loopSession("other"); got != nil {
		t.Fatalf("loopSession(other) = %p, want nil", got)
	}
	cs.unregister(s1)
	if got := cs.loopSession("app"); got != nil {
		t.Fatalf("after unregister: loopSession(app) = %p, want nil", got)
	}
	s2 := &session{cs: cs}
	if code, text := cs.register(s2, "app"); code != 0 {
		t.Fatal(text)
	}
	if got := cs.loopSession("app"); got != s2 {
		t.Fatalf("after a new register: loopSession(app) = %p, want %p", got, s2)
	}
	s3 := &session{cs: cs}
	if code, text := cs.register(s3, "other"); code != 0 {
		t.Fatal(text)
	}
	if got := cs.loopSession("other"); got != s3 {
		t.Fatalf("loopSession(other) = %p, want %p", got, s3)
	}
}
