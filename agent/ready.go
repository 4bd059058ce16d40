package agent

import "time"

// Ready returns a channel that is closed when the node has installed its
// first regular configuration (and Status shows it): it is then a member
// of a ring (alone, or with the peers it reached) and serves clients. A
// service manager's readiness notification (systemd's READY=1) waits for
// it.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Probe returns when the driver's loop (the ring's) last ran a pass (the zero time before its
// first) and asks it for another one. A watchdog that probes every
// interval sees a pass newer than its previous probe while the loop is
// alive, however idle the ring is; a loop that is stuck keeps the old
// time.
//
// It also asks the group loop (the groups, the clients, the trace) for a
// pass, and returns an error that says so when the group loop has been in
// one pass, or has left work (or an earlier probe's request) waiting, for
// longer than a minute: the ring may still pass the token while nothing
// above it moves. A watchdog treats the error as not alive.
func (a *Agent) Probe() (time.Time, error) {
	ns := a.lastPass.Load()
	if a.d != nil {
		a.d.Wake()
	}
	var err error
	if a.ran.Load() {
		err = a.groupStuck(time.Now())
	}
	if ns == 0 {
		return time.Time{}, err
	}
	return time.Unix(0, ns), err
}
