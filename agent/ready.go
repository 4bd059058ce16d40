package agent

import "time"

// Ready returns a channel that is closed when the node has installed its
// first regular configuration (and Status shows it): it is then a member
// of a ring (alone, or with the peers it reached) and serves clients. A service manager's readiness
// notification (systemd's READY=1) waits for it.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Probe returns when the driver's loop (the ring's) last ran a pass (the zero time before its
// first) and asks it for another one. A watchdog that probes every
// interval sees a pass newer than its previous probe while the loop is
// alive, however idle the ring is; a loop that is stuck keeps the old
// time.
func (a *Agent) Probe() time.Time {
	ns := a.lastPass.Load()
	if a.d != nil {
		a.d.Wake()
	}
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
