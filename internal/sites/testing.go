package sites

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NewForTest is New for a test: it fails the test if New fails, and at
// the test's end closes the world, first logging, if the test failed,
// what Count found lost (Lack: with the views of the receiver and the
// sender), every running node's domains and the agents' logs, and copying
// the agents' traces to the test's artifact directory (go test -artifacts
// keeps it).
func NewForTest(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// What stubs did (federation.unneeded): shown with -v.
		var b strings.Builder
		for _, id := range w.Nodes() {
			if d, r := w.Node(id).Stubs(); d > 0 || r > 0 {
				fmt.Fprintf(&b, " %s %d/%d", id, d, r)
			}
		}
		if b.Len() > 0 {
			t.Logf("stubs delivered/catch-ups refused for a stub, per node:%s", b.String())
		}
		if t.Failed() {
			w.mu.Lock()
			for _, l := range w.lacks {
				t.Logf("lost: %v", l)
			}
			w.mu.Unlock()
			for _, id := range w.Running() {
				t.Logf("%s: %+v", id, w.Node(id).Agent().Status().Domains)
			}
			w.StopAll()
			t.Logf("logs:\n%s", w.Logs())
			if dir, err := w.keepTraces(t.ArtifactDir()); err != nil {
				t.Logf("the agents' traces: %v", err)
			} else {
				t.Logf("the agents' traces are in %s (kept with go test -artifacts)", dir)
			}
		}
		w.Close()
	})
	return w
}

// StartForTest starts every node (StartAll) and waits, within timeout,
// until the running nodes of each federation domain share one
// configuration of it (WaitDomains); it fails the test otherwise.
func (w *World) StartForTest(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := w.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitDomains(timeout); err != nil {
		t.Fatal(err)
	}
}

// JoinForTest has the clients of ids join group and waits, within 30 s,
// until they have a regular view of exactly them (JoinView); it fails the
// test otherwise.
func (w *World) JoinForTest(ctx context.Context, t testing.TB, group string, ids ...string) {
	t.Helper()
	if err := w.JoinView(ctx, group, ids, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// SkipUnlessRealTime skips a test that judges real-time federation rings
// in short mode (-short), with runs (what it runs) as the reason, and under
// the race detector: agents and federation members in one process, with
// the race detector's slowdown, miss federation tokens (202 ms timeout)
// under load, and the domains then re-form again and again, which is the
// failover and merge path (issue 9 item 4), not what such a test judges.
func SkipUnlessRealTime(t testing.TB, runs string) {
	t.Helper()
	if testing.Short() {
		t.Skip(runs)
	}
	if RaceEnabled {
		t.Skip("judges real-time federation rings: runs without the race detector only")
	}
}

// keepTraces copies the agents' traces (NODE.trace, and NODE.fed with
// Config.FedTrace) to dir, which it returns.
func (w *World) keepTraces(dir string) (string, error) {
	for _, pat := range []string{"*.trace", "*.fed"} {
		paths, err := filepath.Glob(filepath.Join(w.dir, pat))
		if err != nil {
			return "", err
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}
