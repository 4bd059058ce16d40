package agent

import "github.com/atoll-gcs/atoll/localring"

// TapEvents has a's group loop call f with every ring event, in order,
// after the site's group layer stepped it (groupLoop.stepped). Set it
// before a runs.
func TapEvents(a *Agent, f func(e *localring.Event)) { a.gl.stepped = f }

// ReplayEvents hands evs to the group loop of a, which does not run (New
// without Run), as the driver's Events hook would, and runs its passes
// until it has handled them to the end of their domain part; the ring
// messages the group layers produced are dropped (BenchmarkDowns).
func ReplayEvents(a *Agent, evs []localring.Event) {
	gr := &a.gr
	gr.mu.Lock()
	gr.in = append(gr.in, evs...)
	gr.handed += uint64(len(evs))
	gr.mu.Unlock()
	a.groupPass()
	for a.gl.domainWaits() {
		a.groupPass()
	}
	gr.mu.Lock()
	clear(gr.out)
	gr.out = gr.out[:0]
	gr.mu.Unlock()
}

// SessionQueued returns the frames queued for the client session named
// name that its connection has not taken yet (-1: no such session).
func SessionQueued(a *Agent, name string) int {
	s := a.cs.session(name)
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qFrames
}
