package seal_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/seal"
)

func TestLimiterOneLinePerPeerPerInterval(t *testing.T) {
	var l seal.Limiter[netip.Addr]
	l.Interval = 10 * time.Second
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	t0 := time.Unix(1000, 0)
	steps := []struct {
		peer           netip.Addr
		at             time.Duration
		ok             bool
		suppressedWant uint64
	}{
		{a, 0, true, 0},
		{a, time.Second, false, 0},
		{b, time.Second, true, 0}, // peers are independent
		{a, 2 * time.Second, false, 0},
		{a, 9 * time.Second, false, 0},
		{a, 10 * time.Second, true, 3}, // the three refused lines are reported
		{a, 11 * time.Second, false, 0},
		{b, 30 * time.Second, true, 0},
		{a, 40 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, suppressed := l.Allow(s.peer, t0.Add(s.at))
		if ok != s.ok || suppressed != s.suppressedWant {
			t.Fatalf("step %d (%v at %v): Allow = %v, %d; want %v, %d", i, s.peer, s.at, ok, suppressed, s.ok, s.suppressedWant)
		}
	}
}

func TestLimiterBoundsPeers(t *testing.T) {
	l := seal.Limiter[int]{Interval: time.Minute, MaxPeers: 4}
	t0 := time.Unix(0, 0)
	for p := range 4 {
		if ok, _ := l.Allow(p, t0); !ok {
			t.Fatalf("peer %d refused", p)
		}
	}
	// A flood of new peers shares one line per interval.
	if ok, _ := l.Allow(100, t0); !ok {
		t.Fatal("first untracked peer refused")
	}
	for p := 101; p < 200; p++ {
		if ok, _ := l.Allow(p, t0.Add(time.Second)); ok {
			t.Fatalf("untracked peer %d allowed within the interval", p)
		}
	}
	// After an interval, quiet peers are forgotten and new ones tracked.
	if ok, _ := l.Allow(500, t0.Add(2*time.Minute)); !ok {
		t.Fatal("new peer refused after the quiet ones expired")
	}
	if ok, _ := l.Allow(500, t0.Add(2*time.Minute+time.Second)); ok {
		t.Fatal("tracked peer allowed twice within the interval")
	}
}
